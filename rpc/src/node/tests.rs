use super::*;
use canister_host::{Response, Trap};

/// Every update the node journals is one of `evm.did`'s update methods,
/// and its name reads back as itself (the journal stores names).
#[test]
fn journaled_update_names_are_the_canisters() {
    let did = include_str!("../../../evm-canister/evm.did");
    for update in Update::ALL {
        assert_eq!(Update::from_name(update.name()), Some(update));
        let line = did
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{} :", update.name())))
            .unwrap_or_else(|| panic!("{} is not in evm.did", update.name()));
        assert!(!line.contains("query"), "{line}");
    }
    assert_eq!(Update::from_name("upgrade_probe"), None);
}

fn execution(reply: &[u8], instructions: u64) -> Execution {
    Execution {
        result: Ok(Some(Response::Reply(reply.to_vec()))),
        instructions,
        cycles: 0,
        stable_bytes_written: 0,
        debug_output: Vec::new(),
    }
}

#[test]
fn any_difference_is_a_divergence() {
    let a = execution(b"x", 10);
    assert!(compare("m", &a, &a.clone(), Some([1; 32]), Some([1; 32])).is_ok());
    for (b, hash) in [
        (execution(b"y", 10), [1; 32]),
        (execution(b"x", 11), [1; 32]),
        (execution(b"x", 10), [2; 32]),
        (Execution { result: Err(Trap::Wasm("unreachable".into())), ..a.clone() }, [1; 32]),
    ] {
        let error = compare("m", &a, &b, Some([1; 32]), Some(hash)).unwrap_err();
        assert!(matches!(error, NodeError::Divergence(_)), "{error}");
    }
}

/// The ledger's estimate counts the buckets hashbrown allocates, which
/// `capacity()` understates by an eighth: for maps of many sizes, the
/// estimate's buckets are the power of two whose usable share is the
/// capacity reported.
#[test]
fn the_cost_ledger_estimate_counts_every_bucket() {
    use super::cost_ledger_bytes;
    let entry = std::mem::size_of::<(alloy_primitives::B256, crate::cost::TxCost)>() + 1;
    assert_eq!(cost_ledger_bytes(0), 0);
    for n in [1, 3, 4, 7, 8, 15, 100, 1_000, 57_344, 57_345, 200_000] {
        let map: std::collections::HashMap<alloy_primitives::B256, crate::cost::TxCost> =
            std::collections::HashMap::with_capacity(n);
        let capacity = map.capacity();
        let buckets = (cost_ledger_bytes(capacity) as usize - 16) / entry;
        assert!(buckets.is_power_of_two(), "{n}: {buckets}");
        let usable = if buckets >= 16 { buckets / 8 * 7 } else { buckets - 1 };
        assert_eq!(usable, capacity, "{n} entries: {buckets} buckets");
    }
}
