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
    /// Where the instructions went; the phases add up to `wasmInstructions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_breakdown: Option<CostBreakdown>,
}

/// Where a transaction's wasm instructions went (`costBreakdown` in
/// receipts and `ic_getTransactionCost`). The phases add up to its
/// `wasmInstructions` exactly. The first five are the transaction's own,
/// measured inside the canister with `ic0.performance_counter`; `blockSeal`
/// and `other` are its share (by its own instructions) of sealing its block
/// and of the rest of the canister message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostBreakdown {
    /// Decoding the signed transaction.
    pub decoding: U64,
    /// Recovering the sender from the signature (0 when impersonated, or
    /// when the transaction waited in the pool: recovered on arrival).
    pub sender_recovery: U64,
    /// The chain's checks before the EVM: chain id, nonce, pool, block gas.
    pub validation: U64,
    /// revm executing it.
    pub evm_execution: U64,
    /// Writing the state it changed to stable memory, and its receipt.
    pub state_write: U64,
    /// Its share of sealing the block: tries, state root, storing.
    pub block_seal: U64,
    /// Its share of the rest of the message (Candid, pool, host charges).
    pub other: U64,
}

impl From<crate::cost::CostBreakdown> for CostBreakdown {
    fn from(b: crate::cost::CostBreakdown) -> Self {
        Self {
            decoding: U64::from(b.decoding),
            sender_recovery: U64::from(b.sender_recovery),
            validation: U64::from(b.validation),
            evm_execution: U64::from(b.evm_execution),
            state_write: U64::from(b.state_write),
            block_seal: U64::from(b.block_seal),
            other: U64::from(b.other),
        }
    }
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
    /// written, in blocks of 1 MiB (it grows with the chain).
    pub stable_memory_resident_bytes: U64,
    /// What the node holds in memory of what each transaction cost (the
    /// cost ledger's map): it grows with the chain.
    pub cost_ledger_bytes: U64,
    /// What the replicas that answer queries hold in memory: a copy of the
    /// canister's memory each (it grows with the chain too).
    pub query_replica_bytes: U64,
    /// Queries (and traps) that had grown the canister's heap, so that the
    /// host put the committed state into a fresh instance, a copy of the
    /// whole heap, to undo them (linear memory cannot shrink). It stays
    /// near 0 while queries allocate within the free memory updates leave.
    pub fresh_instances: U64,
    /// Whether the chain is kept in a data directory.
    pub durable: bool,
    /// Whether every message is cross-checked on Winch.
    pub verifying: bool,
}

/// The chain's cost settings and what it has cost so far: `ic_costSummary`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostSummary {
    /// Where the fee table comes from (the replica's source, pinned).
    pub fee_table_version: String,
    /// The subnet size the fees are for.
    pub subnet_size: U64,
    /// Cycles per Wasm instruction of an update (wasm32).
    pub cycles_per_instruction: f64,
    pub fees: Fees,
    pub totals: CostTotals,
}

/// The pinned fee table, in cycles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fees {
    pub update_message_execution: U128,
    pub ten_update_instructions_execution: U128,
    pub ten_update_instructions_execution_wasm64: U128,
    pub ingress_message_reception: U128,
    pub ingress_byte_reception: U128,
    pub xnet_call: U128,
    pub xnet_byte_transmission: U128,
    pub canister_creation: U128,
}

/// What every transaction the node executed cost, added up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostTotals {
    pub transactions: U64,
    pub gas_used: U128,
    pub wasm_instructions: U128,
    pub cycles: U128,
    pub stable_bytes_written: U128,
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

    /// Handler for: ic_costSummary — the fee table the node charges by, and
    /// the gas, instructions and cycles of every transaction it executed.
    #[method(name = "costSummary")]
    async fn cost_summary(&self) -> RpcResult<CostSummary>;
}
