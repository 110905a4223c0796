//! The Candid interface of the EVM canister.
//!
//! These types are shared by the canister (which implements the methods) and by
//! its clients, such as the JSON-RPC node, which encode calls with them. The
//! crate deliberately does not depend on revm: a client can speak to the
//! canister without linking an EVM.
//!
//! Conventions:
//! - 20- and 32-byte values (addresses, hashes, storage words) are Candid
//!   `blob`s of exactly that length ([`Address`], [`Hash`](struct@Hash)).
//! - Amounts of wei are Candid `nat` ([`Wei`]), as balances are on ICP.
//! - Ethereum encodings are passed through unchanged where a standard one
//!   exists: transactions as EIP-2718 bytes, headers as RLP, receipts as
//!   EIP-2718 receipt envelopes. Clients decode them with alloy.
//! - Invalid transactions are values of [`TxError`], never traps: the canister
//!   validates before it writes, so an error leaves state untouched.

mod bytes;
pub mod encode;
pub mod http;
mod types;

pub use bytes::{Address, Hash, Wei};

/// Most blocks one `get_logs` scans ([`LogFilter::max_blocks`] may lower it).
pub const MAX_LOG_BLOCK_RANGE: u64 = 100_000;
/// Most logs one `get_logs` returns ([`LogFilter::max_logs`] may lower it).
pub const MAX_LOGS: u64 = 10_000;
/// Largest trace, as JSON, a query returns: a reply is at most 3 MiB.
pub const MAX_TRACE_BYTES: usize = 3 * 1024 * 1024 - 64 * 1024;
pub use types::*;
