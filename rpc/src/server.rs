//! The JSON-RPC server: HTTP and WebSocket on one port, batches, CORS,
//! limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jsonrpsee::RpcModule;
use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::core::traits::IdProvider;
use jsonrpsee::server::{
    BatchRequestConfig, Methods, Server, ServerConfig, ServerHandle, serve_with_graceful_shutdown,
    stop_channel,
};
use jsonrpsee::types::SubscriptionId;
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};

use crate::api::controls::{AnvilApiServer, EvmApiServer, TxpoolApiServer};
use crate::api::debug::DebugApiServer;
use crate::api::eth::EthApiServer;
use crate::api::ic::IcApiServer;
use crate::api::net::NetApiServer;
use crate::api::personal::PersonalApiServer;
use crate::api::pubsub::EthPubSubApiServer;
use crate::api::web3::Web3ApiServer;
use crate::handle::NodeHandle;
use crate::handlers::Handlers;
use crate::transport::{HttpGuardLayer, RpcGuardLayer};
use crate::websocket::{self, BoxService, ServiceFactory};

/// Largest response: big enough for any `eth_getLogs` the canister answers.
pub const MAX_RESPONSE_BYTES: u32 = 256 * 1024 * 1024;

/// All namespaces the node serves, as one module (also usable without a
/// socket, through `RpcModule::call`).
pub fn rpc_module(node: NodeHandle) -> anyhow::Result<RpcModule<()>> {
    let rpc = Handlers::new(node);
    let mut module = RpcModule::new(());
    module.merge(EthApiServer::into_rpc(rpc.clone()))?;
    module.merge(EthPubSubApiServer::into_rpc(rpc.clone()))?;
    module.merge(NetApiServer::into_rpc(rpc.clone()))?;
    module.merge(IcApiServer::into_rpc(rpc.clone()))?;
    module.merge(PersonalApiServer::into_rpc(rpc.clone()))?;
    module.merge(EvmApiServer::into_rpc(rpc.clone()))?;
    module.merge(AnvilApiServer::into_rpc(rpc.clone()))?;
    module.merge(TxpoolApiServer::into_rpc(rpc.clone()))?;
    module.merge(DebugApiServer::into_rpc(rpc.clone()))?;
    module.merge(Web3ApiServer::into_rpc(rpc))?;
    Ok(module)
}

/// Subscription ids as geth, anvil and Hardhat give them: `0x`-prefixed hex
/// strings. viem and web3.py accept nothing else (jsonrpsee's default is a
/// JSON number). Ids only need to be unique per node, so a counter will do.
#[derive(Debug, Default)]
pub struct HexIdProvider(AtomicU64);

impl IdProvider for HexIdProvider {
    fn next_id(&self) -> SubscriptionId<'static> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        SubscriptionId::Str(format!("{n:#034x}").into())
    }
}

/// Starts serving `node` on `addr`; returns the bound address.
///
/// Any web page may call the node (CORS allows every origin, as anvil and
/// Hardhat do): it is a development chain on loopback.
///
/// Each TCP connection is served by jsonrpsee's tower service behind the
/// [`crate::transport`] layers; WebSocket upgrades go to the
/// [`crate::websocket`] front, which relays them to jsonrpsee connections
/// of their own.
pub async fn serve(
    node: NodeHandle,
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    serve_with(node, addr, ServeOptions::default()).await
}

/// What the server serves besides JSON-RPC.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// The block explorer at `GET /` ([`crate::explorer`]); on by default,
    /// off with `--no-explorer`.
    pub explorer: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self { explorer: true }
    }
}

/// [`serve`], with `options`.
pub async fn serve_with(
    node: NodeHandle,
    addr: SocketAddr,
    options: ServeOptions,
) -> anyhow::Result<(SocketAddr, ServerHandle)> {
    let limits = *node.limits();
    let methods: Methods = rpc_module(node)?.into();
    let (stop, handle) = stop_channel();
    let config = ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_response_body_size(MAX_RESPONSE_BYTES)
        .max_connections(limits.max_connections)
        .max_subscriptions_per_connection(limits.max_subscriptions_per_connection)
        .set_batch_request_config(BatchRequestConfig::Limit(limits.max_batch_calls))
        .set_id_provider(HexIdProvider::default())
        .build();
    let rpc = RpcServiceBuilder::new().layer(RpcGuardLayer { timeout: limits.request_timeout });

    let relayed = Server::builder()
        .set_config(config.clone())
        .set_rpc_middleware(rpc.clone())
        .to_service_builder();
    let factory: ServiceFactory = {
        let (methods, stop) = (methods.clone(), stop.clone());
        Arc::new(move || BoxService::new(relayed.clone().build(methods.clone(), stop.clone())))
    };
    let websocket = websocket::Backend {
        service: factory,
        stop: stop.clone(),
        max_message_bytes: limits.max_request_bytes as usize,
    };
    let cors = CorsLayer::new().allow_origin(Any).allow_methods(Any).allow_headers(Any);
    let http = tower::ServiceBuilder::new().layer(cors).layer(HttpGuardLayer {
        max_body: limits.max_request_bytes,
        websocket,
        explorer: options.explorer,
    });
    let connections = Server::builder()
        .set_config(config)
        .set_rpc_middleware(rpc)
        .set_http_middleware(http)
        .to_service_builder();

    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let socket = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => socket,
                    Err(error) => {
                        // Out of descriptors, say: wait rather than spin.
                        tracing::warn!("accepting a connection failed: {error}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = stop.clone().shutdown() => break,
            };
            let _ = socket.set_nodelay(true);
            let service = connections.clone().build(methods.clone(), stop.clone());
            let stop = stop.clone();
            tokio::spawn(async move {
                let _ = serve_with_graceful_shutdown(socket, service, stop.shutdown()).await;
            });
        }
    });
    Ok((bound, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_ids_are_hex_strings_and_unique() {
        let ids = HexIdProvider::default();
        let (a, b) = (ids.next_id(), ids.next_id());
        assert_eq!(a, SubscriptionId::Str("0x00000000000000000000000000000001".into()));
        assert_ne!(a, b);
    }
}
