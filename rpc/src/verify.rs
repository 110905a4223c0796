//! `canister-evm verify`: re-executes a chain from its genesis, alone and
//! offline, and checks that the result is the chain in the data directory.
//!
//! Replicated execution rests on determinism: given the same inputs, every
//! machine must produce the same blocks. The data directory keeps the
//! chain's whole input (`history/`: the install, then every update and
//! upgrade with its caller and time, see [`crate::storage`]). Verification
//! installs the first module with the genesis on a fresh canister, compiled
//! by the chosen compiler, executes every recorded message in order, and
//! compares every block hash and the final state hash with the chain the
//! directory holds. The first block that differs is reported with the
//! message that produced it, the first transaction that differs and both
//! hashes.

use std::path::Path;

use alloy_primitives::B256;
use canister_host::{Compiler, HostConfig};
use evm_canister_api::{BlockTag, BlockView, MinedBlock};

use crate::node::Queries as _;
use crate::node::{Clock, Node, NodeConfig};
use crate::storage::History;

/// What a verification found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every block and the final state are as recorded.
    Verified {
        blocks: u64,
        messages: usize,
        state_hash: [u8; 32],
    },
    Diverged(Box<Divergence>),
}

/// The first place the re-executed chain differs from the recorded one.
#[derive(Debug, PartialEq, Eq)]
pub enum Divergence {
    /// Block `number` has another hash.
    Block {
        number: u64,
        expected: B256,
        actual: B256,
        /// The message that produced the re-executed block: its sequence
        /// number and method.
        message: Option<(u64, String)>,
        /// The first transaction that differs: its index and both hashes
        /// (`None` on the side where the block has fewer).
        transaction: Option<(usize, Option<B256>, Option<B256>)>,
        /// The state roots of both blocks, when their transactions agree.
        state_roots: Option<(B256, B256)>,
    },
    /// The chains have different heads.
    Head { expected: u64, actual: u64 },
    /// Every block agrees but the canister's final state does not.
    State { expected: [u8; 32], actual: [u8; 32] },
}

/// How far verification has got.
#[derive(Clone, Copy, Debug)]
pub enum Progress {
    /// Messages executed of the history's.
    Executed { done: usize, total: usize, block: u64 },
    /// Blocks compared of the chain's.
    Compared { done: u64, total: u64 },
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Divergence::Block { number, expected, actual, message, transaction, state_roots } => {
                write!(
                    f,
                    "block {number} differs: expected hash {expected}, re-executed {actual}"
                )?;
                if let Some((seq, method)) = message {
                    write!(f, "\n  produced by message {seq} ({method})")?;
                }
                match transaction {
                    Some((index, expected, actual)) => {
                        let show = |hash: &Option<B256>| {
                            hash.map_or_else(|| "none".to_owned(), |h| h.to_string())
                        };
                        write!(
                            f,
                            "\n  transaction {index}: expected {}, re-executed {}",
                            show(expected),
                            show(actual)
                        )?;
                    }
                    None => write!(f, "\n  the same transactions, with another result")?,
                }
                if let Some((expected, actual)) = state_roots {
                    write!(f, "\n  state root: expected {expected}, re-executed {actual}")?;
                }
                Ok(())
            }
            Divergence::Head { expected, actual } => write!(
                f,
                "the chain's head is block {expected}, re-execution ends at block {actual}"
            ),
            Divergence::State { expected, actual } => write!(
                f,
                "every block agrees but the final state differs: expected state hash 0x{}, \
                 re-executed 0x{}",
                alloy_primitives::hex::encode(expected),
                alloy_primitives::hex::encode(actual)
            ),
        }
    }
}

/// Re-executes the chain in `dir` with `compiler` and compares it with the
/// chain the directory holds. Stop the node that uses `dir` first: opening
/// it recovers it as a start would.
pub fn verify(
    dir: &Path,
    compiler: Compiler,
    cache_dir: Option<std::path::PathBuf>,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<Outcome> {
    let history = History::read(dir)?;
    let host = HostConfig { cache_dir, track_state: true, ..HostConfig::default() };
    let (mut recorded, _) = Node::start(
        crate::CANISTER_WASM,
        NodeConfig {
            genesis: history.genesis.clone(),
            host: host.clone(),
            verify_with: None,
            clock: Clock::System,
            data_dir: Some(dir.to_owned()),
            checkpoint_interval: crate::storage::CHECKPOINT_INTERVAL,
        },
    )?;
    let (mut replica, _) = Node::start(
        &history.module,
        NodeConfig {
            genesis: history.genesis.clone(),
            host: HostConfig { compiler, ..host },
            verify_with: None,
            clock: Clock::Manual { start: history.install_time, step: 0 },
            data_dir: None,
            checkpoint_interval: crate::storage::CHECKPOINT_INTERVAL,
        },
    )?;

    // Which message last produced each block (a revert lets later ones
    // produce the same numbers again).
    let mut producers: Vec<Option<(u64, String)>> = vec![None];
    let total = history.records.len();
    let modules = |hash: &[u8; 32]| history.module(hash);
    let mut head = 0;
    for (done, record) in history.records.iter().enumerate() {
        let (seq, method) = (record.seq, record.method.clone());
        let replayed = replica.replay(&modules, record.clone())?;
        for MinedBlock { number, .. } in replayed.blocks {
            let number = number as usize;
            if producers.len() <= number {
                producers.resize(number + 1, None);
            }
            producers[number] = Some((seq, method.clone()));
            head = number as u64;
        }
        if done % 256 == 255 || done + 1 == total {
            progress(Progress::Executed { done: done + 1, total, block: head });
        }
    }

    let expected_head = recorded.chain_info()?.latest_block;
    let actual_head = replica.chain_info()?.latest_block;
    for number in 0..=expected_head.min(actual_head) {
        let expected = block(&mut recorded, number)?;
        let actual = block(&mut replica, number)?;
        if expected.hash != actual.hash {
            let message = producers.get(number as usize).cloned().flatten();
            return Ok(Outcome::Diverged(Box::new(difference(
                number, &expected, &actual, message,
            ))));
        }
        if number % 1024 == 1023 || number == expected_head.min(actual_head) {
            progress(Progress::Compared { done: number + 1, total: expected_head + 1 });
        }
    }
    if expected_head != actual_head {
        return Ok(Outcome::Diverged(Box::new(Divergence::Head {
            expected: expected_head,
            actual: actual_head,
        })));
    }
    let state = |node: &Node| node.state_hash().expect("the host tracks the state hash");
    let (expected, actual) = (state(&recorded), state(&replica));
    if expected != actual {
        return Ok(Outcome::Diverged(Box::new(Divergence::State { expected, actual })));
    }
    Ok(Outcome::Verified { blocks: expected_head, messages: total, state_hash: actual })
}

fn block(node: &mut Node, number: u64) -> anyhow::Result<BlockView> {
    node.block(BlockTag::Number(number), false)?
        .ok_or_else(|| anyhow::anyhow!("block {number} is missing"))
}

/// How two blocks of the same number differ.
fn difference(
    number: u64,
    expected: &BlockView,
    actual: &BlockView,
    message: Option<(u64, String)>,
) -> Divergence {
    let longest = expected.transactions.len().max(actual.transactions.len());
    let transaction = (0..longest).find_map(|i| {
        let (e, a) = (expected.transactions.get(i), actual.transactions.get(i));
        (e != a).then(|| (i, e.map(|h| h.0), a.map(|h| h.0)))
    });
    let state_root = |block: &BlockView| {
        use alloy_rlp::Decodable as _;
        alloy_consensus::Header::decode(&mut block.header.as_slice()).ok().map(|h| h.state_root)
    };
    let state_roots = match (transaction, state_root(expected), state_root(actual)) {
        (None, Some(e), Some(a)) => Some((e, a)),
        _ => None,
    };
    Divergence::Block {
        number,
        expected: expected.hash.0,
        actual: actual.hash.0,
        message,
        transaction,
        state_roots,
    }
}
