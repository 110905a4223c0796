//! Geth tracing inside the chain: struct logs, callTracer, replay of a block.

use alloy_primitives::{Address, TxKind, U256};
use alloy_sol_types::SolCall;
use evm_canister_api::{BlockTag, CallArgs, MiningMode, QueryError};
use serde_json::Value;

use crate::dev::*;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_transaction_is_traced_after_the_blocks_earlier_ones() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    dev.chain.set_mining_mode(MiningMode { automine: false }, dev.now);
    // Two writes of one slot in one block: the second is cheap only if the
    // first ran before it.
    let mut hashes = Vec::new();
    for (i, value) in [5u64, 6].into_iter().enumerate() {
        let input = storeCall { key: U256::from(1), value: U256::from(value) }.abi_encode();
        let tx = alloy_consensus::TxEip1559 {
            nonce: 1 + i as u64,
            ..dev.tx(0, TxKind::Call(tester), U256::ZERO, input)
        };
        hashes.push(dev.chain.submit(&dev.sign(0, tx), dev.now).unwrap().tx_hash);
    }
    let block = dev.chain.mine(dev.now);
    assert_eq!(block.transactions.len(), 2);

    for (hash, mined) in hashes.iter().zip(&block.transactions) {
        let trace = json(&dev.chain.trace_transaction(hash.0, "{}").unwrap().unwrap());
        assert_eq!(trace["gas"], mined.gas_used, "struct-log gas is the receipt's");
        assert_eq!(trace["failed"], false);
        let logs = trace["structLogs"].as_array().unwrap();
        let sstore = logs.iter().find(|step| step["op"] == "SSTORE").unwrap();
        assert!(sstore["storage"].is_object());
        assert_eq!(logs[0]["pc"], 0);
        assert!(logs[0]["stack"].as_array().unwrap().is_empty());
    }
    assert!(block.transactions[1].gas_used < block.transactions[0].gas_used);

    // Options are geth's: no stack, a step limit.
    let options = r#"{"disableStack": true, "limit": 5}"#;
    let trace = json(&dev.chain.trace_transaction(hashes[0].0, options).unwrap().unwrap());
    let logs = trace["structLogs"].as_array().unwrap();
    assert_eq!(logs.len(), 5);
    assert!(logs[0].get("stack").is_none());

    assert_eq!(dev.chain.trace_transaction(alloy_primitives::B256::ZERO, "{}"), Ok(None));
    let error = dev.chain.trace_transaction(hashes[0].0, r#"{"tracer": "noSuchTracer"}"#);
    assert!(matches!(error, Err(QueryError::InvalidArgument(_))), "{error:?}");
}

#[test]
fn the_call_tracer_shows_nested_calls_and_reverts() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let carol = Address::repeat_byte(0xca);
    dev.send(0, dev.tx(0, TxKind::Call(tester), ether(1), vec![])).unwrap();
    let input = payCall { to: carol, amount: U256::from(7) }.abi_encode();
    let sent = dev.send(0, dev.tx(0, TxKind::Call(tester), U256::ZERO, input.clone())).unwrap();

    let options = r#"{"tracer": "callTracer", "tracerConfig": {"withLog": true}}"#;
    let frame = json(&dev.chain.trace_transaction(sent.tx_hash.0, options).unwrap().unwrap());
    assert_eq!(frame["type"], "CALL");
    assert_eq!(frame["from"], format!("{:#x}", dev.address(0)));
    assert_eq!(frame["to"], format!("{tester:#x}"));
    let inner = &frame["calls"][0];
    assert_eq!(inner["type"], "CALL");
    assert_eq!(inner["to"], format!("{carol:#x}"));
    assert_eq!(inner["value"], "0x7");

    // debug_traceCall: a message that reverts with a reason.
    let args = CallArgs {
        from: Some(dev.address(1).into()),
        to: Some(tester.into()),
        input: payCall { to: carol, amount: ether(5) }.abi_encode().into(),
        ..Default::default()
    };
    let frame = json(&dev.chain.trace_call(&args, BlockTag::Latest, options, dev.now).unwrap());
    assert_eq!(frame["error"], "execution reverted");
    assert_eq!(frame["revertReason"], "Tester: payment failed");
    assert!(frame["calls"][0]["error"].is_string(), "{frame}");
    // The struct logger for a call, and nothing committed.
    let trace = json(&dev.chain.trace_call(&args, BlockTag::Latest, "", dev.now).unwrap());
    assert_eq!(trace["failed"], true);
    assert_eq!(dev.balance(carol), U256::from(7));
}

#[test]
fn a_traced_transaction_sees_the_edits_made_in_its_block() {
    use alloy_consensus::{SignableTransaction, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    let mut dev = Dev::new();
    let carol = Address::repeat_byte(0xca);
    // Funds that exist only through an edit recorded in the next block.
    dev.chain.edit_account(&evm_canister_api::AccountEdit {
        address: carol.into(),
        balance: Some(ether(1).into()),
        ..Default::default()
    });
    let tx = alloy_consensus::TxEip1559 {
        nonce: 0,
        gas_limit: 21_000,
        ..dev.tx(0, TxKind::Call(Address::repeat_byte(0x42)), U256::from(5), vec![])
    };
    let placeholder = alloy_primitives::Signature::new(U256::from(1), U256::from(1), false);
    let raw = TxEnvelope::from(tx.into_signed(placeholder)).encoded_2718();
    let sent = dev.chain.submit_as(&raw, carol, dev.now).unwrap();
    let included = sent.included().unwrap();
    assert!(included.success);

    let trace = json(&dev.chain.trace_transaction(sent.tx_hash.0, "{}").unwrap().unwrap());
    assert_eq!(trace["gas"], included.gas_used);
    assert_eq!(trace["failed"], false);
}

/// Code that starts like an EIP-7702 delegation but is not one, set by an
/// edit, is replayed as legacy code when a transaction of its block is
/// traced (revm's `Bytecode::new_raw` panics on it).
#[test]
fn an_edit_with_malformed_delegation_code_replays() {
    let mut dev = Dev::new();
    let target = Address::repeat_byte(0x77);
    dev.chain.edit_account(&evm_canister_api::AccountEdit {
        address: target.into(),
        code: Some(vec![0xef, 0x01, 0x00, 0x01].into()),
        ..Default::default()
    });
    let tx = dev.tx(0, TxKind::Call(target), U256::from(1), vec![]);
    let hash = dev.chain.submit(&dev.sign(0, tx), dev.now).unwrap().tx_hash;
    let options = r#"{"tracer": "callTracer"}"#;
    let trace = json(&dev.chain.trace_transaction(hash.0, options).unwrap().unwrap());
    assert_eq!(trace["to"], format!("{target:#x}"));
    // 0xef is an invalid opcode: the call fails, as it did when mined.
    assert!(trace["error"].is_string(), "{trace}");
}

/// A block is traced in one replay, and each trace is the one
/// `trace_transaction` gives for its transaction.
#[test]
fn a_block_trace_is_its_transactions_traces_in_order() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    dev.chain.set_mining_mode(MiningMode { automine: false }, dev.now);
    let mut hashes = Vec::new();
    for (i, value) in [5u64, 6, 7].into_iter().enumerate() {
        let input = storeCall { key: U256::from(1), value: U256::from(value) }.abi_encode();
        let tx = alloy_consensus::TxEip1559 {
            nonce: 1 + i as u64,
            ..dev.tx(0, TxKind::Call(tester), U256::ZERO, input)
        };
        hashes.push(dev.chain.submit(&dev.sign(0, tx), dev.now).unwrap().tx_hash);
    }
    let block = dev.chain.mine(dev.now);
    let options = r#"{"tracer": "callTracer"}"#;
    let traces = dev.chain.trace_block(BlockTag::Number(block.number), options).unwrap();
    assert_eq!(traces.len(), 3);
    for ((hash, trace), expected) in traces.iter().zip(&hashes) {
        assert_eq!(hash, &expected.0);
        let single = dev.chain.trace_transaction(expected.0, options).unwrap().unwrap();
        assert_eq!(json(trace), json(&single));
    }
    // The struct logger's gas is each receipt's: every trace ran after the
    // ones before it.
    let traces = dev.chain.trace_block(BlockTag::Number(block.number), "{}").unwrap();
    for ((_, trace), mined) in traces.iter().zip(&block.transactions) {
        assert_eq!(json(trace)["gas"], mined.gas_used);
    }
    assert_eq!(
        dev.chain.trace_block(BlockTag::Number(block.number + 1), "{}"),
        Err(QueryError::BlockNotFound)
    );
    assert_eq!(dev.chain.trace_block(BlockTag::Earliest, "{}"), Ok(Vec::new()));
}
