//! Fuzzing the canister's decoder and validation with raw transactions:
//! arbitrary bytes, mutations of valid transactions of every type, and
//! validly signed transactions with arbitrary fields. None may panic (a
//! panic is a trap in the canister), and a refused one must leave stable
//! memory exactly as it was.
//!
//! `CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true PROPTEST_CASES=20000 cargo test --release -p evm-canister --test it fuzz`
//! runs a long campaign.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEip7702, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_eips::eip7702::Authorization;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::dev::*;

thread_local! {
    /// One chain per test thread, kept across cases (making one costs more
    /// than a case).
    static DEV: std::cell::RefCell<Dev> = std::cell::RefCell::new(Dev::new());
}

fn with_dev(f: impl FnOnce(&mut Dev) -> Result<(), TestCaseError>) -> Result<(), TestCaseError> {
    DEV.with_borrow_mut(f)
}

/// Submits `raw`; a refusal must not write to stable memory.
fn submit(dev: &mut Dev, raw: &[u8]) -> Result<(), TestCaseError> {
    let before = dev.memory.writes();
    if let Err(error) = dev.chain.submit(raw, dev.now) {
        prop_assert_eq!(dev.memory.writes(), before, "refused with {:?} but wrote", error);
    }
    dev.now += 1_000_000_000;
    Ok(())
}

/// Valid transactions of every type, signed by account 0 with its next
/// nonce (a contract creation, calls with access lists, a delegation).
fn valid(dev: &Dev) -> Vec<Vec<u8>> {
    let nonce = dev.nonce(dev.address(0));
    let to = TxKind::Call(Address::repeat_byte(0x42));
    let list = AccessList(vec![AccessListItem {
        address: Address::repeat_byte(7),
        storage_keys: vec![B256::repeat_byte(1)],
    }]);
    let legacy = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price: 2 * GWEI,
        gas_limit: 100_000,
        to,
        value: U256::from(1),
        input: Bytes::new(),
    };
    let eip2930 = TxEip2930 {
        chain_id: CHAIN_ID,
        nonce,
        gas_price: 2 * GWEI,
        gas_limit: 100_000,
        to,
        value: U256::from(1),
        access_list: list.clone(),
        input: Bytes::from(vec![1, 2, 3]),
    };
    let create = TxEip1559 {
        input: Bytes::from(alloy_primitives::hex::decode("600160005260206000f3").unwrap()),
        ..dev.tx(0, TxKind::Create, U256::ZERO, Vec::new())
    };
    let authorization = Authorization {
        chain_id: U256::from(CHAIN_ID),
        address: Address::repeat_byte(9),
        nonce: nonce + 1,
    };
    let signature = dev.keys[0].sign_hash_sync(&authorization.signature_hash()).unwrap();
    let eip7702 = TxEip7702 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 200_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: Address::repeat_byte(0x42),
        value: U256::ZERO,
        access_list: list,
        authorization_list: vec![authorization.into_signed(signature)],
        input: Bytes::new(),
    };
    vec![dev.sign(0, legacy), dev.sign(0, eip2930), dev.sign(0, create), dev.sign(0, eip7702)]
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Remove { at: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..8u8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match *mutation {
        Mutation::Flip { at, bit } if !bytes.is_empty() => bytes[at % len] ^= 1 << bit,
        Mutation::Set { at, byte } if !bytes.is_empty() => bytes[at % len] = byte,
        Mutation::Insert { at, byte } => bytes.insert(at % (bytes.len() + 1), byte),
        Mutation::Remove { at } if !bytes.is_empty() => {
            bytes.remove(at % len);
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused_and_change_nothing(raw in vec(any::<u8>(), 0..600)) {
        with_dev(|dev| {
            submit(dev, &raw)?;
            // A known type byte followed by garbage reaches the RLP decoder.
            for ty in [0x01u8, 0x02, 0x03, 0x04, 0xc0, 0xf8] {
                let mut typed = vec![ty];
                typed.extend_from_slice(&raw);
                submit(dev, &typed)?;
            }
            Ok(())
        })?;
    }

    #[test]
    fn mutated_transactions_are_handled(
        which in 0..4usize,
        mutations in vec(mutation(), 1..4),
    ) {
        with_dev(|dev| {
            let mut raw = valid(dev).swap_remove(which);
            for mutation in &mutations {
                mutate(&mut raw, mutation);
            }
            submit(dev, &raw)?;
            // The chain goes on: the unmutated transaction is accepted.
            let good = valid(dev).swap_remove(which);
            let accepted = dev.chain.submit(&good, dev.now);
            prop_assert!(accepted.is_ok(), "{:?}", accepted);
            Ok(())
        })?;
    }

    #[test]
    fn signed_transactions_with_arbitrary_fields_are_validated(
        nonce in prop_oneof![Just(0u64), 0..5u64, any::<u64>()],
        gas_limit in prop_oneof![0..100_000u64, Just(30_000_000), any::<u64>()],
        max_fee in prop_oneof![Just(10 * GWEI), any::<u128>()],
        tip in prop_oneof![Just(GWEI), any::<u128>()],
        value in prop_oneof![Just(U256::ZERO), any::<[u8; 32]>().prop_map(U256::from_be_bytes)],
        chain_id in prop_oneof![Just(CHAIN_ID), any::<u64>()],
        create in any::<bool>(),
        input in vec(any::<u8>(), 0..200),
    ) {
        with_dev(|dev| {
        let tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: if create { TxKind::Create } else { TxKind::Call(Address::repeat_byte(0x42)) },
            value,
            access_list: Default::default(),
            input: Bytes::from(input),
        };
        let signature = dev.keys[0].sign_hash_sync(&tx.signature_hash()).unwrap();
        let raw = TxEnvelope::from(tx.into_signed(signature)).encoded_2718();
        submit(dev, &raw)
        })?;
    }
}
