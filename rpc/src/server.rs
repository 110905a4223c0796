//! The JSON-RPC server: HTTP and WebSocket on one port.

use std::net::SocketAddr;

use jsonrpsee::RpcModule;
use jsonrpsee::server::{Server, ServerHandle};

use crate::eth::{EthApiServer, EthRpc, IcApiServer, NetApiServer, NodeHandle, Web3ApiServer};

/// All namespaces the node serves, as one module (also usable without a
/// socket, through `RpcModule::call`).
pub fn rpc_module(node: NodeHandle) -> anyhow::Result<RpcModule<()>> {
    let rpc = EthRpc::new(node);
    let mut module = RpcModule::new(());
    module.merge(EthApiServer::into_rpc(rpc.clone()))?;
    module.merge(NetApiServer::into_rpc(rpc.clone()))?;
    module.merge(IcApiServer::into_rpc(rpc.clone()))?;
    module.merge(Web3ApiServer::into_rpc(rpc))?;
    Ok(module)
}

/// Starts serving `node` on `addr`; returns the bound address.
pub async fn serve(
    node: NodeHandle,
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let server = Server::builder().build(addr).await?;
    let bound = server.local_addr()?;
    let handle = server.start(rpc_module(node)?);
    Ok((bound, handle))
}
