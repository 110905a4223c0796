//! The `ic_` namespace: the canister and what transactions cost as wasm.

use alloy_primitives::{B256, U64, U128};
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use serde::{Deserialize, Serialize};

/// What a transaction cost: `ic_getTransactionCost`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionCost {
    pub gas_used: U64,
    /// Wasm instructions of the canister message that included it.
    pub wasm_instructions: U64,
    /// Cycles the canister paid for that message (13-node subnet fees).
    pub cycles: U128,
    /// Bytes written to the canister's stable memory.
    pub stable_bytes_written: U64,
}

/// The installed canister: `ic_canisterInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanisterInfo {
    /// SHA-256 of the wasm module.
    pub module_hash: B256,
    /// `ic0.canister_version`: bumped by every update, install and upgrade.
    pub canister_version: U64,
    pub cycles: U128,
    pub heap_bytes: U64,
    /// Linear memory the host holds for the canister, over all the
    /// instances its store has had: `heapBytes`, unless memory leaks.
    pub host_memory_bytes: U64,
    pub stable_memory_bytes: U64,
    /// What the node holds in memory of the stable memory: the pages ever
    /// written (it grows with the chain).
    pub stable_memory_resident_bytes: U64,
    /// Whether the chain is kept in a data directory.
    pub durable: bool,
    /// Whether every message is cross-checked on Winch.
    pub verifying: bool,
}

#[rpc(server, namespace = "ic")]
pub trait IcApi {
    /// Handler for: ic_canisterInfo — the module, version, cycles and memory
    /// of the EVM canister.
    #[method(name = "canisterInfo")]
    async fn canister_info(&self) -> RpcResult<CanisterInfo>;

    /// Handler for: ic_getTransactionCost — gas, wasm instructions, cycles and
    /// stable-memory bytes of a transaction this node included.
    #[method(name = "getTransactionCost")]
    async fn transaction_cost(&self, hash: B256) -> RpcResult<Option<TransactionCost>>;
}
