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

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::{Store, Val};

use crate::costs::{self, Limits};
use crate::engine::{CanisterModule, Host};
use crate::fees::FEES;
use crate::memory::{HEAP_SPACE, HeapImage, PageDigest, StableMemory, WASM_PAGE_SIZE};
use crate::system_api::{Context, MessageState, Response, StoreData, SystemState, Trap};
use crate::{CallError, InstallError, UpgradeError};

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

/// What [`Canister::state_hash`] covers.
struct HashedState {
    heap: PageDigest,
    heap_len: usize,
    stable: PageDigest,
    stable_pages: u64,
    cycles: u128,
    global_timer: u64,
    certified_data: Vec<u8>,
    version: u64,
    globals: Vec<Val>,
}

impl HashedState {
    fn hash(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(self.heap.to_bytes());
        hasher.update((self.heap_len as u64).to_le_bytes());
        hasher.update(self.stable.to_bytes());
        hasher.update(self.stable_pages.to_le_bytes());
        hasher.update(self.cycles.to_le_bytes());
        hasher.update(self.global_timer.to_le_bytes());
        hasher.update((self.certified_data.len() as u64).to_le_bytes());
        hasher.update(&self.certified_data);
        hasher.update(self.version.to_le_bytes());
        for global in &self.globals {
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
}

/// What a message saved to restore the system state if it is discarded.
struct Saved {
    cycles: u128,
    global_timer: u64,
    certified_data: Vec<u8>,
}

/// An update that ran but is neither committed nor discarded yet, so that a
/// caller can compare it with another engine's run first.
pub struct Pending<'a> {
    canister: &'a mut Canister,
    execution: Execution,
    context: Context,
    saved: Saved,
    /// Cycles for receiving the message, charged with the execution.
    ingress: u128,
}

impl Pending<'_> {
    pub fn execution(&self) -> &Execution {
        &self.execution
    }

    /// The state hash the canister will have after [`Pending::commit`]
    /// (`None` unless the host tracks state).
    pub fn state_hash(&mut self) -> Option<[u8; 32]> {
        let (heap, stable) = self.canister.committed.digests?;
        let cost = self.ingress + self.canister.execution_cost(&self.execution);
        let keep = self.keeps_changes();
        let canister = &mut *self.canister;
        let system = &canister.store.data().system;
        let state = if keep {
            let bump = u64::from(matches!(self.context, Context::Update | Context::SystemTask));
            HashedState {
                heap: canister.committed.heap.digest_after(canister.live_heap(), heap),
                heap_len: canister.live_heap().len(),
                stable: system.stable.digest_after(stable),
                stable_pages: system.stable.size(),
                cycles: system.cycles.saturating_sub(cost),
                global_timer: system.global_timer,
                certified_data: system.certified_data.clone(),
                version: system.version + bump,
                globals: canister.read_globals(),
            }
        } else {
            HashedState {
                heap,
                heap_len: canister.committed.heap.len(),
                stable,
                stable_pages: system.stable.size_before_message(),
                cycles: self.saved.cycles.saturating_sub(cost),
                global_timer: self.saved.global_timer,
                certified_data: self.saved.certified_data.clone(),
                version: system.version,
                globals: canister.committed.globals.clone(),
            }
        };
        Some(state.hash())
    }

    fn keeps_changes(&self) -> bool {
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

/// An installed canister.
pub struct Canister {
    store: Store<StoreData>,
    instance: wasmtime::Instance,
    module: Arc<CanisterModule>,
    committed: Committed,
    limits: Limits,
    /// Heap pages changed since [`Canister::take_dirty`] was last called.
    dirty_heap: BTreeSet<usize>,
}

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
        };
        canister.committed.heap = HeapImage::new(canister.live_heap().to_vec());
        // A new instance's heap is new in every page.
        canister.dirty_heap =
            (0..canister.committed.heap.len() / crate::memory::PAGE_SIZE).collect();
        canister.committed.globals = canister.read_globals();
        if host.tracks_state() {
            let heap = PageDigest::of(HEAP_SPACE, canister.committed.heap.bytes());
            let stable = canister.store.data().system.stable.digest();
            canister.committed.digests = Some((heap, stable));
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

    /// Calls update method `method` (or a query method, as a replicated
    /// query whose changes are discarded), as an ingress message.
    pub fn update(
        &mut self,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<Execution, CallError> {
        Ok(self.update_pending(method, arg, env)?.commit())
    }

    /// Runs an update like [`Canister::update`] but leaves committing (or
    /// discarding) it to the caller.
    pub fn update_pending(
        &mut self,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<Pending<'_>, CallError> {
        if arg.len() > costs::MAX_INGRESS_BYTES {
            return Err(CallError::ArgumentTooLarge {
                size: arg.len(),
                limit: costs::MAX_INGRESS_BYTES,
            });
        }
        let update = format!("canister_update {method}");
        let query = format!("canister_query {method}");
        let (context, export) = if self.module.exports(&update) {
            (Context::Update, update)
        } else if self.module.exports(&query) {
            (Context::ReplicatedQuery, query)
        } else {
            return Err(CallError::MethodNotFound(method.to_owned()));
        };
        let ingress = FEES.ingress_cost(method, arg.len());
        let needed = ingress + FEES.execution_cost(self.limits.update, self.module.wasm64());
        let balance = self.store.data().system.cycles;
        if balance < needed {
            return Err(CallError::OutOfCycles { balance, needed });
        }
        if self.module.exports("canister_inspect_message") {
            self.inspect(method, arg, env)?;
        }
        let (execution, _, saved) =
            self.start(context, &export, method, arg, env, self.limits.update);
        Ok(Pending { canister: self, execution, context, saved, ingress })
    }

    /// Runs `canister_inspect_message`; the message proceeds only if it
    /// accepts. Inspection is free and changes nothing.
    fn inspect(&mut self, method: &str, arg: &[u8], env: &MessageEnv) -> Result<(), CallError> {
        let (execution, accepted) = self.run(
            Context::InspectMessage,
            "canister_inspect_message",
            method,
            arg,
            env,
            self.limits.query,
        );
        match execution.result {
            Ok(_) if accepted => Ok(()),
            Ok(_) => Err(CallError::Refused("the canister did not accept the message".to_owned())),
            Err(trap) => {
                Err(CallError::Refused(format!("canister_inspect_message trapped: {trap}")))
            }
        }
    }

    /// Calls query method `method`; whatever it changes is discarded.
    pub fn query(
        &mut self,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<Execution, CallError> {
        let query = format!("canister_query {method}");
        let composite = format!("canister_composite_query {method}");
        let (context, export) = if self.module.exports(&query) {
            (Context::Query, query)
        } else if self.module.exports(&composite) {
            (Context::CompositeQuery, composite)
        } else {
            return Err(CallError::MethodNotFound(method.to_owned()));
        };
        Ok(self.execute(context, &export, method, arg, env, self.limits.query))
    }

    /// Runs `canister_heartbeat`, if the canister has one.
    pub fn heartbeat(&mut self, env: &MessageEnv) -> Option<Execution> {
        if !self.module.exports("canister_heartbeat") {
            return None;
        }
        let mut execution = self.execute(
            Context::SystemTask,
            "canister_heartbeat",
            "",
            &[],
            env,
            self.limits.update,
        );
        self.charge(&mut execution, 0);
        Some(execution)
    }

    /// Runs `canister_global_timer` if the timer is set and due at `env.time`.
    /// The timer is deactivated first, as on the IC.
    pub fn global_timer(&mut self, env: &MessageEnv) -> Option<Execution> {
        let timer = self.store.data().system.global_timer;
        if timer == 0 || env.time < timer || !self.module.exports("canister_global_timer") {
            return None;
        }
        self.store.data_mut().system.global_timer = 0;
        let mut execution = self.execute(
            Context::SystemTask,
            "canister_global_timer",
            "",
            &[],
            env,
            self.limits.update,
        );
        self.charge(&mut execution, 0);
        Some(execution)
    }

    fn execution_cost(&self, execution: &Execution) -> u128 {
        FEES.execution_cost(execution.instructions, self.module.wasm64())
    }

    /// Deducts what `execution` costs, plus `extra` cycles, from the balance.
    fn charge(&mut self, execution: &mut Execution, extra: u128) {
        let cost = extra + self.execution_cost(execution);
        let system = &mut self.store.data_mut().system;
        let paid = cost.min(system.cycles);
        system.cycles -= paid;
        execution.cycles = paid;
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
        };
        if canister.committed.globals.len() != canister.module.globals.len() {
            return Err(InstallError::InvalidModule(
                "the saved globals do not match the module's".to_owned(),
            ));
        }
        canister.write_globals();
        if host.tracks_state() {
            let heap = PageDigest::of(HEAP_SPACE, canister.committed.heap.bytes());
            let stable = canister.store.data().system.stable.digest();
            canister.committed.digests = Some((heap, stable));
        }
        Ok(canister)
    }

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

    /// A hash of everything the canister's future depends on: heap, mutable
    /// globals, stable memory and system state. `None` unless the host was
    /// configured to track state (it costs two page hashes per changed page).
    pub fn state_hash(&self) -> Option<[u8; 32]> {
        let (heap, stable) = self.committed.digests?;
        let system = &self.store.data().system;
        let state = HashedState {
            heap,
            heap_len: self.committed.heap.len(),
            stable,
            stable_pages: system.stable.size(),
            cycles: system.cycles,
            global_timer: system.global_timer,
            certified_data: system.certified_data.clone(),
            version: system.version,
            globals: self.committed.globals.clone(),
        };
        Some(state.hash())
    }

    /// Bytes of linear memory the canister's store holds, over all the
    /// instances it has had: one heap's worth unless memory leaks.
    pub fn allocated_memory(&self) -> u64 {
        self.store.data().allocated.bytes
    }

    fn live_heap(&self) -> &[u8] {
        match self.store.data().memory {
            Some(memory) => memory.data(&self.store),
            None => &[],
        }
    }

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

    fn write_globals(&mut self) {
        let names = self.module.globals.clone();
        for (name, value) in names.iter().zip(self.committed.globals.clone()) {
            let global =
                self.instance.get_global(&mut self.store, name).expect("instrumented export");
            global.set(&mut self.store, value).expect("a saved value has the global's type");
        }
    }

    /// Runs `export` as one message and commits or discards its effects.
    fn execute(
        &mut self,
        context: Context,
        export: &str,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
        limit: u64,
    ) -> Execution {
        self.run(context, export, method, arg, env, limit).0
    }

    /// [`Canister::execute`], also telling whether the message called
    /// `ic0.accept_message`.
    fn run(
        &mut self,
        context: Context,
        export: &str,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
        limit: u64,
    ) -> (Execution, bool) {
        let (execution, accepted, saved) = self.start(context, export, method, arg, env, limit);
        let keep = execution.result.is_ok() && context.keeps_changes();
        self.finish(context, keep, saved);
        (execution, accepted)
    }

    /// Runs `export`, leaving its effects in the live instance.
    fn start(
        &mut self,
        context: Context,
        export: &str,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
        limit: u64,
    ) -> (Execution, bool, Saved) {
        let func = self
            .instance
            .get_typed_func::<(), ()>(&mut self.store, export)
            .expect("canister exports are () -> (), checked at install");
        let data = self.store.data_mut();
        data.message = MessageState {
            context: Some(context),
            arg: arg.to_vec(),
            caller: env.caller.clone(),
            method: method.to_owned(),
            time: env.time,
            instruction_limit: limit,
            ..MessageState::default()
        };
        data.system.stable.begin();
        let saved = Saved {
            cycles: data.system.cycles,
            global_timer: data.system.global_timer,
            certified_data: data.system.certified_data.clone(),
        };
        self.store.set_fuel(limit).expect("fuel is enabled");

        let outcome = func.call(&mut self.store, ());
        let remaining = self.store.get_fuel().expect("fuel is enabled");
        let message = std::mem::take(&mut self.store.data_mut().message);
        let result = match outcome {
            Ok(()) => Ok(message.response),
            Err(error) => Err(classify(error, limit)),
        };
        let execution = Execution {
            result,
            instructions: limit - remaining,
            cycles: 0,
            stable_bytes_written: message.stable_bytes_written,
            debug_output: message.debug_output,
        };
        (execution, message.accepted, saved)
    }

    /// Commits (`keep`) or discards what the message started by
    /// [`Canister::start`] did.
    fn finish(&mut self, context: Context, keep: bool, saved: Saved) {
        if keep {
            self.commit();
            if matches!(context, Context::Update | Context::SystemTask) {
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
        if let Some((heap, stable)) = self.committed.digests {
            let heap = self.committed.heap.digest_after(self.live_heap(), heap);
            let stable = self.store.data().system.stable.digest_after(stable);
            self.committed.digests = Some((heap, stable));
        }
        self.store.data_mut().system.stable.commit();
        let live = match self.store.data().memory {
            Some(memory) => memory.data(&self.store),
            None => &[],
        };
        let changed = self.committed.heap.commit(live);
        self.dirty_heap.extend(changed);
        self.committed.globals = self.read_globals();
    }

    /// Makes the live instance match the committed heap and globals.
    fn restore_committed(&mut self) {
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

/// A store for instances of `module`, holding `system`.
fn new_store(module: &CanisterModule, system: SystemState) -> Store<StoreData> {
    let mut store = Store::new(module.engine(), StoreData { system, ..StoreData::default() });
    store.limiter(|data| &mut data.allocated);
    store
}

/// Instantiates `module`, running its `start` function if it has one.
fn instantiate(
    store: &mut Store<StoreData>,
    module: &CanisterModule,
    env: &MessageEnv,
    limit: u64,
) -> Result<wasmtime::Instance, InstallError> {
    instantiate_with(store, module, env, limit, true)
}

/// Instantiates `module`. Unless `keep_start_effects`, the `start` function
/// runs against a scratch system state, and what it does is thrown away: a
/// canister being restored or rolled back already has its state.
fn instantiate_with(
    store: &mut Store<StoreData>,
    module: &CanisterModule,
    env: &MessageEnv,
    limit: u64,
    keep_start_effects: bool,
) -> Result<wasmtime::Instance, InstallError> {
    let saved = (!keep_start_effects).then(|| std::mem::take(&mut store.data_mut().system));
    let instance = run_start(store, module, env, limit);
    if let Some(system) = saved {
        store.data_mut().system = system;
    }
    instance
}

fn run_start(
    store: &mut Store<StoreData>,
    module: &CanisterModule,
    env: &MessageEnv,
    limit: u64,
) -> Result<wasmtime::Instance, InstallError> {
    store.data_mut().message = MessageState {
        context: Some(Context::Start),
        time: env.time,
        instruction_limit: limit,
        ..MessageState::default()
    };
    store.data_mut().system.stable.begin();
    store.set_fuel(limit).expect("fuel is enabled");
    let instance = module.pre.instantiate(&mut *store).map_err(|e| {
        store.data_mut().system.stable.rollback();
        InstallError::StartTrapped(classify(e, limit))
    })?;
    store.data_mut().system.stable.commit();
    store.data_mut().memory = instance.get_memory(&mut *store, crate::instrument::MEMORY_EXPORT);
    store.data_mut().message = MessageState::default();
    Ok(instance)
}

/// Turns a wasmtime error into the trap it stands for.
fn classify(error: wasmtime::Error, limit: u64) -> Trap {
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return trap.clone();
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => Trap::OutOfInstructions(limit),
        Some(trap) => Trap::Wasm(trap.to_string()),
        None => Trap::Wasm(format!("{error:#}")),
    }
}
