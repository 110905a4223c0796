//! JSON-RPC served by the canister itself over the IC's HTTP gateway
//! interface: `http_request` answers reads and asks for an upgrade to send.

use alloy_primitives::{B256, TxKind, U256};
use alloy_sol_types::SolCall;
use evm_canister::http;
use evm_canister_api::http::{HttpRequest, HttpResponse, HttpUpdateRequest};
use serde_json::{Value, json};

use crate::dev::*;

fn post(body: &Value) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: "/".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(body).unwrap().into(),
        certificate_version: Some(2),
    }
}

fn upgrade(request: HttpRequest) -> HttpUpdateRequest {
    HttpUpdateRequest {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
    }
}

fn rpc(method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params })
}

fn body(response: &HttpResponse) -> Value {
    assert_eq!(response.status_code, 200, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    serde_json::from_slice(&response.body).unwrap()
}

/// Answers `request` as the gateway would: the query, then the update if
/// the query asks for it.
fn gateway(dev: &mut Dev, request: HttpRequest) -> Value {
    let answer = http::query(&dev.chain, &request, dev.now);
    if answer.upgrade == Some(true) {
        let answer = http::update(&mut dev.chain, &upgrade(request), dev.now);
        dev.now += 1_000_000_000;
        assert_eq!(answer.upgrade, None);
        return body(&answer);
    }
    body(&answer)
}

#[test]
fn reads_are_answered_by_the_query_with_cors() {
    let dev = Dev::new();
    let answer = http::query(&dev.chain, &post(&rpc("eth_chainId", json!([]))), dev.now);
    assert_eq!(answer.upgrade, None);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(body(&answer), json!({ "jsonrpc": "2.0", "id": 7, "result": "0x7a69" }));

    let address = dev.address(0);
    let batch = json!([
        { "jsonrpc": "2.0", "id": "a", "method": "eth_getBalance", "params": [address, "latest"] },
        { "jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber" },
        { "jsonrpc": "2.0", "method": "eth_blockNumber" },
    ]);
    let answer = body(&http::query(&dev.chain, &post(&batch), dev.now));
    let balance: U256 = serde_json::from_value(answer[0]["result"].clone()).unwrap();
    assert_eq!(balance, ether(10_000));
    assert_eq!(answer[0]["id"], "a");
    assert_eq!(answer[1], json!({ "jsonrpc": "2.0", "id": 2, "result": "0x0" }));
    assert_eq!(answer.as_array().unwrap().len(), 2, "a notification gets no answer");

    let preflight = HttpRequest { method: "OPTIONS".into(), ..post(&json!(null)) };
    let answer = http::query(&dev.chain, &preflight, dev.now);
    assert_eq!(answer.status_code, 204);
    assert_eq!(answer.header("access-control-allow-headers"), Some("content-type"));
}

#[test]
fn a_transaction_is_sent_by_the_update_the_query_asks_for() {
    let mut dev = Dev::new();
    let recipient = alloy_primitives::Address::repeat_byte(0x42);
    let tx = dev.tx(0, TxKind::Call(recipient), U256::from(5), Vec::new());
    let raw = alloy_primitives::Bytes::from(dev.sign(0, tx));
    let request = post(&rpc("eth_sendRawTransaction", json!([raw])));

    let answer = http::query(&dev.chain, &request, dev.now);
    assert_eq!(answer.upgrade, Some(true));
    assert_eq!(dev.head(), 0, "the query changed nothing");

    let answer = gateway(&mut dev, request.clone());
    let hash: B256 = serde_json::from_value(answer["result"].clone()).unwrap();
    assert_eq!(dev.head(), 1, "automine included it");
    assert_eq!(dev.balance(recipient), U256::from(5));

    let receipt = gateway(&mut dev, post(&rpc("eth_getTransactionReceipt", json!([hash]))));
    assert_eq!(receipt["result"]["status"], "0x1");
    assert_eq!(receipt["result"]["blockNumber"], "0x1");
    let block = gateway(&mut dev, post(&rpc("eth_getBlockByNumber", json!(["latest", false]))));
    assert_eq!(block["result"]["transactions"], json!([hash]));

    // The same bytes again: the update answers geth's error, and nothing changes.
    let answer = gateway(&mut dev, request);
    assert_eq!(answer["error"]["code"], -32000, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("nonce too low"), "{answer}");
    assert_eq!(dev.head(), 1);
}

#[test]
fn errors_have_the_nodes_codes() {
    let mut dev = Dev::new();
    let tester = dev.deploy(0, "Tester", &[]);
    let cases = [
        (json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_nope" }), -32601),
        (rpc("eth_getBalance", json!(["0x12"])), -32602),
        (rpc("eth_getBalance", json!({ "address": "0x12" })), -32602),
        (json!({ "id": 1, "method": "eth_chainId" }), -32600),
        (json!({ "jsonrpc": "2.0", "id": 1.5, "method": "eth_chainId" }), -32600),
        (json!([]), -32600),
    ];
    for (request, code) in cases {
        let answer = gateway(&mut dev, post(&request));
        assert_eq!(answer["error"]["code"], code, "{request} → {answer}");
    }
    let garbage = HttpRequest { body: b"{not json".to_vec().into(), ..post(&json!(null)) };
    assert_eq!(gateway(&mut dev, garbage)["error"]["code"], -32700);

    // A revert is code 3 with the revert bytes, as from the node.
    let input = onlyOwnerCall {}.abi_encode();
    let call = json!([{ "from": dev.address(1), "to": tester, "data": alloy_primitives::Bytes::from(input) }]);
    let answer = gateway(&mut dev, post(&rpc("eth_call", call)));
    assert_eq!(answer["error"]["code"], 3, "{answer}");
    assert_eq!(answer["error"]["message"], "execution reverted: Tester: caller is not the owner");
    assert!(answer["error"]["data"].as_str().unwrap().starts_with("0x08c379a0"));
}
