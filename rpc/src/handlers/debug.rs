//! The `debug_` namespace: geth's tracers, executed inside the canister.
//!
//! The canister takes the tracer options as JSON and answers with the trace
//! as JSON (revm-inspectors' geth types, the format geth, reth and anvil
//! share), so every built-in tracer works: the default struct logger,
//! `callTracer`, `prestateTracer`, `4byteTracer`, `flatCallTracer`, …, and
//! our `costTracer`, which the node completes with cycles and the phases it
//! recorded (`cost_trace`).

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::B256;
use alloy_rpc_types_eth::TransactionRequest;
use evm_canister_api::{BlockTag, Hash, QueryError};
use jsonrpsee::core::{RpcResult, async_trait};
use serde_json::Value;

use super::{Handlers, cost_trace};
use crate::api::debug::{DebugApiServer, TxTrace};
use crate::convert;
use crate::cost::TxCost;
use crate::error::{self, invalid_params};
use crate::node::Queries as _;

/// The options as the canister takes them. `debug_traceCall`'s state and
/// block overrides are not supported, and say so rather than being ignored.
fn options_json(options: Option<Value>) -> RpcResult<String> {
    let options = options.unwrap_or(Value::Null);
    for unsupported in ["stateOverrides", "blockOverrides"] {
        if options.get(unsupported).is_some_and(|v| !v.is_null()) {
            return Err(invalid_params(format!("{unsupported} are not supported in traces")));
        }
    }
    Ok(options.to_string())
}

fn parse(json: String) -> RpcResult<Value> {
    serde_json::from_str(&json)
        .map_err(|e| error::internal(format!("the canister's trace is not JSON: {e}")))
}

/// Refuses a trace (or the traces of a block) of `bytes` bytes beyond
/// `--max-trace-bytes`.
fn check_size(bytes: usize, limit: usize) -> RpcResult<()> {
    if bytes > limit {
        return Err(error::limit_exceeded(format!(
            "the trace is {bytes} bytes, more than --max-trace-bytes ({limit}); trace with \
             {{\"disableStack\": true}}, a \"limit\", or the callTracer"
        )));
    }
    Ok(())
}

impl Handlers {
    async fn trace_tx(&self, hash: B256, options: Option<Value>) -> RpcResult<Value> {
        let costs = cost_trace::is_cost_tracer(&options);
        let options = options_json(options)?;
        let trace = self.node().read(move |node| {
            let cost = if costs { node.transaction_cost(hash) } else { None };
            Ok(node.trace_transaction(hash.into(), options)?.map(|found| found.map(|t| (t, cost))))
        });
        match trace.await?.map_err(|e| error::query_error(&e))? {
            Some((json, cost)) => {
                check_size(json.len(), self.node().limits().max_trace_bytes)?;
                let mut trace = parse(json)?;
                if costs {
                    cost_trace::complete(&mut trace, cost.as_ref());
                }
                Ok(trace)
            }
            None => Err(error::server_error(format!("transaction {hash} not found"))),
        }
    }

    async fn trace_block(&self, tag: BlockTag, options: Option<Value>) -> RpcResult<Vec<TxTrace>> {
        let costs = cost_trace::is_cost_tracer(&options);
        let options = options_json(options)?;
        let traces = self
            .node()
            .read(move |node| {
                let traces = node.trace_block(tag, options)?;
                Ok(traces.map(|traces| {
                    let cost = |hash: &Hash| costs.then(|| node.transaction_cost(hash.0)).flatten();
                    traces.into_iter().map(|(hash, json)| (cost(&hash), hash, json)).collect()
                }))
            })
            .await?;
        let traces: Vec<(Option<TxCost>, Hash, String)> = traces.map_err(|e| match e {
            QueryError::BlockNotFound => error::server_error("block not found"),
            other => error::query_error(&other),
        })?;
        let bytes = traces.iter().map(|(_, _, json)| json.len()).sum();
        check_size(bytes, self.node().limits().max_trace_bytes)?;
        traces
            .into_iter()
            .map(|(cost, hash, json)| {
                let mut result = parse(json)?;
                if costs {
                    cost_trace::complete(&mut result, cost.as_ref());
                }
                Ok(TxTrace { tx_hash: hash.0, result })
            })
            .collect()
    }
}

#[async_trait]
impl DebugApiServer for Handlers {
    async fn trace_transaction(&self, hash: B256, options: Option<Value>) -> RpcResult<Value> {
        self.trace_tx(hash, options).await
    }

    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        options: Option<Value>,
    ) -> RpcResult<Value> {
        let costs = cost_trace::is_cost_tracer(&options);
        let options = options_json(options)?;
        let args = convert::call_args(request)?;
        let tag = convert::block_tag(block);
        let trace = self.node().read(move |node| node.trace_call(args, tag, options)).await?;
        let json = trace.map_err(|e| error::call_error(&e))?;
        check_size(json.len(), self.node().limits().max_trace_bytes)?;
        let mut trace = parse(json)?;
        if costs {
            cost_trace::complete(&mut trace, None);
        }
        Ok(trace)
    }

    async fn trace_block_by_number(
        &self,
        number: BlockNumberOrTag,
        options: Option<Value>,
    ) -> RpcResult<Vec<TxTrace>> {
        self.trace_block(convert::number_tag(number), options).await
    }

    async fn trace_block_by_hash(
        &self,
        hash: B256,
        options: Option<Value>,
    ) -> RpcResult<Vec<TxTrace>> {
        self.trace_block(BlockTag::Hash(hash.into()), options).await
    }
}
