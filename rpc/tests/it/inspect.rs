//! `canister_inspect_message`: what an ingress message from anyone but a
//! controller is refused for before the canister accepts it, through the
//! host as the replica runs it.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;
use candid::Principal;
use canister_evm::node::Queries as _;
use canister_evm::node::{Node, NodeError, controller};
use serde_bytes::ByteBuf;

use crate::{signed, start, transfer};

/// A caller that is not a controller.
fn stranger() -> Principal {
    let stranger = Principal::self_authenticating(b"a wallet");
    assert_ne!(stranger, controller());
    stranger
}

/// What inspection answered `raw`, sent by a stranger: `Ok` if the message
/// went through, else the refusal.
fn send_as_stranger(node: &mut Node, arg: &[u8]) -> Result<(), String> {
    match node.update_as(stranger(), "send_raw_transaction", arg) {
        Ok(_) => Ok(()),
        Err(NodeError::Call(canister_host::CallError::Refused(why))) => Err(why),
        Err(other) => panic!("not refused by inspection but {other}"),
    }
}

fn raw_arg(raw: &[u8]) -> Vec<u8> {
    candid::encode_one(ByteBuf::from(raw.to_vec())).unwrap()
}

fn assert_refused(node: &mut Node, arg: &[u8], reason: &str) {
    let before = node.chain_info().unwrap();
    let why = send_as_stranger(node, arg).expect_err(reason);
    assert!(why.contains("canister_inspect_message trapped"), "{why}");
    assert!(why.contains(reason), "expected {reason:?}, got {why}");
    let after = node.chain_info().unwrap();
    assert_eq!(before, after, "a refused message changes nothing ({reason})");
}

fn eip1559(chain_id: u64, nonce: u64, gas: u64) -> TxEip1559 {
    TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x42)),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    }
}

fn sign(signer: &PrivateKeySigner, tx: TxEip1559) -> Vec<u8> {
    use alloy_signer::SignerSync;
    let signature = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
}

#[test]
fn inspection_refuses_transactions_the_chain_would_refuse() {
    let (mut node, signers) = start();
    let alice = &signers[0];

    assert_refused(&mut node, b"not candid", "undecodable argument");
    assert_refused(&mut node, &raw_arg(&[0xc0, 0x01]), "invalid transaction");
    let huge = signed(alice, 0, TxKind::Create, U256::ZERO, vec![0; 130 * 1024]);
    assert_refused(&mut node, &raw_arg(&huge), "oversized data");
    let other_chain = sign(alice, eip1559(1, 0, 21_000));
    assert_refused(&mut node, &raw_arg(&other_chain), "invalid chain id for signer");
    let unsigned = TxEnvelope::from(eip1559(31337, 0, 21_000).into_signed(Signature::new(
        U256::ZERO,
        U256::ZERO,
        false,
    )))
    .encoded_2718();
    assert_refused(&mut node, &raw_arg(&unsigned), "invalid sender");
    let pauper = PrivateKeySigner::from_bytes(&[7; 32].into()).unwrap();
    assert_refused(&mut node, &raw_arg(&transfer(&pauper, 0)), "insufficient funds");
    let too_little_gas = sign(alice, eip1559(31337, 0, 20_000));
    assert_refused(&mut node, &raw_arg(&too_little_gas), "intrinsic gas too low");

    // A valid transaction passes inspection and is executed.
    send_as_stranger(&mut node, &raw_arg(&transfer(alice, 0))).unwrap();
    assert_eq!(node.chain_info().unwrap().latest_block, 1);
    // Its nonce is used now; a pooled transaction (a future nonce) passes
    // and is not refused again as already known only once it is pooled.
    assert_refused(&mut node, &raw_arg(&transfer(alice, 0)), "nonce too low");
    let future = raw_arg(&transfer(alice, 5));
    send_as_stranger(&mut node, &future).unwrap();
    assert_refused(&mut node, &future, "already known");
}

#[test]
fn inspection_refuses_the_dev_controls_to_strangers() {
    let (mut node, signers) = start();
    let nobody = candid::encode_args(()).unwrap();
    for (method, arg) in [
        ("mine", nobody.clone()),
        ("snapshot", nobody),
        ("revert", candid::encode_one(1u64).unwrap()),
        (
            "set_mining_mode",
            candid::encode_one(evm_canister_api::MiningMode { automine: false }).unwrap(),
        ),
        (
            "send_impersonated_transaction",
            candid::encode_args((
                ByteBuf::from(transfer(&signers[0], 0)),
                evm_canister_api::Address(Address::repeat_byte(1)),
            ))
            .unwrap(),
        ),
        (
            "edit_account",
            candid::encode_one(evm_canister_api::AccountEdit {
                address: evm_canister_api::Address(Address::repeat_byte(1)),
                ..Default::default()
            })
            .unwrap(),
        ),
    ] {
        let error = node.update_as(stranger(), method, &arg).unwrap_err();
        let NodeError::Call(canister_host::CallError::Refused(why)) = error else {
            panic!("{method}: not refused by inspection: {error}")
        };
        assert!(why.contains("only a controller"), "{method}: {why}");
    }
    assert_eq!(node.chain_info().unwrap().latest_block, 0);
    // The controller (the node) is not inspected: its controls work.
    node.mine().unwrap();
    assert_eq!(node.chain_info().unwrap().latest_block, 1);
}

/// Inspection validates a transaction without executing it, so its cost
/// does not depend on what the transaction does: one that burns 29 M gas in
/// a loop (far beyond inspection's 200 M instructions if executed) passes,
/// and the update then executes it.
#[test]
fn inspection_does_not_execute_the_transaction() {
    let (mut node, signers) = start();
    let alice = &signers[0];
    // Init code returning JUMPDEST PUSH1 0 JUMP: a loop until out of gas.
    let init = alloy_primitives::hex::decode("635b6000566000526004601cf3").unwrap();
    node.send_raw_transaction(&signed(alice, 0, TxKind::Create, U256::ZERO, init))
        .unwrap()
        .unwrap();
    let looping = alice.address().create(0);
    let burn =
        crate::signed_with_gas(alice, 1, TxKind::Call(looping), U256::ZERO, vec![], 29_000_000);
    let reply = node.update_as(stranger(), "send_raw_transaction", &raw_arg(&burn)).unwrap();
    let submitted: Result<evm_canister_api::SubmitResult, evm_canister_api::TxError> =
        candid::decode_one(&reply).unwrap();
    let included = &submitted.unwrap().blocks[0].transactions[0];
    assert_eq!(node.chain_info().unwrap().latest_block, 2, "executed by the update");
    assert!(included.instructions > 200_000_000, "executing it costs {}", included.instructions);
}
