//! `eth_subscribe` / `eth_unsubscribe` over WebSocket: `newHeads`, `logs`
//! (with a filter) and `newPendingTransactions` (hashes, or full
//! transactions with `true`), as geth serves them.
//!
//! Each subscription follows the node's [`ChainEvent`]s. Blocks are sent in
//! order, none skipped: a subscription remembers the last block it sent and
//! catches up from there, so events lost to a slow reader (a lagging
//! broadcast channel) or published out of order by concurrent requests still
//! yield every block once.

use alloy_primitives::B256;
use alloy_rpc_types_eth::{Filter, FilterBlockOption};
use evm_canister_api::BlockTag;
use jsonrpsee::core::{SubscriptionResult, async_trait};
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage, SubscriptionSink};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::Handlers;
use crate::api::pubsub::EthPubSubApiServer;
use crate::convert;
use crate::error::invalid_params;
use crate::handle::ChainEvent;
use crate::node::Queries as _;

/// What a subscription sends.
#[derive(Debug)]
enum Kind {
    NewHeads,
    Logs(Box<Filter>),
    /// Hashes, or whole transactions if `true`.
    PendingTransactions(bool),
}

fn parse(kind: &str, params: Option<serde_json::Value>) -> Result<Kind, String> {
    match (kind, params) {
        ("newHeads", None) => Ok(Kind::NewHeads),
        ("logs", params) => {
            let filter: Filter = match params {
                None => Filter::default(),
                Some(value) => serde_json::from_value(value)
                    .map_err(|e| format!("invalid logs filter: {e}"))?,
            };
            if !matches!(
                filter.block_option,
                FilterBlockOption::Range { from_block: None, to_block: None }
            ) {
                // geth: a logs subscription follows new blocks only.
                return Err("a logs subscription takes no block range or block hash".into());
            }
            Ok(Kind::Logs(Box::new(filter)))
        }
        ("newPendingTransactions", None) => Ok(Kind::PendingTransactions(false)),
        ("newPendingTransactions", Some(serde_json::Value::Bool(full))) => {
            Ok(Kind::PendingTransactions(full))
        }
        ("newHeads" | "newPendingTransactions", Some(params)) => {
            Err(format!("unexpected parameter for {kind}: {params}"))
        }
        ("syncing", _) => {
            Err("syncing subscriptions are not supported: a dev chain never syncs".into())
        }
        (other, _) => Err(format!(
            "unknown subscription {other:?}; this node has newHeads, logs and newPendingTransactions"
        )),
    }
}

#[async_trait]
impl EthPubSubApiServer for Handlers {
    async fn subscribe(
        &self,
        pending: PendingSubscriptionSink,
        kind: String,
        params: Option<serde_json::Value>,
    ) -> SubscriptionResult {
        let kind = match parse(&kind, params) {
            Ok(kind) => kind,
            Err(message) => {
                pending.reject(invalid_params(message)).await;
                return Ok(());
            }
        };
        // Subscribe to events before reading the head, so no block falls
        // between the two.
        let mut events = self.node().events();
        let latest = self.node().read(|node| node.chain_info()).await?.latest_block;
        let sink = pending.accept().await?;
        let rpc = self.clone();
        tokio::spawn(async move {
            let mut sent = latest;
            loop {
                let event = tokio::select! {
                    _ = sink.closed() => break,
                    event = events.recv() => event,
                };
                let result = match event {
                    Ok(ChainEvent::Block(number)) => match &kind {
                        Kind::NewHeads | Kind::Logs(_) if number > sent => {
                            let result = rpc.send_blocks(&sink, &kind, sent + 1..=number).await;
                            sent = number;
                            result
                        }
                        _ => Ok(()),
                    },
                    Ok(ChainEvent::Reverted(head)) => {
                        sent = sent.min(head);
                        Ok(())
                    }
                    Ok(ChainEvent::Transaction(hash)) => match kind {
                        Kind::PendingTransactions(full) => {
                            rpc.send_transaction(&sink, hash, full).await
                        }
                        _ => Ok(()),
                    },
                    // Missed events: blocks are caught up at the next one.
                    Err(RecvError::Lagged(_)) => Ok(()),
                    Err(RecvError::Closed) => break,
                };
                if result.is_err() {
                    break; // the client went away
                }
            }
        });
        Ok(())
    }
}

/// The client disconnected, or the node failed to answer.
struct Gone;

async fn send(sink: &SubscriptionSink, item: &impl Serialize) -> Result<(), Gone> {
    let raw = serde_json::value::to_raw_value(item).map_err(|_| Gone)?;
    sink.send(SubscriptionMessage::from(raw)).await.map_err(|_| Gone)
}

impl Handlers {
    async fn send_blocks(
        &self,
        sink: &SubscriptionSink,
        kind: &Kind,
        numbers: std::ops::RangeInclusive<u64>,
    ) -> Result<(), Gone> {
        for number in numbers {
            match kind {
                Kind::NewHeads => {
                    let view = match self.node().recent_block(number) {
                        Some(view) => Ok(Some(view)),
                        None => {
                            let tag = BlockTag::Number(number);
                            self.node().read(move |node| node.block(tag, false)).await
                        }
                    };
                    let Ok(Some(view)) = view else { return Err(Gone) };
                    let block = convert::block(view, false).map_err(|_| Gone)?;
                    send(sink, &block.header).await?;
                }
                Kind::Logs(filter) => {
                    let filter = filter.as_ref().clone().from_block(number).to_block(number);
                    let filter = convert::log_filter(&filter);
                    let logs = self.node().read(move |node| node.logs(filter)).await;
                    let Ok(Ok(logs)) = logs else { return Err(Gone) };
                    for log in logs {
                        send(sink, &convert::log(log)).await?;
                    }
                }
                Kind::PendingTransactions(_) => {}
            }
        }
        Ok(())
    }

    async fn send_transaction(
        &self,
        sink: &SubscriptionSink,
        hash: B256,
        full: bool,
    ) -> Result<(), Gone> {
        if !full {
            return send(sink, &hash).await;
        }
        let view = self.node().read(move |node| node.transaction(hash.into())).await;
        let Ok(Some(view)) = view else { return Err(Gone) };
        send(sink, &convert::transaction(view).map_err(|_| Gone)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_kinds_parse_as_geth_names_them() {
        assert!(matches!(parse("newHeads", None), Ok(Kind::NewHeads)));
        assert!(matches!(
            parse("newPendingTransactions", None),
            Ok(Kind::PendingTransactions(false))
        ));
        assert!(matches!(
            parse("newPendingTransactions", Some(true.into())),
            Ok(Kind::PendingTransactions(true))
        ));
        let filter = serde_json::json!({ "address": "0x5fbdb2315678afecb367f032d93f642f64180aa3" });
        assert!(matches!(parse("logs", Some(filter)), Ok(Kind::Logs(_))));
        assert!(matches!(parse("logs", None), Ok(Kind::Logs(_))));
        let ranged = serde_json::json!({ "fromBlock": "0x1" });
        assert!(parse("logs", Some(ranged)).unwrap_err().contains("no block range"));
        assert!(parse("newBlocks", None).unwrap_err().contains("unknown subscription"));
        assert!(parse("newHeads", Some(1.into())).is_err());
    }
}
