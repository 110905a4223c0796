//! Candid encodings of Ethereum's fixed-size values.

use alloy_primitives::{B256, U256};
use candid::types::{Serializer, Type, TypeInner};
use candid::{CandidType, Nat};
use core::fmt;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

macro_rules! fixed_blob {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl CandidType for $name {
            fn _ty() -> Type {
                TypeInner::Vec(TypeInner::Nat8.into()).into()
            }
            fn idl_serialize<S: Serializer>(&self, serializer: S) -> Result<(), S::Error> {
                serializer.serialize_blob(self.0.as_slice())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let bytes = deserializer.deserialize_bytes(BlobVisitor::<$len>)?;
                Ok($name(<$inner>::from(bytes)))
            }
        }

        impl From<$inner> for $name {
            fn from(value: $inner) -> Self {
                $name(value)
            }
        }

        impl From<$name> for $inner {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

fixed_blob!(
    /// A 20-byte Ethereum address, encoded as a Candid `blob`.
    Address,
    alloy_primitives::Address,
    20
);
fixed_blob!(
    /// A 32-byte value (a hash or a storage word), encoded as a Candid `blob`.
    Hash,
    B256,
    32
);

/// Accepts a Candid `blob` of exactly `N` bytes.
struct BlobVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for BlobVisitor<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a blob of {N} bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        if seq.next_element::<u8>()?.is_some() {
            return Err(de::Error::invalid_length(N + 1, &self));
        }
        Ok(out)
    }
}

/// An amount of wei (or any 256-bit unsigned quantity), encoded as a Candid `nat`.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Wei(pub U256);

impl CandidType for Wei {
    fn _ty() -> Type {
        TypeInner::Nat.into()
    }
    fn idl_serialize<S: Serializer>(&self, serializer: S) -> Result<(), S::Error> {
        let nat = Nat::from(num_bigint::BigUint::from_bytes_be(&self.0.to_be_bytes::<32>()));
        serializer.serialize_nat(&nat)
    }
}

impl<'de> Deserialize<'de> for Wei {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let nat = Nat::deserialize(deserializer)?;
        let bytes = nat.0.to_bytes_be();
        U256::try_from_be_slice(&bytes)
            .map(Wei)
            .ok_or_else(|| de::Error::custom("nat does not fit in 256 bits"))
    }
}

impl From<U256> for Wei {
    fn from(value: U256) -> Self {
        Wei(value)
    }
}

impl From<u128> for Wei {
    fn from(value: u128) -> Self {
        Wei(U256::from(value))
    }
}

impl From<u64> for Wei {
    fn from(value: u64) -> Self {
        Wei(U256::from(value))
    }
}

impl From<Wei> for U256 {
    fn from(value: Wei) -> Self {
        value.0
    }
}

impl fmt::Debug for Wei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candid::{Decode, Encode};

    #[test]
    fn address_is_a_blob_of_20_bytes() {
        let address = Address(alloy_primitives::Address::repeat_byte(0xab));
        let encoded = Encode!(&address).unwrap();
        assert_eq!(Decode!(&encoded, Address).unwrap(), address);
        // The same bytes decode as a plain `blob`.
        let blob = Decode!(&encoded, serde_bytes::ByteBuf).unwrap();
        assert_eq!(blob.as_slice(), address.0.as_slice());
    }

    #[test]
    fn a_blob_of_the_wrong_length_is_refused() {
        let encoded = Encode!(&serde_bytes::ByteBuf::from(vec![1u8; 19])).unwrap();
        let err = format!("{:?}", Decode!(&encoded, Address).unwrap_err());
        assert!(err.contains("a blob of 20 bytes"), "{err}");
    }

    #[test]
    fn wei_round_trips_through_nat_up_to_u256_max() {
        for value in [U256::ZERO, U256::from(10u64).pow(U256::from(22u64)), U256::MAX] {
            let encoded = Encode!(&Wei(value)).unwrap();
            assert_eq!(Decode!(&encoded, Wei).unwrap(), Wei(value));
            let nat = Decode!(&encoded, Nat).unwrap();
            assert_eq!(nat.to_string().replace('_', ""), value.to_string());
        }
    }

    #[test]
    fn a_nat_above_u256_is_refused() {
        let too_big = Nat::from(num_bigint::BigUint::from(1u8) << 256);
        let encoded = Encode!(&too_big).unwrap();
        assert!(Decode!(&encoded, Wei).is_err());
    }
}
