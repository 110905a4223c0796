//! An installed canister and the execution of its messages.
//!
//! Every message runs to completion against the committed state. If it
//! returns normally in a context that keeps changes (update, init, upgrade
//! hooks, system tasks) its changes to heap, globals, stable memory and
//! system state are committed; otherwise — it trapped, ran out of
//! instructions, or was a query — all of them are discarded, exactly as on
//! the Internet Computer.
//!
//! Updates pay cycles: the ingress reception fee up front and the execution
//! fee for the instructions used, trapped or not ([`crate::fees`]).
//!
//! This module holds the public types and the [`Canister`] with its
//! accessors; the rest of the canister lives in one file per job:
//!
//! - `lifecycle`: installing, upgrading and restoring a canister;
//! - `message`: dispatching ingress messages, queries and system tasks;
//! - `cycles`: checking and charging the cycles messages cost;
//! - `rollback`: committing or discarding a message, including the
//!   two-phase [`Pending`] update;
//! - `instance`: stores, instantiation and the `start` function;
//! - `state_hash`: the hash of the state, for comparing two runs.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::{Store, Val};

use crate::CallError;
use crate::costs::Limits;
use crate::engine::CanisterModule;
use crate::memory::{HeapImage, PageDigest, StableMemory};
use crate::system_api::{Response, StoreData, SystemState, Trap};

mod cycles;
mod instance;
mod lifecycle;
mod message;
mod replica;
mod rollback;
mod state_hash;

pub use replica::Synced;
pub use rollback::Pending;

/// Who sends a message, and when.
#[derive(Clone, Debug, Default)]
pub struct MessageEnv {
    /// The caller's principal, as bytes.
    pub caller: Vec<u8>,
    /// The time the canister sees (`ic0.time`), in nanoseconds since 1970.
    pub time: u64,
}

/// Settings of a new canister.
#[derive(Clone, Debug)]
pub struct CanisterSettings {
    pub canister_id: Vec<u8>,
    pub controllers: Vec<Vec<u8>>,
    pub cycles: u128,
}

impl Default for CanisterSettings {
    fn default() -> Self {
        Self {
            // rrkah-fqaaa-aaaaa-aaaaq-cai, the first canister id of a local replica.
            canister_id: vec![0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
            controllers: Vec::new(),
            // What a local replica gives a canister created by dfx.
            cycles: 100_000_000_000_000,
        }
    }
}

/// What executing one message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// `Ok(None)` if the message ended without replying (as init and upgrade
    /// hooks do); `Err` if it trapped, in which case nothing changed.
    pub result: Result<Option<Response>, Trap>,
    /// Wasm instructions, including the System API's charges.
    pub instructions: u64,
    /// Cycles the canister paid for the message (zero for queries).
    pub cycles: u128,
    /// Bytes the message wrote to stable memory.
    pub stable_bytes_written: u64,
    /// What the canister printed with `ic0.debug_print`.
    pub debug_output: Vec<String>,
}

impl Execution {
    /// The reply bytes, or an error describing the reject or trap.
    pub fn reply(&self) -> Result<&[u8], CallError> {
        match &self.result {
            Ok(Some(Response::Reply(bytes))) => Ok(bytes),
            Ok(Some(Response::Reject(message))) => Err(CallError::Rejected(message.clone())),
            Ok(None) => Err(CallError::NoReply),
            Err(trap) => Err(CallError::Trapped(trap.clone())),
        }
    }
}

/// The committed state of the wasm instance: what a trapped message or a
/// failed upgrade returns to.
#[derive(Clone)]
struct Committed {
    heap: HeapImage,
    globals: Vec<Val>,
    /// Digests of heap and stable memory, if state hashing is on.
    digests: Option<(PageDigest, PageDigest)>,
}

/// The part of the system state a message can change: saved when it
/// starts, so that discarding it can put it back.
#[derive(Clone)]
struct SystemSnapshot {
    cycles: u128,
    global_timer: u64,
    certified_data: Vec<u8>,
}

impl SystemSnapshot {
    fn of(system: &SystemState) -> Self {
        Self {
            cycles: system.cycles,
            global_timer: system.global_timer,
            certified_data: system.certified_data.clone(),
        }
    }
}

/// An installed canister.
pub struct Canister {
    store: Store<StoreData>,
    instance: wasmtime::Instance,
    module: Arc<CanisterModule>,
    committed: Committed,
    limits: Limits,
    /// Heap pages changed since [`Canister::take_dirty`] was last called.
    dirty_heap: BTreeSet<usize>,
    /// Who this canister's state descends from, for its replica: a new
    /// canister, or one given a state wholesale, starts a new lineage.
    lineage: u64,
    /// Per replica of this canister, what changed since it was synced.
    unsynced: Vec<replica::Unsynced>,
    /// Which of its source's replicas this is (0 if it is none).
    slot: usize,
    /// How often a discarded message (a query, a trap) had grown the heap,
    /// so that the committed state went into a fresh instance: see
    /// [`Canister::fresh_instances`].
    fresh_instances: u64,
}

impl Canister {
    /// Pages of heap and of stable memory changed since the last call: what a
    /// checkpoint must write.
    pub fn take_dirty(&mut self) -> (BTreeSet<usize>, BTreeSet<usize>) {
        let heap = std::mem::take(&mut self.dirty_heap);
        let stable = self.store.data_mut().system.stable.take_dirty();
        (heap, stable)
    }

    /// The committed values of the mutable globals.
    pub fn globals(&self) -> &[Val] {
        &self.committed.globals
    }

    /// The system state: identity, controllers, cycles, version, timer,
    /// certified data and stable memory.
    pub fn system_state(&self) -> &SystemState {
        &self.store.data().system
    }

    /// How many discarded messages (queries, traps) had grown the heap.
    /// Linear memory cannot shrink, so after each the committed state is
    /// copied into a fresh instance, which costs far more than undoing the
    /// pages a message wrote: a canister whose queries allocate past its
    /// allocator's free memory pays it on every query.
    pub fn fresh_instances(&self) -> u64 {
        self.fresh_instances
    }

    pub fn module(&self) -> &CanisterModule {
        &self.module
    }

    /// The canister's stable memory.
    pub fn stable_memory(&self) -> &StableMemory {
        &self.store.data().system.stable
    }

    /// The committed heap.
    pub fn heap(&self) -> &[u8] {
        self.committed.heap.bytes()
    }

    /// Cycles the canister holds.
    pub fn cycles(&self) -> u128 {
        self.store.data().system.cycles
    }

    /// The canister version (`ic0.canister_version`).
    pub fn version(&self) -> u64 {
        self.store.data().system.version
    }

    /// When the global timer fires, in nanoseconds; 0 if it is not set.
    pub fn global_timer_deadline(&self) -> u64 {
        self.store.data().system.global_timer
    }

    /// Bytes of linear memory the canister's store holds, over all the
    /// instances it has had: one heap's worth unless memory leaks.
    pub fn allocated_memory(&self) -> u64 {
        self.store.data().allocated.bytes
    }

    /// The live instance's heap, with the current message's changes.
    fn live_heap(&self) -> &[u8] {
        match self.store.data().memory {
            Some(memory) => memory.data(&self.store),
            None => &[],
        }
    }

    /// The live instance's mutable globals.
    fn read_globals(&mut self) -> Vec<Val> {
        let names = self.module.globals.clone();
        names
            .iter()
            .map(|name| {
                let global =
                    self.instance.get_global(&mut self.store, name).expect("instrumented export");
                global.get(&mut self.store)
            })
            .collect()
    }

    /// Sets the live instance's mutable globals to the committed values.
    fn write_globals(&mut self) {
        let names = self.module.globals.clone();
        for (name, value) in names.iter().zip(self.committed.globals.clone()) {
            let global =
                self.instance.get_global(&mut self.store, name).expect("instrumented export");
            global.set(&mut self.store, value).expect("a saved value has the global's type");
        }
    }
}
