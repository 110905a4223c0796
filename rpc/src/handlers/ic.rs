//! `ic_` handlers.

use alloy_primitives::{B256, U64, U128};
use jsonrpsee::core::{RpcResult, async_trait};

use super::Handlers;
use crate::api::ic::{CanisterInfo, IcApiServer, TransactionCost};

#[async_trait]
impl IcApiServer for Handlers {
    async fn canister_info(&self) -> RpcResult<CanisterInfo> {
        let info = self.node.run(|node| Ok(node.canister_status())).await?;
        Ok(CanisterInfo {
            module_hash: B256::from(info.module_hash),
            canister_version: U64::from(info.version),
            cycles: U128::from(info.cycles),
            heap_bytes: U64::from(info.heap_bytes),
            host_memory_bytes: U64::from(info.host_memory_bytes),
            stable_memory_bytes: U64::from(info.stable_bytes),
            stable_memory_resident_bytes: U64::from(info.stable_resident_bytes),
            cost_ledger_bytes: U64::from(info.cost_ledger_bytes),
            durable: info.durable,
            verifying: info.verifying,
        })
    }

    async fn transaction_cost(&self, hash: B256) -> RpcResult<Option<TransactionCost>> {
        let cost = self.node.run(move |node| Ok(node.transaction_cost(hash))).await?;
        Ok(cost.map(|cost| TransactionCost {
            gas_used: U64::from(cost.gas_used),
            wasm_instructions: U64::from(cost.instructions),
            cycles: U128::from(cost.cycles),
            stable_bytes_written: U64::from(cost.stable_bytes_written),
            cost_breakdown: cost.breakdown.map(Into::into),
        }))
    }
}
