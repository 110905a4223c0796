//! `eth_subscribe` and `eth_unsubscribe`, over WebSocket.

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::proc_macros::rpc;

#[rpc(server, namespace = "eth")]
pub trait EthPubSubApi {
    /// Handler for: eth_subscribe / eth_unsubscribe
    #[subscription(
        name = "subscribe" => "subscription",
        unsubscribe = "unsubscribe",
        item = serde_json::Value
    )]
    async fn subscribe(
        &self,
        kind: String,
        params: Option<serde_json::Value>,
    ) -> SubscriptionResult;
}
