//! Dev-node controls over JSON-RPC: the pool, automine, snapshots, state
//! edits and impersonation, all through the canister.

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{Block, Transaction, TransactionReceipt};
use alloy_rpc_types_txpool::{TxpoolContent, TxpoolStatus};
use canister_evm::handle::NodeHandle;
use canister_evm::node::controller;
use canister_evm::server::rpc_module;
use jsonrpsee::RpcModule;
use jsonrpsee::core::server::MethodsError;
use jsonrpsee::rpc_params;
use serde_json::json;

use crate::{signed, start, transfer};

const CAROL: Address = Address::repeat_byte(0xca);

fn module() -> (RpcModule<()>, Vec<alloy_signer_local::PrivateKeySigner>) {
    let (node, signers) = start();
    (rpc_module(NodeHandle::new(node, signers.clone())).unwrap(), signers)
}

fn rpc_error(error: MethodsError) -> (i32, String) {
    let MethodsError::JsonRpc(error) = error else { panic!("{error:?}") };
    (error.code(), error.message().to_owned())
}

async fn head(module: &RpcModule<()>) -> u64 {
    let number: U64 = module.call("eth_blockNumber", rpc_params![]).await.unwrap();
    number.to()
}

async fn balance(module: &RpcModule<()>, address: Address) -> U256 {
    module.call("eth_getBalance", rpc_params![address, "latest"]).await.unwrap()
}

async fn nonce(module: &RpcModule<()>, address: Address, tag: &str) -> u64 {
    let nonce: U64 =
        module.call("eth_getTransactionCount", rpc_params![address, tag]).await.unwrap();
    nonce.to()
}

async fn send_raw(module: &RpcModule<()>, raw: Vec<u8>) -> Result<B256, MethodsError> {
    module.call("eth_sendRawTransaction", rpc_params![Bytes::from(raw)]).await
}

#[tokio::test]
async fn without_automine_the_pool_fills_and_evm_mine_empties_it() {
    let (module, signers) = module();
    let alice = signers[0].address();
    let automine: bool = module.call("hardhat_getAutomine", rpc_params![]).await.unwrap();
    assert!(automine);
    let ok: bool = module.call("evm_setAutomine", rpc_params![false]).await.unwrap();
    assert!(ok);

    let first = send_raw(&module, transfer(&signers[0], 0)).await.unwrap();
    let second = send_raw(&module, transfer(&signers[0], 1)).await.unwrap();
    let future = send_raw(&module, transfer(&signers[0], 5)).await.unwrap();
    assert_eq!(head(&module).await, 0, "nothing is mined");
    assert_eq!(nonce(&module, alice, "latest").await, 0);
    assert_eq!(nonce(&module, alice, "pending").await, 2, "pending counts executable ones");
    let receipt: Option<TransactionReceipt> =
        module.call("eth_getTransactionReceipt", rpc_params![first]).await.unwrap();
    assert!(receipt.is_none());
    let pooled: Transaction =
        module.call("eth_getTransactionByHash", rpc_params![first]).await.unwrap();
    assert_eq!(pooled.block_number, None);
    assert_eq!(pooled.inner.signer(), alice);

    let status: TxpoolStatus = module.call("txpool_status", rpc_params![]).await.unwrap();
    assert_eq!((status.pending, status.queued), (2, 1));
    let content: TxpoolContent = module.call("txpool_content", rpc_params![]).await.unwrap();
    assert_eq!(content.pending[&alice].len(), 2);
    assert_eq!(*content.pending[&alice]["1"].inner.tx_hash(), second);
    assert_eq!(*content.queued[&alice]["5"].inner.tx_hash(), future);
    let inspect: serde_json::Value = module.call("txpool_inspect", rpc_params![]).await.unwrap();
    let summary = inspect["pending"][alice.to_checksum(None)]["0"].as_str().unwrap();
    assert!(summary.contains("1 wei + 1000000 gas"), "{summary}");

    // A replacement needs a 10 % higher fee.
    let (code, message) = rpc_error(send_raw(&module, transfer(&signers[0], 1)).await.unwrap_err());
    assert_eq!((code, message.as_str()), (-32000, "already known"));
    let same_fees = signed(&signers[0], 1, Address::repeat_byte(0x43).into(), U256::ZERO, vec![]);
    let (code, message) = rpc_error(send_raw(&module, same_fees).await.unwrap_err());
    assert_eq!((code, message.as_str()), (-32000, "replacement transaction underpriced"));

    let _: String = module.call("evm_mine", rpc_params![]).await.unwrap();
    assert_eq!(head(&module).await, 1);
    let block: Block =
        module.call("eth_getBlockByNumber", rpc_params!["0x1", false]).await.unwrap();
    assert_eq!(block.transactions.hashes().collect::<Vec<_>>(), vec![first, second]);
    let status: TxpoolStatus = module.call("txpool_status", rpc_params![]).await.unwrap();
    assert_eq!((status.pending, status.queued), (0, 1), "the future nonce still waits");
    // Costs are reported for transactions mined together, too; each
    // breakdown adds up to its own share of the message. Both were
    // recovered when they entered the pool, not in the message that mined
    // them.
    for hash in [first, second] {
        let cost: serde_json::Value =
            module.call("ic_getTransactionCost", rpc_params![hash]).await.unwrap();
        let instructions = cost["wasmInstructions"].as_str().unwrap().trim_start_matches("0x");
        let instructions = u64::from_str_radix(instructions, 16).unwrap();
        let phases = crate::rpc::phases(&cost);
        assert_eq!(phases.values().sum::<u64>(), instructions, "{cost}");
        assert_eq!(phases["senderRecovery"], 0, "{cost}");
        assert!(phases["evmExecution"] > 0 && phases["blockSeal"] > 0, "{cost}");
    }

    // Automine back on mines what is executable at once.
    for nonce in 2..5 {
        send_raw(&module, transfer(&signers[0], nonce)).await.unwrap();
    }
    let _: bool = module.call("evm_setAutomine", rpc_params![true]).await.unwrap();
    assert_eq!(nonce(&module, alice, "latest").await, 6);
    let status: TxpoolStatus = module.call("txpool_status", rpc_params![]).await.unwrap();
    assert_eq!((status.pending, status.queued), (0, 0));
}

#[tokio::test]
async fn snapshots_revert_blocks_state_and_edits() {
    let (module, signers) = module();
    send_raw(&module, transfer(&signers[0], 0)).await.unwrap();
    let id: U64 = module.call("evm_snapshot", rpc_params![]).await.unwrap();
    let at_snapshot: Block =
        module.call("eth_getBlockByNumber", rpc_params!["latest", false]).await.unwrap();

    let later = send_raw(&module, transfer(&signers[0], 1)).await.unwrap();
    let _: bool =
        module.call("anvil_setBalance", rpc_params![CAROL, "0xde0b6b3a7640000"]).await.unwrap();
    let () = module.call("anvil_mine", rpc_params![3]).await.unwrap();
    assert_eq!(head(&module).await, 5);
    assert_eq!(balance(&module, CAROL).await, U256::from(10u64.pow(18)));

    let reverted: bool = module.call("evm_revert", rpc_params![id]).await.unwrap();
    assert!(reverted);
    let now: Block =
        module.call("eth_getBlockByNumber", rpc_params!["latest", false]).await.unwrap();
    assert_eq!(now.header.hash, at_snapshot.header.hash);
    assert_eq!(balance(&module, CAROL).await, U256::ZERO);
    let gone: Option<Transaction> =
        module.call("eth_getTransactionByHash", rpc_params![later]).await.unwrap();
    assert!(gone.is_none());
    let again: bool = module.call("evm_revert", rpc_params![id]).await.unwrap();
    assert!(!again, "a snapshot is used once");
    // The chain goes on from the snapshot.
    send_raw(&module, transfer(&signers[0], 1)).await.unwrap();
    assert_eq!(head(&module).await, 2);
}

#[tokio::test]
async fn state_edits_with_anvil_and_hardhat_names() {
    let (module, _) = module();
    let _: bool = module.call("hardhat_setBalance", rpc_params![CAROL, "0x64"]).await.unwrap();
    assert_eq!(balance(&module, CAROL).await, U256::from(100));
    let _: bool = module.call("anvil_setNonce", rpc_params![CAROL, "0x7"]).await.unwrap();
    assert_eq!(nonce(&module, CAROL, "latest").await, 7);
    // PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: returns 42.
    let code = Bytes::from_static(&[0x60, 0x2a, 0x60, 0, 0x52, 0x60, 0x20, 0x60, 0, 0xf3]);
    let _: bool = module.call("hardhat_setCode", rpc_params![CAROL, code.clone()]).await.unwrap();
    let stored: Bytes = module.call("eth_getCode", rpc_params![CAROL, "latest"]).await.unwrap();
    assert_eq!(stored, code);
    let output: Bytes =
        module.call("eth_call", rpc_params![json!({ "to": CAROL }), "latest"]).await.unwrap();
    assert_eq!(U256::from_be_slice(&output), U256::from(42));
    let value = B256::with_last_byte(9);
    let _: bool =
        module.call("anvil_setStorageAt", rpc_params![CAROL, "0x1", value]).await.unwrap();
    let read: B256 =
        module.call("eth_getStorageAt", rpc_params![CAROL, "0x1", "latest"]).await.unwrap();
    assert_eq!(read, value);
    assert_eq!(head(&module).await, 0, "edits produce no block");
    // Words must be 32 bytes.
    let error =
        module.call::<_, bool>("hardhat_setStorageAt", rpc_params![CAROL, "0x1", "0x09"]).await;
    assert_eq!(rpc_error(error.unwrap_err()).0, -32602);
}

#[tokio::test]
async fn an_impersonated_account_sends_through_eth_send_transaction() {
    let (module, _) = module();
    let _: bool =
        module.call("anvil_setBalance", rpc_params![CAROL, "0xde0b6b3a7640000"]).await.unwrap();
    let request = json!({ "from": CAROL, "to": Address::repeat_byte(0x42), "value": "0x5" });
    let (code, message) = rpc_error(
        module
            .call::<_, B256>("eth_sendTransaction", rpc_params![request.clone()])
            .await
            .unwrap_err(),
    );
    assert_eq!(code, -32000);
    assert!(message.contains("unknown account"), "{message}");

    let _: bool = module.call("hardhat_impersonateAccount", rpc_params![CAROL]).await.unwrap();
    let accounts: Vec<Address> = module.call("eth_accounts", rpc_params![]).await.unwrap();
    assert_eq!(accounts.last(), Some(&CAROL), "impersonated accounts are listed, as by anvil");
    let hash: B256 =
        module.call("eth_sendTransaction", rpc_params![request.clone()]).await.unwrap();
    let receipt: TransactionReceipt =
        module.call("eth_getTransactionReceipt", rpc_params![hash]).await.unwrap();
    assert!(receipt.status());
    assert_eq!(receipt.from, CAROL);
    let tx: Transaction = module.call("eth_getTransactionByHash", rpc_params![hash]).await.unwrap();
    assert_eq!(*tx.inner.tx_hash(), hash, "the hash is the transaction's own");
    assert_eq!(balance(&module, Address::repeat_byte(0x42)).await, U256::from(5));

    let _: bool = module.call("anvil_stopImpersonatingAccount", rpc_params![CAROL]).await.unwrap();
    assert!(module.call::<_, B256>("eth_sendTransaction", rpc_params![request]).await.is_err());
}

#[test]
fn dev_controls_are_for_the_controller_only() {
    let (mut node, _) = start();
    // The node calls as the canister's controller; anyone else is refused.
    let stranger = candid::Principal::anonymous();
    assert_ne!(stranger, controller());
    for (method, arg) in [
        ("mine", candid::encode_args(()).unwrap()),
        ("snapshot", candid::encode_args(()).unwrap()),
        ("revert", candid::encode_one(1u64).unwrap()),
    ] {
        let error = node.update_as(stranger, method, &arg).unwrap_err().to_string();
        assert!(error.contains("only a controller"), "{method}: {error}");
    }
    assert_eq!(canister_evm::node::Queries::chain_info(&mut node).unwrap().latest_block, 0);
}

#[tokio::test]
async fn eth_call_takes_state_overrides_and_create_access_list_answers() {
    let (module, signers) = module();
    let alice = signers[0].address();
    // PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN: returns slot 0.
    let code = "0x60005460005260206000f3";
    let overrides = json!({ CAROL.to_string(): { "code": code, "stateDiff": {
        "0x0000000000000000000000000000000000000000000000000000000000000000":
        "0x000000000000000000000000000000000000000000000000000000000000002a"
    } } });
    let call = json!({ "to": CAROL });
    let output: Bytes =
        module.call("eth_call", rpc_params![call.clone(), "latest", overrides]).await.unwrap();
    assert_eq!(U256::from_be_slice(&output), U256::from(42));
    let plain: Bytes = module.call("eth_call", rpc_params![call.clone(), "latest"]).await.unwrap();
    assert!(plain.is_empty(), "nothing was written");

    let rich = json!({ CAROL.to_string(): { "balance": "0xde0b6b3a7640000" } });
    let pay = json!({ "from": CAROL, "to": alice, "value": "0x1" });
    let gas: U64 = module.call("eth_estimateGas", rpc_params![pay, "latest", rich]).await.unwrap();
    assert_eq!(gas.to::<u64>(), 21_000);
    let unsupported = json!({ CAROL.to_string(): { "movePrecompileToAddress": alice } });
    let error = module
        .call::<_, Bytes>("eth_call", rpc_params![call.clone(), "latest", unsupported])
        .await
        .unwrap_err();
    assert_eq!(rpc_error(error).0, -32602);

    let overrides = json!({ CAROL.to_string(): { "code": code } });
    let request = json!({ "from": alice, "to": CAROL });
    let list: alloy_rpc_types_eth::AccessListResult = module
        .call("eth_createAccessList", rpc_params![request, "latest", overrides])
        .await
        .unwrap();
    assert_eq!(list.access_list.0.len(), 1);
    assert_eq!(list.access_list.0[0].address, CAROL);
    assert_eq!(list.access_list.0[0].storage_keys, vec![B256::ZERO]);
    assert!(list.gas_used > U256::from(21_000));
    assert_eq!(list.error, None);
}
