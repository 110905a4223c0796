//! The node as every connection shares it: the lock around [`Node`], the
//! dev accounts it signs for, impersonation, interval mining, and the
//! [`ChainEvent`]s that subscriptions and filters follow.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;
use evm_canister_api::BlockView;
use jsonrpsee::core::RpcResult;
use tokio::sync::broadcast;

use crate::error::{self, internal};
use crate::filters::Filters;
use crate::limits::Limits;
use crate::node::{Node, NodeError, Reader, RecentHeaders};

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
    /// Replicas of the canister that answer queries, in parallel, while the
    /// node runs updates (see [`NodeHandle::read`]).
    readers: Arc<[ReaderSlot]>,
    /// Which reader a query waits for when all are busy.
    next_reader: Arc<std::sync::atomic::AtomicUsize>,
    /// A request panicked while it held the node or a reader.
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
    /// The latest blocks' headers, as the node produced them.
    headers: RecentHeaders,
}

impl NodeHandle {
    /// A handle with the default [`Limits`].
    pub fn new(node: Node, signers: Vec<PrivateKeySigner>) -> Self {
        Self::with_limits(node, signers, Limits::default())
    }

    pub fn with_limits(mut node: Node, signers: Vec<PrivateKeySigner>, limits: Limits) -> Self {
        let (events, _) = broadcast::channel(1024);
        // Copies of a state the canister is running in: they cannot fail to
        // instantiate.
        let readers = (0..readers())
            .map(|_| ReaderSlot {
                reader: Mutex::new(
                    node.reader().expect("the canister's committed state instantiates"),
                ),
                stale: Default::default(),
            })
            .collect();
        let headers = node.recent_headers();
        Self {
            headers,
            node: Arc::new(tokio::sync::Mutex::new(node)),
            readers,
            next_reader: Arc::default(),
            poisoned: Arc::default(),
            signers: Arc::new(signers),
            events,
            filters: Arc::new(Filters::new(limits.max_filters)),
            impersonated: Arc::default(),
            interval: Arc::default(),
            limits,
        }
    }

    /// Block `number` without its transactions in full, if it is one of
    /// the latest the node produced (no query needed).
    pub fn recent_block(&self, number: u64) -> Option<BlockView> {
        self.headers.get(number)
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

    /// Runs `f` on the node, off the async runtime, then brings the
    /// reader up to date.
    pub async fn run<R, F>(&self, f: F) -> RpcResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Node) -> Result<R, NodeError> + Send + 'static,
    {
        use std::sync::atomic::Ordering;
        let mut node = self.node.clone().lock_owned().await;
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(error::node_error(&refused()));
        }
        let poisoned = self.poisoned.clone();
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let _poison = Poison(poisoned);
            let result = f(&mut node);
            // Before the reply: what a client was told happened, the
            // readers' next answers see.
            for slot in readers.iter() {
                match slot.reader.try_lock() {
                    Ok(mut reader) => {
                        if let Err(error) = node.sync(&mut reader) {
                            tracing::error!("{error}");
                            slot.stale.store(true, Ordering::SeqCst);
                        }
                    }
                    // A query is running on it: its next one syncs first.
                    Err(_) => slot.stale.store(true, Ordering::SeqCst),
                }
            }
            result
        })
        .await
        .map_err(|e| internal(format!("node task failed: {e}")))?
        .map_err(|e| error::node_error(&e))
    }

    /// What the readers hold in memory ([`Reader::memory_bytes`]).
    pub async fn reader_bytes(&self) -> u64 {
        self.sum_over_readers(Reader::memory_bytes).await
    }

    /// How many of the readers' queries had grown the heap
    /// ([`Reader::fresh_instances`]).
    pub async fn reader_fresh_instances(&self) -> u64 {
        self.sum_over_readers(Reader::fresh_instances).await
    }

    async fn sum_over_readers(&self, figure: fn(&Reader) -> u64) -> u64 {
        let readers = self.readers.clone();
        let total = tokio::task::spawn_blocking(move || {
            readers
                .iter()
                .map(|slot| figure(&slot.reader.lock().unwrap_or_else(|e| e.into_inner())))
                .sum()
        });
        total.await.unwrap_or(0)
    }

    /// Runs `f` on a reader: a query, which runs while the node executes
    /// updates. It sees every update acknowledged before it started.
    pub async fn read<R, F>(&self, f: F) -> RpcResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Reader) -> Result<R, NodeError> + Send + 'static,
    {
        use std::sync::atomic::Ordering;
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(error::node_error(&refused()));
        }
        let (readers, node) = (self.readers.clone(), self.node.clone());
        let poisoned = self.poisoned.clone();
        let next = self.next_reader.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            // A free reader, or else the next in turn.
            let free = readers.iter().find_map(|slot| Some((slot, slot.reader.try_lock().ok()?)));
            let (slot, mut reader) = match free {
                Some(free) => free,
                None => {
                    let slot = &readers[next % readers.len()];
                    (slot, slot.reader.lock().unwrap_or_else(|e| e.into_inner()))
                }
            };
            let _poison = Poison(poisoned);
            let stale = &slot.stale;
            if stale.swap(false, Ordering::SeqCst) {
                // The node never waits for the reader (it only tries it), so
                // waiting for the node while holding the reader is safe.
                let mut node = node.blocking_lock();
                if let Err(error) = node.sync(&mut reader) {
                    stale.store(true, Ordering::SeqCst);
                    return Err(error);
                }
            }
            f(&mut reader)
        })
        .await
        .map_err(|e| internal(format!("reader task failed: {e}")))?
        .map_err(|e| error::node_error(&e))
    }
}

/// A reader and whether it missed a sync.
struct ReaderSlot {
    reader: Mutex<Reader>,
    /// It was busy when the node last changed: its next query syncs first.
    stale: std::sync::atomic::AtomicBool,
}

/// How many readers run queries in parallel: one per core, up to two. Each
/// holds a copy of the canister's memory.
fn readers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 2)
}

/// A panic while the node was held is a bug, and it may have left the
/// node's own state (journal, clock, costs) half-updated: refuse to go on
/// with it. Restarting recovers the chain from its data directory, with
/// nothing acknowledged lost.
fn refused() -> NodeError {
    NodeError::Failed(
        "an earlier request panicked while the node was in use (a bug); \
         restart the node, which recovers the chain from its data directory"
            .to_owned(),
    )
}

/// Marks the handle poisoned if the thread panics while it holds the node
/// or the reader: set before the guard is released by the unwinding.
struct Poison(Arc<std::sync::atomic::AtomicBool>);

impl Drop for Poison {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
