//! The server on a loopback socket: WebSocket subscriptions, batches, CORS
//! and size limits.

use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rpc_types_eth::{Header, Log};
use canister_evm::eth::NodeHandle;
use jsonrpsee::core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::rpc_params;
use jsonrpsee::server::ServerHandle;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_json::json;

use crate::{start, transfer};

async fn serve() -> (std::net::SocketAddr, ServerHandle, Vec<alloy_signer_local::PrivateKeySigner>)
{
    let (node, signers) = start();
    let handle = NodeHandle::new(node, signers.clone());
    let (addr, server) =
        canister_evm::server::serve(handle, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    (addr, server, signers)
}

/// The next notification; a subscription that stays silent fails the test
/// instead of hanging it.
async fn next<T: serde::de::DeserializeOwned>(subscription: &mut Subscription<T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), subscription.next())
        .await
        .expect("a notification arrives")
        .expect("the subscription is open")
        .expect("the notification decodes")
}

async fn subscribe<T: serde::de::DeserializeOwned>(
    client: &WsClient,
    params: jsonrpsee::core::params::ArrayParams,
) -> Subscription<T> {
    client.subscribe("eth_subscribe", params, "eth_unsubscribe").await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_subscriptions_follow_the_chain() {
    let (addr, server, signers) = serve().await;
    let client = WsClientBuilder::default().build(format!("ws://{addr}")).await.unwrap();

    let mut heads: Subscription<Header> = subscribe(&client, rpc_params!["newHeads"]).await;
    // Ids are hex strings, as geth gives them: viem and web3.py drop
    // notifications with any other kind of id.
    let jsonrpsee::core::client::SubscriptionKind::Subscription(
        jsonrpsee::types::SubscriptionId::Str(id),
    ) = heads.kind()
    else {
        panic!("subscription id {:?} is not a string", heads.kind())
    };
    assert!(id.starts_with("0x") && id.len() == 34, "{id}");
    let mut pending: Subscription<B256> =
        subscribe(&client, rpc_params!["newPendingTransactions"]).await;
    let mut full: Subscription<serde_json::Value> =
        subscribe(&client, rpc_params!["newPendingTransactions", true]).await;

    // A contract that logs topic 0xaa with data 42 whenever it is called.
    let runtime = "602a60005260aa60206000a100";
    let init = format!("0x6c{runtime}600052600d6013f3");
    let deploy = crate::signed(
        &signers[0],
        0,
        alloy_primitives::TxKind::Create,
        U256::ZERO,
        alloy_primitives::hex::decode(&init).unwrap(),
    );
    let hash: B256 =
        client.request("eth_sendRawTransaction", rpc_params![Bytes::from(deploy)]).await.unwrap();
    let receipt: serde_json::Value =
        client.request("eth_getTransactionReceipt", rpc_params![hash]).await.unwrap();
    let contract: Address = serde_json::from_value(receipt["contractAddress"].clone()).unwrap();

    let mut logs: Subscription<Log> =
        subscribe(&client, rpc_params!["logs", json!({ "address": contract })]).await;

    let call = crate::signed(
        &signers[0],
        1,
        alloy_primitives::TxKind::Call(contract),
        U256::ZERO,
        Vec::new(),
    );
    let call_hash: B256 =
        client.request("eth_sendRawTransaction", rpc_params![Bytes::from(call)]).await.unwrap();
    // Another sender's transfer: a block, no log of the contract.
    let transfer_hash: B256 = client
        .request("eth_sendRawTransaction", rpc_params![Bytes::from(transfer(&signers[1], 0))])
        .await
        .unwrap();

    let numbers: Vec<u64> =
        [next(&mut heads).await, next(&mut heads).await, next(&mut heads).await]
            .iter()
            .map(|head| head.number)
            .collect();
    assert_eq!(numbers, [1, 2, 3], "every block, in order");
    assert_eq!(
        [next(&mut pending).await, next(&mut pending).await, next(&mut pending).await],
        [hash, call_hash, transfer_hash]
    );
    let tx = next(&mut full).await;
    assert_eq!(tx["hash"], json!(hash));
    assert_eq!(tx["from"], json!(signers[0].address()));

    let log = next(&mut logs).await;
    assert_eq!(log.address(), contract);
    assert_eq!(log.transaction_hash, Some(call_hash));
    assert_eq!(log.topics(), [B256::with_last_byte(0xaa)]);
    assert_eq!(log.block_number, Some(2));

    // Only the contract's log: the next one is from the next call.
    let again = crate::signed(
        &signers[0],
        2,
        alloy_primitives::TxKind::Call(contract),
        U256::ZERO,
        Vec::new(),
    );
    let again: B256 =
        client.request("eth_sendRawTransaction", rpc_params![Bytes::from(again)]).await.unwrap();
    assert_eq!(next(&mut logs).await.transaction_hash, Some(again));
    heads.unsubscribe().await.unwrap();

    // Unknown subscriptions and ranged logs are refused with a reason.
    let error = client
        .subscribe::<serde_json::Value, _>(
            "eth_subscribe",
            rpc_params!["newBlocks"],
            "eth_unsubscribe",
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("unknown subscription"), "{error}");
    server.stop().unwrap();
}

fn post(url: &str, body: &str) -> (u16, String) {
    match ureq::post(url).header("content-type", "application/json").send(body) {
        Ok(mut response) => {
            (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
        }
        Err(ureq::Error::StatusCode(code)) => (code, String::new()),
        // The server answered and closed while the request was still being
        // sent (a body over the limit).
        Err(ureq::Error::Io(error)) => (0, format!("io: {error}")),
        Err(error) => panic!("{error}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http_serves_batches_cors_and_clear_limits() {
    let (addr, server, _) = serve().await;
    let url = format!("http://{addr}");
    let url2 = url.clone();
    tokio::task::spawn_blocking(move || {
        let url = url2;
        // A batch gets an array of answers, errors in place.
        let batch = json!([
            { "jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [] },
            { "jsonrpc": "2.0", "id": 2, "method": "eth_nope", "params": [] },
            { "jsonrpc": "2.0", "id": 3, "method": "net_version", "params": [] }
        ]);
        let (status, body) = post(&url, &batch.to_string());
        assert_eq!(status, 200);
        let answers: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(answers.len(), 3);
        let by_id = |id: u64| answers.iter().find(|a| a["id"] == id).unwrap().clone();
        assert_eq!(by_id(1)["result"], "0x7a69");
        assert_eq!(by_id(2)["error"]["code"], -32601);
        assert_eq!(by_id(3)["result"], "31337");

        // Too many calls in a batch: one clear error.
        let calls: Vec<_> = (0..1_001)
            .map(|id| json!({ "jsonrpc": "2.0", "id": id, "method": "eth_chainId" }))
            .collect();
        let (_, body) = post(&url, &serde_json::to_string(&calls).unwrap());
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(answer["error"]["message"].as_str().unwrap().contains("too large"), "{answer}");

        // A body over the limit is refused before it is read.
        let huge = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x{}"]}}"#,
            "00".repeat(canister_evm::server::MAX_REQUEST_BYTES as usize / 2 + 1)
        );
        let (status, body) = post(&url, &huge);
        assert!(
            status == 413 || body.contains("Broken pipe") || body.contains("reset"),
            "{status} {body}"
        );

        // Garbage is a parse error; the node keeps serving.
        let (_, body) = post(&url, "{ not json");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["error"]["code"], -32700);
        let (_, body) = post(&url, r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}"#);
        assert!(body.contains("\"result\":\"0x0\""), "{body}");

        // A dapp page on another origin may call the node.
        let preflight = ureq::options(&url)
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .call()
            .unwrap();
        let allowed = preflight.headers().get("access-control-allow-origin").unwrap();
        assert_eq!(allowed, "*");
        let response = ureq::post(&url)
            .header("origin", "http://localhost:5173")
            .header("content-type", "application/json")
            .send(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#)
            .unwrap();
        assert_eq!(response.headers().get("access-control-allow-origin").unwrap(), "*");
    })
    .await
    .unwrap();
    server.stop().unwrap();
}
