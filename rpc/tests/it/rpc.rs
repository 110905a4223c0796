//! JSON-RPC handlers through `RpcModule::call`, without a socket.

use alloy_primitives::{Address, B256, U64, keccak256};
use alloy_rpc_types_eth::{Block, TransactionReceipt};
use canister_evm::handle::NodeHandle;
use canister_evm::server::rpc_module;
use jsonrpsee::core::server::MethodsError;
use jsonrpsee::rpc_params;

use crate::{start, transfer};

fn module() -> (jsonrpsee::RpcModule<()>, Vec<alloy_signer_local::PrivateKeySigner>) {
    let (node, signers) = start();
    (rpc_module(NodeHandle::new(node, signers.clone())).unwrap(), signers)
}

/// A receipt's `costBreakdown`, phase by phase.
pub(crate) fn phases(receipt: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    let breakdown = receipt["costBreakdown"].as_object().expect("a cost breakdown");
    assert_eq!(breakdown.len(), 7, "{breakdown:?}");
    breakdown
        .iter()
        .map(|(phase, value)| {
            let value = value.as_str().expect("a quantity").trim_start_matches("0x");
            (phase.clone(), u64::from_str_radix(value, 16).unwrap())
        })
        .collect()
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
    // Where the instructions went: the phases add up to them exactly.
    assert_eq!(cost["costBreakdown"], receipt["costBreakdown"]);
    let phases = phases(&receipt);
    assert_eq!(phases.values().sum::<u64>(), instructions, "{receipt}");
    // A transfer's cost is mostly the secp256k1 recovery of its sender.
    assert!(phases["senderRecovery"] > instructions / 3, "{phases:?}");
    for phase in ["decoding", "validation", "evmExecution", "stateWrite", "blockSeal", "other"] {
        assert!(phases[phase] > 0, "{phase}: {phases:?}");
    }
    let none: Option<serde_json::Value> =
        module.call("ic_getTransactionCost", rpc_params![B256::ZERO]).await.unwrap();
    assert!(none.is_none());
    // The chain's totals are this one transaction's, beside the fee table.
    let summary: serde_json::Value = module.call("ic_costSummary", rpc_params![]).await.unwrap();
    assert_eq!(summary["totals"]["transactions"], "0x1");
    assert_eq!(summary["totals"]["gasUsed"], "0x5208");
    assert_eq!(summary["totals"]["wasmInstructions"], receipt["wasmInstructions"]);
    assert_eq!(summary["totals"]["cycles"], receipt["cycles"]);
    assert_eq!(summary["cyclesPerInstruction"], 1.0);
    assert_eq!(summary["fees"]["updateMessageExecution"], "0x4c4b40");
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
    // A future nonce is not an error: the transaction waits in the pool for
    // the gap to be filled, as in geth and anvil.
    let future = alloy_primitives::hex::encode_prefixed(transfer(&signers[0], 5));
    let _: B256 = module.call("eth_sendRawTransaction", rpc_params![future]).await.unwrap();
    let receipt: Option<serde_json::Value> = module
        .call("eth_getTransactionReceipt", rpc_params![keccak256(transfer(&signers[0], 5))])
        .await
        .unwrap();
    assert!(receipt.is_none());
}

#[tokio::test]
async fn eth_get_proof_verifies_against_the_state_root() {
    use alloy_rpc_types_eth::EIP1186AccountProofResponse;
    use alloy_trie::proof::verify_proof;
    use alloy_trie::{Nibbles, TrieAccount};

    let (module, signers) = module();
    let raw = alloy_primitives::hex::encode_prefixed(transfer(&signers[0], 0));
    let _: B256 = module.call("eth_sendRawTransaction", rpc_params![raw]).await.unwrap();
    let block: Block =
        module.call("eth_getBlockByNumber", rpc_params!["latest", false]).await.unwrap();
    let root = block.header.state_root;

    // Slots may be given as quantities or as 32-byte words; they come back as given.
    let sender = signers[0].address();
    let proof: EIP1186AccountProofResponse = module
        .call(
            "eth_getProof",
            rpc_params![sender, serde_json::json!(["0x0", B256::with_last_byte(1)]), "latest"],
        )
        .await
        .unwrap();
    assert_eq!(proof.address, sender);
    assert_eq!(proof.nonce, 1);
    assert_eq!(proof.storage_proof.len(), 2);
    assert_eq!(serde_json::to_value(proof.storage_proof[0].key).unwrap(), "0x0");
    let account = TrieAccount::new(proof.nonce, proof.balance, proof.storage_hash, proof.code_hash);
    let key = Nibbles::unpack(alloy_primitives::keccak256(sender));
    verify_proof(root, key, Some(alloy_rlp::encode(account)), &proof.account_proof).unwrap();
    for slot in &proof.storage_proof {
        assert!(slot.value.is_zero());
        let key = Nibbles::unpack(alloy_primitives::keccak256(slot.key.as_b256()));
        verify_proof(proof.storage_hash, key, None, &slot.proof).unwrap();
    }
    // A tampered balance does not verify.
    let forged =
        TrieAccount { balance: proof.balance + alloy_primitives::U256::from(1), ..account };
    let key = Nibbles::unpack(alloy_primitives::keccak256(sender));
    assert!(
        verify_proof(root, key, Some(alloy_rlp::encode(forged)), &proof.account_proof).is_err()
    );

    // The tries hold the latest state only.
    let error = module
        .call::<_, serde_json::Value>("eth_getProof", rpc_params![sender, [B256::ZERO], "0x0"])
        .await
        .unwrap_err();
    let MethodsError::JsonRpc(error) = error else { panic!("{error:?}") };
    assert_eq!(error.code(), -32005);
    assert!(error.message().contains("latest block (1) only"), "{}", error.message());
}

/// Many transactions in flight from one account arrive out of nonce order,
/// as from a client that pipelines its sends: every one is accepted and
/// mined, as on anvil (the pool once refused more than 64 from a sender).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn out_of_order_sends_from_one_account_all_mine() {
    let (module, signers) = module();
    let module = std::sync::Arc::new(module);
    let send = |module: std::sync::Arc<jsonrpsee::RpcModule<()>>, raw: Vec<u8>| async move {
        let raw = alloy_primitives::hex::encode_prefixed(raw);
        module.call::<_, B256>("eth_sendRawTransaction", rpc_params![raw]).await
    };
    let me = signers[0].address();
    let nonce = |module: std::sync::Arc<jsonrpsee::RpcModule<()>>| async move {
        let count: U64 =
            module.call("eth_getTransactionCount", rpc_params![me, "latest"]).await.unwrap();
        count.to::<u64>()
    };
    // 128 in reverse order: all but the last wait in the pool for nonce 0.
    let mut hashes = Vec::new();
    for n in (0..128).rev() {
        hashes.push(send(module.clone(), transfer(&signers[0], n)).await.unwrap());
    }
    assert_eq!(nonce(module.clone()).await, 128);
    // 64 at once, shuffled.
    let tasks: Vec<_> = (0..64u64)
        .map(|i| 128 + (i * 37) % 64)
        .map(|n| tokio::spawn(send(module.clone(), transfer(&signers[0], n))))
        .collect();
    for task in tasks {
        hashes.push(task.await.unwrap().expect("every send is accepted"));
    }
    assert_eq!(nonce(module.clone()).await, 192);
    for hash in hashes {
        let receipt: serde_json::Value =
            module.call("eth_getTransactionReceipt", rpc_params![hash]).await.unwrap();
        assert_eq!(receipt["status"], "0x1", "{hash}: {receipt}");
    }
}
