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
//! are in `exports.rs`) and natively as a library, so the same [`Chain`] is
//! unit-tested and benchmarked without a replica. Its Candid interface is
//! `evm.did`, which a test keeps equal to what the exports declare.
//!
//! Module map:
//! - `exports`: the ic-cdk boundary, thin: decode, call [`Chain`], encode;
//! - [`chain`]: genesis, block production, the pool, queries, simulation,
//!   logs, tracing and dev controls, one module each;
//! - [`evm`]: the one place revm is configured; [`cost_tracer`]: where a
//!   transaction's instructions go, frame by frame and opcode by opcode;
//! - [`http`]: Ethereum JSON-RPC over the IC's HTTP gateway interface
//!   (`http_request`, `http_request_update`), with `evm-jsonrpc`'s methods;
//! - [`secp256k1`]: public-key recovery, for senders and `ecrecover`;
//! - [`store`]: everything persisted in stable memory — the layout, record
//!   encodings, the state with history, the tries, and native stable memory.
//!
//! The canister never reads the clock or randomness itself: the current time
//! reaches [`Chain`] as an argument, read from `ic0.time` by the exports.

pub mod chain;
pub mod cost_tracer;
pub mod evm;
pub mod http;
pub mod secp256k1;
pub mod store;

mod exports;

pub use chain::{Chain, GenesisError};
pub use store::sparse::SparseMemory;

/// getrandom 0.2 (reached through the tracers' dependencies) needs a source
/// of randomness on wasm32-unknown-unknown. A canister has none that is
/// deterministic, and nothing it runs draws randomness: any attempt fails.
#[cfg(target_arch = "wasm32")]
fn no_randomness(_: &mut [u8]) -> Result<(), getrandom::Error> {
    Err(getrandom::Error::UNSUPPORTED)
}
#[cfg(target_arch = "wasm32")]
getrandom::register_custom_getrandom!(no_randomness);
