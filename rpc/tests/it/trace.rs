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
}

const CAROL: Address = Address::repeat_byte(0xca);

async fn send(module: &RpcModule<()>, request: Value) -> TransactionReceipt {
    let hash: B256 = module.call("eth_sendTransaction", rpc_params![request]).await.unwrap();
    module.call("eth_getTransactionReceipt", rpc_params![hash]).await.unwrap()
}

#[tokio::test]
async fn transactions_calls_and_blocks_are_traced_in_the_canister() {
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
