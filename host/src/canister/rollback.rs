//! The end of a message: committing what it changed, or discarding it and
//! putting the live instance back to the committed state. [`Pending`] holds
//! an update between the two, so that a caller can look at it first.

use super::instance::{instantiate_with, new_store};
use super::{Canister, Execution, MessageEnv, SystemSnapshot};
use crate::memory::WASM_PAGE_SIZE;
use crate::system_api::Context;

/// An update that ran but is neither committed nor discarded yet, so that a
/// caller can compare it with another engine's run first.
pub struct Pending<'a> {
    pub(super) canister: &'a mut Canister,
    pub(super) execution: Execution,
    pub(super) context: Context,
    pub(super) saved: SystemSnapshot,
    /// Cycles for receiving the message, charged with the execution.
    pub(super) ingress: u128,
}

impl Pending<'_> {
    pub fn execution(&self) -> &Execution {
        &self.execution
    }

    pub(super) fn keeps_changes(&self) -> bool {
        self.execution.result.is_ok() && self.context.keeps_changes()
    }

    /// Commits the message if it succeeded (else discards it) and charges
    /// its cycles.
    pub fn commit(self) -> Execution {
        let keep = self.keeps_changes();
        self.finish(keep, true)
    }

    /// Discards everything the message did; it costs nothing.
    pub fn discard(self) -> Execution {
        self.finish(false, false)
    }

    fn finish(self, keep: bool, charge: bool) -> Execution {
        let Pending { canister, mut execution, context, saved, ingress } = self;
        canister.finish(context, keep, saved);
        if charge {
            canister.charge(&mut execution, ingress);
        }
        execution
    }
}

/// Whether committing a message in `context` bumps the canister version.
pub(super) fn bumps_version(context: Context) -> bool {
    matches!(context, Context::Update | Context::SystemTask)
}

impl Canister {
    /// Commits (`keep`) or discards what the message started by
    /// [`Canister::start`] did.
    pub(super) fn finish(&mut self, context: Context, keep: bool, saved: SystemSnapshot) {
        if keep {
            self.commit();
            if bumps_version(context) {
                self.store.data_mut().system.version += 1;
            }
        } else {
            let system = &mut self.store.data_mut().system;
            system.cycles = saved.cycles;
            system.global_timer = saved.global_timer;
            system.certified_data = saved.certified_data;
            system.stable.rollback();
            self.restore_committed();
        }
    }

    fn commit(&mut self) {
        self.committed.digests = self.live_digests();
        self.store.data_mut().system.stable.commit();
        let live = match self.store.data().memory {
            Some(memory) => memory.data(&self.store),
            None => &[],
        };
        let changed = self.committed.heap.commit(live);
        for unsynced in &mut self.unsynced {
            unsynced.heap.extend(&changed);
        }
        self.dirty_heap.extend(changed);
        self.committed.globals = self.read_globals();
    }

    /// Makes the live instance match the committed heap and globals.
    pub(super) fn restore_committed(&mut self) {
        let Some(memory) = self.store.data().memory else {
            self.write_globals();
            return;
        };
        if memory.data_size(&self.store) == self.committed.heap.len() {
            self.committed.heap.restore(memory.data_mut(&mut self.store));
        } else {
            // Linear memory cannot shrink: start a fresh instance and give it
            // the committed heap. It goes in a fresh store, dropping the old
            // one: a store frees none of its instances before it is dropped,
            // so re-instantiating into it would keep every discarded heap.
            self.fresh_instances += 1;
            let env = MessageEnv::default();
            let system = std::mem::take(&mut self.store.data_mut().system);
            let mut store = new_store(&self.module, system);
            self.instance =
                instantiate_with(&mut store, &self.module, &env, self.limits.install, false)
                    .expect("a module that instantiated once instantiates again");
            self.store = store;
            let memory = self.store.data().memory.expect("the module has a memory");
            let grow = self.committed.heap.len() as u64 - memory.data_size(&self.store) as u64;
            memory
                .grow(&mut self.store, grow / WASM_PAGE_SIZE)
                .expect("the heap grew to this size before");
            memory.data_mut(&mut self.store).copy_from_slice(self.committed.heap.bytes());
        }
        self.write_globals();
    }
}
