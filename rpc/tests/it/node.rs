//! The EVM really runs inside the wasm canister.

use alloy_primitives::{Address, TxKind, U256};
use evm_canister_api::{BlockTag, TxError};

use canister_evm::node::Queries as _;

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

/// The reader's replicas answer as the node's canister does after every
/// kind of message, once synced; until then they answer from the state of
/// the last sync.
#[test]
fn the_reader_answers_as_the_node_once_synced() {
    use canister_evm::node::{Node, Reader};
    fn same(node: &mut Node, reader: &mut Reader) {
        node.sync(reader).unwrap();
        assert_eq!(reader.version(), node.canister_status().version);
        assert_eq!(reader.chain_info().unwrap(), node.chain_info().unwrap());
        let latest = (BlockTag::Latest, true);
        assert_eq!(
            reader.block(latest.0, latest.1).unwrap(),
            node.block(latest.0, latest.1).unwrap()
        );
        assert_eq!(
            reader.block_receipts(BlockTag::Latest).unwrap(),
            node.block_receipts(BlockTag::Latest).unwrap()
        );
        let to = Address::repeat_byte(0x42).into();
        assert_eq!(
            reader.account(to, BlockTag::Latest).unwrap(),
            node.account(to, BlockTag::Latest).unwrap()
        );
        assert_eq!(reader.pool_content().unwrap(), node.pool_content().unwrap());
    }
    let (mut node, signers) = start();
    let mut reader = node.reader().unwrap();
    same(&mut node, &mut reader);

    let sent = node.send_raw_transaction(&transfer(&signers[0], 0)).unwrap().unwrap();
    // Not synced yet: the reader still sees the chain before the transaction.
    assert_eq!(reader.receipt(sent.result.tx_hash).unwrap(), None);
    same(&mut node, &mut reader);
    assert!(reader.receipt(sent.result.tx_hash).unwrap().is_some());
    assert_eq!(
        reader.transaction_cost(sent.result.tx_hash.0),
        node.transaction_cost(sent.result.tx_hash.0)
    );

    let snapshot = node.snapshot().unwrap();
    node.set_automine(false).unwrap();
    node.send_raw_transaction(&transfer(&signers[0], 1)).unwrap().unwrap();
    same(&mut node, &mut reader);
    node.mine().unwrap();
    same(&mut node, &mut reader);
    assert!(node.revert(snapshot).unwrap());
    same(&mut node, &mut reader);

    node.upgrade(canister_evm::CANISTER_WASM, &candid::encode_args(()).unwrap()).unwrap().unwrap();
    same(&mut node, &mut reader);
    node.send_raw_transaction(&transfer(&signers[0], 1)).unwrap().unwrap();
    same(&mut node, &mut reader);
}

/// The node keeps the headers of the blocks it produces as the canister
/// returned them on sealing, exactly what a query for the block answers, so
/// `newHeads` subscriptions send them without querying; a revert forgets
/// them, since the numbers after the snapshot will be other blocks.
#[test]
fn the_latest_headers_are_kept_as_sealed() {
    let (mut node, signers) = start();
    let headers = node.recent_headers();
    let kept_as_queried = |node: &mut canister_evm::node::Node, number: u64| {
        let kept = headers.get(number).unwrap_or_else(|| panic!("block {number} is kept"));
        assert_eq!(Some(kept), node.block(BlockTag::Number(number), false).unwrap());
    };
    let sent = node.send_raw_transaction(&transfer(&signers[0], 0)).unwrap().unwrap();
    let first = sent.result.blocks[0].number;
    kept_as_queried(&mut node, first);
    assert_eq!(headers.get(first).unwrap().transactions, vec![sent.result.tx_hash]);

    let snapshot = node.snapshot().unwrap();
    let empty = node.mine().unwrap().number;
    assert_eq!(empty, first + 1);
    kept_as_queried(&mut node, empty);
    assert!(node.revert(snapshot).unwrap());
    assert_eq!(headers.get(empty), None);
    assert_eq!(headers.get(first), None);

    let again = node.mine().unwrap();
    assert_eq!(again.number, empty);
    kept_as_queried(&mut node, empty);
}

/// A call on a chain with no transactions yet does not grow the canister's
/// heap: the canister built what the EVM needs on first use when it was
/// installed (and upgraded), so the host never has to restore it into a
/// fresh instance after the query.
#[test]
fn calls_on_a_fresh_chain_leave_the_heap_as_it_was() {
    let (mut node, _) = start();
    let call = evm_canister_api::CallArgs {
        to: Some(Address::with_last_byte(4).into()),
        input: vec![0x12, 0x34].into(),
        ..Default::default()
    };
    for _ in 0..3 {
        let outcome = node.call(call.clone(), BlockTag::Latest, Vec::new()).unwrap().unwrap();
        let evm_canister_api::CallOutcome::Success { output, .. } = outcome else {
            panic!("the identity precompile answers: {outcome:?}")
        };
        assert_eq!(output.as_ref(), [0x12, 0x34]);
    }
    assert_eq!(node.fresh_instances(), 0);
    node.upgrade(canister_evm::CANISTER_WASM, &candid::encode_args(()).unwrap()).unwrap().unwrap();
    node.call(call, BlockTag::Latest, Vec::new()).unwrap().unwrap();
    assert_eq!(node.fresh_instances(), 0);
}

/// A query holding the reader does not hold up an update: the update is
/// acknowledged while the query still runs, and the next query sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_proceed_while_a_query_runs() {
    use canister_evm::handle::NodeHandle;
    let (node, signers) = start();
    let handle = NodeHandle::new(node, signers.clone());
    let (started, running) = tokio::sync::oneshot::channel();
    let (finish, finished) = std::sync::mpsc::channel::<()>();
    let query = tokio::spawn({
        let handle = handle.clone();
        async move {
            handle
                .read(move |reader| {
                    let before = reader.chain_info()?.latest_block;
                    started.send(()).unwrap();
                    finished.recv().unwrap();
                    Ok(before)
                })
                .await
                .unwrap()
        }
    });
    running.await.unwrap();
    // The reader is held; the send must complete anyway. The timeout only
    // turns a deadlock into a failure.
    let tx = transfer(&signers[0], 0);
    let send = handle.run(move |node| node.send_raw_transaction(&tx));
    let sent = tokio::time::timeout(std::time::Duration::from_secs(120), send)
        .await
        .expect("the update waited for the query")
        .unwrap()
        .unwrap();
    finish.send(()).unwrap();
    assert_eq!(query.await.unwrap(), 0, "the query ran on the state it started with");
    let hash = sent.result.tx_hash;
    let (head, receipt) = handle
        .read(move |reader| Ok((reader.chain_info()?.latest_block, reader.receipt(hash)?)))
        .await
        .unwrap();
    assert_eq!(head, 1);
    assert!(receipt.is_some(), "a query after the update sees it");
}
