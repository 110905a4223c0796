//! A canister's lifecycle: installing it (`canister_init`), upgrading it
//! (`canister_pre_upgrade`, new code, `canister_post_upgrade`) and
//! restoring it from a checkpoint.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::Val;

use super::instance::{instantiate, instantiate_with, new_store};
use super::{Canister, CanisterSettings, Committed, Execution, MessageEnv};
use crate::engine::{CanisterModule, Host};
use crate::memory::{HeapImage, WASM_PAGE_SIZE};
use crate::system_api::{Context, SystemState};
use crate::{InstallError, UpgradeError};

impl Canister {
    /// Creates a canister from `module` and runs `canister_init` with `arg`.
    ///
    /// If `canister_init` traps, there is no canister.
    pub fn install(
        host: &Host,
        module: Arc<CanisterModule>,
        settings: CanisterSettings,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<(Self, Execution), InstallError> {
        let system = SystemState {
            canister_id: settings.canister_id,
            controllers: settings.controllers,
            cycles: settings.cycles,
            ..SystemState::default()
        };
        let mut canister = Self::instantiate(host, module, system, env)?;
        let mut execution = canister.run_hook(Context::Init, "canister_init", arg, env);
        canister.charge(&mut execution, 0);
        if let Err(trap) = &execution.result {
            return Err(InstallError::InitTrapped(trap.clone()));
        }
        canister.store.data_mut().system.version += 1;
        Ok((canister, execution))
    }

    /// Upgrades to `module`: `canister_pre_upgrade` on the old code, then a
    /// fresh heap with the new code, keeping stable memory, then
    /// `canister_post_upgrade` with `arg`.
    ///
    /// If either hook traps, the canister keeps running the old code with
    /// its state exactly as before.
    pub fn upgrade(
        &mut self,
        host: &Host,
        module: Arc<CanisterModule>,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<Execution, UpgradeError> {
        let before = (self.committed.clone(), self.store.data().system.clone());
        let mut pre = self.run_hook(Context::PreUpgrade, "canister_pre_upgrade", &[], env);
        self.charge(&mut pre, 0);
        if let Err(trap) = pre.result {
            return Err(UpgradeError::PreUpgradeTrapped(trap));
        }
        let restore = |canister: &mut Self| {
            let (committed, system) = before.clone();
            canister.store.data_mut().system = system;
            canister.committed = committed;
            canister.restore_committed();
            // Given back a state wholesale: a replica starts again.
            canister.lineage = super::replica::new_lineage();
        };

        let mut system = self.store.data().system.clone();
        // An upgrade deactivates the global timer, as on the IC.
        system.global_timer = 0;
        system.version += 1;
        let mut upgraded = match Self::instantiate(host, module, system, env) {
            Ok(upgraded) => upgraded,
            Err(error) => {
                restore(self);
                return Err(UpgradeError::Install(error));
            }
        };
        let mut post = upgraded.run_hook(Context::Init, "canister_post_upgrade", arg, env);
        upgraded.charge(&mut post, 0);
        if let Err(trap) = post.result {
            restore(self);
            return Err(UpgradeError::PostUpgradeTrapped(trap));
        }
        // Cycles spent by pre_upgrade were taken from the state post_upgrade
        // started with; the new canister carries them forward.
        *self = upgraded;
        post.instructions += pre.instructions;
        post.cycles += pre.cycles;
        post.stable_bytes_written += pre.stable_bytes_written;
        post.debug_output.splice(0..0, pre.debug_output);
        Ok(post)
    }

    /// Recreates a canister from a checkpoint of it: `module`, the committed
    /// `heap`, `globals` and `system` state. Nothing runs but the module's
    /// `start` function, whose effects are discarded.
    pub fn restore(
        host: &Host,
        module: Arc<CanisterModule>,
        heap: Vec<u8>,
        globals: Vec<Val>,
        system: SystemState,
    ) -> Result<Self, InstallError> {
        let mut store = new_store(&module, SystemState::default());
        let limits = host.limits();
        let env = MessageEnv::default();
        let instance = instantiate_with(&mut store, &module, &env, limits.install, false)?;
        store.data_mut().system = system;
        if let Some(memory) = store.data().memory {
            let size = memory.data_size(&store);
            if heap.len() < size || !heap.len().is_multiple_of(WASM_PAGE_SIZE as usize) {
                return Err(InstallError::InvalidModule(format!(
                    "the saved heap has {} bytes; the module needs at least {size}",
                    heap.len()
                )));
            }
            memory.grow(&mut store, (heap.len() - size) as u64 / WASM_PAGE_SIZE).map_err(|e| {
                InstallError::InvalidModule(format!("cannot restore the heap: {e}"))
            })?;
            memory.data_mut(&mut store).copy_from_slice(&heap);
        }
        let mut canister = Self {
            store,
            instance,
            module,
            committed: Committed { heap: HeapImage::new(heap), globals, digests: None },
            limits,
            dirty_heap: BTreeSet::new(),
            lineage: super::replica::new_lineage(),
            unsynced: Vec::new(),
            slot: 0,
            fresh_instances: 0,
        };
        if canister.committed.globals.len() != canister.module.globals.len() {
            return Err(InstallError::InvalidModule(
                "the saved globals do not match the module's".to_owned(),
            ));
        }
        canister.write_globals();
        if host.tracks_state() {
            canister.digest_committed();
        }
        Ok(canister)
    }

    /// A new instance of `module` with `system` state and a fresh heap.
    fn instantiate(
        host: &Host,
        module: Arc<CanisterModule>,
        system: SystemState,
        env: &MessageEnv,
    ) -> Result<Self, InstallError> {
        let mut store = new_store(&module, system);
        let limits = host.limits();
        let instance = instantiate(&mut store, &module, env, limits.install)?;
        let mut canister = Self {
            store,
            instance,
            module,
            committed: Committed { heap: HeapImage::default(), globals: Vec::new(), digests: None },
            limits,
            dirty_heap: BTreeSet::new(),
            lineage: super::replica::new_lineage(),
            unsynced: Vec::new(),
            slot: 0,
            fresh_instances: 0,
        };
        canister.committed.heap = HeapImage::new(canister.live_heap().to_vec());
        // A new instance's heap is new in every page.
        canister.dirty_heap =
            (0..canister.committed.heap.len() / crate::memory::PAGE_SIZE).collect();
        canister.committed.globals = canister.read_globals();
        if host.tracks_state() {
            canister.digest_committed();
        }
        Ok(canister)
    }

    /// Runs the system method `export` if the module has it.
    fn run_hook(
        &mut self,
        context: Context,
        export: &str,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Execution {
        if self.module.exports(export) {
            self.execute(context, export, "", arg, env, self.limits.install)
        } else {
            Execution {
                result: Ok(None),
                instructions: 0,
                cycles: 0,
                stable_bytes_written: 0,
                debug_output: Vec::new(),
            }
        }
    }
}
