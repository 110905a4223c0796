//! `canister-evm verify`: a chain re-executed from its history, on either
//! compiler, is the chain in its data directory; a tampered transaction is
//! found, with its block.

use alloy_primitives::{Address, TxKind, U256};
use canister_evm::node::Node;
use canister_evm::node::Queries as _;
use canister_evm::storage::History;
use canister_evm::verify::{Divergence, Outcome, verify};
use canister_host::Compiler;
use canister_host::persist::Journal;
use evm_canister_api::{AccountEdit, BlockTag, Wei};
use serde_bytes::ByteBuf;

use crate::{durable_config, signed, transfer};

fn cache() -> Option<std::path::PathBuf> {
    Some(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache"))
}

/// A chain with transfers, a controller's edit, a snapshot and a revert
/// (which makes later blocks reuse numbers), checkpointed every 2 messages
/// so that most of its history has been archived; returns its head.
fn make_chain(dir: &std::path::Path) -> u64 {
    let (config, signers) = durable_config(dir, 2);
    let (mut node, _) = Node::start(canister_evm::CANISTER_WASM, config).unwrap();
    let alice = &signers[0];
    for nonce in 0..3 {
        node.send_raw_transaction(&transfer(alice, nonce)).unwrap().unwrap();
    }
    node.edit_account(AccountEdit {
        address: Address::repeat_byte(0x77).into(),
        balance: Some(Wei(U256::from(5))),
        ..Default::default()
    })
    .unwrap();
    let snapshot = node.snapshot().unwrap();
    for nonce in 3..5 {
        node.send_raw_transaction(&transfer(alice, nonce)).unwrap().unwrap();
    }
    assert!(node.revert(snapshot).unwrap());
    node.send_raw_transaction(&signed(
        alice,
        3,
        TxKind::Call(Address::repeat_byte(9)),
        U256::from(2),
        vec![],
    ))
    .unwrap()
    .unwrap();
    node.mine().unwrap();
    node.checkpoint().unwrap();
    node.chain_info().unwrap().latest_block
}

#[test]
fn a_chain_re_executed_on_every_compiler_is_the_chain_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let head = make_chain(dir.path());
    let chain = dir.path().join("chain");
    let archived = std::fs::read_dir(chain.join("history")).unwrap().count();
    assert!(archived > 2, "checkpoints archived the journal ({archived} files)");
    let mut hashes = Vec::new();
    for compiler in Compiler::ALL {
        let mut progressed = false;
        let outcome = verify(&chain, compiler, cache(), |_| progressed = true).unwrap();
        let Outcome::Verified { blocks, messages, state_hash } = outcome else {
            panic!("{compiler:?}: {outcome:?}")
        };
        assert_eq!(blocks, head);
        assert_eq!(messages, 10, "every update of the history was executed");
        assert!(progressed);
        hashes.push(state_hash);
    }
    assert!(hashes.iter().all(|hash| *hash == hashes[0]), "{hashes:x?}");
}

#[test]
fn a_tampered_transaction_is_found_with_its_block() {
    let dir = tempfile::tempdir().unwrap();
    make_chain(dir.path());
    let chain = dir.path().join("chain");
    // Forge the second transfer: the same sender and nonce, another amount,
    // validly signed and framed. The chain recorded stays as it was.
    let history = History::read(&chain).unwrap();
    let (_, signers) = durable_config(dir.path(), 2);
    let forged =
        signed(&signers[0], 1, TxKind::Call(Address::repeat_byte(0x42)), U256::from(999), vec![]);
    for sub in ["history", "journal"] {
        for entry in std::fs::read_dir(chain.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "log") {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
    let (mut journal, _) = Journal::open(&chain.join("journal"), 0).unwrap();
    let mut sends = 0;
    for record in &history.records {
        let mut arg = record.arg.clone();
        if record.method == "send_raw_transaction" {
            sends += 1;
            if sends == 2 {
                arg = candid::encode_one(ByteBuf::from(forged.clone())).unwrap();
            }
        }
        journal.append(record.time, record.kind, &record.caller, &record.method, &arg).unwrap();
    }
    journal.sync().unwrap();
    drop(journal);

    let outcome = verify(&chain, Compiler::Cranelift, cache(), |_| {}).unwrap();
    let Outcome::Diverged(divergence) = &outcome else { panic!("not found: {outcome:?}") };
    let Divergence::Block { number, message, transaction, .. } = divergence.as_ref() else {
        panic!("not a block: {divergence}")
    };
    assert_eq!(*number, 2, "the forged transfer's block");
    let (seq, method) = message.clone().unwrap();
    assert_eq!((seq, method.as_str()), (2, "send_raw_transaction"));
    let (index, expected, actual) = transaction.unwrap();
    assert_eq!(index, 0);
    assert_ne!(expected, actual);
    let text = match outcome {
        Outcome::Diverged(divergence) => divergence.to_string(),
        _ => unreachable!(),
    };
    assert!(text.contains("block 2 differs"), "{text}");

    // The recorded chain itself still has the original block 2.
    let (config, _) = durable_config(dir.path(), 2);
    let (mut node, _) = Node::start(canister_evm::CANISTER_WASM, config).unwrap();
    let block = node.block(BlockTag::Number(2), false).unwrap().unwrap();
    assert_eq!(Some(block.transactions[0].0), expected);
}

#[test]
fn a_chain_without_history_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    make_chain(dir.path());
    let chain = dir.path().join("chain");
    std::fs::remove_dir_all(chain.join("history")).unwrap();
    let error = verify(&chain, Compiler::Cranelift, cache(), |_| {}).unwrap_err().to_string();
    assert!(error.contains("keeps no history"), "{error}");
}

/// `verify` of a chain of over 1,000 mixed blocks — deployments, ERC20
/// transfers, reverted transactions, storage writes, controller edits,
/// snapshots and reverts — on Winch and on Pulley, wasmtime's interpreter.
/// Slow (Pulley interprets every instruction), so outside CI:
/// `cargo test --release -p canister-evm --test it verify -- --ignored --nocapture`.
#[test]
#[ignore = "minutes on Pulley; run with --ignored"]
fn a_thousand_mixed_blocks_verify_on_winch_and_pulley() {
    use alloy_sol_types::{SolCall, SolValue, sol};
    sol! {
        function transfer(address to, uint256 amount) returns (bool);
        function checkLimit(uint256 amount, uint256 limit) returns (uint256);
        function store(uint256 key, uint256 value);
    }
    let artifact = |name: &str| {
        canister_evm::contracts::artifact(name).expect("a built-in artifact").bytecode.to_vec()
    };
    let dir = tempfile::tempdir().unwrap();
    let (config, signers) = durable_config(dir.path(), 100);
    let (mut node, _) = Node::start(canister_evm::CANISTER_WASM, config).unwrap();
    let mut nonces = [0u64; 3];
    let mut send = |node: &mut Node, from: usize, to: TxKind, input: Vec<u8>| {
        let raw =
            crate::signed_with_gas(&signers[from], nonces[from], to, U256::ZERO, input, 3_000_000);
        nonces[from] += 1;
        node.send_raw_transaction(&raw).unwrap().unwrap();
    };
    let alice = signers[0].address();
    let mut token_code = artifact("Token");
    token_code.extend(
        ("Token".to_string(), "TOK".to_string(), U256::from(1u64 << 60)).abi_encode_params(),
    );
    let token = alice.create(0);
    send(&mut node, 0, TxKind::Create, token_code);
    let tester = alice.create(1);
    send(&mut node, 0, TxKind::Create, artifact("Tester"));
    for i in 0..1_050u64 {
        let to = Address::from_word(alloy_primitives::keccak256(i.to_be_bytes()));
        match i % 10 {
            3 => send(
                &mut node,
                1,
                TxKind::Call(tester),
                checkLimitCall { amount: U256::from(9), limit: U256::from(1) }.abi_encode(),
            ),
            5 => send(
                &mut node,
                2,
                TxKind::Call(tester),
                storeCall { key: U256::from(i), value: U256::from(i) }.abi_encode(),
            ),
            7 => send(&mut node, 1, TxKind::Call(to), Vec::new()),
            _ => send(
                &mut node,
                0,
                TxKind::Call(token),
                transferCall { to, amount: U256::from(i + 1) }.abi_encode(),
            ),
        }
        if i % 100 == 50 {
            node.edit_account(AccountEdit {
                address: to.into(),
                balance: Some(Wei(U256::from(i))),
                ..Default::default()
            })
            .unwrap();
            node.mine().unwrap();
        }
    }
    // A snapshot, a few blocks, and a revert: later blocks reuse numbers.
    let snapshot = node.snapshot().unwrap();
    for _ in 0..3 {
        send(&mut node, 2, TxKind::Call(Address::repeat_byte(3)), Vec::new());
    }
    assert!(node.revert(snapshot).unwrap());
    let head = node.chain_info().unwrap().latest_block;
    assert!(head > 1_000, "{head} blocks");
    node.checkpoint().unwrap();
    drop(node);
    let chain = dir.path().join("chain");
    let mut hashes = Vec::new();
    for compiler in [Compiler::Winch, Compiler::Pulley] {
        let started = std::time::Instant::now();
        let outcome = verify(&chain, compiler, cache(), |_| {}).unwrap();
        let Outcome::Verified { blocks, messages, state_hash } = outcome else {
            panic!("{compiler:?}: {outcome:?}")
        };
        println!(
            "{compiler:?}: {messages} messages, {blocks} blocks verified in {:.1?}",
            started.elapsed()
        );
        assert_eq!(blocks, head);
        hashes.push(state_hash);
    }
    assert_eq!(hashes[0], hashes[1]);
}
