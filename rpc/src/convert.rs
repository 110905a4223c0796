//! Between JSON-RPC types (alloy) and the canister's Candid types: the
//! canister's own HTTP endpoint converts with the same functions.

pub use evm_jsonrpc::convert::*;
