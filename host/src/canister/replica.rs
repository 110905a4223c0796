//! Read-only replicas of a canister, for queries that run while updates
//! proceed, as an ICP replica runs queries on a snapshot of the state.
//!
//! [`Canister::replica`] makes a second canister from the committed state:
//! its own store and instance of the same module, its own copy of heap,
//! globals and stable memory. From then on the source records which heap
//! and stable pages its committed messages change, and
//! [`Canister::sync_replica`] copies just those into the replica. A replica
//! is meant for queries only: an update on it would commit changes its
//! source never sees.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Canister;
use crate::InstallError;
use crate::engine::Host;
use crate::memory::{PAGE_SIZE, WASM_PAGE_SIZE};

/// Names canisters for [`Canister::sync_replica`]: every canister, and
/// every state a canister is given wholesale (an upgrade), gets a new one.
static LINEAGE: AtomicU64 = AtomicU64::new(1);

pub(super) fn new_lineage() -> u64 {
    LINEAGE.fetch_add(1, Ordering::Relaxed)
}

/// Heap pages a canister's committed messages changed since one of its
/// replicas was last synced (stable pages are recorded by its [`StableMemory`]).
///
/// [`StableMemory`]: crate::memory::StableMemory
#[derive(Default)]
pub(super) struct Unsynced {
    pub(super) heap: BTreeSet<usize>,
}

/// What [`Canister::sync_replica`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub heap_pages: usize,
    pub stable_pages: usize,
    /// The replica was made again from scratch (its source was upgraded).
    pub rebuilt: bool,
}

impl Canister {
    /// A copy of the committed state on a store of its own, for queries.
    /// From now on this canister records what its messages change, for
    /// [`Canister::sync_replica`], once per replica it has made.
    pub fn replica(&mut self, host: &Host) -> Result<Canister, InstallError> {
        let slot = self.unsynced.len();
        self.replica_at(host, slot)
    }

    fn replica_at(&mut self, host: &Host, slot: usize) -> Result<Canister, InstallError> {
        let mut system = self.system_state().clone();
        system.stable.untrack_unsynced();
        let mut replica = Canister::restore(
            host,
            Arc::clone(&self.module),
            self.heap().to_vec(),
            self.globals().to_vec(),
            system,
        )?;
        replica.lineage = self.lineage;
        replica.slot = slot;
        if self.unsynced.len() <= slot {
            self.unsynced.resize_with(slot + 1, Unsynced::default);
        }
        self.unsynced[slot] = Unsynced::default();
        self.store.data_mut().system.stable.track_unsynced(slot);
        Ok(replica)
    }

    /// Brings `replica` (made by [`Canister::replica`]) to this canister's
    /// committed state, copying the pages that changed since its last sync.
    /// Must be called between messages.
    pub fn sync_replica(
        &mut self,
        host: &Host,
        replica: &mut Canister,
    ) -> Result<Synced, InstallError> {
        let slot = replica.slot;
        if replica.lineage != self.lineage || slot >= self.unsynced.len() {
            *replica = self.replica_at(host, slot)?;
            return Ok(Synced { rebuilt: true, ..Synced::default() });
        }
        let heap: Vec<usize> = std::mem::take(&mut self.unsynced[slot].heap).into_iter().collect();
        let stable = self.store.data_mut().system.stable.take_unsynced(slot);

        // The heap: the committed image and the live memory, which match
        // between messages (a query's changes are discarded).
        let source = self.committed.heap.bytes();
        if let Some(memory) = replica.store.data().memory {
            let grow = source.len() - memory.data_size(&replica.store);
            if grow > 0 {
                memory
                    .grow(&mut replica.store, (grow as u64) / WASM_PAGE_SIZE)
                    .expect("the source's heap grew to this size");
            }
            let live = memory.data_mut(&mut replica.store);
            for &page in &heap {
                let range = page * PAGE_SIZE..(page + 1) * PAGE_SIZE;
                live[range.clone()].copy_from_slice(&source[range]);
            }
        }
        replica.committed.heap.copy_pages(source, &heap);
        replica.committed.globals = self.committed.globals.clone();
        replica.committed.digests = self.committed.digests;
        replica.write_globals();

        let from = &self.store.data().system;
        let to = &mut replica.store.data_mut().system;
        to.stable.copy_pages(&from.stable, &stable);
        to.canister_id.clone_from(&from.canister_id);
        to.controllers.clone_from(&from.controllers);
        to.cycles = from.cycles;
        to.version = from.version;
        to.global_timer = from.global_timer;
        to.certified_data.clone_from(&from.certified_data);
        Ok(Synced { heap_pages: heap.len(), stable_pages: stable.len(), rebuilt: false })
    }
}
