//! The transaction pool: future nonces, manual mining, replacement, ordering.

use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, TxKind, U256};
use evm_canister_api::{BlockTag, MiningMode, TxError};

use crate::dev::*;

fn transfer(dev: &Dev, from: usize, nonce: u64) -> TxEip1559 {
    TxEip1559 {
        nonce,
        gas_limit: 21_000,
        ..dev.tx(from, TxKind::Call(Address::repeat_byte(0x42)), U256::from(1), vec![])
    }
}

fn manual(dev: &mut Dev) {
    let blocks = dev.chain.set_mining_mode(MiningMode { automine: false }, dev.now);
    assert!(blocks.is_empty());
    assert!(!dev.chain.mining_mode().automine);
}

#[test]
fn a_future_nonce_waits_for_the_gap_then_both_are_mined() {
    let mut dev = Dev::new();
    let raw = dev.sign(0, transfer(&dev, 0, 1));
    let queued = dev.chain.submit(&raw, dev.now).unwrap();
    assert!(queued.blocks.is_empty(), "nonce 1 waits for nonce 0");
    assert_eq!(dev.head(), 0);
    let pool = dev.chain.pool_content();
    assert_eq!(pool.len(), 1);
    assert!(!pool[0].executable, "a nonce is missing before it");
    assert_eq!(dev.chain.account(dev.address(0), BlockTag::Pending).unwrap().nonce, 0);

    let raw = dev.sign(0, transfer(&dev, 0, 0));
    let result = dev.chain.submit(&raw, dev.now).unwrap();
    assert_eq!(result.blocks.len(), 1, "the gap is filled: one block with both");
    assert_eq!(result.blocks[0].transactions.len(), 2);
    assert_eq!(result.blocks[0].transactions[1].hash, queued.tx_hash);
    assert!(dev.chain.pool_content().is_empty());
    assert_eq!(dev.nonce(dev.address(0)), 2);
    assert!(dev.chain.receipt(queued.tx_hash.0).is_some());
}

#[test]
fn without_automine_transactions_wait_until_mined() {
    let mut dev = Dev::new();
    manual(&mut dev);
    let mut hashes = Vec::new();
    for nonce in 0..3 {
        let raw = dev.sign(0, transfer(&dev, 0, nonce));
        let result = dev.chain.submit(&raw, dev.now).unwrap();
        assert!(result.blocks.is_empty());
        assert!(result.included().is_none());
        hashes.push(result.tx_hash);
    }
    assert_eq!(dev.head(), 0);
    let alice = dev.address(0);
    assert_eq!(dev.chain.account(alice, BlockTag::Latest).unwrap().nonce, 0);
    assert_eq!(dev.chain.account(alice, BlockTag::Pending).unwrap().nonce, 3);
    assert!(dev.chain.pool_content().iter().all(|tx| tx.executable));
    assert!(dev.chain.transaction(hashes[0].0).is_none());
    assert_eq!(dev.chain.pooled_transaction(hashes[2].0).unwrap().nonce, 2);

    let block = dev.chain.mine(dev.now);
    let mined: Vec<_> = block.transactions.iter().map(|tx| tx.hash).collect();
    assert_eq!(mined, hashes, "in nonce order, in one block");
    assert!(dev.chain.pool_content().is_empty());
    assert_eq!(dev.nonce(alice), 3);
    assert_eq!(dev.chain.transaction(hashes[2].0).unwrap().block_number, 1);

    // Turning automine back on mines what waits.
    let raw = dev.sign(0, transfer(&dev, 0, 3));
    dev.chain.submit(&raw, dev.now).unwrap();
    let blocks = dev.chain.set_mining_mode(MiningMode { automine: true }, dev.now);
    assert_eq!(blocks.len(), 1);
    assert_eq!(dev.nonce(alice), 4);
}

#[test]
fn higher_tips_go_first_across_senders() {
    let mut dev = Dev::new();
    manual(&mut dev);
    let cheap = TxEip1559 { max_priority_fee_per_gas: GWEI, ..transfer(&dev, 0, 0) };
    let rich = TxEip1559 { max_priority_fee_per_gas: 3 * GWEI, ..transfer(&dev, 1, 0) };
    let cheap = dev.chain.submit(&dev.sign(0, cheap), dev.now).unwrap().tx_hash;
    let rich = dev.chain.submit(&dev.sign(1, rich), dev.now).unwrap().tx_hash;
    let block = dev.chain.mine(dev.now);
    let order: Vec<_> = block.transactions.iter().map(|tx| tx.hash).collect();
    assert_eq!(order, vec![rich, cheap]);
}

#[test]
fn a_replacement_must_raise_both_fees_by_ten_percent() {
    let mut dev = Dev::new();
    manual(&mut dev);
    let original = transfer(&dev, 0, 0);
    dev.chain.submit(&dev.sign(0, original.clone()), dev.now).unwrap();

    // +5 %: refused, and the original stays.
    let weak = TxEip1559 {
        max_fee_per_gas: original.max_fee_per_gas * 105 / 100,
        max_priority_fee_per_gas: original.max_priority_fee_per_gas * 105 / 100,
        ..original.clone()
    };
    let error = dev.chain.submit(&dev.sign(0, weak), dev.now).unwrap_err();
    assert_eq!(error, TxError::ReplacementUnderpriced);
    // Only the fee cap raised: refused too.
    let cap_only = TxEip1559 { max_fee_per_gas: original.max_fee_per_gas * 2, ..original.clone() };
    let error = dev.chain.submit(&dev.sign(0, cap_only), dev.now).unwrap_err();
    assert_eq!(error, TxError::ReplacementUnderpriced);
    // The same transaction again: already known.
    let error = dev.chain.submit(&dev.sign(0, original.clone()), dev.now).unwrap_err();
    assert_eq!(error, TxError::AlreadyKnown);

    let strong = TxEip1559 {
        max_fee_per_gas: original.max_fee_per_gas * 11 / 10,
        max_priority_fee_per_gas: original.max_priority_fee_per_gas * 11 / 10,
        value: U256::from(7),
        ..original
    };
    let replacement = dev.chain.submit(&dev.sign(0, strong), dev.now).unwrap().tx_hash;
    let pool = dev.chain.pool_content();
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0].hash, replacement);
    dev.chain.mine(dev.now);
    assert_eq!(dev.balance(Address::repeat_byte(0x42)), U256::from(7));
}

#[test]
fn the_pool_refuses_what_could_never_run() {
    let mut dev = Dev::new();
    manual(&mut dev);
    let broke = TxEip1559 { value: ether(20_000), ..transfer(&dev, 0, 3) };
    let error = dev.chain.submit(&dev.sign(0, broke), dev.now).unwrap_err();
    assert!(matches!(error, TxError::InsufficientFunds { .. }), "{error:?}");
    let starved = TxEip1559 { gas_limit: 20_000, ..transfer(&dev, 0, 0) };
    let error = dev.chain.submit(&dev.sign(0, starved), dev.now).unwrap_err();
    assert!(matches!(error, TxError::IntrinsicGasTooLow { .. }), "{error:?}");
    assert!(dev.chain.pool_content().is_empty());
}

#[test]
fn a_pooled_transaction_that_became_invalid_is_dropped_at_mining() {
    let mut dev = Dev::new();
    manual(&mut dev);
    let alice = dev.address(0);
    // Two transfers that each fit the balance, but not both.
    let half = dev.balance(alice) / U256::from(2) + U256::from(1);
    let first = TxEip1559 { value: half, ..transfer(&dev, 0, 0) };
    let second = TxEip1559 { value: half, ..transfer(&dev, 0, 1) };
    dev.chain.submit(&dev.sign(0, first), dev.now).unwrap();
    let second = dev.chain.submit(&dev.sign(0, second), dev.now).unwrap().tx_hash;
    let block = dev.chain.mine(dev.now);
    assert_eq!(block.transactions.len(), 1);
    assert!(dev.chain.pooled_transaction(second.0).is_none());
    assert!(dev.chain.receipt(second.0).is_none());
}

#[test]
fn a_pending_call_accepts_the_nonce_after_pooled_transactions() {
    let mut dev = Dev::new();
    manual(&mut dev);
    dev.chain.submit(&dev.sign(0, transfer(&dev, 0, 0)), dev.now).unwrap();
    let args = evm_canister_api::CallArgs {
        from: Some(dev.address(0).into()),
        to: Some(Address::repeat_byte(0x42).into()),
        nonce: Some(1),
        ..Default::default()
    };
    let pending = dev.chain.estimate_gas(&args, BlockTag::Pending, &[], dev.now);
    assert_eq!(pending, Ok(evm_canister_api::Estimate::Gas(21_000)));
    let latest = dev.chain.estimate_gas(&args, BlockTag::Latest, &[], dev.now);
    assert!(matches!(latest, Err(evm_canister_api::CallError::Tx(TxError::NonceTooHigh { .. }))));
}

/// `get_block_receipts` answers a block's receipts in one query, in
/// transaction order, the same as asking for each; none for no block.
#[test]
fn a_blocks_receipts_come_in_one_query() {
    let mut dev = Dev::new();
    let later = dev.sign(0, transfer(&dev, 0, 1));
    dev.chain.submit(&later, dev.now).unwrap();
    let first = dev.sign(0, transfer(&dev, 0, 0));
    let block = dev.chain.submit(&first, dev.now).unwrap().blocks.remove(0);
    assert_eq!(block.transactions.len(), 2);

    let receipts = dev.chain.block_receipts(BlockTag::Latest).unwrap();
    let one_by_one: Vec<_> =
        block.transactions.iter().map(|tx| dev.chain.receipt(tx.hash.0).unwrap()).collect();
    assert_eq!(receipts, one_by_one);
    assert_eq!(receipts.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(dev.chain.block_receipts(BlockTag::Earliest), Some(Vec::new()));
    assert_eq!(dev.chain.block_receipts(BlockTag::Number(dev.head() + 1)), None);
}
