//! `canister-evm verify`: a chain re-executed from its history, on either
//! compiler, is the chain in its data directory; a tampered transaction is
//! found, with its block.

use alloy_primitives::{Address, TxKind, U256};
use canister_evm::node::Node;
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
fn a_chain_re_executed_on_either_compiler_is_the_chain_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let head = make_chain(dir.path());
    let chain = dir.path().join("chain");
    let archived = std::fs::read_dir(chain.join("history")).unwrap().count();
    assert!(archived > 2, "checkpoints archived the journal ({archived} files)");
    let mut hashes = Vec::new();
    for compiler in [Compiler::Cranelift, Compiler::Winch] {
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
    assert_eq!(hashes[0], hashes[1]);
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
