//! The state hash: one SHA-256 of everything a canister's future depends on
//! — heap, mutable globals, stable memory and system state — so that two
//! runs of the same messages can be compared, also before a [`Pending`]
//! update is committed.
//!
//! Heap and stable memory are not hashed whole for every message: the
//! committed state carries a [`PageDigest`] of each, and committing a
//! message updates them for just the pages it changed. Hashing is off
//! unless the host tracks state.

use sha2::{Digest, Sha256};
use wasmtime::Val;

use super::rollback::bumps_version;
use super::{Canister, Pending, SystemSnapshot};
use crate::memory::{HEAP_SPACE, PageDigest};

/// The memory a state hash covers: the committed one, or the live one a
/// message has changed.
struct MemoryDigest {
    heap: PageDigest,
    heap_len: usize,
    stable: PageDigest,
    stable_pages: u64,
    globals: Vec<Val>,
}

/// The hash of one state of a canister: its `memory`, and its `system`
/// state at `version`.
fn hash(memory: &MemoryDigest, system: &SystemSnapshot, version: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(memory.heap.to_bytes());
    hasher.update((memory.heap_len as u64).to_le_bytes());
    hasher.update(memory.stable.to_bytes());
    hasher.update(memory.stable_pages.to_le_bytes());
    hasher.update(system.cycles.to_le_bytes());
    hasher.update(system.global_timer.to_le_bytes());
    hasher.update((system.certified_data.len() as u64).to_le_bytes());
    hasher.update(&system.certified_data);
    hasher.update(version.to_le_bytes());
    for global in &memory.globals {
        match global {
            Val::I32(v) => hasher.update(v.to_le_bytes()),
            Val::I64(v) => hasher.update(v.to_le_bytes()),
            Val::F32(v) => hasher.update(v.to_le_bytes()),
            Val::F64(v) => hasher.update(v.to_le_bytes()),
            Val::V128(v) => hasher.update(v.as_u128().to_le_bytes()),
            // Canisters cannot have reference-typed mutable globals
            // that matter here; their identity is not state.
            _ => hasher.update([0xff]),
        }
    }
    hasher.finalize().into()
}

impl Canister {
    /// A hash of everything the canister's future depends on: heap, mutable
    /// globals, stable memory and system state. `None` unless the host was
    /// configured to track state (it costs two page hashes per changed page).
    pub fn state_hash(&self) -> Option<[u8; 32]> {
        let system = &self.store.data().system;
        let memory = self.committed_memory(system.stable.size())?;
        Some(hash(&memory, &SystemSnapshot::of(system), system.version))
    }

    /// Starts tracking state: digests the committed heap and stable memory
    /// whole, for commits to update.
    pub(super) fn digest_committed(&mut self) {
        let heap = PageDigest::of(HEAP_SPACE, self.committed.heap.bytes());
        let stable = self.store.data().system.stable.digest();
        self.committed.digests = Some((heap, stable));
    }

    /// The digests of heap and stable memory with the current message's
    /// changes, if state is tracked.
    pub(super) fn live_digests(&self) -> Option<(PageDigest, PageDigest)> {
        let (heap, stable) = self.committed.digests?;
        let heap = self.committed.heap.digest_after(self.live_heap(), heap);
        let stable = self.store.data().system.stable.digest_after(stable);
        Some((heap, stable))
    }

    /// The committed memory, with `stable_pages` pages of stable memory.
    fn committed_memory(&self, stable_pages: u64) -> Option<MemoryDigest> {
        let (heap, stable) = self.committed.digests?;
        Some(MemoryDigest {
            heap,
            heap_len: self.committed.heap.len(),
            stable,
            stable_pages,
            globals: self.committed.globals.clone(),
        })
    }

    /// The live memory: the committed one with the current message's changes.
    fn live_memory(&mut self) -> Option<MemoryDigest> {
        let (heap, stable) = self.live_digests()?;
        Some(MemoryDigest {
            heap,
            heap_len: self.live_heap().len(),
            stable,
            stable_pages: self.store.data().system.stable.size(),
            globals: self.read_globals(),
        })
    }
}

impl Pending<'_> {
    /// The state hash the canister will have after [`Pending::commit`]
    /// (`None` unless the host tracks state).
    pub fn state_hash(&mut self) -> Option<[u8; 32]> {
        let cost = self.ingress + self.canister.execution_cost(&self.execution);
        let (memory, mut system, version) = if self.keeps_changes() {
            let memory = self.canister.live_memory()?;
            let system = self.canister.system_state();
            let version = system.version + u64::from(bumps_version(self.context));
            (memory, SystemSnapshot::of(system), version)
        } else {
            let system = self.canister.system_state();
            let memory = self.canister.committed_memory(system.stable.size_before_message())?;
            (memory, self.saved.clone(), system.version)
        };
        system.cycles = system.cycles.saturating_sub(cost);
        Some(hash(&memory, &system, version))
    }
}
