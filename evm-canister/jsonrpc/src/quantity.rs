//! Counts given as numbers or strings.

use serde::{Deserialize, Deserializer};

/// A count or a time (blocks, seconds, a timestamp) given as a number or a
/// hex (or decimal) string: Foundry sends `10`, others `"0xa"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity(pub u64);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Self(n)),
            Raw::Text(text) => {
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                parsed
                    .map(Self)
                    .map_err(|_| serde::de::Error::custom(format!("invalid quantity {text:?}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_numbers_and_strings() {
        for (json, count) in [("10", 10), ("\"0xa\"", 10), ("\"0x1\"", 1), ("\"5\"", 5)] {
            assert_eq!(serde_json::from_str::<Quantity>(json).unwrap(), Quantity(count), "{json}");
        }
        assert!(serde_json::from_str::<Quantity>("\"0xzz\"").is_err());
        assert!(serde_json::from_str::<Quantity>("-1").is_err());
    }
}
