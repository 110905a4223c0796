//! The chain survives stops, SIGKILL, upgrades; damage is an error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256, TxKind, U256, keccak256};
use alloy_sol_types::{SolCall, SolValue, sol};
use serde_json::json;

use crate::harness::{Node, dev_keys, quantity, repo, rpc, send_raw, signed, try_rpc};

sol! {
    function transfer(address to, uint256 amount) returns (bool);
    function balanceOf(address owner) returns (uint256);
}

fn token_code() -> Vec<u8> {
    let path = repo().join("contracts/artifacts/Token.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut code = alloy_primitives::hex::decode(json["bytecode"].as_str().unwrap()).unwrap();
    code.extend(
        ("Token".to_string(), "TOK".to_string(), U256::from(10u64).pow(U256::from(30)))
            .abi_encode_params(),
    );
    code
}

/// How many journaled messages a restarted node says it replayed.
fn replayed(banner: &str) -> usize {
    let line = banner
        .lines()
        .find(|l| l.contains("journaled messages replayed"))
        .unwrap_or_else(|| panic!("{banner}"));
    let count = line.split('(').nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
    count.parse().unwrap()
}

/// A small deterministic generator for kill times.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Everything the test compares between the node and a clean replay.
#[derive(Debug, PartialEq)]
struct ChainState {
    block_hashes: Vec<String>,
    balances: Vec<u128>,
    nonces: Vec<u128>,
    token_balances: Vec<U256>,
}

fn accounts() -> Vec<Address> {
    let mut accounts: Vec<Address> = dev_keys()[..3].iter().map(|k| k.address()).collect();
    accounts.extend((0..20u64).map(|i| Address::from_word(keccak256(i.to_be_bytes()))));
    accounts
}

fn node_state(node: &Node, token: Address) -> ChainState {
    let head = quantity(&rpc(node, "eth_blockNumber", json!([]))["result"]) as u64;
    let block_hashes = (0..=head)
        .map(|n| {
            rpc(node, "eth_getBlockByNumber", json!([format!("0x{n:x}"), false]))["result"]["hash"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let accounts = accounts();
    let balances = accounts
        .iter()
        .map(|a| quantity(&rpc(node, "eth_getBalance", json!([a, "latest"]))["result"]))
        .collect();
    let nonces = accounts
        .iter()
        .map(|a| quantity(&rpc(node, "eth_getTransactionCount", json!([a, "latest"]))["result"]))
        .collect();
    let token_balances = accounts
        .iter()
        .map(|a| {
            let data =
                alloy_primitives::hex::encode_prefixed(balanceOfCall { owner: *a }.abi_encode());
            let out = rpc(node, "eth_call", json!([{ "to": token, "data": data }, "latest"]));
            U256::from_str_radix(out["result"].as_str().unwrap().trim_start_matches("0x"), 16)
                .unwrap()
        })
        .collect();
    ChainState { block_hashes, balances, nonces, token_balances }
}

/// The same transactions applied to a fresh chain (the canister's code,
/// natively), each at its block's timestamp.
fn clean_replay(
    dir: &std::path::Path,
    node: &Node,
    raw: &HashMap<B256, Vec<u8>>,
    token: Address,
) -> ChainState {
    use evm_canister::Chain;
    use evm_canister_api::{BlockTag, CallArgs, CallOutcome};
    let genesis = canister_evm::storage::Store::open(dir).unwrap().genesis;
    let mut chain =
        Chain::create(ic_stable_structures::DefaultMemoryImpl::default(), &genesis).unwrap();
    let head = quantity(&rpc(node, "eth_blockNumber", json!([]))["result"]) as u64;
    for n in 1..=head {
        let block =
            &rpc(node, "eth_getBlockByNumber", json!([format!("0x{n:x}"), false]))["result"];
        let time = quantity(&block["timestamp"]) as u64 * 1_000_000_000;
        for hash in block["transactions"].as_array().unwrap() {
            let hash: B256 = hash.as_str().unwrap().parse().unwrap();
            chain.submit(&raw[&hash], time).unwrap();
        }
    }
    let accounts = accounts();
    let block_hashes = (0..=head)
        .map(|n| chain.block(BlockTag::Number(n), false).unwrap().hash.to_string())
        .collect();
    let balances = accounts
        .iter()
        .map(|a| chain.account(*a, BlockTag::Latest).unwrap().balance.0.to::<u128>())
        .collect();
    let nonces = accounts
        .iter()
        .map(|a| u128::from(chain.account(*a, BlockTag::Latest).unwrap().nonce))
        .collect();
    let token_balances = accounts
        .iter()
        .map(|a| {
            let args = CallArgs {
                to: Some(token.into()),
                input: balanceOfCall { owner: *a }.abi_encode().into(),
                ..Default::default()
            };
            match chain.call(&args, BlockTag::Latest, &[], 0).unwrap() {
                CallOutcome::Success { output, .. } => U256::from_be_slice(&output),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    ChainState { block_hashes, balances, nonces, token_balances }
}

#[test]
fn every_acknowledged_transaction_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("chain");
    let keys = dev_keys();
    // Frequent checkpoints, so kills also land in the middle of them.
    let args = ["--checkpoint-interval", "5"];
    let raw: Arc<Mutex<HashMap<B256, Vec<u8>>>> = Arc::default();
    let acked: Arc<Mutex<Vec<B256>>> = Arc::default();

    let node = Node::start_in(&chain_dir, &args);
    let (hash, deploy) = signed(&keys[0], 0, TxKind::Create, 0, token_code());
    raw.lock().unwrap().insert(hash, deploy.clone());
    send_raw(&node.url, &deploy).unwrap();
    acked.lock().unwrap().push(hash);
    let token = keys[0].address().create(0);

    let mut rng = XorShift(0x5eed_cafe);
    let kills = 20;
    let mut replays = 0;
    let mut node = Some(node);
    for round in 0..=kills {
        let current = node.take().unwrap_or_else(|| {
            let node = Node::start_in(&chain_dir, &args);
            replays += replayed(&node.banner);
            node
        });
        // Every transaction acknowledged so far is in the chain.
        for hash in acked.lock().unwrap().iter() {
            let receipt = rpc(&current, "eth_getTransactionReceipt", json!([hash]));
            assert!(receipt["result"].is_object(), "round {round}: acknowledged {hash} lost");
        }
        if round == kills {
            let expected = node_state(&current, token);
            current.stop();
            let replay = clean_replay(
                &chain_dir,
                &Node::start_in(&chain_dir, &args),
                &raw.lock().unwrap(),
                token,
            );
            assert_eq!(
                expected, replay,
                "the chain differs from a clean replay of its transactions"
            );
            assert!(expected.block_hashes.len() > 40, "too few transactions got through");
            assert!(replays > 0, "no restart had journaled messages to replay");
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = (0..3)
            .map(|sender| {
                let (url, key, raw, acked, stop) = (current.url.clone(), keys[sender].clone(), raw.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || {
                    let nonce_of = |url: &str| {
                        let body = json!({"jsonrpc":"2.0","id":1,"method":"eth_getTransactionCount","params":[key.address(),"latest"]});
                        let text = ureq::post(url).header("content-type", "application/json").send(body.to_string()).ok()?.into_body().read_to_string().ok()?;
                        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
                        Some(quantity(&value["result"]) as u64)
                    };
                    let Some(mut nonce) = nonce_of(&url) else { return };
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let to = Address::from_word(keccak256(((sender as u64) * 7 + i % 7).to_be_bytes()));
                        let (hash, bytes) = if sender == 0 {
                            let input = transferCall { to, amount: U256::from(i + 1) }.abi_encode();
                            signed(&key, nonce, TxKind::Call(token), 0, input)
                        } else {
                            signed(&key, nonce, TxKind::Call(to), i + 1, vec![])
                        };
                        raw.lock().unwrap().insert(hash, bytes.clone());
                        match send_raw(&url, &bytes) {
                            Ok(got) => {
                                assert_eq!(got, hash);
                                acked.lock().unwrap().push(hash);
                                nonce += 1;
                                i += 1;
                            }
                            Err(_) => return, // the node is gone
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100 + rng.next() % 400));
        current.kill();
        stop.store(true, Ordering::Relaxed);
        for sender in senders {
            sender.join().unwrap();
        }
    }
}

#[test]
fn a_stopped_node_restarts_with_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("chain");
    let keys = dev_keys();
    let node = Node::start_in(&chain_dir, &[]);
    for nonce in 0..3 {
        let (_, bytes) =
            signed(&keys[1], nonce, TxKind::Call(Address::repeat_byte(5)), 1_000, vec![]);
        send_raw(&node.url, &bytes).unwrap();
    }
    let state = |node: &Node| {
        let head = rpc(node, "eth_getBlockByNumber", json!(["latest", false]))["result"].clone();
        let balance =
            rpc(node, "eth_getBalance", json!([Address::repeat_byte(5), "latest"]))["result"]
                .clone();
        (head, balance)
    };
    let before = state(&node);
    node.stop();
    let node = Node::start_in(&chain_dir, &[]);
    assert!(node.banner.contains("continued the chain"), "{}", node.banner);
    assert_eq!(state(&node), before);
    // Same chain id on the same directory is fine; a different one is not.
    node.stop();
    let error = Node::try_start_in(&chain_dir, &["--chain-id", "5"]).err().unwrap();
    assert!(error.contains("refusing to start it with --chain-id 5"), "{error}");
}

#[test]
fn the_upgrade_flag_moves_the_chain_to_new_code() {
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("chain");
    let probe = dir.path().join("probe.wasm");
    std::fs::write(&probe, test_canisters::EVM_PROBE).unwrap();
    let keys = dev_keys();
    let node = Node::start_in(&chain_dir, &[]);
    let (hash, bytes) = signed(&keys[2], 0, TxKind::Call(Address::repeat_byte(6)), 77, vec![]);
    send_raw(&node.url, &bytes).unwrap();
    let before = rpc(&node, "ic_canisterInfo", json!([]))["result"].clone();
    node.stop();

    // A module that is not wasm: the upgrade fails, the old canister serves.
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"garbage").unwrap();
    let node = Node::start_in(&chain_dir, &["--upgrade", garbage.to_str().unwrap()]);
    let info = rpc(&node, "ic_canisterInfo", json!([]))["result"].clone();
    assert_eq!(info["moduleHash"], before["moduleHash"]);
    node.stop();

    let node = Node::start_in(&chain_dir, &["--upgrade", probe.to_str().unwrap()]);
    assert!(node.banner.contains("Upgraded the canister to module"), "{}", node.banner);
    let info = rpc(&node, "ic_canisterInfo", json!([]))["result"].clone();
    assert_ne!(info["moduleHash"], before["moduleHash"]);
    assert!(quantity(&info["canisterVersion"]) > quantity(&before["canisterVersion"]));
    // The chain is intact and goes on.
    assert!(rpc(&node, "eth_getTransactionReceipt", json!([hash]))["result"].is_object());
    let (_, bytes) = signed(&keys[2], 1, TxKind::Call(Address::repeat_byte(6)), 23, vec![]);
    send_raw(&node.url, &bytes).unwrap();
    let balance = rpc(&node, "eth_getBalance", json!([Address::repeat_byte(6), "latest"]));
    assert_eq!(quantity(&balance["result"]), 100);
}

#[test]
fn disk_faults_are_reported_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("chain");
    let keys = dev_keys();
    let node = Node::start_in(&chain_dir, &[]);
    let (hash, bytes) = signed(&keys[3], 0, TxKind::Call(Address::repeat_byte(7)), 1, vec![]);
    send_raw(&node.url, &bytes).unwrap();
    node.stop();

    // A "full disk": the journal cannot grow past a few records.
    let node = Node::start_limited(&chain_dir, 600);
    let mut accepted = 0;
    let error = loop {
        let (_, bytes) =
            signed(&keys[3], 1 + accepted, TxKind::Call(Address::repeat_byte(7)), 1, vec![]);
        match send_raw(&node.url, &bytes) {
            Ok(_) => accepted += 1,
            Err(error) => break error,
        }
        assert!(accepted < 50, "the file size limit never bit");
    };
    assert!(error.contains("storage failure"), "{error}");
    // The node keeps answering queries but refuses further updates.
    assert!(rpc(&node, "eth_getTransactionReceipt", json!([hash]))["result"].is_object());
    let (_, bytes) =
        signed(&keys[3], 1 + accepted, TxKind::Call(Address::repeat_byte(7)), 1, vec![]);
    assert!(send_raw(&node.url, &bytes).unwrap_err().contains("refuses further updates"));
    node.kill();

    // With room again, everything acknowledged is there.
    let node = Node::start_in(&chain_dir, &[]);
    let nonce = rpc(&node, "eth_getTransactionCount", json!([keys[3].address(), "latest"]));
    assert_eq!(quantity(&nonce["result"]), 1 + accepted as u128);
    node.stop();

    // Damaged files stop the node at start with an error naming them.
    let stable = chain_dir.join("state/stable.img");
    let mut bytes = std::fs::read(&stable).unwrap();
    let at = bytes.iter().position(|&b| b != 0).unwrap();
    bytes[at] ^= 1;
    std::fs::write(&stable, bytes).unwrap();
    let error = Node::try_start_in(&chain_dir, &[]).err().unwrap();
    assert!(error.contains("stable.img is corrupted"), "{error}");

    // A data directory that cannot be created is an error too.
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let error = Node::try_start_in(&file.join("chain"), &[]).err().unwrap();
    assert!(error.contains("starting the chain in"), "{error}");
}

/// What the mixed-load test sent and the node acknowledged.
#[derive(Default)]
struct Acknowledged {
    /// Every transaction signed (acknowledged or not), by hash.
    raw: HashMap<B256, Vec<u8>>,
    /// Acknowledged transactions, in order: hash and round.
    txs: Vec<(B256, usize)>,
    /// Acknowledged edits (`anvil_setBalance` of a fresh address): the
    /// address, the balance and the round.
    edits: Vec<(Address, u64, usize)>,
    /// Every edit sent, acknowledged or not (the kill may cut off the
    /// answer to one that ran).
    sent_edits: Vec<(Address, u64)>,
    /// Rounds in which a revert was sent, how many transactions had been
    /// acknowledged when it answered (`usize::MAX` if it did not) and how
    /// many edits when it was sent.
    reverts: Vec<(usize, usize, usize)>,
}

/// SIGKILL at random points of mixed load: interval mining with a pool kept
/// full, account edits, snapshots and reverts, and an upgrade halfway.
/// After every restart every acknowledged transaction is in the chain or
/// the pool and every acknowledged edit holds (unless a revert sent later
/// undid it); at the end the chain equals a clean replay of its
/// blocks — their edits and transactions — on the canister's code natively.
#[test]
fn nothing_acknowledged_is_lost_to_sigkill_under_mixed_load() {
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("chain");
    let probe = dir.path().join("probe.wasm");
    std::fs::write(&probe, test_canisters::EVM_PROBE).unwrap();
    let probe = probe.to_str().unwrap().to_owned();
    let keys = dev_keys();
    let base = ["--checkpoint-interval", "7", "--block-time", "1"];
    let state: Arc<Mutex<Acknowledged>> = Arc::default();
    let kills = 20;
    let mut rng = XorShift(0x00c0_ffee);
    // The head when each round started: blocks up to it were verified.
    let mut verified_head = Vec::new();
    for round in 0..=kills {
        let mut args = base.to_vec();
        if round == kills / 2 {
            args.extend(["--upgrade", probe.as_str()]);
        }
        let node = Node::start_in(&chain_dir, &args);
        if round == kills / 2 {
            assert!(node.banner.contains("Upgraded the canister"), "{}", node.banner);
        }
        let head = quantity(&rpc(&node, "eth_blockNumber", json!([]))["result"]) as u64;
        verify_acknowledged(&node, &state.lock().unwrap(), &verified_head);
        verified_head.push(head);
        if round == kills {
            node.stop();
            let node = Node::start_in(&chain_dir, &base);
            compare_with_clean_replay(&chain_dir, &node, &state.lock().unwrap());
            let txs = state.lock().unwrap().txs.len();
            assert!(txs > 200, "only {txs} transactions were acknowledged");
            return;
        }

        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for (sender, key) in keys.iter().take(2).enumerate() {
            let (url, key, state, stop) =
                (node.url.clone(), key.clone(), state.clone(), stop.clone());
            workers.push(std::thread::spawn(move || {
                let Ok(nonce) =
                    try_rpc(&url, "eth_getTransactionCount", json!([key.address(), "pending"]))
                else {
                    return;
                };
                let mut nonce = quantity(&nonce) as u64;
                while !stop.load(Ordering::Relaxed) {
                    let to = Address::repeat_byte(0x40 + sender as u8);
                    let (hash, bytes) = signed(&key, nonce, TxKind::Call(to), 1, vec![]);
                    state.lock().unwrap().raw.insert(hash, bytes.clone());
                    match send_raw(&url, &bytes) {
                        Ok(got) => {
                            assert_eq!(got, hash);
                            state.lock().unwrap().txs.push((hash, round));
                            nonce += 1;
                        }
                        // The pool is full: wait for the next block.
                        Err(error) if error.contains("txpool is full") => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(_) => return, // the node is gone
                    }
                }
            }));
        }
        let (url, state2, stop2) = (node.url.clone(), state.clone(), stop.clone());
        let seed = rng.next();
        workers.push(std::thread::spawn(move || {
            let mut rng = XorShift(seed | 1);
            let mut snapshot = None;
            let mut i = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                i += 1;
                let address = Address::from_word(keccak256((seed, i).abi_encode()));
                let balance = 1_000 + rng.next() % 1_000_000;
                state2.lock().unwrap().sent_edits.push((address, balance));
                let set =
                    try_rpc(&url, "anvil_setBalance", json!([address, format!("{balance:#x}")]));
                if set.is_err() {
                    return;
                }
                state2.lock().unwrap().edits.push((address, balance, round));
                match (snapshot.clone(), rng.next() % 8) {
                    (None, 0) => match try_rpc(&url, "evm_snapshot", json!([])) {
                        Ok(id) => snapshot = Some(id),
                        Err(_) => return,
                    },
                    (Some(id), 0) => {
                        // Counted as it is sent: a revert the kill cuts off
                        // may still have run (it was journaled first). The
                        // senders run meanwhile, so a transaction they get
                        // acknowledged while the revert is in flight may be
                        // mined and then reverted: until the revert answers,
                        // it may undo every transaction (`usize::MAX`), and
                        // once it has, those acknowledged before its answer.
                        let at = {
                            let mut state = state2.lock().unwrap();
                            let edits = state.edits.len();
                            state.reverts.push((round, usize::MAX, edits));
                            state.reverts.len() - 1
                        };
                        if try_rpc(&url, "evm_revert", json!([id])).is_err() {
                            return;
                        }
                        let mut state = state2.lock().unwrap();
                        state.reverts[at].1 = state.txs.len();
                        drop(state);
                        snapshot = None;
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
        std::thread::sleep(Duration::from_millis(300 + rng.next() % 1_500));
        node.kill();
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            worker.join().unwrap();
        }
    }
}

/// Whether a revert sent later may have undone something
/// acknowledged at `index` (of `count`) in `round`: a revert removes only
/// blocks after its snapshot, taken in its own round, so what a round
/// started with (verified, up to `verified_head`) stays.
fn excused(
    state: &Acknowledged,
    round: usize,
    index: usize,
    pick: fn(&(usize, usize, usize)) -> usize,
) -> bool {
    state.reverts.iter().any(|revert| revert.0 >= round && pick(revert) > index)
}

fn verify_acknowledged(node: &Node, state: &Acknowledged, verified_head: &[u64]) {
    for (index, (hash, round)) in state.txs.iter().enumerate() {
        let found = rpc(node, "eth_getTransactionByHash", json!([hash]))["result"].clone();
        if found.is_object() {
            continue;
        }
        assert!(
            excused(state, *round, index, |r| r.1),
            "acknowledged transaction {hash} (round {round}) is lost; head at round start {:?}",
            verified_head.get(*round)
        );
    }
    for (index, (address, balance, round)) in state.edits.iter().enumerate() {
        let now = quantity(&rpc(node, "eth_getBalance", json!([address, "latest"]))["result"]);
        if now == u128::from(*balance) {
            continue;
        }
        assert!(
            excused(state, *round, index, |r| r.2),
            "acknowledged edit of {address} (round {round}) is lost"
        );
    }
}

/// The blocks of the node's chain, rebuilt from genesis on the canister's
/// code natively: each block's edits (found by when each edited address got
/// its balance) and transactions, mined at its timestamp.
fn compare_with_clean_replay(chain_dir: &std::path::Path, node: &Node, state: &Acknowledged) {
    use evm_canister::Chain;
    use evm_canister_api::{AccountEdit, BlockTag, MiningMode};
    let head = quantity(&rpc(node, "eth_blockNumber", json!([]))["result"]) as u64;
    let balance_at = |address: &Address, block: u64| {
        quantity(&rpc(node, "eth_getBalance", json!([address, format!("{block:#x}")]))["result"])
    };
    // The block each surviving edit landed in: the first with its balance.
    let mut edits: HashMap<u64, Vec<AccountEdit>> = HashMap::new();
    for (address, balance) in &state.sent_edits {
        if balance_at(address, head) != u128::from(*balance) {
            continue; // undone by a revert
        }
        let (mut lo, mut hi) = (0, head);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if balance_at(address, mid) == u128::from(*balance) { hi = mid } else { lo = mid + 1 }
        }
        edits.entry(lo).or_default().push(AccountEdit {
            address: (*address).into(),
            balance: Some(U256::from(*balance).into()),
            ..Default::default()
        });
    }
    let genesis = canister_evm::storage::Store::open(chain_dir).unwrap().genesis;
    let mut chain =
        Chain::create(ic_stable_structures::DefaultMemoryImpl::default(), &genesis).unwrap();
    chain.set_mining_mode(MiningMode { automine: false }, 0);
    for n in 1..=head {
        let block =
            &rpc(node, "eth_getBlockByNumber", json!([format!("0x{n:x}"), false]))["result"];
        let time = quantity(&block["timestamp"]) as u64 * 1_000_000_000;
        for edit in edits.remove(&n).unwrap_or_default() {
            chain.edit_account(&edit);
        }
        for hash in block["transactions"].as_array().unwrap() {
            let hash: B256 = hash.as_str().unwrap().parse().unwrap();
            chain.submit(&state.raw[&hash], time).unwrap();
        }
        let mined = chain.mine(time);
        if mined.hash.0.to_string() != block["hash"].as_str().unwrap() {
            let replayed = chain.block(BlockTag::Number(n), false).unwrap();
            let header = <alloy_consensus::Header as alloy_rlp::Decodable>::decode(
                &mut replayed.header.as_slice(),
            )
            .unwrap();
            let differences: Vec<String> = state
                .sent_edits
                .iter()
                .filter_map(|(address, _)| {
                    let node = balance_at(address, n);
                    let replay = chain.account(*address, BlockTag::Latest).unwrap().balance.0;
                    (U256::from(node) != replay).then(|| format!("{address}: {node} vs {replay}"))
                })
                .collect();
            panic!(
                "block {n} differs from a clean replay of its edits and transactions:\n\
                 node: {block}\nreplay: {header:?}\nedited balances that differ: {differences:?}"
            );
        }
    }
}

/// A node whose output nobody reads any more (the reader of its pipe has
/// exited) still stops cleanly on SIGTERM, with its final checkpoint: saying
/// "Shutting down" into a closed pipe once panicked and skipped it.
#[test]
fn a_node_whose_output_is_gone_stops_cleanly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("chain");
    let mut child = Command::new(env!("CARGO_BIN_EXE_canister-evm"))
        .args(["--host", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(&chain_dir)
        .arg("--cache-dir")
        .arg(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the node listens").unwrap();
        if let Some(addr) = line.strip_prefix("Listening on ") {
            break format!("http://{addr}");
        }
    };
    let keys = dev_keys();
    let (_, raw) = signed(&keys[0], 0, TxKind::Call(Address::repeat_byte(5)), 7, vec![]);
    send_raw(&url, &raw).unwrap();
    drop(lines);
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "the node exited with {status}");
    let node = Node::start_in(&chain_dir, &[]);
    assert_eq!(replayed(&node.banner), 0, "the stop checkpointed:\n{}", node.banner);
    let balance = rpc(&node, "eth_getBalance", json!([Address::repeat_byte(5), "latest"]));
    assert_eq!(balance["result"], "0x7");
    node.stop();
}

/// `canister-evm verify` re-executes a stopped node's chain on Winch and
/// confirms it; a damaged history makes it fail with the reason.
#[test]
fn verify_re_executes_a_stopped_chain() {
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("chain");
    let node = Node::start_in(&chain_dir, &["--checkpoint-interval", "2"]);
    let keys = dev_keys();
    for nonce in 0..4 {
        let (_, raw) = signed(&keys[0], nonce, TxKind::Call(Address::repeat_byte(5)), 1, vec![]);
        send_raw(&node.url, &raw).unwrap();
    }
    node.stop();
    let verify = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_canister-evm"))
            .arg("--cache-dir")
            .arg(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache"))
            .arg("verify")
            .arg(&chain_dir)
            .args(args)
            .output()
            .unwrap()
    };
    let output = verify(&["--with", "winch"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("verified: 4 messages re-executed with Winch"), "{stdout}");
    assert!(stdout.contains("same 5 blocks"), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("executed 4/4 messages"));

    std::fs::remove_file(chain_dir.join("history/install")).unwrap();
    let output = verify(&[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("keeps no history"));
}
