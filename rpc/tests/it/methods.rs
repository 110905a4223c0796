//! The methods beyond the basics: node-signed transactions and messages,
//! polling filters, and block lookups by index.

use alloy_primitives::{Address, B256, Bytes, Signature, U64, U128, U256, hex};
use alloy_rpc_types_eth::{Block, Log, Transaction, TransactionReceipt};
use alloy_sol_types::{SolCall, sol};
use canister_evm::handle::NodeHandle;
use canister_evm::node::Queries as _;
use canister_evm::server::rpc_module;
use jsonrpsee::RpcModule;
use jsonrpsee::core::server::MethodsError;
use jsonrpsee::rpc_params;
use serde_json::json;

use crate::start;

sol! {
    function store(uint256 key, uint256 value);
}

fn module() -> (RpcModule<()>, Vec<Address>) {
    let (node, signers) = start();
    let accounts = signers.iter().map(|s| s.address()).collect();
    (rpc_module(NodeHandle::new(node, signers)).unwrap(), accounts)
}

fn tester_code() -> String {
    let path = format!("{}/../contracts/artifacts/Tester.json", env!("CARGO_MANIFEST_DIR"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["bytecode"].as_str().unwrap().to_owned()
}

async fn receipt(module: &RpcModule<()>, hash: B256) -> TransactionReceipt {
    module.call("eth_getTransactionReceipt", rpc_params![hash]).await.unwrap()
}

/// Deploys `Tester` from `from` through `eth_sendTransaction`.
async fn deploy_tester(module: &RpcModule<()>, from: Address) -> Address {
    let hash: B256 = module
        .call("eth_sendTransaction", rpc_params![json!({ "from": from, "data": tester_code() })])
        .await
        .unwrap();
    receipt(module, hash).await.contract_address.expect("a contract was created")
}

async fn store_tx(module: &RpcModule<()>, from: Address, to: Address, key: u64) -> B256 {
    let input = Bytes::from(storeCall { key: U256::from(key), value: U256::from(7) }.abi_encode());
    module
        .call("eth_sendTransaction", rpc_params![json!({ "from": from, "to": to, "input": input })])
        .await
        .unwrap()
}

fn rpc_error(error: MethodsError) -> (i32, String) {
    let MethodsError::JsonRpc(error) = error else { panic!("{error:?}") };
    (error.code(), error.message().to_owned())
}

#[tokio::test]
async fn send_transaction_fills_and_signs_for_dev_accounts() {
    let (module, accounts) = module();
    let from = accounts[0];
    let tester = deploy_tester(&module, from).await;
    let hash = store_tx(&module, from, tester, 1).await;
    let stored = receipt(&module, hash).await;
    assert!(stored.status());
    assert_eq!(stored.from, from);
    let tx: Transaction = module.call("eth_getTransactionByHash", rpc_params![hash]).await.unwrap();
    assert_eq!(alloy_eips::Typed2718::ty(&tx), 2, "EIP-1559 unless a gas price is given");
    let nonce: U256 =
        module.call("eth_getTransactionCount", rpc_params![from, "latest"]).await.unwrap();
    assert_eq!(nonce, U256::from(2));

    // A gas price makes it legacy; with an access list, EIP-2930.
    let legacy =
        json!({ "from": from, "to": accounts[1], "value": "0x1", "gasPrice": "0x77359400" });
    let hash: B256 = module.call("eth_sendTransaction", rpc_params![legacy]).await.unwrap();
    let tx: Transaction = module.call("eth_getTransactionByHash", rpc_params![hash]).await.unwrap();
    assert_eq!(alloy_eips::Typed2718::ty(&tx), 0);
    let access = json!({ "from": from, "to": accounts[1], "gasPrice": "0x77359400",
        "accessList": [{ "address": tester, "storageKeys": [] }] });
    let hash: B256 = module.call("eth_sendTransaction", rpc_params![access]).await.unwrap();
    let tx: Transaction = module.call("eth_getTransactionByHash", rpc_params![hash]).await.unwrap();
    assert_eq!(alloy_eips::Typed2718::ty(&tx), 1);
    assert_eq!(tx.inner.signer(), from);

    // Only dev accounts; and the usual errors for the rest.
    let stranger = json!({ "from": Address::repeat_byte(9), "to": from });
    let (code, message) = rpc_error(
        module.call::<_, B256>("eth_sendTransaction", rpc_params![stranger]).await.unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (-32000, format!("unknown account {}", Address::repeat_byte(9)).as_str())
    );
    let too_much = json!({ "from": from, "to": accounts[1], "value": U256::MAX });
    let (code, message) = rpc_error(
        module.call::<_, B256>("eth_sendTransaction", rpc_params![too_much]).await.unwrap_err(),
    );
    assert!(code == -32000 && message.starts_with("insufficient funds"), "{code} {message}");
    let nonce: U256 =
        module.call("eth_getTransactionCount", rpc_params![from, "latest"]).await.unwrap();
    assert_eq!(nonce, U256::from(4), "refused transactions change nothing");
}

#[tokio::test]
async fn signatures_recover_to_the_dev_account() {
    let (module, accounts) = module();
    let message = Bytes::from_static(b"hello canister");
    let signed: Bytes =
        module.call("personal_sign", rpc_params![message.clone(), accounts[1]]).await.unwrap();
    let signature = Signature::try_from(signed.as_ref()).unwrap();
    assert_eq!(signature.recover_address_from_msg(&message).unwrap(), accounts[1]);
    let eth_signed: Bytes =
        module.call("eth_sign", rpc_params![accounts[1], message.clone()]).await.unwrap();
    assert_eq!(eth_signed, signed);
    assert_eq!(signed[64], 27 + signature.v() as u8, "v is 27 or 28, as wallets return it");

    let typed = json!({
        "types": {
            "EIP712Domain": [
                { "name": "name", "type": "string" },
                { "name": "chainId", "type": "uint256" }
            ],
            "Mail": [{ "name": "contents", "type": "string" }]
        },
        "primaryType": "Mail",
        "domain": { "name": "Canister", "chainId": 31337 },
        "message": { "contents": "Hello" }
    });
    let hash = serde_json::from_value::<alloy_dyn_abi::TypedData>(typed.clone())
        .unwrap()
        .eip712_signing_hash()
        .unwrap();
    for data in [typed.clone(), typed.to_string().into()] {
        let signed: Bytes =
            module.call("eth_signTypedData_v4", rpc_params![accounts[2], data]).await.unwrap();
        let signature = Signature::try_from(signed.as_ref()).unwrap();
        assert_eq!(signature.recover_address_from_prehash(&hash).unwrap(), accounts[2]);
    }
    let (code, message) = rpc_error(
        module
            .call::<_, Bytes>("personal_sign", rpc_params!["0x00", Address::repeat_byte(1)])
            .await
            .unwrap_err(),
    );
    assert_eq!(code, -32000);
    assert!(message.starts_with("unknown account"), "{message}");
}

#[tokio::test]
async fn filters_report_what_happened_since_the_last_poll() {
    let (module, accounts) = module();
    let from = accounts[0];
    let tester = deploy_tester(&module, from).await;

    let blocks: U128 = module.call("eth_newBlockFilter", rpc_params![]).await.unwrap();
    let logs: U128 = module
        .call("eth_newFilter", rpc_params![json!({ "address": tester, "fromBlock": "earliest" })])
        .await
        .unwrap();
    let pending: U128 =
        module.call("eth_newPendingTransactionFilter", rpc_params![]).await.unwrap();
    assert!(blocks != logs && logs != pending);

    let first = store_tx(&module, from, tester, 1).await;
    let second = store_tx(&module, from, tester, 2).await;
    // A transfer: a block, no log from the tester.
    let third: B256 = module
        .call("eth_sendTransaction", rpc_params![json!({ "from": from, "to": accounts[1] })])
        .await
        .unwrap();

    let new_blocks: Vec<B256> =
        module.call("eth_getFilterChanges", rpc_params![blocks]).await.unwrap();
    let mut expected = Vec::new();
    for hash in [first, second, third] {
        expected.push(receipt(&module, hash).await.block_hash.unwrap());
    }
    assert_eq!(new_blocks, expected);
    let new_logs: Vec<Log> = module.call("eth_getFilterChanges", rpc_params![logs]).await.unwrap();
    assert_eq!(
        new_logs.iter().map(|log| log.transaction_hash.unwrap()).collect::<Vec<_>>(),
        [first, second]
    );
    let new_pending: Vec<B256> =
        module.call("eth_getFilterChanges", rpc_params![pending]).await.unwrap();
    assert_eq!(new_pending, [first, second, third]);

    // Nothing new since the last poll.
    for id in [blocks, logs, pending] {
        let changes: Vec<serde_json::Value> =
            module.call("eth_getFilterChanges", rpc_params![id]).await.unwrap();
        assert!(changes.is_empty(), "{changes:?}");
    }
    let fourth = store_tx(&module, from, tester, 3).await;
    let new_logs: Vec<Log> = module.call("eth_getFilterChanges", rpc_params![logs]).await.unwrap();
    assert_eq!(new_logs.len(), 1);
    assert_eq!(new_logs[0].transaction_hash, Some(fourth));

    // eth_getFilterLogs: everything the filter matches, polled or not
    // (from its `fromBlock`; without one, geth's default is the latest block).
    let all: Vec<Log> = module.call("eth_getFilterLogs", rpc_params![logs]).await.unwrap();
    assert_eq!(all.len(), 3);
    let (code, message) = rpc_error(
        module.call::<_, Vec<Log>>("eth_getFilterLogs", rpc_params![blocks]).await.unwrap_err(),
    );
    assert_eq!((code, message.as_str()), (-32000, "filter not found"));

    let removed: bool = module.call("eth_uninstallFilter", rpc_params![logs]).await.unwrap();
    assert!(removed);
    let removed: bool = module.call("eth_uninstallFilter", rpc_params![logs]).await.unwrap();
    assert!(!removed);
    let (code, message) = rpc_error(
        module.call::<_, Vec<Log>>("eth_getFilterChanges", rpc_params![logs]).await.unwrap_err(),
    );
    assert_eq!((code, message.as_str()), (-32000, "filter not found"));
}

#[tokio::test]
async fn blocks_by_index_receipts_and_the_small_methods() {
    let (module, accounts) = module();
    let from = accounts[0];
    let tester = deploy_tester(&module, from).await;
    let hash = store_tx(&module, from, tester, 1).await;
    let block: Block =
        module.call("eth_getBlockByNumber", rpc_params!["latest", false]).await.unwrap();
    let block_hash = block.header.hash;

    let receipts: Vec<serde_json::Value> =
        module.call("eth_getBlockReceipts", rpc_params!["latest"]).await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0]["transactionHash"], json!(hash));
    assert!(receipts[0]["wasmInstructions"].is_string(), "{}", receipts[0]);
    let by_hash: Vec<serde_json::Value> =
        module.call("eth_getBlockReceipts", rpc_params![block_hash]).await.unwrap();
    assert_eq!(by_hash, receipts);
    let none: Option<Vec<serde_json::Value>> =
        module.call("eth_getBlockReceipts", rpc_params!["0x99"]).await.unwrap();
    assert!(none.is_none());

    let count: Option<U64> =
        module.call("eth_getBlockTransactionCountByHash", rpc_params![block_hash]).await.unwrap();
    assert_eq!(count, Some(U64::from(1)));
    let count: Option<U64> =
        module.call("eth_getBlockTransactionCountByNumber", rpc_params!["0x0"]).await.unwrap();
    assert_eq!(count, Some(U64::ZERO), "genesis has no transactions");
    let count: Option<U64> =
        module.call("eth_getBlockTransactionCountByNumber", rpc_params!["0x99"]).await.unwrap();
    assert_eq!(count, None);

    let tx: Option<Transaction> = module
        .call("eth_getTransactionByBlockHashAndIndex", rpc_params![block_hash, "0x0"])
        .await
        .unwrap();
    assert_eq!(tx.map(|tx| *tx.inner.tx_hash()), Some(hash));
    let tx: Option<Transaction> = module
        .call("eth_getTransactionByBlockNumberAndIndex", rpc_params!["latest", "0x0"])
        .await
        .unwrap();
    assert_eq!(tx.map(|tx| *tx.inner.tx_hash()), Some(hash));
    let tx: Option<Transaction> = module
        .call("eth_getTransactionByBlockNumberAndIndex", rpc_params!["latest", "0x1"])
        .await
        .unwrap();
    assert!(tx.is_none());

    let uncles: Option<U64> =
        module.call("eth_getUncleCountByBlockHash", rpc_params![block_hash]).await.unwrap();
    assert_eq!(uncles, Some(U64::ZERO));
    let uncles: Option<U64> =
        module.call("eth_getUncleCountByBlockNumber", rpc_params!["0x99"]).await.unwrap();
    assert_eq!(uncles, None);
    let uncle: Option<Block> = module
        .call("eth_getUncleByBlockNumberAndIndex", rpc_params!["latest", "0x0"])
        .await
        .unwrap();
    assert!(uncle.is_none());

    let syncing: bool = module.call("eth_syncing", rpc_params![]).await.unwrap();
    assert!(!syncing);
    let mining: bool = module.call("eth_mining", rpc_params![]).await.unwrap();
    assert!(mining);
    let hashrate: U64 = module.call("eth_hashrate", rpc_params![]).await.unwrap();
    assert_eq!(hashrate, U64::ZERO);
    let coinbase: Address = module.call("eth_coinbase", rpc_params![]).await.unwrap();
    assert_eq!(coinbase, block.header.beneficiary);
    let listening: bool = module.call("net_listening", rpc_params![]).await.unwrap();
    assert!(listening);
    let peers: String = module.call("net_peerCount", rpc_params![]).await.unwrap();
    assert_eq!(peers, "0x0");
    let sha3: B256 =
        module.call("web3_sha3", rpc_params!["0x68656c6c6f20776f726c64"]).await.unwrap();
    assert_eq!(
        sha3,
        B256::from(hex!("47173285a8d7341e5e972fc677286384f802f8ef42a5ec5f03bbfa254cb01fad"))
    );
}

#[tokio::test]
async fn mining_and_time_controls_go_through_the_canister() {
    let (module, _) = module();
    let latest = |module: &RpcModule<()>| {
        let module = module.clone();
        async move {
            let block: Block =
                module.call("eth_getBlockByNumber", rpc_params!["latest", false]).await.unwrap();
            block
        }
    };
    let blocks: U128 = module.call("eth_newBlockFilter", rpc_params![]).await.unwrap();
    let genesis = latest(&module).await;

    let mined: String = module.call("evm_mine", rpc_params![]).await.unwrap();
    assert_eq!(mined, "0x0");
    let first = latest(&module).await;
    assert_eq!(first.header.number, 1);
    assert_eq!(first.header.parent_hash, genesis.header.hash);
    assert!(first.transactions.is_empty());
    assert_eq!(first.header.gas_used, 0);
    // An empty block lowers the base fee (EIP-1559), as on any chain.
    let second_fee = {
        let _: String = module.call("evm_mine", rpc_params![]).await.unwrap();
        latest(&module).await.header.base_fee_per_gas.unwrap()
    };
    assert!(second_fee < first.header.base_fee_per_gas.unwrap());

    // The next block's timestamp, then time moving on from there.
    let at = first.header.timestamp + 1_000;
    let () = module.call("evm_setNextBlockTimestamp", rpc_params![at]).await.unwrap();
    let _: String = module.call("evm_mine", rpc_params![]).await.unwrap();
    assert_eq!(latest(&module).await.header.timestamp, at);
    let (code, message) = rpc_error(
        module.call::<_, ()>("evm_setNextBlockTimestamp", rpc_params![at]).await.unwrap_err(),
    );
    assert_eq!(code, -32000);
    assert!(message.contains("is not after the latest block"), "{message}");
    let _: u64 = module.call("evm_increaseTime", rpc_params![3_600]).await.unwrap();
    let _: String = module.call("evm_mine", rpc_params![]).await.unwrap();
    assert!(latest(&module).await.header.timestamp >= at + 3_600);
    let stamp = latest(&module).await.header.timestamp + 50;
    let _: String = module.call("evm_mine", rpc_params![format!("{stamp:#x}")]).await.unwrap();
    assert_eq!(latest(&module).await.header.timestamp, stamp);

    // Several blocks at once, `interval` seconds apart.
    let before = latest(&module).await.header.number;
    let () = module.call("anvil_mine", rpc_params!["0x3", "0x10"]).await.unwrap();
    let after = latest(&module).await;
    assert_eq!(after.header.number, before + 3);
    let previous: Block = module
        .call("eth_getBlockByNumber", rpc_params![format!("{:#x}", before + 2), false])
        .await
        .unwrap();
    assert!(after.header.timestamp >= previous.header.timestamp + 16);
    let () = module.call("hardhat_mine", rpc_params![2]).await.unwrap();
    assert_eq!(latest(&module).await.header.number, before + 5);
    let (code, _) =
        rpc_error(module.call::<_, ()>("anvil_mine", rpc_params![1_000_000]).await.unwrap_err());
    assert_eq!(code, -32602);

    // The clock cannot be moved past what `ic0.time` counts (u64
    // nanoseconds): refused, and nothing moved.
    let head = latest(&module).await;
    for (method, params) in [
        ("evm_increaseTime", rpc_params!["0xffffffffffffffff"]),
        ("evm_increaseTime", rpc_params![18_000_000_000u64]),
        ("evm_setNextBlockTimestamp", rpc_params!["0xffffffffffffffff"]),
        ("anvil_mine", rpc_params!["0x2", "0xffffffffffffffff"]),
    ] {
        let (code, message) =
            rpc_error(module.call::<_, serde_json::Value>(method, params).await.unwrap_err());
        assert_eq!(code, -32000, "{method}: {message}");
        assert!(message.contains("2553"), "{method}: {message}");
    }
    let _: String = module.call("evm_mine", rpc_params![]).await.unwrap();
    let now = latest(&module).await;
    assert_eq!(now.header.number, head.header.number + 1);
    assert!(now.header.timestamp < head.header.timestamp + 60, "{}", now.header.timestamp);

    // Filters see mined blocks like any other.
    let hashes: Vec<B256> = module.call("eth_getFilterChanges", rpc_params![blocks]).await.unwrap();
    assert_eq!(hashes.len() as u64, latest(&module).await.header.number);
    assert_eq!(hashes.last(), Some(&latest(&module).await.header.hash));
}

/// Queries do not move the clock: a block's timestamp does not depend on
/// how often clients polled before it. (The manual clock of these tests
/// moves one second per update.)
#[tokio::test]
async fn polling_does_not_move_block_timestamps() {
    let (module, _) = module();
    let timestamp = |module: RpcModule<()>| async move {
        let block: Block =
            module.call("eth_getBlockByNumber", rpc_params!["latest", false]).await.unwrap();
        block.header.timestamp
    };
    let _: String = module.call("evm_mine", rpc_params![]).await.unwrap();
    let first = timestamp(module.clone()).await;
    for _ in 0..50 {
        let _: U64 = module.call("eth_blockNumber", rpc_params![]).await.unwrap();
        let _: U256 = module.call("eth_gasPrice", rpc_params![]).await.unwrap();
    }
    let _: String = module.call("evm_mine", rpc_params![]).await.unwrap();
    assert_eq!(timestamp(module.clone()).await, first + 1);

    // evm_increaseTime reports the total offset, manual clock or not.
    let offset: u64 = module.call("evm_increaseTime", rpc_params![3_600]).await.unwrap();
    assert_eq!(offset, 3_600);
    let offset: u64 = module.call("evm_increaseTime", rpc_params![60]).await.unwrap();
    assert_eq!(offset, 3_660);
    let _: String = module.call("evm_mine", rpc_params![]).await.unwrap();
    assert_eq!(timestamp(module).await, first + 2 + 3_660);
}

/// Concurrent `eth_sendTransaction`s from one account each get their own
/// nonce: filling in and submitting is one turn of the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_from_one_account_all_land() {
    let (module, accounts) = module();
    let from = accounts[0];
    let sends: Vec<_> = (0..24)
        .map(|i| {
            let module = module.clone();
            tokio::spawn(async move {
                let tx =
                    json!({ "from": from, "to": Address::repeat_byte(0x40 + i), "value": "0x1" });
                module.call::<_, B256>("eth_sendTransaction", rpc_params![tx]).await
            })
        })
        .collect();
    for send in sends {
        send.await.unwrap().expect("every send is accepted");
    }
    let nonce: U256 =
        module.call("eth_getTransactionCount", rpc_params![from, "latest"]).await.unwrap();
    assert_eq!(nonce, U256::from(24));
}

/// A panic while the node is in use leaves it refusing requests with a
/// clear error, rather than going on with state the panic may have left
/// half-updated.
#[tokio::test]
async fn a_panic_in_the_node_stops_it_from_serving() {
    let (node, signers) = start();
    let handle = NodeHandle::new(node, signers);
    let panicked = handle.run(|_| -> Result<(), _> { panic!("a bug") }).await.unwrap_err();
    assert_eq!(panicked.code(), -32603);
    let refused = handle.run(|node| node.chain_info()).await.unwrap_err();
    assert_eq!(refused.code(), -32603);
    assert!(refused.message().contains("restart the node"), "{}", refused.message());
}

/// `ic_canisterInfo.freshInstances` counts the queries that grew the
/// canister's heap, which the host undoes by starting a fresh instance:
/// none for ordinary calls (even before the first transaction), one for a
/// call that returns 2 MiB of memory.
#[tokio::test]
async fn canister_info_counts_the_queries_that_grew_the_heap() {
    let (module, _) = module();
    let fresh = |info: serde_json::Value| {
        serde_json::from_value::<U64>(info["freshInstances"].clone()).unwrap().to::<u64>()
    };
    let identity = json!({ "to": Address::with_last_byte(4), "data": "0x1234" });
    for _ in 0..3 {
        let output: Bytes = module.call("eth_call", rpc_params![identity.clone()]).await.unwrap();
        assert_eq!(output.as_ref(), [0x12, 0x34]);
    }
    let info: serde_json::Value = module.call("ic_canisterInfo", rpc_params![]).await.unwrap();
    assert_eq!(fresh(info), 0);

    // PUSH3 0x200000 PUSH1 0 RETURN: 2 MiB of zeroes, from overridden code.
    let big = Address::repeat_byte(0xb1);
    let overrides = json!({ big.to_string(): { "code": "0x622000006000f3" } });
    let output: Bytes = module
        .call("eth_call", rpc_params![json!({ "to": big }), "latest", overrides])
        .await
        .unwrap();
    assert_eq!(output.len(), 0x200000);
    let info: serde_json::Value = module.call("ic_canisterInfo", rpc_params![]).await.unwrap();
    assert_eq!(fresh(info), 1);
}
