//! What the node bounds so that no client can exhaust it: each limit has a
//! flag of `canister-evm` and a default that a development chain never hits.
//! Reaching one is a clear error, never a hang or an unbounded allocation.
//!
//! Two limits are the canister's own and can only be lowered here:
//! `eth_getLogs` ranges and results, and trace sizes (a canister reply
//! carries at most 3 MiB).

use std::time::Duration;

/// The node's limits (see the README's "Limits").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open WebSocket connections plus HTTP requests in flight.
    pub max_connections: u32,
    /// `eth_subscribe`s open on one WebSocket connection.
    pub max_subscriptions_per_connection: u32,
    /// Polling filters installed at once (`eth_newFilter` & co).
    pub max_filters: usize,
    /// How long one request (or batch) may take.
    pub request_timeout: Duration,
    /// Blocks one `eth_getLogs` may scan.
    pub max_logs_block_range: u64,
    /// Logs one `eth_getLogs` may return.
    pub max_logs: u64,
    /// Bytes of one trace (`debug_trace*`), as JSON.
    pub max_trace_bytes: usize,
    /// Bytes of one HTTP request body or WebSocket message.
    pub max_request_bytes: u32,
    /// Calls in one batch.
    pub max_batch_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_subscriptions_per_connection: 1024,
            max_filters: 10_000,
            request_timeout: Duration::from_secs(60),
            max_logs_block_range: evm_canister_api::MAX_LOG_BLOCK_RANGE,
            max_logs: evm_canister_api::MAX_LOGS,
            max_trace_bytes: evm_canister_api::MAX_TRACE_BYTES,
            // Room for the largest contract deployments, as anvil allows.
            max_request_bytes: 16 * 1024 * 1024,
            max_batch_calls: 1_000,
        }
    }
}
