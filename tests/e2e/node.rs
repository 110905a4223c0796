//! The node's own behaviour over HTTP: start-up, bad input, errors.

use serde_json::json;

use crate::harness::{Node, dev_keys, post, rpc, send_raw, signed};

#[test]
fn prints_the_dev_accounts_and_serves_the_chain() {
    let node = Node::start(&["--chain-id", "777"]);
    assert!(
        node.banner.contains("(0) 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 (10000 ETH)"),
        "{}",
        node.banner
    );
    assert!(node.banner.contains("(9) 0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"));
    assert!(node.banner.contains("test test test test test test test test test test test junk"));
    assert_eq!(rpc(&node, "eth_chainId", json!([]))["result"], "0x309");
    assert_eq!(rpc(&node, "net_version", json!([]))["result"], "777");
    assert_eq!(rpc(&node, "eth_blockNumber", json!([]))["result"], "0x0");
    let accounts = rpc(&node, "eth_accounts", json!([]));
    assert_eq!(accounts["result"].as_array().unwrap().len(), 10);
}

#[test]
fn bad_input_gets_precise_errors_and_the_node_keeps_serving() {
    let node = Node::start(&[]);
    let cases = [
        (post(&node, "{not json"), -32700),
        (rpc(&node, "eth_noSuchMethod", json!([])), -32601),
        (rpc(&node, "eth_sendRawTransaction", json!(["0xzz"])), -32602),
        (rpc(&node, "eth_sendRawTransaction", json!(["0x02f0"])), -32602),
        (rpc(&node, "eth_sendRawTransaction", json!([])), -32602),
        (rpc(&node, "eth_getBalance", json!(["0x1234", "latest"])), -32602),
        (
            rpc(
                &node,
                "eth_getBalance",
                json!(["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x99"]),
            ),
            -32001,
        ),
        (rpc(&node, "eth_getLogs", json!([{ "fromBlock": "0x5", "toBlock": "0x1" }])), -32602),
    ];
    for (response, code) in cases {
        assert_eq!(response["error"]["code"], code, "{response}");
    }
    let malformed = rpc(&node, "eth_sendRawTransaction", json!(["0x02f0"]));
    assert!(malformed["error"]["message"].as_str().unwrap().contains("rlp"), "{malformed}");
    // Still serving, and nothing happened.
    assert_eq!(rpc(&node, "eth_blockNumber", json!([]))["result"], "0x0");
    assert_eq!(
        rpc(
            &node,
            "eth_getTransactionCount",
            json!(["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "pending"])
        )["result"],
        "0x0"
    );
}

#[test]
fn missing_things_are_null() {
    let node = Node::start(&[]);
    let hash = format!("0x{}", "ab".repeat(32));
    assert!(rpc(&node, "eth_getTransactionByHash", json!([hash]))["result"].is_null());
    assert!(rpc(&node, "eth_getTransactionReceipt", json!([hash]))["result"].is_null());
    assert!(rpc(&node, "eth_getBlockByHash", json!([hash, false]))["result"].is_null());
    assert!(rpc(&node, "eth_getBlockByNumber", json!(["0x10", false]))["result"].is_null());
}

#[test]
fn fee_history_takes_integer_and_hex_block_counts() {
    let node = Node::start(&[]);
    for count in [json!(1), json!("0x1")] {
        let response = rpc(&node, "eth_feeHistory", json!([count, "latest", [20.0]]));
        let result = &response["result"];
        assert_eq!(result["oldestBlock"], "0x0", "{response}");
        assert_eq!(result["baseFeePerGas"].as_array().unwrap().len(), 2);
        assert_eq!(result["reward"].as_array().unwrap().len(), 1);
    }
    let pending = rpc(&node, "eth_feeHistory", json!(["0x5", "pending", [10, 20, 30]]));
    assert!(pending["result"]["baseFeePerGas"].is_array(), "{pending}");
}

/// Polls `f` until it returns `Some`, for at most a minute.
fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(value) = f() {
            return value;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the condition did not hold within a minute");
}

#[test]
fn with_block_time_transactions_wait_for_the_next_block() {
    let node = Node::start(&["--block-time", "1"]);
    assert!(node.banner.contains("mining a block every 1 s"), "{}", node.banner);
    assert_eq!(rpc(&node, "hardhat_getAutomine", json!([]))["result"], false);
    let alice = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    let send = |nonce: u64| {
        let tx = json!({ "from": alice, "to": "0x4242424242424242424242424242424242424242",
                         "value": "0x1", "nonce": format!("{nonce:#x}") });
        rpc(&node, "eth_sendTransaction", json!([tx]))["result"].as_str().unwrap().to_owned()
    };
    let first = send(0);
    // Accepted into the pool at once; its nonce is pending.
    let pending = rpc(&node, "eth_getTransactionCount", json!([alice, "pending"]));
    let pooled = rpc(&node, "txpool_status", json!([]))["result"].clone();
    assert!(pending["result"] == "0x1" || pooled["pending"] == "0x0", "{pending} {pooled}");
    let second = send(1);
    let receipt = |hash: &str| {
        let receipt = rpc(&node, "eth_getTransactionReceipt", json!([hash]))["result"].clone();
        (!receipt.is_null()).then_some(receipt)
    };
    let (a, b) = eventually(|| Some((receipt(&first)?, receipt(&second)?)));
    assert_eq!(a["status"], "0x1");
    assert_eq!(b["status"], "0x1");
    // Empty blocks keep coming, like ICP rounds.
    let number = |response: serde_json::Value| {
        u64::from_str_radix(response["result"].as_str().unwrap().trim_start_matches("0x"), 16)
            .unwrap()
    };
    let mined_in = number(json!({ "result": b["blockNumber"] }));
    eventually(|| (number(rpc(&node, "eth_blockNumber", json!([]))) > mined_in + 1).then_some(()));
    // Interval mining off: the chain stands still until asked.
    assert_eq!(rpc(&node, "evm_setIntervalMining", json!([0]))["result"], true);
    let head = number(rpc(&node, "eth_blockNumber", json!([])));
    let third = send(2);
    assert!(receipt(&third).is_none());
    assert_eq!(rpc(&node, "evm_mine", json!([]))["result"], "0x0");
    let mined = receipt(&third).expect("evm_mine includes the pooled transaction");
    assert!(number(json!({ "result": mined["blockNumber"] })) > head);
}

/// Every mined transaction gets a log line, as Hardhat's node prints one:
/// hash, contract and method when an ABI of `contracts/` knows it, gas,
/// instructions and cycles; `--quiet` turns it off.
#[test]
fn the_node_logs_each_transaction_with_its_costs() {
    use alloy_primitives::{Address, TxKind, keccak256};
    let keys = dev_keys();
    let to = TxKind::Call(Address::repeat_byte(0x42));
    let mut transfer = keccak256("transfer(address,uint256)")[..4].to_vec();
    transfer.extend_from_slice(&[0u8; 64]);

    let node = Node::start(&[]);
    let (plain, raw) = signed(&keys[0], 0, to, 1, Vec::new());
    send_raw(&node.url, &raw).unwrap();
    let (call, raw) = signed(&keys[0], 1, to, 0, transfer.clone());
    send_raw(&node.url, &raw).unwrap();
    let short = |hash: alloy_primitives::B256| format!("{}…", &hash.to_string()[..10]);
    let line = |hash| {
        eventually(|| node.log().lines().find(|l| l.contains(&short(hash))).map(str::to_owned))
    };
    let plain_line = line(plain);
    assert!(plain_line.contains("  plain transfer  gas 21,000  wasm "), "{plain_line}");
    assert!(plain_line.contains(" M  cycles "), "{plain_line}");
    let call_line = line(call);
    // Token, WETH and Pair all have `transfer`, and nothing was deployed there.
    assert!(call_line.contains("  transfer  gas "), "{call_line}");
    // A contract of `contracts/` is named when deployed, and so are the
    // calls of its address, even of a method other contracts share.
    let nft = canister_evm::contracts::artifact("Collectible").unwrap();
    let (deploy, raw) = signed(&keys[0], 2, TxKind::Create, 0, nft.bytecode.to_vec());
    send_raw(&node.url, &raw).unwrap();
    let collectible = TxKind::Call(keys[0].address().create(2));
    let mut mint = keccak256("mint(address)")[..4].to_vec();
    mint.extend_from_slice(&[0u8; 12]);
    mint.extend_from_slice(keys[0].address().as_slice());
    send_raw(&node.url, &signed(&keys[0], 3, collectible, 0, mint).1).unwrap();
    let mut approve = keccak256("approve(address,uint256)")[..4].to_vec();
    approve.extend_from_slice(&[0u8; 31]);
    approve.push(0x42);
    approve.extend_from_slice(&alloy_primitives::U256::from(1).to_be_bytes::<32>());
    let (approved, raw) = signed(&keys[0], 4, collectible, 0, approve);
    send_raw(&node.url, &raw).unwrap();
    assert!(line(deploy).contains("  Collectible deployment  gas "), "{}", line(deploy));
    assert!(line(approved).contains("  Collectible.approve  gas "), "{}", line(approved));

    let quiet = Node::start(&["--quiet"]);
    let (hash, raw) = signed(&keys[0], 0, to, 1, Vec::new());
    send_raw(&quiet.url, &raw).unwrap();
    let receipt = rpc(&quiet, "eth_getTransactionReceipt", json!([hash]));
    assert_eq!(receipt["result"]["status"], "0x1", "{receipt}");
    // A transaction that waits in the pool is still logged, after where
    // the first one's line would be: once it shows, that line would have.
    rpc(&quiet, "evm_setAutomine", json!([false]));
    let (pooled, raw) = signed(&keys[0], 1, to, 1, Vec::new());
    send_raw(&quiet.url, &raw).unwrap();
    eventually(|| quiet.log().contains(&pooled.to_string()).then_some(()));
    assert!(!quiet.log().contains(&short(hash)), "{}", quiet.log());
}
