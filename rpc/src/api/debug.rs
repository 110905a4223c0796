//! The `debug_` namespace: geth's tracers.

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::B256;
use alloy_rpc_types_eth::TransactionRequest;
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use serde::Serialize;
use serde_json::Value;

/// One transaction's trace in a block trace (geth's `txTraceResult`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TxTrace {
    pub tx_hash: B256,
    pub result: Value,
}

#[rpc(server, namespace = "debug")]
pub trait DebugApi {
    /// Handler for: debug_traceTransaction
    #[method(name = "traceTransaction")]
    async fn trace_transaction(&self, hash: B256, options: Option<Value>) -> RpcResult<Value>;

    /// Handler for: debug_traceCall
    #[method(name = "traceCall")]
    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        options: Option<Value>,
    ) -> RpcResult<Value>;

    /// Handler for: debug_traceBlockByNumber
    #[method(name = "traceBlockByNumber")]
    async fn trace_block_by_number(
        &self,
        number: BlockNumberOrTag,
        options: Option<Value>,
    ) -> RpcResult<Vec<TxTrace>>;

    /// Handler for: debug_traceBlockByHash
    #[method(name = "traceBlockByHash")]
    async fn trace_block_by_hash(
        &self,
        hash: B256,
        options: Option<Value>,
    ) -> RpcResult<Vec<TxTrace>>;
}
