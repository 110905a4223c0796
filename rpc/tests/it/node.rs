//! The EVM really runs inside the wasm canister.

use alloy_primitives::{Address, TxKind, U256};
use evm_canister_api::{BlockTag, TxError};

use crate::{signed, start, transfer};

#[test]
fn every_transaction_costs_wasm_instructions() {
    let (mut node, signers) = start();
    assert!(node.install_instructions() > 0);
    let mut costs = Vec::new();
    for nonce in 0..3 {
        let submitted = node.send_raw_transaction(&transfer(&signers[0], nonce)).unwrap().unwrap();
        assert!(submitted.result.included().unwrap().success);
        costs.push(submitted.cost.unwrap().instructions);
    }
    // Signature recovery alone is millions of wasm instructions.
    assert!(costs.iter().all(|&c| c > 1_000_000), "{costs:?}");
    let balance =
        node.account(Address::repeat_byte(0x42).into(), BlockTag::Latest).unwrap().unwrap().balance;
    assert_eq!(balance.0, U256::from(3));
}

#[test]
fn instruction_counts_are_deterministic_across_nodes() {
    // Two nodes, same genesis, same clock, same transactions: the same wasm
    // instructions for each.
    let run = || {
        let (mut node, signers) = start();
        let code = vec![0x60, 0x2a, 0x60, 0x00, 0x55, 0x00]; // SSTORE(0, 42); STOP
        let mut costs = vec![
            node.send_raw_transaction(&signed(&signers[1], 0, TxKind::Create, U256::ZERO, code))
                .unwrap()
                .unwrap()
                .cost
                .unwrap()
                .instructions,
        ];
        for nonce in 0..3 {
            costs.push(
                node.send_raw_transaction(&transfer(&signers[0], nonce))
                    .unwrap()
                    .unwrap()
                    .cost
                    .unwrap()
                    .instructions,
            );
        }
        costs
    };
    assert_eq!(run(), run());
}

#[test]
fn refused_transactions_are_typed_errors_and_change_nothing() {
    let (mut node, signers) = start();
    node.send_raw_transaction(&transfer(&signers[0], 0)).unwrap().unwrap();
    let before = node.chain_info().unwrap();
    let error = node.send_raw_transaction(&transfer(&signers[0], 0)).unwrap().unwrap_err();
    assert_eq!(error, TxError::NonceTooLow { expected: 1, got: 0 });
    let error = node.send_raw_transaction(b"\x02garbage").unwrap().unwrap_err();
    assert!(matches!(error, TxError::Malformed(_)), "{error:?}");
    assert_eq!(node.chain_info().unwrap(), before);
}

/// Thousands of calls that need more heap than the canister has committed,
/// and calls and transactions that run out of instructions, leave the host
/// holding one heap: a discarded message's memory goes with it.
#[test]
fn discarded_messages_leave_no_memory_behind() {
    use canister_host::costs::Limits;
    let limits = Limits { update: 2_000_000_000, query: 400_000_000, ..Limits::default() };
    let (mut node, signers) = crate::start_with(None, limits);
    let held = |node: &canister_evm::node::Node| {
        let info = node.canister_status();
        (info.host_memory_bytes, info.heap_bytes)
    };
    let call = |input: &str| evm_canister_api::CallArgs {
        input: alloy_primitives::hex::decode(input).unwrap().into(),
        ..Default::default()
    };
    // MSTORE(0, 0) and return it: a small call.
    let small = call("600060005260206000f3");
    // Hash 8 KiB per turn, forever: runs out of instructions and traps.
    let spin = call("5b6120005f20505f56");
    for round in 0..1_500 {
        let outcome = node.call(small.clone(), BlockTag::Latest, Vec::new()).unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
        if round % 100 == 0 {
            assert!(node.call(spin.clone(), BlockTag::Latest, Vec::new()).is_err());
            let spin_tx = crate::signed_with_gas(
                &signers[0],
                0,
                TxKind::Create,
                U256::ZERO,
                alloy_primitives::hex::decode("5b6120005f20505f56").unwrap(),
                30_000_000,
            );
            let trapped = node.send_raw_transaction(&spin_tx);
            assert!(trapped.is_err(), "{trapped:?}");
        }
        let (host, heap) = held(&node);
        assert_eq!(host, heap, "after {round} calls the host holds more than the heap");
    }
}

/// `Node::chain_info` keeps its answer until the canister version moves:
/// after every kind of message it equals what the canister answers now,
/// and a refused transaction (which commits nothing) keeps it.
#[test]
fn chain_info_is_always_the_canisters() {
    fn fresh(node: &mut canister_evm::node::Node) -> evm_canister_api::ChainInfo {
        let reply = node.query_raw("chain_info", &candid::encode_args(()).unwrap()).unwrap();
        candid::decode_one(&reply).unwrap()
    }
    let (mut node, signers) = start();
    let genesis = node.chain_info().unwrap();
    assert_eq!(genesis, fresh(&mut node));

    node.send_raw_transaction(&transfer(&signers[0], 0)).unwrap().unwrap();
    let sent = node.chain_info().unwrap();
    assert_eq!(sent.latest_block, genesis.latest_block + 1);
    assert_eq!(sent, fresh(&mut node));

    let snapshot = node.snapshot().unwrap();
    node.mine().unwrap();
    assert_eq!(node.chain_info().unwrap().latest_block, sent.latest_block + 1);
    assert_eq!(node.chain_info().unwrap(), fresh(&mut node));

    assert!(node.revert(snapshot).unwrap());
    assert_eq!(node.chain_info().unwrap(), sent);
    assert_eq!(node.chain_info().unwrap(), fresh(&mut node));

    let error = node.send_raw_transaction(&transfer(&signers[0], 0)).unwrap().unwrap_err();
    assert!(matches!(error, TxError::NonceTooLow { .. }), "{error:?}");
    assert_eq!(node.chain_info().unwrap(), sent);

    node.upgrade(canister_evm::CANISTER_WASM, &candid::encode_args(()).unwrap()).unwrap().unwrap();
    node.send_raw_transaction(&transfer(&signers[0], 1)).unwrap().unwrap();
    assert_eq!(node.chain_info().unwrap().latest_block, sent.latest_block + 1);
    assert_eq!(node.chain_info().unwrap(), fresh(&mut node));
}
