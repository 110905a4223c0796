//! `ic_` handlers.

use alloy_primitives::{B256, U64, U128};
use jsonrpsee::core::{RpcResult, async_trait};

use super::Handlers;
use canister_host::fees::{FEE_TABLE_VERSION, FEES, SUBNET_SIZE};

use crate::api::ic::{CanisterInfo, CostSummary, CostTotals, Fees, IcApiServer, TransactionCost};
use crate::node::Queries as _;

#[async_trait]
impl IcApiServer for Handlers {
    async fn canister_info(&self) -> RpcResult<CanisterInfo> {
        let (info, fresh_instances) =
            self.node.run(|node| Ok((node.canister_status(), node.fresh_instances()))).await?;
        let query_replica_bytes = self.node.reader_bytes().await;
        let fresh_instances = fresh_instances + self.node.reader_fresh_instances().await;
        Ok(CanisterInfo {
            module_hash: B256::from(info.module_hash),
            canister_version: U64::from(info.version),
            cycles: U128::from(info.cycles),
            heap_bytes: U64::from(info.heap_bytes),
            host_memory_bytes: U64::from(info.host_memory_bytes),
            stable_memory_bytes: U64::from(info.stable_bytes),
            stable_memory_resident_bytes: U64::from(info.stable_resident_bytes),
            cost_ledger_bytes: U64::from(info.cost_ledger_bytes),
            query_replica_bytes: U64::from(query_replica_bytes),
            fresh_instances: U64::from(fresh_instances),
            durable: info.durable,
            verifying: info.verifying,
        })
    }

    async fn transaction_cost(&self, hash: B256) -> RpcResult<Option<TransactionCost>> {
        let cost = self.node.read(move |node| Ok(node.transaction_cost(hash))).await?;
        Ok(cost.map(|cost| TransactionCost {
            gas_used: U64::from(cost.gas_used),
            wasm_instructions: U64::from(cost.instructions),
            cycles: U128::from(cost.cycles),
            stable_bytes_written: U64::from(cost.stable_bytes_written),
            cost_breakdown: cost.breakdown.map(Into::into),
        }))
    }

    async fn cost_summary(&self) -> RpcResult<CostSummary> {
        let totals = self.node.run(|node| Ok(node.cost_totals())).await?;
        Ok(CostSummary {
            fee_table_version: FEE_TABLE_VERSION.to_owned(),
            subnet_size: U64::from(SUBNET_SIZE),
            cycles_per_instruction: FEES.ten_update_instructions_execution_fee as f64 / 10.0,
            fees: Fees {
                update_message_execution: U128::from(FEES.update_message_execution_fee),
                ten_update_instructions_execution: U128::from(
                    FEES.ten_update_instructions_execution_fee,
                ),
                ten_update_instructions_execution_wasm64: U128::from(
                    FEES.ten_update_instructions_execution_fee_wasm64,
                ),
                ingress_message_reception: U128::from(FEES.ingress_message_reception_fee),
                ingress_byte_reception: U128::from(FEES.ingress_byte_reception_fee),
                xnet_call: U128::from(FEES.xnet_call_fee),
                xnet_byte_transmission: U128::from(FEES.xnet_byte_transmission_fee),
                canister_creation: U128::from(FEES.canister_creation_fee),
            },
            totals: CostTotals {
                transactions: U64::from(totals.transactions),
                gas_used: U128::from(totals.gas_used),
                wasm_instructions: U128::from(totals.instructions),
                cycles: U128::from(totals.cycles),
                stable_bytes_written: U128::from(totals.stable_bytes_written),
            },
        })
    }
}
