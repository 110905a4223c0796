//! The server on a loopback socket: WebSocket subscriptions, batches, CORS
//! and size limits.

use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::{Header, Log};
use canister_evm::handle::NodeHandle;
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

    let received = [next(&mut heads).await, next(&mut heads).await, next(&mut heads).await];
    let numbers: Vec<u64> = received.iter().map(|head| head.number).collect();
    assert_eq!(numbers, [1, 2, 3], "every block, in order");
    // The headers kept from sealing are the headers a query answers.
    for head in &received {
        let block: alloy_rpc_types_eth::Block = client
            .request("eth_getBlockByNumber", rpc_params![U64::from(head.number), false])
            .await
            .unwrap();
        assert_eq!(head, &block.header);
    }
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
            "00".repeat(canister_evm::limits::Limits::default().max_request_bytes as usize / 2 + 1)
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

/// Sends `request` (raw HTTP/1.1 bytes, which should ask to close the
/// connection) and returns the status and body of the answer.
fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The server may answer and close before the whole request is written.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn chunked_post(chunks: &[&[u8]]) -> Vec<u8> {
    let mut request = b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for chunk in chunks {
        request.extend_from_slice(chunk);
    }
    request
}

/// Hostile or broken HTTP input gets a precise answer, and the node keeps
/// serving.
#[tokio::test(flavor = "multi_thread")]
async fn broken_http_requests_get_precise_errors() {
    let (addr, server, _) = serve().await;
    tokio::task::spawn_blocking(move || {
        let url = format!("http://{addr}");
        // Subscriptions need WebSocket, as geth says.
        for body in [
            json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"] }),
            json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_unsubscribe", "params": ["0x1"] }),
        ] {
            let (status, answer) = post(&url, &body.to_string());
            let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
            assert_eq!(status, 200);
            assert_eq!(answer["error"]["code"], -32601, "{answer}");
            assert_eq!(answer["error"]["message"], "notifications not supported");
            assert_eq!(answer["id"], 1);
        }
        let batch = json!([
            { "jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"] },
            { "jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": [] }
        ]);
        let (_, answer) = post(&url, &batch.to_string());
        let answers: Vec<serde_json::Value> = serde_json::from_str(&answer).unwrap();
        assert_eq!(answers[0]["error"]["code"], -32601);
        assert_eq!(answers[1]["result"], "0x7a69");

        // Ids that are not a string, an integer or null: invalid requests.
        for id in ["{}", "1.5", "true", "[1]"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"eth_chainId"}}"#);
            let (status, answer) = post(&url, &body);
            let answer: serde_json::Value = serde_json::from_str(&answer)
                .unwrap_or_else(|e| panic!("id {id}: {e}: {answer:?}"));
            assert_eq!(status, 200);
            assert_eq!(answer["error"]["code"], -32600, "id {id}: {answer}");
            assert_eq!(answer["id"], serde_json::Value::Null);
        }
        let batch = r#"[{"jsonrpc":"2.0","id":{},"method":"eth_chainId"},
                        {"jsonrpc":"2.0","id":7,"method":"eth_chainId"}]"#;
        let (_, answer) = post(&url, batch);
        let answers: Vec<serde_json::Value> = serde_json::from_str(&answer).unwrap();
        assert_eq!(answers.len(), 2);
        assert!(answers.iter().any(|a| a["error"]["code"] == -32600 && a["id"].is_null()));
        assert!(answers.iter().any(|a| a["id"] == 7 && a["result"] == "0x7a69"));

        // A chunked body over the limit: 413 and -32007, as with a
        // Content-Length over it.
        let limit = canister_evm::limits::Limits::default().max_request_bytes as usize;
        let chunk = vec![b' '; 1 << 20];
        let mut big = format!("{:x}\r\n", chunk.len()).into_bytes();
        big.extend_from_slice(&chunk);
        big.extend_from_slice(b"\r\n");
        let chunks: Vec<&[u8]> = std::iter::repeat_n(&big[..], limit / chunk.len() + 2).collect();
        let (status, answer) = raw_http(addr, &chunked_post(&chunks));
        assert_eq!(status, 413, "{answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["error"]["code"], -32007, "{answer}");

        // A malformed chunk: the request never arrived whole (400).
        let broken: &[&[u8]] = &[b"5\r\n{\"jso", b"\r\nzz\r\nnot a chunk\r\n"];
        let (status, answer) = raw_http(addr, &chunked_post(broken));
        assert_eq!(status, 400, "{answer}");

        // A well-formed chunked request works.
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#;
        let mut chunk = format!("{:x}\r\n", body.len()).into_bytes();
        chunk.extend_from_slice(body);
        chunk.extend_from_slice(b"\r\n0\r\n\r\n");
        let (status, answer) = raw_http(addr, &chunked_post(&[&chunk]));
        assert_eq!((status, answer.contains("0x7a69")), (200, true), "{answer}");
    })
    .await
    .unwrap();
    server.stop().unwrap();
}

/// The limits a public endpoint needs answer with clear errors once reached.
#[tokio::test(flavor = "multi_thread")]
async fn limits_are_enforced_with_clear_errors() {
    let (node, signers) = start();
    let limits = canister_evm::limits::Limits {
        max_connections: 2,
        max_subscriptions_per_connection: 1,
        max_filters: 1,
        max_logs_block_range: 2,
        max_trace_bytes: 10,
        ..Default::default()
    };
    let handle = NodeHandle::with_limits(node, signers.clone(), limits);
    let (addr, server) =
        canister_evm::server::serve(handle, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("ws://{addr}");

    let client = WsClientBuilder::default().build(&url).await.unwrap();
    let _heads: Subscription<Header> = subscribe(&client, rpc_params!["newHeads"]).await;
    let second = client
        .subscribe::<Header, _>("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe")
        .await
        .unwrap_err();
    assert!(second.to_string().contains("Exceeded max limit of 1"), "{second}");

    let filter: String = client.request("eth_newBlockFilter", rpc_params![]).await.unwrap();
    let too_many = client
        .request::<String, _>("eth_newBlockFilter", rpc_params![])
        .await
        .unwrap_err()
        .to_string();
    assert!(too_many.contains("--max-filters"), "{too_many}");
    let _: bool = client.request("eth_uninstallFilter", rpc_params![filter]).await.unwrap();

    let () = client.request("anvil_mine", rpc_params![5]).await.unwrap();
    let range = json!({ "fromBlock": "0x0", "toBlock": "0x5" });
    let error = client.request::<serde_json::Value, _>("eth_getLogs", rpc_params![range]);
    let error = error.await.unwrap_err().to_string();
    assert!(error.contains("block range greater than 2"), "{error}");

    // A trace over --max-trace-bytes.
    let tx = transfer(&signers[0], 0);
    let hash: B256 =
        client.request("eth_sendRawTransaction", rpc_params![Bytes::from(tx)]).await.unwrap();
    let error = client.request::<serde_json::Value, _>("debug_traceTransaction", rpc_params![hash]);
    let error = error.await.unwrap_err().to_string();
    assert!(error.contains("--max-trace-bytes"), "{error}");

    // Two connections at most (this one and one more).
    let _another = WsClientBuilder::default().build(&url).await.unwrap();
    let third = WsClientBuilder::default().build(&url).await;
    assert!(third.is_err(), "a third connection was accepted");
    server.stop().unwrap();
}

/// A request that takes longer than `--request-timeout` is answered with
/// the timeout error, and the node goes on serving.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_over_the_timeout_is_answered_as_timed_out() {
    let (node, signers) = start();
    let limits = canister_evm::limits::Limits {
        request_timeout: Duration::from_millis(20),
        ..Default::default()
    };
    let handle = NodeHandle::with_limits(node, signers, limits);
    let (addr, server) =
        canister_evm::server::serve(handle, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = WsClientBuilder::default().build(format!("ws://{addr}")).await.unwrap();

    // A loop hashing 8 KiB per turn, until the canister's instruction limit:
    // about 250 ms in a debug build, on the query path's reader alone.
    let spin = json!({ "data": "0x5b6120005f20505f56" });
    let error = client.request::<Bytes, _>("eth_call", rpc_params![spin]);
    let error = error.await.unwrap_err().to_string();
    assert!(error.contains("request timed out (the limit is 20 ms"), "{error}");

    // The node goes on serving.
    let chain: String = client.request("eth_chainId", rpc_params![]).await.unwrap();
    assert_eq!(chain, "0x7a69");
    server.stop().unwrap();
}

/// A WebSocket client of raw frames, for what real clients never send.
struct RawWebSocket(std::net::TcpStream);

impl RawWebSocket {
    fn connect(addr: std::net::SocketAddr) -> Self {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream
            .write_all(
                b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        // RFC 6455's example key and its accept value.
        assert!(head.to_lowercase().contains("s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
        Self(stream)
    }

    fn send_text(&mut self, text: &str, masked: bool) {
        use std::io::Write;
        let payload = text.as_bytes();
        assert!(payload.len() < 126);
        let mut frame = vec![0x81, payload.len() as u8 | if masked { 0x80 } else { 0 }];
        if masked {
            let mask = [0x12, 0x34, 0x56, 0x78];
            frame.extend_from_slice(&mask);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            frame.extend_from_slice(payload);
        }
        let _ = self.0.write_all(&frame);
    }

    /// Starts the closing handshake (code 1000).
    fn send_close(&mut self) {
        use std::io::Write;
        let mask = [1, 2, 3, 4];
        let code = 1000u16.to_be_bytes();
        let frame = [0x88, 0x82, 1, 2, 3, 4, code[0] ^ mask[0], code[1] ^ mask[1]];
        self.0.write_all(&frame).unwrap();
    }

    /// The next frame from the server: opcode and payload; `None` once the
    /// connection is closed.
    fn read(&mut self) -> Option<(u8, Vec<u8>)> {
        use std::io::Read;
        let mut head = [0u8; 2];
        self.0.read_exact(&mut head).ok()?;
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut ext = [0u8; 2];
            self.0.read_exact(&mut ext).ok()?;
            len = u64::from(u16::from_be_bytes(ext));
        } else if len == 127 {
            let mut ext = [0u8; 8];
            self.0.read_exact(&mut ext).ok()?;
            len = u64::from_be_bytes(ext);
        }
        let mut payload = vec![0u8; len as usize];
        self.0.read_exact(&mut payload).ok()?;
        Some((head[0] & 0x0f, payload))
    }

    fn answer(&mut self) -> serde_json::Value {
        let (opcode, payload) = self.read().expect("an answer");
        assert_eq!(opcode, 1, "a text frame");
        serde_json::from_slice(&payload).unwrap()
    }
}

/// Over WebSocket too, ids that cannot be answered get `-32600`, and a
/// client that breaks RFC 6455 (an unmasked frame) is disconnected.
#[tokio::test(flavor = "multi_thread")]
async fn broken_websocket_messages_get_precise_answers() {
    let (addr, server, _) = serve().await;
    tokio::task::spawn_blocking(move || {
        let mut ws = RawWebSocket::connect(addr);
        ws.send_text(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}"#, true);
        assert_eq!(ws.answer()["result"], "0x7a69");
        for id in ["{}", "1.5", "true"] {
            ws.send_text(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"eth_chainId"}}"#), true);
            let answer = ws.answer();
            assert_eq!(answer["error"]["code"], -32600, "id {id}: {answer}");
            assert!(answer["id"].is_null());
        }
        // An unmasked frame: no answer, the connection is closed (1002).
        ws.send_text(r#"{"jsonrpc":"2.0","id":2,"method":"eth_chainId"}"#, false);
        match ws.read() {
            Some((8, payload)) => assert_eq!(&payload[..2], &1002u16.to_be_bytes()),
            Some(other) => panic!("an unmasked frame was answered: {other:?}"),
            None => {}
        }
        assert!(ws.read().is_none(), "the connection is closed");

        // The node keeps serving, and answers a closing handshake.
        let mut ws = RawWebSocket::connect(addr);
        ws.send_text(r#"{"jsonrpc":"2.0","id":3,"method":"net_version"}"#, true);
        assert_eq!(ws.answer()["result"], "31337");
        ws.send_close();
        assert_eq!(ws.read().map(|(opcode, _)| opcode), Some(8), "a close frame answers");
        assert!(ws.read().is_none());
    })
    .await
    .unwrap();
    server.stop().unwrap();
}
