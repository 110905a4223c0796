//! What durability costs, and how fast a long chain restarts.
//!
//! In one run: ERC20 transfers per second with the chain in memory
//! (`--ephemeral`) and in a data directory (journal synced before every
//! transaction, checkpoints every 1,000), the bytes written to disk per
//! transaction, and the time to reopen a chain of many blocks — after a clean
//! shutdown, and after a crash that leaves a full journal to replay.
//!
//! `cargo bench -p canister-evm --bench durability [-- --transfers N --restart-blocks N]`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, TxKind, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, sol};
use canister_evm::devchain::DevChain;
use canister_evm::node::{Clock, Node, NodeConfig, Queries as _};
use canister_evm::storage::CHECKPOINT_INTERVAL;
use canister_host::HostConfig;
use evm_canister_api::InitArgs;

mod common;
use common::{sign, token_code};

sol! {
    function transfer(address to, uint256 amount) returns (bool);
}

/// Compiled modules are cached, as the `canister-evm` binary caches them.
fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("canister-evm-bench-module-cache")
}

fn start(genesis: &InitArgs, data_dir: Option<PathBuf>) -> (Node, usize) {
    let config = NodeConfig {
        genesis: genesis.clone(),
        host: HostConfig { cache_dir: Some(cache_dir()), ..HostConfig::default() },
        verify_with: None,
        clock: Clock::System,
        data_dir,
        checkpoint_interval: CHECKPOINT_INTERVAL,
    };
    let (node, recovery) = Node::start(canister_evm::CANISTER_WASM, config).unwrap();
    (node, recovery.replayed)
}

/// Bytes this process has passed to `write` so far (`wchar` of /proc/self/io).
fn bytes_written() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn dir_size(path: &Path) -> u64 {
    // Allocated size: stable memory's image is sparse.
    use std::os::unix::fs::MetadataExt;
    walk(path).iter().map(|p| p.metadata().map(|m| m.blocks() * 512).unwrap_or(0)).sum()
}

fn walk(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_owned()];
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            out.extend(walk(&entry.unwrap().path()));
        }
    }
    out
}

/// ERC20 transfers per second, and bytes written per transfer.
fn throughput(
    genesis: &InitArgs,
    key: &PrivateKeySigner,
    data_dir: Option<PathBuf>,
    count: u64,
) -> (f64, f64) {
    let (mut node, _) = start(genesis, data_dir);
    node.send_raw_transaction(&sign(key, 0, TxKind::Create, 0, token_code())).unwrap().unwrap();
    let token = key.address().create(0);
    let txs: Vec<Vec<u8>> = (1..=count)
        .map(|i| {
            let to = Address::from_word(keccak256(i.to_be_bytes()));
            sign(
                key,
                i,
                TxKind::Call(token),
                0,
                transferCall { to, amount: U256::from(1) }.abi_encode(),
            )
        })
        .collect();
    let written = bytes_written();
    let started = Instant::now();
    for raw in &txs {
        assert!(
            node.send_raw_transaction(raw).unwrap().unwrap().result.included().unwrap().success
        );
    }
    let elapsed = started.elapsed();
    let per_tx = (bytes_written() - written) as f64 / count as f64;
    (count as f64 / elapsed.as_secs_f64(), per_tx)
}

fn main() {
    let mut transfers = 2_000u64;
    let mut restart_blocks = 100_000u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value =
            || args.next().and_then(|v| v.parse().ok()).expect("a number after the flag");
        match arg.as_str() {
            "--transfers" => transfers = value(),
            "--restart-blocks" => restart_blocks = value(),
            _ => {}
        }
    }
    let chain = DevChain { accounts: 2, timestamp: 1_700_000_000, ..DevChain::default() };
    let keys = chain.signers();
    let genesis = chain.genesis(&keys);
    let tmp = tempfile::tempdir().unwrap();

    println!(
        "canister-evm durability benchmark ({transfers} ERC20 transfers, in process, sequential)\n"
    );
    let (ephemeral, _) = throughput(&genesis, &keys[0], None, transfers);
    let (durable, bytes) =
        throughput(&genesis, &keys[0], Some(tmp.path().join("throughput")), transfers);
    println!("  in memory (--ephemeral): {ephemeral:>7.0} tx/s");
    println!(
        "  durable (journal synced before each tx, checkpoint every {CHECKPOINT_INTERVAL}): {durable:>7.0} tx/s ({:.0}% of in-memory)",
        durable / ephemeral * 100.0
    );
    println!(
        "  written to disk per transaction: {:.1} KiB (journal, cost ledger and checkpoints)",
        bytes / 1024.0
    );

    println!("\nRestarting a chain of {restart_blocks} blocks (one transfer each):");
    let dir = tmp.path().join("restart");
    let (mut node, _) = start(&genesis, Some(dir.clone()));
    let started = Instant::now();
    let mut nonce = 0;
    // Sign in batches to bound memory.
    while nonce < restart_blocks {
        let batch: Vec<Vec<u8>> = (nonce..(nonce + 10_000).min(restart_blocks))
            .map(|i| {
                sign(
                    &keys[1],
                    i,
                    TxKind::Call(Address::from_word(keccak256(i.to_be_bytes()))),
                    1,
                    vec![],
                )
            })
            .collect();
        for raw in &batch {
            node.send_raw_transaction(raw).unwrap().unwrap();
        }
        nonce += batch.len() as u64;
    }
    println!("  built in {:.1?}", started.elapsed());
    node.checkpoint().unwrap();
    let info = node.canister_status();
    drop(node);
    let started = Instant::now();
    let (mut node, replayed) = start(&genesis, Some(dir.clone()));
    let clean: Duration = started.elapsed();
    assert_eq!(node.chain_info().unwrap().latest_block, restart_blocks);
    println!(
        "  after a clean shutdown: {clean:.0?} ({replayed} messages replayed; stable memory {} MiB, data directory {} MiB on disk)",
        info.stable_bytes >> 20,
        dir_size(&dir) >> 20
    );
    // A crash just before a checkpoint: the whole journal to replay.
    for i in 0..CHECKPOINT_INTERVAL - 1 {
        let raw = sign(&keys[1], nonce + i, TxKind::Call(Address::repeat_byte(9)), 1, vec![]);
        node.send_raw_transaction(&raw).unwrap().unwrap();
    }
    drop(node); // no checkpoint: as if killed
    let started = Instant::now();
    let (_node, replayed) = start(&genesis, Some(dir));
    println!(
        "  after a crash with {replayed} journaled messages to replay: {:.0?}",
        started.elapsed()
    );
}
