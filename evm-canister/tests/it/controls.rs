//! Dev-node controls: account edits, snapshots and impersonation.

use alloy_consensus::{Header, SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Signature, TxKind, U256};
use evm_canister_api::{AccountEdit, BlockTag, Hash, TxError};

use crate::dev::*;

const CAROL: Address = Address::repeat_byte(0xca);

fn edit(address: Address) -> AccountEdit {
    AccountEdit { address: address.into(), ..Default::default() }
}

#[test]
fn edits_change_the_latest_state_and_land_in_the_next_block() {
    let mut dev = Dev::new();
    let root_before = dev.chain.block(BlockTag::Latest, false).unwrap().header;
    dev.chain.edit_account(&AccountEdit {
        balance: Some(ether(5).into()),
        nonce: Some(9),
        code: Some(vec![0x60, 0x00].into()),
        storage: vec![(Hash(B256::with_last_byte(1)), Hash(B256::with_last_byte(7)))],
        ..edit(CAROL)
    });
    assert_eq!(dev.balance(CAROL), ether(5));
    assert_eq!(dev.nonce(CAROL), 9);
    assert_eq!(dev.chain.code(CAROL, BlockTag::Latest).unwrap().as_ref(), &[0x60, 0x00]);
    let slot = dev.chain.storage(CAROL, B256::with_last_byte(1), BlockTag::Latest).unwrap();
    assert_eq!(slot, B256::with_last_byte(7));
    // No block was produced, and the genesis block still reads as it was.
    assert_eq!(dev.head(), 0);
    assert_eq!(dev.chain.block(BlockTag::Latest, false).unwrap().header, root_before);

    let block = dev.chain.mine(dev.now);
    assert_eq!(block.number, 1);
    // The next block's state root covers the edit: a proof verifies.
    let proof = dev.chain.proof(CAROL, &[B256::with_last_byte(1)], BlockTag::Latest).unwrap();
    assert_eq!(proof.nonce, 9);
    assert_eq!(dev.chain.account(CAROL, BlockTag::Number(0)).unwrap().balance.0, U256::ZERO);
    // Only the given fields change.
    dev.chain.edit_account(&AccountEdit { balance: Some(ether(1).into()), ..edit(CAROL) });
    assert_eq!(dev.nonce(CAROL), 9);
    assert_eq!(dev.balance(CAROL), ether(1));
}

#[test]
fn revert_returns_blocks_transactions_and_state() {
    let mut dev = Dev::new();
    let alice = dev.address(0);
    dev.send(0, dev.tx(0, TxKind::Call(CAROL), ether(1), vec![])).unwrap();
    let id = dev.chain.snapshot();
    let head = dev.chain.info();

    let sent = dev.send(0, dev.tx(0, TxKind::Call(CAROL), ether(2), vec![])).unwrap();
    dev.chain.edit_account(&AccountEdit { balance: Some(ether(77).into()), ..edit(alice) });
    dev.chain.mine(dev.now);
    assert_eq!(dev.head(), 3);

    assert!(dev.chain.revert(id));
    assert_eq!(dev.chain.info(), head);
    assert_eq!(dev.balance(CAROL), ether(1));
    assert_eq!(dev.nonce(alice), 1);
    assert!(dev.chain.transaction(sent.tx_hash.0).is_none());
    assert!(dev.chain.receipt(sent.tx_hash.0).is_none());
    assert!(dev.chain.block(BlockTag::Number(2), false).is_none());
    // A snapshot is used up by reverting to it.
    assert!(!dev.chain.revert(id));

    // The chain goes on from the snapshot, and its roots are right: the
    // same transaction gives the same state root as on a chain that never
    // went further.
    let again = dev.send(0, dev.tx(0, TxKind::Call(CAROL), ether(2), vec![])).unwrap();
    assert_eq!(again.block_number, 2);
    let mut fresh = Dev::new();
    fresh.send(0, fresh.tx(0, TxKind::Call(CAROL), ether(1), vec![])).unwrap();
    fresh.send(0, fresh.tx(0, TxKind::Call(CAROL), ether(2), vec![])).unwrap();
    let root = |d: &Dev| {
        let header = d.chain.block(BlockTag::Latest, false).unwrap().header;
        alloy_rlp::Decodable::decode(&mut header.as_ref()).map(|h: Header| h.state_root).unwrap()
    };
    assert_eq!(root(&dev), root(&fresh));
}

#[test]
fn revert_keeps_edits_made_before_the_snapshot_and_drops_later_ones() {
    let mut dev = Dev::new();
    dev.chain.edit_account(&AccountEdit { balance: Some(ether(3).into()), ..edit(CAROL) });
    let id = dev.chain.snapshot();
    let later = dev.chain.snapshot();
    dev.chain.edit_account(&AccountEdit { nonce: Some(4), ..edit(CAROL) });
    dev.chain.mine(dev.now);
    assert!(dev.chain.revert(id));
    assert_eq!(dev.head(), 0);
    assert_eq!(dev.balance(CAROL), ether(3));
    assert_eq!(dev.nonce(CAROL), 0);
    assert!(!dev.chain.revert(later), "later snapshots go with the reverted one");
    dev.chain.mine(dev.now);
    assert_eq!(dev.balance(CAROL), ether(3), "the kept edit is in the next block");
}

#[test]
fn an_impersonated_account_sends_without_a_key() {
    let mut dev = Dev::new();
    dev.chain.edit_account(&AccountEdit { balance: Some(ether(10).into()), ..edit(CAROL) });
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Call(Address::repeat_byte(0x42)),
        value: ether(1),
        access_list: Default::default(),
        input: Default::default(),
    };
    let placeholder = Signature::new(U256::from(1), U256::from(1), false);
    let raw = TxEnvelope::from(tx.into_signed(placeholder)).encoded_2718();
    let result = dev.chain.submit_as(&raw, CAROL, dev.now).unwrap();
    assert!(result.included().unwrap().success);
    assert_eq!(dev.balance(Address::repeat_byte(0x42)), ether(1));
    let view = dev.chain.transaction(result.tx_hash.0).unwrap();
    assert_eq!(view.from.0, CAROL);
    // Without impersonation the placeholder signature is not CAROL's.
    let error = dev.chain.submit(&raw, dev.now);
    assert!(!matches!(&error, Ok(r) if r.included().is_some()), "{error:?}");
    assert!(matches!(
        error,
        Err(TxError::InvalidSignature
            | TxError::InsufficientFunds { .. }
            | TxError::NonceTooLow { .. })
    ));
}
