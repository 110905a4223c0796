//! Fuzzing the data directory: every file flipped or truncated at a random
//! offset. Opening the directory must then refuse with an error that names
//! the damaged file, or give back exactly the chain that was there — never
//! a different one. Truncating the journal is the one damage a crash also
//! causes (a torn last write): the node then opens, and its chain is the
//! original one up to some block.
//!
//! `CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true PROPTEST_CASES=2000 cargo test --release -p canister-evm --test it fuzz_datadir`
//! runs a long campaign.

use canister_evm::node::Queries as _;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use alloy_primitives::{Address, B256};
use canister_evm::node::{Node, NodeConfig};
use evm_canister_api::BlockTag;
use proptest::prelude::*;

/// A pristine data directory, what it holds, and the files in it.
struct Reference {
    _dir: tempfile::TempDir,
    chain: PathBuf,
    config: NodeConfig,
    /// Block hashes from genesis to the head.
    blocks: Vec<B256>,
    /// The recorded costs of every transaction, and balances.
    state: String,
    files: Vec<PathBuf>,
}

fn config(chain: &Path) -> NodeConfig {
    let (mut config, _) = crate::durable_config(chain.parent().unwrap(), 1_000);
    config.data_dir = Some(chain.to_owned());
    config
}

/// What the chain is: its blocks, and the state of what the tests touch.
fn describe(node: &mut Node) -> (Vec<B256>, String) {
    let head = node.chain_info().unwrap().latest_block;
    let mut blocks = Vec::new();
    let mut costs = Vec::new();
    for number in 0..=head {
        let block = node.block(BlockTag::Number(number), false).unwrap().unwrap();
        blocks.push(block.hash.0);
        for tx in block.transactions {
            costs.push(format!("{:?}", node.transaction_cost(tx.0)));
        }
    }
    let balance = node.account(Address::repeat_byte(0x42).into(), BlockTag::Latest).unwrap();
    (blocks, format!("{costs:?} {balance:?}"))
}

static REFERENCE: LazyLock<Reference> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    let config = config(&chain);
    let (mut node, _) = Node::start(canister_evm::CANISTER_WASM, config.clone()).unwrap();
    let signers = canister_evm::devchain::DevChain {
        accounts: 3,
        timestamp: 1_700_000_000,
        ..Default::default()
    }
    .signers();
    // Some blocks in the checkpoint, some only in the journal.
    for nonce in 0..3 {
        node.send_raw_transaction(&crate::transfer(&signers[0], nonce)).unwrap().unwrap();
    }
    node.checkpoint().unwrap();
    for nonce in 3..6 {
        node.send_raw_transaction(&crate::transfer(&signers[0], nonce)).unwrap().unwrap();
    }
    let (blocks, state) = describe(&mut node);
    drop(node);
    let mut files = Vec::new();
    let mut stack = vec![chain.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Reference { _dir: dir, chain, config, blocks, state, files }
});

/// Copies `from` to `to`, keeping holes (`stable.img` is sparse and large).
fn copy_sparse(from: &Path, to: &Path) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut source = std::fs::File::open(from).unwrap();
    let mut target = std::fs::File::create(to).unwrap();
    let len = source.metadata().unwrap().len();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut at = 0;
    while at < len {
        let n = source.read(&mut chunk).unwrap();
        if chunk[..n].iter().any(|&b| b != 0) {
            target.seek(SeekFrom::Start(at)).unwrap();
            target.write_all(&chunk[..n]).unwrap();
        }
        at += n as u64;
    }
    target.set_len(len).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            copy_sparse(&path, &target);
        }
    }
}

#[derive(Clone, Debug)]
enum Damage {
    Flip { at: u64, bit: u8 },
    Truncate { at: u64 },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<u64>(), 0..8u8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        any::<u64>().prop_map(|at| Damage::Truncate { at }),
    ]
}

/// Applies `damage` to `path`; returns the offset it hit.
fn apply(path: &Path, damage: &Damage) -> u64 {
    use std::io::{Read, Seek, SeekFrom, Write};
    let len = std::fs::metadata(path).unwrap().len();
    if len == 0 {
        return 0;
    }
    match *damage {
        Damage::Flip { at, bit } => {
            let at = at % len;
            let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
            let mut byte = [0u8];
            file.seek(SeekFrom::Start(at)).unwrap();
            file.read_exact(&mut byte).unwrap();
            byte[0] ^= 1 << bit;
            file.seek(SeekFrom::Start(at)).unwrap();
            file.write_all(&byte).unwrap();
            at
        }
        Damage::Truncate { at } => {
            let at = at % len;
            std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(at).unwrap();
            at
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        // Each case opens a chain: fewer than the other targets.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_damaged_data_directory_is_refused_or_unchanged(
        which in any::<prop::sample::Index>(),
        damage in damage(),
    ) {
        let reference = &*REFERENCE;
        let work = tempfile::tempdir().unwrap();
        let chain = work.path().join("chain");
        copy_dir(&reference.chain, &chain);
        let original = &reference.files[which.index(reference.files.len())];
        let relative = original.strip_prefix(&reference.chain).unwrap();
        let path = chain.join(relative);
        let at = apply(&path, &damage);
        let what = format!("{damage:?} of {} at byte {at}", relative.display());

        let mut config = reference.config.clone();
        config.data_dir = Some(chain.clone());
        let opened = std::panic::catch_unwind(|| {
            Node::start(canister_evm::CANISTER_WASM, config)
        });
        let Ok(opened) = opened else {
            return Err(TestCaseError::fail(format!("opening panicked after {what}")));
        };
        let journal = relative.starts_with("journal");
        match opened {
            Err(error) => {
                let message = format!("{error:#}");
                let name = relative.file_name().unwrap().to_string_lossy().into_owned();
                let named = message.contains(&name)
                    || (relative.starts_with("state") && message.contains("checkpoint"));
                prop_assert!(named, "{}: the error does not name the file: {}", what, message);
            }
            Ok((mut node, _)) => {
                let (blocks, state) = describe(&mut node);
                if journal && matches!(damage, Damage::Truncate { .. }) {
                    // As after a crash: the chain up to some block.
                    prop_assert!(blocks.len() <= reference.blocks.len(), "{}", what);
                    prop_assert_eq!(&blocks[..], &reference.blocks[..blocks.len()], "{}", what);
                } else {
                    prop_assert_eq!(&blocks, &reference.blocks, "{} was accepted", what);
                    prop_assert_eq!(&state, &reference.state, "{} was accepted", what);
                }
            }
        }
    }
}
