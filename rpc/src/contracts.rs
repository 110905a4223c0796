//! The contracts of `contracts/`, built into the binary as the artifacts
//! `contracts/compile.mjs` writes: the node names their methods in its log,
//! and the cost report deploys them as its workload suite.

/// Each artifact's contract name and JSON.
pub const ARTIFACTS: &[(&str, &str)] = &[
    ("Collectible", include_str!("../../contracts/artifacts/Collectible.json")),
    ("Greeter", include_str!("../../contracts/artifacts/Greeter.json")),
    ("Pair", include_str!("../../contracts/artifacts/Pair.json")),
    ("Tester", include_str!("../../contracts/artifacts/Tester.json")),
    ("Token", include_str!("../../contracts/artifacts/Token.json")),
    ("WETH", include_str!("../../contracts/artifacts/WETH.json")),
    ("Workloads", include_str!("../../contracts/artifacts/Workloads.json")),
];

/// An artifact as `compile.mjs` writes it.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub contract_name: String,
    pub abi: alloy_json_abi::JsonAbi,
    pub bytecode: alloy_primitives::Bytes,
}

/// The artifact of contract `name`, if it is built in.
pub fn artifact(name: &str) -> Option<Artifact> {
    let (_, json) = ARTIFACTS.iter().find(|(contract, _)| *contract == name)?;
    Some(serde_json::from_str(json).expect("a committed artifact parses"))
}

/// Every built-in artifact.
pub fn artifacts() -> impl Iterator<Item = Artifact> {
    ARTIFACTS
        .iter()
        .map(|(_, json)| serde_json::from_str(json).expect("a committed artifact parses"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_artifact_is_listed_under_its_own_name() {
        for (name, _) in ARTIFACTS {
            let artifact = artifact(name).unwrap();
            assert_eq!(&artifact.contract_name, name);
            assert!(!artifact.bytecode.is_empty(), "{name} has bytecode");
        }
        let on_disk =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/artifacts"))
                .unwrap()
                .count();
        assert_eq!(on_disk, ARTIFACTS.len(), "every artifact in contracts/artifacts is built in");
    }
}
