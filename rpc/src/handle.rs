//! The node as every connection shares it: the lock around [`Node`], the
//! dev accounts it signs for, impersonation, interval mining, and the
//! [`ChainEvent`]s that subscriptions and filters follow.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;
use jsonrpsee::core::RpcResult;
use tokio::sync::broadcast;

use crate::error::{self, internal};
use crate::filters::Filters;
use crate::limits::Limits;
use crate::node::{Node, NodeError};

/// Something that happened to the chain, for subscriptions and filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainEvent {
    /// The chain accepted a transaction.
    Transaction(B256),
    /// The chain produced the block with this number (and those before it).
    Block(u64),
    /// The chain was reverted to a snapshot; this is its head now.
    Reverted(u64),
}

/// The node, shared by all connections. Calls run on tokio's blocking pool:
/// executing wasm is CPU work that must not stall the async runtime.
#[derive(Clone)]
pub struct NodeHandle {
    /// Taken in the order requests ask for it (tokio's lock is fair), so no
    /// request starves behind later ones: a sender's transaction with the
    /// next nonce is not overtaken by an ever-growing queue of later ones.
    pub(crate) node: Arc<tokio::sync::Mutex<Node>>,
    /// A request panicked while it held the node.
    poisoned: Arc<std::sync::atomic::AtomicBool>,
    /// The dev accounts the node signs for (`eth_sendTransaction`, `eth_sign`).
    pub(crate) signers: Arc<Vec<PrivateKeySigner>>,
    pub(crate) events: broadcast::Sender<ChainEvent>,
    pub(crate) filters: Arc<Filters>,
    /// Accounts `eth_sendTransaction` may send as without their keys
    /// (`anvil_impersonateAccount`).
    pub(crate) impersonated: Arc<Mutex<HashSet<Address>>>,
    /// The task producing blocks at an interval, if interval mining is on.
    pub(crate) interval: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    pub(crate) limits: Limits,
}

impl NodeHandle {
    /// A handle with the default [`Limits`].
    pub fn new(node: Node, signers: Vec<PrivateKeySigner>) -> Self {
        Self::with_limits(node, signers, Limits::default())
    }

    pub fn with_limits(node: Node, signers: Vec<PrivateKeySigner>, limits: Limits) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            node: Arc::new(tokio::sync::Mutex::new(node)),
            poisoned: Arc::default(),
            signers: Arc::new(signers),
            events,
            filters: Arc::new(Filters::new(limits.max_filters)),
            impersonated: Arc::default(),
            interval: Arc::default(),
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Lets `eth_sendTransaction` send as `address` without its key.
    pub fn impersonate(&self, address: Address, on: bool) {
        let mut impersonated = self.impersonated.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            impersonated.insert(address);
        } else {
            impersonated.remove(&address);
        }
    }

    pub(crate) fn is_impersonated(&self, address: &Address) -> bool {
        self.impersonated.lock().unwrap_or_else(|e| e.into_inner()).contains(address)
    }

    /// Produces a block every `period` (none if `None`), with what waits in
    /// the pool, as ICP produces a round whether or not messages arrived.
    /// Must be called within the tokio runtime.
    pub fn set_interval_mining(&self, period: Option<std::time::Duration>) {
        let mut interval = self.interval.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = interval.take() {
            task.abort();
        }
        let Some(period) = period else { return };
        let node = self.clone();
        *interval = Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match node.run(|node| node.mine()).await {
                    Ok(block) => node.publish(ChainEvent::Block(block.number)),
                    Err(error) => tracing::error!("interval mining failed: {}", error.message()),
                }
            }
        }));
    }

    /// The accounts the node sends as, as `eth_accounts` lists them: those
    /// it holds keys for, then the impersonated ones (as anvil lists them).
    pub fn accounts(&self) -> Vec<Address> {
        let mut accounts: Vec<Address> = self.signers.iter().map(|s| s.address()).collect();
        let impersonated = self.impersonated.lock().unwrap_or_else(|e| e.into_inner());
        let mut extra: Vec<Address> =
            impersonated.iter().filter(|a| !accounts.contains(a)).copied().collect();
        extra.sort();
        accounts.extend(extra);
        accounts
    }

    pub(crate) fn signer(&self, address: Address) -> RpcResult<&PrivateKeySigner> {
        self.signers
            .iter()
            .find(|signer| signer.address() == address)
            .ok_or_else(|| error::server_error(format!("unknown account {address}")))
    }

    /// Chain events from now on.
    pub fn events(&self) -> broadcast::Receiver<ChainEvent> {
        self.events.subscribe()
    }

    /// Tells subscribers and filters about `event`.
    pub fn publish(&self, event: ChainEvent) {
        match event {
            ChainEvent::Transaction(hash) => self.filters.on_pending_transaction(hash),
            ChainEvent::Reverted(head) => self.filters.on_revert(head),
            ChainEvent::Block(_) => {}
        }
        // No receivers is fine: nobody subscribed.
        let _ = self.events.send(event);
    }

    /// Runs `f` on the node, off the async runtime.
    pub async fn run<R, F>(&self, f: F) -> RpcResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Node) -> Result<R, NodeError> + Send + 'static,
    {
        use std::sync::atomic::Ordering;
        // A panic while the node was held is a bug, and it may have left
        // the node's own state (journal, clock, costs) half-updated: refuse
        // to go on with it. Restarting recovers the chain from its data
        // directory, with nothing acknowledged lost.
        let refused = || {
            NodeError::Failed(
                "an earlier request panicked while the node was in use (a bug); \
                 restart the node, which recovers the chain from its data directory"
                    .to_owned(),
            )
        };
        let mut node = self.node.clone().lock_owned().await;
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(error::node_error(&refused()));
        }
        let poisoned = self.poisoned.clone();
        tokio::task::spawn_blocking(move || {
            // Marked before the guard is released by the unwinding.
            struct Poison(Arc<std::sync::atomic::AtomicBool>);
            impl Drop for Poison {
                fn drop(&mut self) {
                    if std::thread::panicking() {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
            }
            let _poison = Poison(poisoned);
            f(&mut node)
        })
        .await
        .map_err(|e| internal(format!("node task failed: {e}")))?
        .map_err(|e| error::node_error(&e))
    }
}
