//! Polling filters (`eth_newFilter`, `eth_newBlockFilter`,
//! `eth_newPendingTransactionFilter`, `eth_getFilterChanges`, …) with geth's
//! semantics: each poll returns what happened since the previous one, and a
//! filter that nobody polls for five minutes is removed.
//!
//! Filters live in the node process, not in the canister: they are a view of
//! one client's progress through the chain, not chain state (as in geth).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U128};
use alloy_rpc_types_eth::Filter;

/// How long a filter lives without being polled (geth's `filterTimeout`).
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Most pending-transaction hashes a filter buffers between polls.
const MAX_PENDING: usize = 100_000;

/// What a filter watches, and how far its owner has read.
#[derive(Clone, Debug)]
pub enum FilterKind {
    /// Logs matching `filter`; `next` is the first block not yet returned.
    Logs { filter: Box<Filter>, next: u64 },
    /// New blocks; `next` is the first block not yet returned.
    Blocks { next: u64 },
    /// Hashes of transactions accepted since the last poll.
    PendingTransactions(Vec<B256>),
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
        inner.filters.remove(&id.to()).is_some()
    }

    /// The filter's state as of its last poll, and records a poll at `now`:
    /// `advance` turns the state into the one after this poll.
    pub fn poll<R>(
        &self,
        id: U128,
        now: Instant,
        advance: impl FnOnce(&mut FilterKind) -> R,
    ) -> Result<R, FilterError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.expire(now);
        let installed = inner.filters.get_mut(&id.to()).ok_or(FilterError::NotFound)?;
        installed.last_poll = now;
        Ok(advance(&mut installed.kind))
    }

    /// The filter's kind, unchanged (`eth_getFilterLogs`); like a poll, this
    /// keeps the filter alive.
    pub fn get(&self, id: U128, now: Instant) -> Result<FilterKind, FilterError> {
        self.poll(id, now, |kind| kind.clone())
    }

    /// Records an accepted transaction for every pending-transaction filter.
    pub fn on_pending_transaction(&self, hash: B256) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for installed in inner.filters.values_mut() {
            if let FilterKind::PendingTransactions(hashes) = &mut installed.kind
                && hashes.len() < MAX_PENDING
            {
                hashes.push(hash);
            }
        }
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
        self.filters.retain(|_, f| now.saturating_duration_since(f.last_poll) < FILTER_TIMEOUT);
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
        assert_eq!(filters.poll(a, now, |_| ()), Err(FilterError::NotFound));
        assert_eq!(filters.len(), 1);
    }

    #[test]
    fn an_unpolled_filter_expires_and_polling_keeps_it_alive() {
        let filters = Filters::new(10);
        let start = Instant::now();
        let kept = filters.install(FilterKind::Blocks { next: 1 }, start).unwrap();
        let dropped = filters.install(FilterKind::Blocks { next: 1 }, start).unwrap();
        let later = start + FILTER_TIMEOUT - Duration::from_secs(1);
        filters.poll(kept, later, |_| ()).unwrap();
        let after = start + FILTER_TIMEOUT + Duration::from_secs(1);
        assert!(filters.poll(kept, after, |_| ()).is_ok());
        assert_eq!(filters.poll(dropped, after, |_| ()), Err(FilterError::NotFound));
    }

    #[test]
    fn pending_filters_collect_hashes_until_polled() {
        let filters = Filters::new(10);
        let now = Instant::now();
        let id = filters.install(FilterKind::PendingTransactions(Vec::new()), now).unwrap();
        let blocks = filters.install(FilterKind::Blocks { next: 1 }, now).unwrap();
        filters.on_pending_transaction(B256::repeat_byte(1));
        filters.on_pending_transaction(B256::repeat_byte(2));
        let drain = |kind: &mut FilterKind| match kind {
            FilterKind::PendingTransactions(hashes) => std::mem::take(hashes),
            _ => panic!("not a pending filter"),
        };
        assert_eq!(filters.poll(id, now, drain).unwrap().len(), 2);
        assert!(filters.poll(id, now, drain).unwrap().is_empty());
        assert!(matches!(filters.get(blocks, now).unwrap(), FilterKind::Blocks { next: 1 }));
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
