//! Refused transactions: the right error, and nothing changes.

use alloy_consensus::{TxEip1559, TxEip4844};
use alloy_primitives::{Address, TxKind, U256};
use evm_canister_api::{BlockTag, TxError};

use crate::dev::*;

/// Snapshot of what a refused transaction must not change.
fn snapshot(dev: &Dev) -> (u64, U256, u64, U256) {
    let alice = dev.address(0);
    (dev.head(), dev.balance(alice), dev.nonce(alice), dev.balance(Address::repeat_byte(0x42)))
}

fn refused(dev: &mut Dev, raw: Vec<u8>) -> TxError {
    let before = snapshot(dev);
    let error = dev.send_raw(&raw).unwrap_err();
    assert_eq!(snapshot(dev), before, "a refused transaction ({error:?}) changed state");
    error
}

fn transfer(dev: &Dev) -> TxEip1559 {
    dev.tx(0, TxKind::Call(Address::repeat_byte(0x42)), ether(1), vec![])
}

#[test]
fn nonce_too_low() {
    let mut dev = Dev::new();
    dev.send(0, transfer(&dev)).unwrap();
    let stale = TxEip1559 { nonce: 0, value: U256::from(1), ..transfer(&dev) };
    assert_eq!(
        {
            let raw = dev.sign(0, stale);
            refused(&mut dev, raw)
        },
        TxError::NonceTooLow { expected: 1, got: 0 }
    );
}

#[test]
fn insufficient_funds() {
    let mut dev = Dev::new();
    let tx = TxEip1559 { value: ether(20_000), ..transfer(&dev) };
    let error = {
        let raw = dev.sign(0, tx);
        refused(&mut dev, raw)
    };
    let TxError::InsufficientFunds { address, have, want } = error else { panic!("{error:?}") };
    assert_eq!(address.0, dev.address(0));
    assert_eq!(have.0, ether(10_000));
    assert_eq!(want.0, ether(20_000) + U256::from(3_000_000u64 * 10 * GWEI as u64));
}

#[test]
fn wrong_chain_id() {
    let mut dev = Dev::new();
    let tx = TxEip1559 { chain_id: 1, ..transfer(&dev) };
    assert_eq!(
        {
            let raw = dev.sign(0, tx);
            refused(&mut dev, raw)
        },
        TxError::InvalidChainId { expected: CHAIN_ID, got: Some(1) }
    );
}

#[test]
fn intrinsic_gas_too_low() {
    let mut dev = Dev::new();
    let tx = TxEip1559 { gas_limit: 20_000, ..transfer(&dev) };
    assert_eq!(
        {
            let raw = dev.sign(0, tx);
            refused(&mut dev, raw)
        },
        TxError::IntrinsicGasTooLow { gas: 20_000, minimum: 21_000 }
    );
}

#[test]
fn fee_cap_below_base_fee() {
    let mut dev = Dev::new();
    let tx = TxEip1559 { max_fee_per_gas: 1, max_priority_fee_per_gas: 1, ..transfer(&dev) };
    let error = {
        let raw = dev.sign(0, tx);
        refused(&mut dev, raw)
    };
    assert!(
        matches!(error, TxError::FeeCapTooLow { ref max_fee, .. } if max_fee.0 == U256::from(1)),
        "{error:?}"
    );
}

#[test]
fn tip_above_fee_cap() {
    let mut dev = Dev::new();
    let tx = TxEip1559 {
        max_fee_per_gas: 2 * GWEI,
        max_priority_fee_per_gas: 3 * GWEI,
        ..transfer(&dev)
    };
    assert_eq!(
        {
            let raw = dev.sign(0, tx);
            refused(&mut dev, raw)
        },
        TxError::TipAboveFeeCap
    );
}

#[test]
fn gas_limit_above_the_block_gas_limit() {
    let mut dev = Dev::new();
    let tx = TxEip1559 { gas_limit: 30_000_001, ..transfer(&dev) };
    assert_eq!(
        {
            let raw = dev.sign(0, tx);
            refused(&mut dev, raw)
        },
        TxError::GasLimitExceedsBlock { gas: 30_000_001, limit: 30_000_000 }
    );
}

#[test]
fn blob_transactions_are_not_supported() {
    let mut dev = Dev::new();
    let tx = TxEip4844 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: Address::repeat_byte(1),
        value: U256::ZERO,
        access_list: Default::default(),
        blob_versioned_hashes: vec![Default::default()],
        max_fee_per_blob_gas: 1,
        input: Default::default(),
    };
    let raw = dev.sign(0, alloy_consensus::TxEip4844Variant::<alloy_eips::eip7594::BlobTransactionSidecarVariant>::TxEip4844(tx));
    assert_eq!(refused(&mut dev, raw), TxError::TypeNotSupported(3));
}

#[test]
fn malformed_bytes() {
    let mut dev = Dev::new();
    for raw in [vec![], vec![0x02], vec![0xff; 40], b"not a transaction".to_vec()] {
        let error = refused(&mut dev, raw.clone());
        assert!(matches!(error, TxError::Malformed(_)), "{raw:?}: {error:?}");
    }
    // Trailing bytes after a valid transaction are refused too.
    let mut raw = dev.sign(0, transfer(&dev));
    raw.push(0);
    assert!(matches!(refused(&mut dev, raw), TxError::Malformed(_)));
}

#[test]
fn a_transaction_is_included_once() {
    let mut dev = Dev::new();
    let raw = dev.sign(0, transfer(&dev));
    dev.send_raw(&raw).unwrap();
    assert_eq!(refused(&mut dev, raw), TxError::NonceTooLow { expected: 1, got: 0 });
}

#[test]
fn a_corrupted_signature_does_not_spend_someone_elses_money() {
    let mut dev = Dev::new();
    let mut raw = dev.sign(0, transfer(&dev));
    // Flip a bit of `s`: recovery yields some other, unfunded address.
    let n = raw.len();
    raw[n - 5] ^= 1;
    let error = dev.send_raw(&raw).unwrap_err();
    assert!(
        matches!(error, TxError::InsufficientFunds { .. } | TxError::InvalidSignature),
        "{error:?}"
    );
    assert_eq!(dev.nonce(dev.address(0)), 0);
    assert_eq!(
        dev.chain.account(dev.address(0), BlockTag::Latest).unwrap().balance.0,
        ether(10_000)
    );
}
