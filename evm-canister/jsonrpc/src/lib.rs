//! Ethereum JSON-RPC over the EVM canister's interface, written once for
//! both places that serve it.
//!
//! The node (`canister-evm`) answers JSON-RPC with jsonrpsee and reaches the
//! canister through Candid calls on its host; the canister answers JSON-RPC
//! itself through the IC's HTTP interface (`http_request`,
//! `http_request_update`), so that on the Internet Computer a wallet can talk
//! to it at `https://<canister-id>.raw.icp0.io` with no node in between. Both
//! see the chain through [`Backend`], the canister's query and update methods
//! with their Candid types, and both answer with the same [`eth`] methods:
//! the same alloy types, the same conversions ([`convert`]), the same error
//! codes and wording ([`error`]).
//!
//! [`dispatch`] is the JSON-RPC 2.0 envelope (single requests and batches,
//! methods by name, positional parameters) over the core `eth_` methods, for
//! the canister, which has no jsonrpsee. What only a development node has —
//! its accounts and signing, filters, subscriptions, dev controls, tracing —
//! stays in the node.
//!
//! The crate builds for `wasm32-unknown-unknown`.

pub mod backend;
pub mod convert;
pub mod dispatch;
pub mod error;
pub mod eth;
pub mod quantity;

pub use backend::Backend;
pub use error::RpcError;
pub use quantity::Quantity;
