//! This node against anvil, through JSON-RPC, side by side in one run.
//!
//! Both nodes run as their own processes on loopback: the release
//! `canister-evm` in its default durable mode (a fresh data directory), and
//! anvil from npm (`@foundry-rs/anvil-linux-amd64`, pinned in
//! `benches/anvil/package-lock.json` and installed there on the first run).
//! The client is this process, over plain HTTP keep-alive, as a wallet or a
//! script talks to a node. Each phase runs on one node and then on the
//! other, round after round, so that drift of the machine hits both alike;
//! it prints the first round, on fresh chains, and the last.
//!
//! Phases, all with OpenZeppelin-style ERC20 transfers (`contracts/Token`)
//! to fresh recipients, each sent with `eth_sendRawTransaction` and its
//! receipt polled for:
//! - sequential: one at a time;
//! - 1 sender × 64 in flight: signed ahead with consecutive nonces, sent
//!   by 64 threads at once, so they arrive out of nonce order;
//! - 8 senders × 1 in flight: each sender one at a time;
//! - `eth_call balanceOf` × 32 in flight.
//!
//! It prints requests per second, p50 and p99 latency (a transfer's from
//! sending to holding its receipt), both nodes' RSS at the end, and our
//! figure divided by anvil's.
//!
//! `cargo bench -p canister-evm --bench versus [-- --transfers N --calls N --rounds R]`

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, TxKind, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, sol};
use serde_json::{Value, json};

mod common;

sol! {
    function transfer(address to, uint256 amount) returns (bool);
    function balanceOf(address owner) returns (uint256);
}

struct Args {
    transfers: usize,
    calls: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut args = Args { transfers: 500, calls: 5_000, rounds: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok()).expect("a number");
        match arg.as_str() {
            "--transfers" => args.transfers = value(),
            "--calls" => args.calls = value(),
            "--rounds" => args.rounds = value(),
            _ => {} // cargo bench passes --bench
        }
    }
    args
}

/// A node under test, killed when dropped.
struct NodeProcess {
    name: &'static str,
    child: Child,
    url: String,
    _data_dir: Option<tempfile::TempDir>,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProcess {
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }
}

/// Spawns `command` and waits for the line that says where it listens.
fn spawn(
    name: &'static str,
    mut command: Command,
    data_dir: Option<tempfile::TempDir>,
) -> NodeProcess {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().unwrap_or_else(|| panic!("{name} exited")).unwrap();
        if let Some(addr) = line.trim().strip_prefix("Listening on ") {
            break format!("http://{addr}");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    NodeProcess { name, child, url, _data_dir: data_dir }
}

fn start_ours() -> NodeProcess {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_canister-evm"));
    command.args(["--port", "0", "--quiet", "--data-dir"]).arg(dir.path());
    spawn("canister-evm", command, Some(dir))
}

/// anvil's binary, installed from the lockfile beside this bench.
fn anvil_binary() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/anvil");
    let binary = dir.join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if !binary.exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (anvil comes from the npm registry)");
        assert!(status.success(), "npm ci in {}", dir.display());
    }
    binary
}

fn start_anvil() -> NodeProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = Command::new(anvil_binary());
    command.args(["--host", "127.0.0.1", "--port", &port.to_string()]);
    spawn("anvil", command, None)
}

/// One keep-alive connection's worth of JSON-RPC.
#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    url: String,
}

impl Client {
    fn new(url: &str) -> Self {
        Self { agent: ureq::Agent::new_with_defaults(), url: url.to_owned() }
    }

    fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let text = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .and_then(|mut r| r.body_mut().read_to_string())
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let mut value: Value = serde_json::from_str(&text).expect("JSON");
        match value.get_mut("result") {
            Some(result) => result.take(),
            None => panic!("{method}: {}", value["error"]),
        }
    }

    fn nonce(&self, address: Address) -> u64 {
        let n = self.call("eth_getTransactionCount", json!([address, "pending"]));
        u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    /// Sends a signed transaction and polls until its receipt is there.
    fn send_and_wait(&self, raw: &str) -> Value {
        let hash = self.call("eth_sendRawTransaction", json!([raw]));
        loop {
            let receipt = self.call("eth_getTransactionReceipt", json!([hash]));
            if !receipt.is_null() {
                return receipt;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// A signed transaction as `eth_sendRawTransaction` takes it in JSON.
fn hex_sign(key: &PrivateKeySigner, nonce: u64, to: TxKind, input: Vec<u8>) -> String {
    alloy_primitives::hex::encode_prefixed(common::sign(key, nonce, to, 0, input))
}

/// A recipient no transfer has paid before.
fn fresh_recipient(counter: &AtomicUsize) -> Address {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    Address::from_word(keccak256(n.to_be_bytes()))
}

fn transfer_to(token: Address, key: &PrivateKeySigner, nonce: u64, to: Address) -> String {
    let call = transferCall { to, amount: U256::from(1u64) };
    hex_sign(key, nonce, TxKind::Call(token), call.abi_encode())
}

/// A chain set up for the phases: the token, and senders holding some.
struct Setup {
    token: Address,
    deployer: PrivateKeySigner,
    senders: Vec<PrivateKeySigner>,
}

fn set_up(client: &Client, keys: &[PrivateKeySigner]) -> Setup {
    let deployer = keys[9].clone();
    let nonce = client.nonce(deployer.address());
    let receipt =
        client.send_and_wait(&hex_sign(&deployer, nonce, TxKind::Create, common::token_code()));
    let token: Address = serde_json::from_value(receipt["contractAddress"].clone()).unwrap();
    let senders = keys[..8].to_vec();
    for (i, sender) in senders.iter().enumerate() {
        let call =
            transferCall { to: sender.address(), amount: U256::from(10u64).pow(U256::from(24)) };
        let raw = hex_sign(&deployer, nonce + 1 + i as u64, TxKind::Call(token), call.abi_encode());
        client.send_and_wait(&raw);
    }
    Setup { token, deployer, senders }
}

/// One phase's result.
#[derive(Clone, Copy, Debug, Default)]
struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn figures(count: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Figures {
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Figures {
        per_second: count as f64 / elapsed.as_secs_f64(),
        p50_ms: at(0.5).as_secs_f64() * 1e3,
        p99_ms: at(0.99).as_secs_f64() * 1e3,
    }
}

/// Runs `jobs` on `threads` threads, each job timed and given its thread's
/// index and its own; the phase's figures.
fn run_parallel(threads: usize, jobs: usize, job: impl Fn(usize, usize) + Sync) -> Figures {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let latencies = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                let (next, job) = (&next, &job);
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= jobs {
                            return latencies;
                        }
                        let t = Instant::now();
                        job(worker, i);
                        latencies.push(t.elapsed());
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    figures(jobs, start.elapsed(), latencies)
}

const PHASES: [&str; 4] = [
    "sequential send + receipt, tx/s",
    "1 sender, 64 in flight, tx/s",
    "8 senders, 1 in flight each, tx/s",
    "eth_call balanceOf, 32 in flight, calls/s",
];

fn run_phase(phase: usize, url: &str, setup: &Setup, args: &Args, fresh: &AtomicUsize) -> Figures {
    let token = setup.token;
    match phase {
        0 => {
            let client = Client::new(url);
            let key = &setup.deployer;
            let nonce = client.nonce(key.address());
            run_parallel(1, args.transfers, |_, i| {
                client.send_and_wait(&transfer_to(
                    token,
                    key,
                    nonce + i as u64,
                    fresh_recipient(fresh),
                ));
            })
        }
        1 => {
            let key = &setup.deployer;
            let nonce = Client::new(url).nonce(key.address());
            let raws: Vec<String> = (0..args.transfers)
                .map(|i| transfer_to(token, key, nonce + i as u64, fresh_recipient(fresh)))
                .collect();
            let clients: Vec<Client> = (0..64).map(|_| Client::new(url)).collect();
            run_parallel(64, raws.len(), |worker, i| {
                clients[worker].send_and_wait(&raws[i]);
            })
        }
        2 => {
            let start = Instant::now();
            let per_sender = args.transfers / setup.senders.len();
            let latencies: Vec<Duration> = std::thread::scope(|scope| {
                let workers: Vec<_> = setup
                    .senders
                    .iter()
                    .map(|key| {
                        scope.spawn(move || {
                            let client = Client::new(url);
                            let nonce = client.nonce(key.address());
                            (0..per_sender)
                                .map(|i| {
                                    let raw = transfer_to(
                                        token,
                                        key,
                                        nonce + i as u64,
                                        fresh_recipient(fresh),
                                    );
                                    let t = Instant::now();
                                    client.send_and_wait(&raw);
                                    t.elapsed()
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
            });
            figures(latencies.len(), start.elapsed(), latencies)
        }
        _ => {
            let data = alloy_primitives::hex::encode_prefixed(
                balanceOfCall { owner: setup.deployer.address() }.abi_encode(),
            );
            let clients: Vec<Client> = (0..32).map(|_| Client::new(url)).collect();
            run_parallel(32, args.calls, |worker, _| {
                let answer = clients[worker]
                    .call("eth_call", json!([{ "to": token, "data": data }, "latest"]));
                assert!(answer.as_str().is_some_and(|s| s.len() == 66), "balanceOf: {answer}");
            })
        }
    }
}

fn main() {
    let args = args();
    let keys = canister_evm::devchain::DevChain::default().signers();
    // A first start compiles the canister into the module cache if it is
    // not there yet; the timed start below is then a warm one.
    drop(start_ours());
    let started = Instant::now();
    let ours = start_ours();
    let ours_start = started.elapsed();
    let started = Instant::now();
    let anvil = start_anvil();
    let anvil_start = started.elapsed();
    let nodes = [ours, anvil];
    let setups: Vec<Setup> = nodes.iter().map(|n| set_up(&Client::new(&n.url), &keys)).collect();
    let fresh = AtomicUsize::new(0);
    // figures[phase][node][round]
    let mut results = vec![vec![Vec::new(); nodes.len()]; PHASES.len()];
    for round in 0..args.rounds {
        for (phase, name) in PHASES.iter().enumerate() {
            for (n, node) in nodes.iter().enumerate() {
                let f = run_phase(phase, &node.url, &setups[n], &args, &fresh);
                eprintln!(
                    "round {}: {name} — {}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
                    round + 1,
                    node.name,
                    f.per_second,
                    f.p50_ms,
                    f.p99_ms
                );
                results[phase][n].push(f);
            }
        }
    }
    let rss: Vec<f64> = nodes.iter().map(NodeProcess::rss_mib).collect();

    // anvil slows down as its chain grows (it was 5x slower on transfers
    // by the second round when measured), so the first and the last
    // round are printed apart rather than as a median.
    println!(
        "\nJSON-RPC, {} transfers and {} calls per phase and round, client on the same machine; \
         tx/s or calls/s (p99 ms), first round on fresh chains → round {}:\n",
        args.transfers, args.calls, args.rounds
    );
    println!("| phase | canister-evm (durable) | anvil | ours ÷ anvil |");
    println!("|---|---|---|---|");
    let last = args.rounds - 1;
    for (phase, name) in PHASES.iter().enumerate() {
        let [ours, anvil] = [&results[phase][0], &results[phase][1]];
        let cell = |f: &[Figures]| {
            format!(
                "{:.0} ({:.1}) → {:.0} ({:.1})",
                f[0].per_second, f[0].p99_ms, f[last].per_second, f[last].p99_ms
            )
        };
        println!(
            "| {name} | {} | {} | {:.2}× → {:.2}× |",
            cell(ours),
            cell(anvil),
            ours[0].per_second / anvil[0].per_second,
            ours[last].per_second / anvil[last].per_second
        );
    }
    println!(
        "| RSS after the bench, MiB | {:.0} | {:.0} | {:.2}× |",
        rss[0],
        rss[1],
        rss[0] / rss[1]
    );
    println!(
        "| start to listening (warm module cache) | {:.0} ms | {:.0} ms | {:.2}× |",
        ours_start.as_secs_f64() * 1e3,
        anvil_start.as_secs_f64() * 1e3,
        ours_start.as_secs_f64() / anvil_start.as_secs_f64()
    );
}
