//! A soak test of the release node: mixed traffic for a while, with the
//! node's memory, descriptors, memory mappings and latencies sampled as it
//! runs, and a verdict.
//!
//! Traffic, from threads at once: signed transfers from several accounts
//! (ERC20 and plain, each waiting for its receipt), `eth_call`s that
//! succeed, revert and run out of gas, `eth_getLogs` over ranges that grow
//! with the chain, `debug_traceTransaction` and `debug_traceCall`, polling
//! filters that are polled and then abandoned, and WebSocket subscriptions
//! opened and dropped.
//!
//! The verdict, after a warm-up (the first tenth of the run, at least 30 s):
//! memory besides the chain and memory mappings grow less than 10 %, and
//! the p99 latency of the last minute is within 2× of the first minute's.
//! Memory is the anonymous part of RSS: the pages of mapped files — the
//! binary's code and the compiled canister module, which the kernel can
//! drop and which grow as more code paths run — are printed, not judged.
//! Its growth beyond the chain's — the stable memory written, the
//! canister's heap and the cost ledger, as `ic_canisterInfo` reports them,
//! which grow with every block by design — is judged against the anonymous
//! memory after warm-up.
//! Mappings may grow by one per 1 MiB block of stable memory written (the
//! blocks are mapped on their own) and 10 % more.
//!
//! `cargo bench -p canister-evm --bench soak [-- --minutes M --senders N]`

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, TxKind, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, sol};
use serde_json::{Value, json};

mod common;

sol! {
    function transfer(address to, uint256 amount) returns (bool);
    function balanceOf(address owner) returns (uint256);
}

struct Args {
    minutes: f64,
    senders: usize,
}

fn args() -> Args {
    let mut args = Args { minutes: 10.0, senders: 4 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--minutes" => args.minutes = it.next().and_then(|v| v.parse().ok()).expect("minutes"),
            "--senders" => args.senders = it.next().and_then(|v| v.parse().ok()).expect("senders"),
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

/// The node under test, killed when dropped.
struct NodeProcess {
    child: Child,
    url: String,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(data_dir: &std::path::Path) -> NodeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_canister-evm"))
        .args(["--port", "0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start canister-evm");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("the node prints its address").unwrap();
        if let Some(addr) = line.strip_prefix("Listening on ") {
            break format!("http://{addr}");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    NodeProcess { child, url }
}

/// Latencies of the current window, in microseconds.
#[derive(Default)]
struct Latencies(Mutex<Vec<u64>>);

impl Latencies {
    fn record(&self, since: Instant) {
        self.0.lock().unwrap().push(since.elapsed().as_micros() as u64);
    }

    fn take(&self) -> Vec<u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Client {
    agent: ureq::Agent,
    url: String,
    latencies: Arc<Latencies>,
    errors: Arc<AtomicU64>,
}

impl Client {
    /// A JSON-RPC call; the result or the error object.
    fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let start = Instant::now();
        let answer = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .and_then(|mut r| r.body_mut().read_to_string());
        self.latencies.record(start);
        let Ok(text) = answer else {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return Err(Value::Null);
        };
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match value.get("result") {
            Some(result) => Ok(result.clone()),
            None => Err(value["error"].clone()),
        }
    }
}

fn quantity(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16).unwrap_or(0)
}

/// A signed transaction as `eth_sendRawTransaction` takes it in JSON.
fn sign(key: &PrivateKeySigner, nonce: u64, to: TxKind, value: u64, input: Vec<u8>) -> String {
    alloy_primitives::hex::encode_prefixed(common::sign(key, nonce, to, value, input))
}

/// What the process uses now.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss: u64,
    /// Anonymous memory (`RssAnon`): RSS less the pages of files mapped,
    /// the binary's code and the compiled canister module, which the
    /// kernel can drop and which grow as more code runs.
    anon: u64,
    fds: u64,
    maps: u64,
    /// Stable memory is held in 1 MiB blocks, each mapped on its own
    /// (adjacent ones may merge): the chain's share of the mappings is at
    /// most one per block.
    stable_blocks: u64,
    /// The chain's memory the node holds: written stable memory, the
    /// canister's heap (live and committed copy), the cost ledger.
    chain: u64,
    txs: u64,
}

fn sample(pid: u32, client: &Client) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let (rss, anon) = (field("VmRSS:"), field("RssAnon:"));
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_or(0, |m| m.lines().count() as u64);
    let (chain, stable) = client
        .call("ic_canisterInfo", json!([]))
        .map(|info| {
            let stable = quantity(&info["stableMemoryResidentBytes"]);
            let chain = stable
                + quantity(&info["hostMemoryBytes"])
                + quantity(&info["heapBytes"])
                + quantity(&info["costLedgerBytes"])
                + quantity(&info["queryReplicaBytes"]);
            (chain, stable)
        })
        .unwrap_or((0, 0));
    let txs = client.call("eth_blockNumber", json!([])).map(|n| quantity(&n)).unwrap_or(0);
    Sample { rss, anon, fds, maps, stable_blocks: stable >> 20, chain, txs }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let args = args();
    let run = Duration::from_secs_f64(args.minutes * 60.0);
    let dir = tempfile::tempdir().unwrap();
    // A first start compiles the canister into the module cache, which
    // leaves the process holding what the compiler freed: start once and
    // stop, so that every soak measures a node that starts as users' do.
    drop(start_node(&dir.path().join("warm-up")));
    let node = start_node(&dir.path().join("chain"));
    let pid = node.child.id();
    let latencies = Arc::new(Latencies::default());
    let errors = Arc::new(AtomicU64::new(0));
    let client = || Client {
        agent: ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into(),
        url: node.url.clone(),
        latencies: latencies.clone(),
        errors: errors.clone(),
    };
    let keys = canister_evm::devchain::DevChain::default().signers();
    let main = client();

    // A token, and a reverting contract: `REVERT(0, 0)` as runtime code.
    let deployer = &keys[9];
    main.call(
        "eth_sendRawTransaction",
        json!([sign(deployer, 0, TxKind::Create, 0, common::token_code())]),
    )
    .expect("deploy the token");
    let token = deployer.address().create(0);
    let reverter = alloy_primitives::hex::decode("6005600c60003960056000f360006000fd").unwrap();
    main.call("eth_sendRawTransaction", json!([sign(deployer, 1, TxKind::Create, 0, reverter)]))
        .expect("deploy the reverter");
    let reverting = deployer.address().create(1);
    // Tokens for every sender.
    for (i, key) in keys.iter().take(args.senders).enumerate() {
        let input =
            transferCall { to: key.address(), amount: U256::from(10u64).pow(U256::from(24)) }
                .abi_encode();
        main.call(
            "eth_sendRawTransaction",
            json!([sign(deployer, 2 + i as u64, TxKind::Call(token), 0, input)]),
        )
        .expect("fund a sender");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    let sent_txs: Arc<Mutex<Vec<B256>>> = Arc::default();
    for key in keys.iter().take(args.senders) {
        let (c, stop, sent, key) = (client(), stop.clone(), sent_txs.clone(), key.clone());
        workers.push(std::thread::spawn(move || {
            let mut nonce = 0u64;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let to = Address::from_word(keccak256(i.to_be_bytes()));
                let raw = if i.is_multiple_of(2) {
                    let input = transferCall { to, amount: U256::from(1) }.abi_encode();
                    sign(&key, nonce, TxKind::Call(token), 0, input)
                } else {
                    sign(&key, nonce, TxKind::Call(to), 1, vec![])
                };
                if let Ok(hash) = c.call("eth_sendRawTransaction", json!([raw])) {
                    nonce += 1;
                    let _ = c.call("eth_getTransactionReceipt", json!([hash.clone()]));
                    if let Ok(hash) = serde_json::from_value(hash) {
                        sent.lock().unwrap().push(hash);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    // Calls that succeed, revert and run out of gas.
    {
        let (c, stop) = (client(), stop.clone());
        let holder = keys[0].address();
        workers.push(std::thread::spawn(move || {
            let balance_of = alloy_primitives::hex::encode_prefixed(
                balanceOfCall { owner: holder }.abi_encode(),
            );
            while !stop.load(Ordering::Relaxed) {
                let _ = c.call("eth_call", json!([{ "to": token, "data": balance_of }, "latest"]));
                let _ = c.call("eth_call", json!([{ "to": reverting }, "latest"]));
                let _ = c.call(
                    "eth_call",
                    json!([{ "to": token, "data": balance_of, "gas": "0x5300" }, "latest"]),
                );
                let _ = c.call(
                    "eth_estimateGas",
                    json!([{ "from": holder, "to": token, "data": balance_of }]),
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
    }
    // Logs over growing ranges, traces.
    {
        let (c, stop, sent) = (client(), stop.clone(), sent_txs.clone());
        workers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let head = c.call("eth_blockNumber", json!([])).map(|h| quantity(&h)).unwrap_or(0);
                let from = head.saturating_sub(2_000);
                let _ = c.call(
                    "eth_getLogs",
                    json!([{ "fromBlock": format!("{from:#x}"), "toBlock": "latest", "address": token }]),
                );
                let last = sent.lock().unwrap().last().copied();
                if let Some(hash) = last {
                    let _ = c.call("debug_traceTransaction", json!([hash, { "tracer": "callTracer" }]));
                    let _ = c.call("debug_traceTransaction", json!([hash, { "disableStack": true, "limit": 200 }]));
                }
                let _ = c.call("debug_traceCall", json!([{ "to": reverting }, "latest", { "tracer": "callTracer" }]));
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
    }
    // Filters polled a few times, then abandoned (the node expires them).
    {
        let (c, stop) = (client(), stop.clone());
        workers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let ids: Vec<Value> = [
                    c.call("eth_newFilter", json!([{ "address": token }])),
                    c.call("eth_newBlockFilter", json!([])),
                    c.call("eth_newPendingTransactionFilter", json!([])),
                ]
                .into_iter()
                .flatten()
                .collect();
                for _ in 0..3 {
                    for id in &ids {
                        let _ = c.call("eth_getFilterChanges", json!([id]));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }));
    }
    // WebSocket subscriptions opened and dropped.
    {
        let (url, stop) = (node.url.replace("http://", "ws://"), stop.clone());
        let latencies = latencies.clone();
        workers.push(std::thread::spawn(move || {
            use jsonrpsee::core::client::SubscriptionClientT;
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    let Ok(ws) = jsonrpsee::ws_client::WsClientBuilder::default().build(&url).await
                    else {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    let heads = ws
                        .subscribe::<Value, _>(
                            "eth_subscribe",
                            jsonrpsee::rpc_params!["newHeads"],
                            "eth_unsubscribe",
                        )
                        .await;
                    let logs = ws
                        .subscribe::<Value, _>(
                            "eth_subscribe",
                            jsonrpsee::rpc_params!["logs", json!({ "address": token })],
                            "eth_unsubscribe",
                        )
                        .await;
                    latencies.record(start);
                    if let Ok(mut heads) = heads {
                        let _ = tokio::time::timeout(Duration::from_secs(2), heads.next()).await;
                    }
                    drop(logs);
                    drop(ws);
                }
            });
        }));
    }

    println!(
        "soak: {:.1} min, {} senders, node pid {pid} ({})",
        args.minutes, args.senders, node.url
    );
    println!(
        "{:>7} {:>8} {:>9} {:>9} {:>8} {:>5} {:>5} {:>7} {:>7} {:>7} {:>6}",
        "t (s)",
        "blocks",
        "RSS MiB",
        "anon MiB",
        "chain MiB",
        "fds",
        "maps",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors"
    );
    let started = Instant::now();
    let interval = Duration::from_secs(5);
    let warm_up = (run / 10).max(Duration::from_secs(30)).min(run / 2);
    let mut samples: Vec<(Duration, Sample, u64, u64)> = Vec::new();
    let mut first_minute = Vec::new();
    let mut last_minute: Vec<(Duration, Vec<u64>)> = Vec::new();
    while started.elapsed() < run {
        std::thread::sleep(interval);
        let elapsed = started.elapsed();
        let mut window = latencies.take();
        window.sort_unstable();
        let now = sample(pid, &main);
        let (p50, p99) = (percentile(&window, 0.5), percentile(&window, 0.99));
        println!(
            "{:>7.0} {:>8} {:>9.1} {:>9.1} {:>8.1} {:>5} {:>5} {:>7.0} {:>7.1} {:>7.1} {:>6}",
            elapsed.as_secs_f64(),
            now.txs,
            mib(now.rss),
            mib(now.anon),
            mib(now.chain),
            now.fds,
            now.maps,
            window.len() as f64 / interval.as_secs_f64(),
            p50 as f64 / 1000.0,
            p99 as f64 / 1000.0,
            errors.load(Ordering::Relaxed)
        );
        if elapsed <= Duration::from_secs(60) {
            first_minute.extend_from_slice(&window);
        }
        last_minute.push((elapsed, window));
        last_minute.retain(|(at, _)| elapsed - *at < Duration::from_secs(60));
        samples.push((elapsed, now, p50, p99));
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.join();
    }

    let after_warm_up = samples.iter().find(|(at, ..)| *at >= warm_up).unwrap_or(&samples[0]).1;
    let end = samples.last().unwrap().1;
    let growth = |from: u64, to: u64| (to as f64 - from as f64) / from.max(1) as f64 * 100.0;
    // How much more the anonymous memory grew than the chain did, against
    // the anonymous memory after warm-up. (The chain figure is an upper
    // bound of what it holds resident — untouched heap pages count — so
    // anonymous memory less the chain can be near zero or below.)
    let mib_signed = |bytes: i128| bytes as f64 / (1024.0 * 1024.0);
    let beyond = (i128::from(end.anon) - i128::from(after_warm_up.anon))
        - (i128::from(end.chain) - i128::from(after_warm_up.chain));
    let memory = beyond as f64 / after_warm_up.anon.max(1) as f64 * 100.0;
    // Mappings beyond one per new block of stable memory.
    let new_blocks = end.stable_blocks.saturating_sub(after_warm_up.stable_blocks);
    let maps = growth(after_warm_up.maps, end.maps.saturating_sub(new_blocks));
    first_minute.sort_unstable();
    let mut last: Vec<u64> = last_minute.into_iter().flat_map(|(_, w)| w).collect();
    last.sort_unstable();
    let (p99_first, p99_last) = (percentile(&first_minute, 0.99), percentile(&last, 0.99));
    println!();
    println!(
        "RSS {:.1} → {:.1} MiB ({:+.1} %), of which the chain (written stable memory, heap, cost ledger) {:.1} → {:.1} MiB over {} blocks",
        mib(after_warm_up.rss),
        mib(end.rss),
        growth(after_warm_up.rss, end.rss),
        mib(after_warm_up.chain),
        mib(end.chain),
        end.txs.saturating_sub(after_warm_up.txs)
    );
    println!(
        "anonymous memory {:.1} → {:.1} MiB (mapped files {:.1} → {:.1} MiB); its growth beyond the chain's {:+.1} MiB ({memory:+.1} %); mappings {} → {} ({maps:+.1} % beyond one per new stable-memory block, {new_blocks} new); fds {} → {}",
        mib(after_warm_up.anon),
        mib(end.anon),
        mib(after_warm_up.rss - after_warm_up.anon),
        mib(end.rss - end.anon),
        mib_signed(beyond),
        after_warm_up.maps,
        end.maps,
        after_warm_up.fds,
        end.fds
    );
    println!(
        "p50 first minute {:.1} ms, last minute {:.1} ms; p99 first minute {:.1} ms, last minute {:.1} ms; {} transport errors",
        percentile(&first_minute, 0.5) as f64 / 1000.0,
        percentile(&last, 0.5) as f64 / 1000.0,
        p99_first as f64 / 1000.0,
        p99_last as f64 / 1000.0,
        errors.load(Ordering::Relaxed)
    );
    let verdict = memory < 10.0 && maps < 10.0 && p99_last <= 2 * p99_first.max(1);
    println!(
        "verdict: {} (anonymous memory grows < 10 % beyond the chain, mappings < 10 % beyond its blocks, p99 within 2x of the first minute)",
        if verdict { "PASS" } else { "FAIL" }
    );
    drop(node);
    if !verdict {
        std::process::exit(1);
    }
}
