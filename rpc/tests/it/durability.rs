//! The chain in a data directory: restarts, crashes, upgrades, corruption.

use canister_evm::node::Queries as _;
use std::path::Path;

use alloy_primitives::{Address, U256};
use canister_evm::node::{Node, NodeConfig};
use canister_host::{Trap, UpgradeError};
use evm_canister_api::{BlockTag, ChainInfo};

use crate::transfer;

fn config(
    dir: &Path,
    checkpoint_interval: u64,
) -> (NodeConfig, Vec<alloy_signer_local::PrivateKeySigner>) {
    crate::durable_config(dir, checkpoint_interval)
}

fn start(config: &NodeConfig) -> (Node, usize) {
    let (node, recovery) = Node::start(canister_evm::CANISTER_WASM, config.clone()).unwrap();
    (node, recovery.replayed)
}

/// What must survive: the chain's head, and every block hash and balance.
fn fingerprint(node: &mut Node) -> (ChainInfo, Vec<[u8; 32]>, U256) {
    let info = node.chain_info().unwrap();
    let hashes = (0..=info.latest_block)
        .map(|n| node.block(BlockTag::Number(n), false).unwrap().unwrap().hash.0.0)
        .collect();
    let balance = node
        .account(Address::repeat_byte(0x42).into(), BlockTag::Latest)
        .unwrap()
        .unwrap()
        .balance
        .0;
    (info, hashes, balance)
}

#[test]
fn a_restarted_node_continues_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (config, signers) = config(dir.path(), 1_000);
    let (mut node, _) = start(&config);
    assert!(node.durable());
    let mut hashes = Vec::new();
    for nonce in 0..5 {
        hashes.push(
            node.send_raw_transaction(&transfer(&signers[0], nonce))
                .unwrap()
                .unwrap()
                .result
                .tx_hash,
        );
    }
    let before = fingerprint(&mut node);
    let cost = node.transaction_cost(hashes[2].0).unwrap();
    // Dropped without a checkpoint, as a crash would: the journal has it all.
    drop(node);

    let (mut node, replayed) = start(&config);
    assert_eq!(replayed, 5);
    assert_eq!(fingerprint(&mut node), before);
    assert_eq!(node.transaction_cost(hashes[2].0), Some(cost), "costs survive too");
    for hash in &hashes {
        assert!(node.receipt(*hash).unwrap().is_some());
    }
    // And it goes on from there.
    node.send_raw_transaction(&transfer(&signers[0], 5)).unwrap().unwrap();
    node.checkpoint().unwrap();
    let after = fingerprint(&mut node);
    drop(node);
    let (mut node, replayed) = start(&config);
    assert_eq!(replayed, 0, "a checkpoint leaves nothing to replay");
    assert_eq!(fingerprint(&mut node), after);
    assert_eq!(after.0.latest_block, 6);
}

#[test]
fn checkpoints_happen_on_their_own_and_keep_the_journal_short() {
    let dir = tempfile::tempdir().unwrap();
    let (config, signers) = config(dir.path(), 4);
    let (mut node, _) = start(&config);
    for nonce in 0..10 {
        node.send_raw_transaction(&transfer(&signers[0], nonce)).unwrap().unwrap();
    }
    let before = fingerprint(&mut node);
    drop(node);
    let (mut node, replayed) = start(&config);
    assert_eq!(replayed, 2, "checkpoints after messages 4 and 8");
    assert_eq!(fingerprint(&mut node), before);
}

#[test]
fn an_upgrade_keeps_the_chain_and_brings_the_new_method() {
    let dir = tempfile::tempdir().unwrap();
    let (config, signers) = config(dir.path(), 1_000);
    let (mut node, _) = start(&config);
    node.send_raw_transaction(&transfer(&signers[0], 0)).unwrap().unwrap();
    let before = fingerprint(&mut node);
    let old_module = node.module_hash();
    assert!(node.query_raw("upgrade_probe", &candid::encode_args(()).unwrap()).is_err());

    node.upgrade(test_canisters::EVM_PROBE, &candid::encode_args(()).unwrap()).unwrap().unwrap();
    assert_ne!(node.module_hash(), old_module);
    let probe = node.query_raw("upgrade_probe", &candid::encode_args(()).unwrap()).unwrap();
    assert_eq!(candid::decode_one::<String>(&probe).unwrap(), "upgraded; head block 1");
    assert_eq!(fingerprint(&mut node), before);
    node.send_raw_transaction(&transfer(&signers[0], 1)).unwrap().unwrap();
    let after = fingerprint(&mut node);

    // The upgraded canister is what a restart runs.
    drop(node);
    let (mut node, _) = start(&config);
    assert_ne!(node.module_hash(), old_module);
    assert_eq!(fingerprint(&mut node), after);
}

#[test]
fn a_failed_upgrade_leaves_the_old_canister_running() {
    let dir = tempfile::tempdir().unwrap();
    let (config, signers) = config(dir.path(), 1_000);
    let (mut node, _) = start(&config);
    node.send_raw_transaction(&transfer(&signers[0], 0)).unwrap().unwrap();
    let before = fingerprint(&mut node);
    let module = node.module_hash();

    let trap = candid::encode_one(Some("trap")).unwrap();
    let error = node.upgrade(test_canisters::EVM_PROBE, &trap).unwrap().unwrap_err();
    assert!(matches!(error, UpgradeError::PostUpgradeTrapped(Trap::Explicit(_))), "{error:?}");
    let error = node.upgrade(b"not wasm", &[]).unwrap().unwrap_err();
    assert!(matches!(error, UpgradeError::Install(_)), "{error:?}");

    assert_eq!(node.module_hash(), module);
    assert_eq!(fingerprint(&mut node), before);
    node.send_raw_transaction(&transfer(&signers[0], 1)).unwrap().unwrap();
    let after = fingerprint(&mut node);
    // Replaying the journal fails the upgrades again, the same way.
    drop(node);
    let (mut node, _) = start(&config);
    assert_eq!(node.module_hash(), module);
    assert_eq!(fingerprint(&mut node), after);
}

#[test]
fn a_verifying_node_replays_on_both_compilers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut config, signers) = config(dir.path(), 1_000);
    config.verify_with = Some(canister_host::Compiler::Winch);
    let (mut node, _) = start(&config);
    for nonce in 0..3 {
        node.send_raw_transaction(&transfer(&signers[0], nonce)).unwrap().unwrap();
    }
    let before = fingerprint(&mut node);
    drop(node);
    let (mut node, replayed) = start(&config);
    assert_eq!(replayed, 3);
    assert!(node.verifying());
    assert_eq!(fingerprint(&mut node), before);
    node.send_raw_transaction(&transfer(&signers[0], 3)).unwrap().unwrap();
}

#[test]
fn a_damaged_directory_is_an_error_never_a_new_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (config, signers) = config(dir.path(), 1_000);
    let (mut node, _) = start(&config);
    node.send_raw_transaction(&transfer(&signers[0], 0)).unwrap().unwrap();
    node.checkpoint().unwrap();
    drop(node);
    let chain = dir.path().join("chain");
    let error_of = |config: &NodeConfig| {
        format!("{:#}", Node::start(canister_evm::CANISTER_WASM, config.clone()).err().unwrap())
    };

    // Flip one byte of stable memory.
    let stable = chain.join("state/stable.img");
    let pristine = std::fs::read(&stable).unwrap();
    let mut bytes = pristine.clone();
    let at = bytes.iter().position(|&b| b != 0).unwrap();
    bytes[at] ^= 0x40;
    std::fs::write(&stable, &bytes).unwrap();
    assert!(error_of(&config).contains("stable.img is corrupted"), "{}", error_of(&config));
    std::fs::write(&stable, &pristine).unwrap();

    // Truncate it.
    std::fs::File::options().write(true).open(&stable).unwrap().set_len(1000).unwrap();
    assert!(error_of(&config).contains("stable.img is truncated"), "{}", error_of(&config));
    std::fs::write(&stable, &pristine).unwrap();

    // Damage the genesis.
    let genesis = chain.join("genesis");
    let pristine_genesis = std::fs::read(&genesis).unwrap();
    std::fs::write(&genesis, &pristine_genesis[..20]).unwrap();
    assert!(error_of(&config).contains("not a valid genesis file"), "{}", error_of(&config));
    std::fs::write(&genesis, &pristine_genesis).unwrap();

    // A data directory that is a file cannot hold a chain.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let mut elsewhere = config.clone();
    elsewhere.data_dir = Some(file.join("chain"));
    assert!(Node::start(canister_evm::CANISTER_WASM, elsewhere).is_err());

    // Intact again, the chain is all there.
    let (mut node, _) = start(&config);
    assert_eq!(node.chain_info().unwrap().latest_block, 1);
}
