//! JSON-RPC handlers through `RpcModule::call`, without a socket.

use alloy_primitives::{Address, B256, U64};
use alloy_rpc_types_eth::{Block, TransactionReceipt};
use canister_evm::eth::NodeHandle;
use canister_evm::server::rpc_module;
use jsonrpsee::core::server::MethodsError;
use jsonrpsee::rpc_params;

use crate::{start, transfer};

fn module() -> (jsonrpsee::RpcModule<()>, Vec<alloy_signer_local::PrivateKeySigner>) {
    let (node, signers) = start();
    let accounts = signers.iter().map(|s| s.address()).collect();
    (rpc_module(NodeHandle::new(node, accounts)).unwrap(), signers)
}

#[tokio::test]
async fn a_receipt_has_what_clients_need() {
    let (module, signers) = module();
    let raw = alloy_primitives::hex::encode_prefixed(transfer(&signers[0], 0));
    let hash: B256 = module.call("eth_sendRawTransaction", rpc_params![raw]).await.unwrap();
    let receipt: serde_json::Value =
        module.call("eth_getTransactionReceipt", rpc_params![hash]).await.unwrap();
    for field in [
        "cumulativeGasUsed",
        "effectiveGasPrice",
        "logsBloom",
        "contractAddress",
        "gasUsed",
        "status",
        "blockHash",
        "transactionIndex",
        "type",
    ] {
        assert!(receipt.get(field).is_some(), "receipt lacks {field}: {receipt}");
    }
    // What the transaction cost as wasm, next to its gas.
    let instructions = u64::from_str_radix(
        receipt["wasmInstructions"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert!(instructions > 1_000_000, "{receipt}");
    assert!(receipt["cycles"].as_str().unwrap().starts_with("0x"));
    let cost: serde_json::Value =
        module.call("ic_getTransactionCost", rpc_params![hash]).await.unwrap();
    assert_eq!(cost["gasUsed"], "0x5208");
    assert_eq!(cost["wasmInstructions"], receipt["wasmInstructions"]);
    assert_eq!(cost["cycles"], receipt["cycles"]);
    assert!(cost["stableBytesWritten"].as_str().unwrap() != "0x0", "{cost}");
    let none: Option<serde_json::Value> =
        module.call("ic_getTransactionCost", rpc_params![B256::ZERO]).await.unwrap();
    assert!(none.is_none());
    let receipt: TransactionReceipt = serde_json::from_value(receipt).unwrap();
    assert_eq!(receipt.gas_used, 21_000);
    assert_eq!(receipt.from, signers[0].address());
    assert_eq!(receipt.to, Some(Address::repeat_byte(0x42)));

    let block: Block =
        module.call("eth_getBlockByNumber", rpc_params!["latest", true]).await.unwrap();
    assert_eq!(block.header.hash, receipt.block_hash.unwrap());
    assert_eq!(block.header.hash, block.header.inner.hash_slow());
    assert!(block.header.base_fee_per_gas.is_some());
    assert_eq!(block.transactions.len(), 1);
    let number: U64 = module.call("eth_blockNumber", rpc_params![]).await.unwrap();
    assert_eq!(number, U64::from(1));
}

#[tokio::test]
async fn a_custom_error_revert_is_code_3_with_data() {
    let (module, _) = module();
    // Init code: mstore(0, 0xdeadbeef); revert(28, 4).
    let code = "0x63deadbeef6000526004601cfd";
    let call = serde_json::json!({ "data": code });
    let error = module
        .call::<_, serde_json::Value>("eth_call", rpc_params![call.clone()])
        .await
        .unwrap_err();
    let MethodsError::JsonRpc(error) = error else { panic!("{error:?}") };
    assert_eq!(error.code(), 3);
    assert_eq!(error.message(), "execution reverted");
    assert_eq!(error.data().unwrap().get(), "\"0xdeadbeef\"");
    let error = module.call::<_, U64>("eth_estimateGas", rpc_params![call]).await.unwrap_err();
    let MethodsError::JsonRpc(error) = error else { panic!("{error:?}") };
    assert_eq!(error.code(), 3);
}

#[tokio::test]
async fn nonce_errors_use_geths_wording() {
    let (module, signers) = module();
    let raw = alloy_primitives::hex::encode_prefixed(transfer(&signers[0], 0));
    let _: B256 = module.call("eth_sendRawTransaction", rpc_params![raw.clone()]).await.unwrap();
    let error =
        module.call::<_, B256>("eth_sendRawTransaction", rpc_params![raw]).await.unwrap_err();
    let MethodsError::JsonRpc(error) = error else { panic!("{error:?}") };
    assert_eq!(error.code(), -32000);
    assert_eq!(error.message(), "nonce too low: next nonce 1, tx nonce 0");
    let future = alloy_primitives::hex::encode_prefixed(transfer(&signers[0], 5));
    let error =
        module.call::<_, B256>("eth_sendRawTransaction", rpc_params![future]).await.unwrap_err();
    let MethodsError::JsonRpc(error) = error else { panic!("{error:?}") };
    assert_eq!(error.message(), "nonce too high: next nonce 1, tx nonce 5");
}
