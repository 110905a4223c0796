//! Polling filters (`eth_newFilter`, `eth_newBlockFilter`,
//! `eth_newPendingTransactionFilter`, `eth_getFilterChanges`, …) with geth's
//! semantics: each poll returns what happened since the previous one, and a
//! filter that nobody polls for five minutes is removed.
//!
//! Filters live in the node process, not in the canister: they are a view of
//! one client's progress through the chain, not chain state (as in geth).
//! Every filter is a cursor: block and log filters keep the next block to
//! report, pending-transaction filters the next entry of one log of
//! accepted transactions that all of them share, which keeps only what some
//! filter has yet to read. A filter costs the same memory however long it
//! goes unpolled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[cfg(test)]
use alloy_primitives::U256;
use alloy_primitives::{B256, U128};
use alloy_rpc_types_eth::Filter;

/// How long a filter lives without being polled (geth's `filterTimeout`).
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Most accepted-transaction hashes kept for pending-transaction filters
/// (512 KiB); a filter polled less often than that many arrive misses the
/// oldest. Hashes every filter has read, or that arrive while no such
/// filter is installed, are not kept at all.
///
/// An abandoned filter keeps the log full until it expires
/// ([`FILTER_TIMEOUT`]): at 100,000 hashes, the soak bench measured the
/// node's memory growing 4 MiB over its first five minutes, as a leak
/// would, until the cap held it.
pub const MAX_PENDING: usize = 16_384;

/// What a filter watches, and how far its owner has read.
#[derive(Clone, Debug)]
pub enum FilterKind {
    /// Logs matching `filter`; `next` is the first block not yet returned.
    Logs { filter: Box<Filter>, next: u64 },
    /// New blocks; `next` is the first block not yet returned.
    Blocks { next: u64 },
    /// Transactions accepted since the last poll: `next` is the position,
    /// in the shared log of accepted transactions, of the first one not yet
    /// returned.
    PendingTransactions { next: u64 },
}

struct Installed {
    kind: FilterKind,
    last_poll: Instant,
}

/// The installed filters of a node.
pub struct Filters {
    inner: Mutex<Inner>,
    /// Most filters installed at once; more is an error, not unbounded
    /// memory.
    max: usize,
}

#[derive(Default)]
struct Inner {
    next_id: u128,
    filters: HashMap<u128, Installed>,
    pending: PendingLog,
}

/// The most recent accepted transactions, numbered in arrival order.
#[derive(Debug, Default)]
pub struct PendingLog {
    hashes: std::collections::VecDeque<B256>,
    /// Position of `hashes[0]`.
    start: u64,
}

impl PendingLog {
    /// Position of the next transaction to arrive.
    pub fn end(&self) -> u64 {
        self.start + self.hashes.len() as u64
    }

    /// The hashes from position `*next` on (those still kept), and moves
    /// `*next` past them.
    pub fn take_from(&self, next: &mut u64) -> Vec<B256> {
        let skip = next.saturating_sub(self.start) as usize;
        let hashes = self.hashes.iter().skip(skip).copied().collect();
        *next = self.end();
        hashes
    }

    fn push(&mut self, hash: B256) {
        self.hashes.push_back(hash);
        if self.hashes.len() > MAX_PENDING {
            self.hashes.pop_front();
            self.start += 1;
        }
    }

    /// Forgets the hashes before position `position`.
    fn forget_before(&mut self, position: u64) {
        let forgotten = position.saturating_sub(self.start).min(self.hashes.len() as u64);
        self.hashes.drain(..forgotten as usize);
        self.start += forgotten;
        if self.hashes.len() < self.hashes.capacity() / 4 {
            self.hashes.shrink_to(self.hashes.len() * 2);
        }
    }
}

/// Why a filter call failed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// geth's wording, which clients match on to reinstall their filter.
    #[error("filter not found")]
    NotFound,
    #[error("too many filters installed ({0}, --max-filters); uninstall some")]
    TooMany(usize),
}

impl Filters {
    /// No filters, and room for `max`.
    pub fn new(max: usize) -> Self {
        Self { inner: Mutex::default(), max }
    }

    /// Installs a filter; returns its id.
    pub fn install(&self, kind: FilterKind, now: Instant) -> Result<U128, FilterError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expire(now);
        if inner.filters.len() >= self.max {
            return Err(FilterError::TooMany(self.max));
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.filters.insert(id, Installed { kind, last_poll: now });
        Ok(U128::from(id))
    }

    pub fn uninstall(&self, id: U128, now: Instant) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expire(now);
        let removed = inner.filters.remove(&id.to()).is_some();
        inner.forget_read();
        removed
    }

    /// The filter's state as of its last poll, and records a poll at `now`:
    /// `advance` turns the state into the one after this poll (reading the
    /// log of accepted transactions for a pending-transaction filter).
    pub fn poll<R>(
        &self,
        id: U128,
        now: Instant,
        advance: impl FnOnce(&mut FilterKind, &PendingLog) -> R,
    ) -> Result<R, FilterError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expire(now);
        let Inner { filters, pending, .. } = &mut *inner;
        let installed = filters.get_mut(&id.to()).ok_or(FilterError::NotFound)?;
        installed.last_poll = now;
        let result = advance(&mut installed.kind, pending);
        if matches!(installed.kind, FilterKind::PendingTransactions { .. }) {
            inner.forget_read();
        }
        Ok(result)
    }

    /// The filter's kind, unchanged (`eth_getFilterLogs`); like a poll, this
    /// keeps the filter alive.
    pub fn get(&self, id: U128, now: Instant) -> Result<FilterKind, FilterError> {
        self.poll(id, now, |kind, _| kind.clone())
    }

    /// A new pending-transaction filter, reporting what arrives from now.
    pub fn install_pending(&self, now: Instant) -> Result<U128, FilterError> {
        let next = self.inner.lock().unwrap_or_else(|e| e.into_inner()).pending.end();
        self.install(FilterKind::PendingTransactions { next }, now)
    }

    /// Records an accepted transaction, for pending-transaction filters.
    pub fn on_pending_transaction(&self, hash: B256) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.pending.push(hash);
        inner.forget_read();
    }

    /// The chain was reverted to block `head`: filters read on from the
    /// block after it, which will be a new one.
    pub fn on_revert(&self, head: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for installed in inner.filters.values_mut() {
            if let FilterKind::Logs { next, .. } | FilterKind::Blocks { next } = &mut installed.kind
            {
                *next = (*next).min(head + 1);
            }
        }
    }

    /// Number of installed filters.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).filters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        let before = self.filters.len();
        self.filters.retain(|_, f| now.saturating_duration_since(f.last_poll) < FILTER_TIMEOUT);
        if self.filters.len() < before {
            self.forget_read();
        }
    }

    /// Forgets the accepted transactions every pending-transaction filter
    /// has read: all of them when there is no such filter.
    fn forget_read(&mut self) {
        let unread = self.filters.values().filter_map(|f| match f.kind {
            FilterKind::PendingTransactions { next } => Some(next),
            _ => None,
        });
        let oldest = unread.min().unwrap_or_else(|| self.pending.end());
        self.pending.forget_before(oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_get_distinct_ids_and_can_be_uninstalled_once() {
        let filters = Filters::new(10);
        let now = Instant::now();
        let a = filters.install(FilterKind::Blocks { next: 1 }, now).unwrap();
        let b = filters.install(FilterKind::Blocks { next: 1 }, now).unwrap();
        assert_ne!(a, b);
        assert!(filters.uninstall(a, now));
        assert!(!filters.uninstall(a, now));
        assert_eq!(filters.poll(a, now, |_, _| ()), Err(FilterError::NotFound));
        assert_eq!(filters.len(), 1);
    }

    #[test]
    fn an_unpolled_filter_expires_and_polling_keeps_it_alive() {
        let filters = Filters::new(10);
        let start = Instant::now();
        let kept = filters.install(FilterKind::Blocks { next: 1 }, start).unwrap();
        let dropped = filters.install(FilterKind::Blocks { next: 1 }, start).unwrap();
        let later = start + FILTER_TIMEOUT - Duration::from_secs(1);
        filters.poll(kept, later, |_, _| ()).unwrap();
        let after = start + FILTER_TIMEOUT + Duration::from_secs(1);
        assert!(filters.poll(kept, after, |_, _| ()).is_ok());
        assert_eq!(filters.poll(dropped, after, |_, _| ()), Err(FilterError::NotFound));
    }

    #[test]
    fn pending_filters_collect_hashes_until_polled() {
        let filters = Filters::new(10);
        let now = Instant::now();
        filters.on_pending_transaction(B256::repeat_byte(9)); // before: not reported
        let id = filters.install_pending(now).unwrap();
        let blocks = filters.install(FilterKind::Blocks { next: 1 }, now).unwrap();
        filters.on_pending_transaction(B256::repeat_byte(1));
        filters.on_pending_transaction(B256::repeat_byte(2));
        let drain = |kind: &mut FilterKind, log: &PendingLog| match kind {
            FilterKind::PendingTransactions { next } => log.take_from(next),
            _ => panic!("not a pending filter"),
        };
        let first = filters.poll(id, now, drain).unwrap();
        assert_eq!(first, [B256::repeat_byte(1), B256::repeat_byte(2)]);
        assert!(filters.poll(id, now, drain).unwrap().is_empty());
        assert!(matches!(filters.get(blocks, now).unwrap(), FilterKind::Blocks { next: 1 }));
    }

    /// Abandoned pending-transaction filters hold no copies of what arrives:
    /// the log is shared and bounded.
    #[test]
    fn pending_filters_share_one_bounded_log() {
        let filters = Filters::new(1_000);
        let now = Instant::now();
        let ids: Vec<U128> = (0..1_000).map(|_| filters.install_pending(now).unwrap()).collect();
        for i in 0..(MAX_PENDING as u64 + 10) {
            filters.on_pending_transaction(B256::from(U256::from(i)));
        }
        let inner = filters.inner.lock().unwrap();
        assert_eq!(inner.pending.hashes.len(), MAX_PENDING);
        assert_eq!(inner.pending.start, 10);
        drop(inner);
        // A filter that fell behind gets what is still kept.
        let got = filters
            .poll(ids[0], now, |kind, log| match kind {
                FilterKind::PendingTransactions { next } => log.take_from(next),
                _ => unreachable!(),
            })
            .unwrap();
        assert_eq!(got.len(), MAX_PENDING);
        assert_eq!(got[0], B256::from(U256::from(10)));
    }

    /// The log keeps only what some pending-transaction filter has yet to
    /// read: nothing while none is installed, and nothing once all have
    /// read it or gone.
    #[test]
    fn the_pending_log_keeps_only_unread_hashes() {
        let filters = Filters::new(10);
        let now = Instant::now();
        let kept = |filters: &Filters| filters.inner.lock().unwrap().pending.hashes.len();
        let drain = |kind: &mut FilterKind, log: &PendingLog| match kind {
            FilterKind::PendingTransactions { next } => log.take_from(next),
            _ => unreachable!(),
        };
        filters.install(FilterKind::Blocks { next: 1 }, now).unwrap();
        filters.on_pending_transaction(B256::repeat_byte(1));
        assert_eq!(kept(&filters), 0, "no pending filter: nothing kept");

        let slow = filters.install_pending(now).unwrap();
        let fast = filters.install_pending(now).unwrap();
        filters.on_pending_transaction(B256::repeat_byte(2));
        filters.on_pending_transaction(B256::repeat_byte(3));
        assert_eq!(filters.poll(fast, now, drain).unwrap().len(), 2);
        assert_eq!(kept(&filters), 2, "the slow filter has not read them");
        filters.on_pending_transaction(B256::repeat_byte(4));
        assert_eq!(filters.poll(slow, now, drain).unwrap().len(), 3);
        assert_eq!(kept(&filters), 1, "the fast filter has yet to read the last");
        assert_eq!(filters.poll(fast, now, drain).unwrap(), [B256::repeat_byte(4)]);
        assert_eq!(kept(&filters), 0);

        filters.on_pending_transaction(B256::repeat_byte(5));
        assert!(filters.uninstall(fast, now));
        assert_eq!(kept(&filters), 1, "the slow filter still waits for it");
        // An abandoned filter's hashes go when it expires.
        filters.on_pending_transaction(B256::repeat_byte(6));
        let later = now + FILTER_TIMEOUT + Duration::from_secs(1);
        filters.install(FilterKind::Blocks { next: 1 }, later).unwrap();
        assert_eq!(kept(&filters), 0);
        assert_eq!(filters.poll(slow, later, drain), Err(FilterError::NotFound));
    }

    #[test]
    fn installing_beyond_the_limit_is_refused_until_one_goes() {
        let filters = Filters::new(2);
        let now = Instant::now();
        let a = filters.install(FilterKind::Blocks { next: 1 }, now).unwrap();
        filters.install(FilterKind::Blocks { next: 1 }, now).unwrap();
        let refused = filters.install(FilterKind::Blocks { next: 1 }, now).unwrap_err();
        assert_eq!(refused, FilterError::TooMany(2));
        assert!(refused.to_string().contains("--max-filters"));
        assert!(filters.uninstall(a, now));
        assert!(filters.install(FilterKind::Blocks { next: 1 }, now).is_ok());
    }
}
