//! The `net_` namespace.

use alloy_primitives::U64;
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

#[rpc(server, namespace = "net")]
pub trait NetApi {
    /// Handler for: net_version
    #[method(name = "version")]
    async fn version(&self) -> RpcResult<String>;

    /// Handler for: net_listening
    #[method(name = "listening")]
    fn listening(&self) -> RpcResult<bool>;

    /// Handler for: net_peerCount (a dev chain has no peers)
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<U64>;
}
