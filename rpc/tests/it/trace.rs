//! debug_trace* over JSON-RPC, traced inside the canister in wasm.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rpc_types_eth::TransactionReceipt;
use alloy_sol_types::{SolCall, sol};
use canister_evm::handle::NodeHandle;
use canister_evm::server::rpc_module;
use jsonrpsee::RpcModule;
use jsonrpsee::core::server::MethodsError;
use jsonrpsee::rpc_params;
use serde_json::{Value, json};

use crate::start;

sol! {
    function pay(address to, uint256 amount);
    function keccakStore(bytes32 seed, uint256 rounds);
    function keccakLoop(bytes32 seed, uint256 rounds);
}

const CAROL: Address = Address::repeat_byte(0xca);

async fn send(module: &RpcModule<()>, request: Value) -> TransactionReceipt {
    let hash: B256 = module.call("eth_sendTransaction", rpc_params![request]).await.unwrap();
    module.call("eth_getTransactionReceipt", rpc_params![hash]).await.unwrap()
}

/// A node with the Tester contract deployed and funded, and the receipt
/// of its `pay(CAROL, 7)`, a call with a nested call.
struct Paid {
    module: RpcModule<()>,
    alice: Address,
    tester: Address,
    paid: TransactionReceipt,
}

async fn paid() -> Paid {
    let (node, signers) = start();
    let alice = signers[0].address();
    let module = rpc_module(NodeHandle::new(node, signers)).unwrap();
    let path = format!("{}/../contracts/artifacts/Tester.json", env!("CARGO_MANIFEST_DIR"));
    let artifact: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let deployed = send(&module, json!({ "from": alice, "data": artifact["bytecode"] })).await;
    let tester = deployed.contract_address.unwrap();
    send(&module, json!({ "from": alice, "to": tester, "value": "0x100" })).await;
    let input = Bytes::from(payCall { to: CAROL, amount: U256::from(7) }.abi_encode());
    let paid = send(&module, json!({ "from": alice, "to": tester, "input": input })).await;
    Paid { module, alice, tester, paid }
}

#[tokio::test]
async fn transactions_calls_and_blocks_are_traced_in_the_canister() {
    let Paid { module, alice, tester, paid } = paid().await;

    let trace: Value =
        module.call("debug_traceTransaction", rpc_params![paid.transaction_hash]).await.unwrap();
    assert_eq!(trace["gas"], paid.gas_used);
    assert_eq!(trace["failed"], false);
    let steps = trace["structLogs"].as_array().unwrap();
    assert!(steps.iter().any(|step| step["op"] == "CALL" && step["depth"] == 1));

    let options = json!({ "tracer": "callTracer" });
    let frame: Value = module
        .call("debug_traceTransaction", rpc_params![paid.transaction_hash, options.clone()])
        .await
        .unwrap();
    assert_eq!(frame["calls"][0]["to"], format!("{CAROL:#x}"));
    assert_eq!(frame["calls"][0]["value"], "0x7");

    let too_much = Bytes::from(payCall { to: CAROL, amount: U256::from(10_000) }.abi_encode());
    let call = json!({ "from": alice, "to": tester, "input": too_much });
    let frame: Value =
        module.call("debug_traceCall", rpc_params![call, "latest", options.clone()]).await.unwrap();
    assert_eq!(frame["revertReason"], "Tester: payment failed");

    let prestate: Value = module
        .call(
            "debug_traceTransaction",
            rpc_params![paid.transaction_hash, json!({ "tracer": "prestateTracer" })],
        )
        .await
        .unwrap();
    assert!(prestate.get(format!("{tester:#x}")).is_some(), "{prestate}");

    let block: Vec<Value> = module
        .call(
            "debug_traceBlockByNumber",
            rpc_params![format!("{:#x}", paid.block_number.unwrap()), options],
        )
        .await
        .unwrap();
    assert_eq!(block.len(), 1);
    assert_eq!(block[0]["txHash"], format!("{:#x}", paid.transaction_hash));

    let missing = module.call::<_, Value>("debug_traceTransaction", rpc_params![B256::ZERO]).await;
    let MethodsError::JsonRpc(error) = missing.unwrap_err() else { panic!() };
    assert_eq!(error.code(), -32000);
    assert!(error.message().contains("not found"));
    let bad = module
        .call::<_, Value>(
            "debug_traceTransaction",
            rpc_params![paid.transaction_hash, json!({ "tracer": "nope" })],
        )
        .await;
    let MethodsError::JsonRpc(error) = bad.unwrap_err() else { panic!() };
    assert_eq!(error.code(), -32602, "{}", error.message());
}

fn number(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("not a number: {value}"))
}

/// A frame's instructions and cycles: the children's add up to no more than
/// the parent's, and self is the parent's less the children's; returns the
/// frame's inclusive instructions.
fn check_frame(frame: &Value) -> u64 {
    let instructions = number(&frame["instructions"]);
    let children: u64 = frame["calls"].as_array().map_or(0, |c| c.iter().map(check_frame).sum());
    assert!(children <= instructions, "{frame}");
    assert_eq!(number(&frame["selfInstructions"]), instructions - children, "{frame}");
    assert_eq!(number(&frame["cycles"]), instructions, "1 cycle per instruction: {frame}");
    assert_eq!(number(&frame["selfCycles"]), instructions - children);
    instructions
}

/// The row of `table` for `key` (an opcode or a precompile's name).
fn row<'a>(trace: &'a Value, table: &str, field: &str, key: &str) -> &'a Value {
    let rows = trace[table].as_array().unwrap();
    rows.iter().find(|r| r[field] == key).unwrap_or_else(|| panic!("no {key} in {rows:?}"))
}

#[tokio::test]
async fn the_cost_tracer_shows_where_the_instructions_go() {
    let Paid { module, alice, tester, paid } = paid().await;
    let options = json!({ "tracer": "costTracer" });

    // A call with a nested call: the frames nest and add up.
    let trace: Value = module
        .call("debug_traceTransaction", rpc_params![paid.transaction_hash, options.clone()])
        .await
        .unwrap();
    assert_eq!(number(&trace["gasUsed"]), paid.gas_used, "{trace}");
    let root = &trace["calls"];
    assert_eq!(root["type"], "CALL");
    assert_eq!(root["to"], format!("{tester:#x}"));
    assert_eq!(root["calls"][0]["to"], format!("{CAROL:#x}"));
    assert_eq!(root["calls"][0]["value"], "0x7");
    let evm = number(&trace["evmInstructions"]);
    assert!(check_frame(root) <= evm, "{trace}");
    // The opcodes' own figures: a CALL's gas is its own, not what it forwarded.
    let call = row(&trace, "opcodes", "op", "CALL");
    assert_eq!(number(&call["count"]), 1);
    assert!(number(&call["gas"]) < 40_000, "{call}");
    let opcodes: u64 =
        trace["opcodes"].as_array().unwrap().iter().map(|r| number(&r["instructions"])).sum();
    assert!(opcodes <= evm, "{opcodes} > {evm}");
    assert!(number(&trace["tracerOverhead"]["subtracted"]) > 0);
    // The phases recorded at inclusion, and how far re-execution is from them.
    let phases = &trace["phases"];
    assert!(number(&phases["senderRecovery"]) > 1_000_000, "{phases}");
    let gap = &trace["evmGap"];
    assert_eq!(number(&gap["recorded"]), number(&phases["evmExecution"]));
    let percent = gap["percent"].as_f64().unwrap();
    assert!(percent.abs() < 35.0, "re-executed {evm} against recorded: {gap}");
    eprintln!("costTracer gap for pay(): {gap}");

    // A loop of KECCAK256 and a store, in a transaction.
    let input =
        Bytes::from(keccakStoreCall { seed: B256::ZERO, rounds: U256::from(40) }.abi_encode());
    let stored = send(&module, json!({ "from": alice, "to": tester, "input": input })).await;
    let trace: Value = module
        .call("debug_traceTransaction", rpc_params![stored.transaction_hash, options.clone()])
        .await
        .unwrap();
    assert_eq!(number(&row(&trace, "opcodes", "op", "KECCAK256")["count"]), 40);
    assert_eq!(number(&row(&trace, "opcodes", "op", "SSTORE")["count"]), 1);
    check_frame(&trace["calls"]);
    eprintln!("costTracer gap for keccakStore(40): {}", trace["evmGap"]);
    let percent = trace["evmGap"]["percent"].as_f64().unwrap();
    assert!(percent.abs() < 35.0, "{}", trace["evmGap"]);

    // A call, which has no recorded phases; and a precompile.
    let input =
        Bytes::from(keccakLoopCall { seed: B256::ZERO, rounds: U256::from(5) }.abi_encode());
    let call = json!({ "from": alice, "to": tester, "input": input });
    let trace: Value =
        module.call("debug_traceCall", rpc_params![call, "latest", options.clone()]).await.unwrap();
    assert_eq!(number(&row(&trace, "opcodes", "op", "KECCAK256")["count"]), 5);
    assert!(trace.get("phases").is_none() && trace.get("evmGap").is_none(), "{trace}");
    let ecrecover = json!({ "from": alice, "to": Address::with_last_byte(1), "input": Bytes::from(vec![0u8; 128]) });
    let trace: Value = module
        .call("debug_traceCall", rpc_params![ecrecover, "latest", options.clone()])
        .await
        .unwrap();
    let precompile = row(&trace, "precompiles", "name", "ecrecover");
    assert_eq!(number(&precompile["count"]), 1);
    assert_eq!(number(&precompile["gas"]), 3_000);
    assert!(number(&precompile["instructions"]) > 0);

    // Every transaction of a block.
    let block: Vec<Value> = module
        .call(
            "debug_traceBlockByNumber",
            rpc_params![format!("{:#x}", stored.block_number.unwrap()), options],
        )
        .await
        .unwrap();
    assert_eq!(block.len(), 1);
    assert!(block[0]["result"]["phases"].is_object(), "{}", block[0]);
}
