//! An ICP canister that is an Ethereum chain.
//!
//! The canister runs [revm] over world state kept in stable memory with
//! `ic-stable-structures`, so the chain outlives upgrades and never has to be
//! copied in or out of the heap. It accepts signed Ethereum transactions
//! (EIP-2718 bytes), validates and executes them, and seals one block per
//! transaction. Query methods answer what Ethereum JSON-RPC needs: accounts,
//! code, storage, blocks, transactions, receipts, logs, fee history,
//! `eth_call` and gas estimation — at any block, since history is kept.
//!
//! The crate builds for `wasm32-unknown-unknown` as a canister (the exports
//! are in `canister.rs`) and natively as a library, so the same [`Chain`] is
//! unit-tested and benchmarked without a replica. Its Candid interface is
//! `evm.did`, which a test keeps equal to what the exports declare.
//!
//! Module map:
//! - [`chain`]: genesis, block production, queries;
//! - [`state`]: accounts, storage and code with history, as a revm database;
//! - [`evm`]: the one place revm is configured;
//! - [`trie`]: the state and storage Merkle-Patricia tries, updated per block;
//! - [`layout`] and [`records`]: what lives where in stable memory, and how it
//!   is encoded;
//! - [`sparse`]: stable memory for running a chain natively.
//!
//! The canister never reads the clock or randomness itself: the current time
//! reaches [`Chain`] as an argument, read from `ic0.time` by the exports.

pub mod chain;
mod dev;
pub mod evm;
pub mod layout;
mod overrides;
mod pool;
pub mod records;
pub mod sparse;
pub mod state;
mod trace;
pub mod trie;

mod canister;

pub use chain::{Chain, GenesisError};
pub use sparse::SparseMemory;

/// getrandom 0.2 (reached through the tracers' dependencies) needs a source
/// of randomness on wasm32-unknown-unknown. A canister has none that is
/// deterministic, and nothing it runs draws randomness: any attempt fails.
#[cfg(target_arch = "wasm32")]
fn no_randomness(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}
#[cfg(target_arch = "wasm32")]
getrandom::register_custom_getrandom!(no_randomness);
