//! Instances of a canister's module: the store that holds one,
//! instantiation with the module's `start` function, and how a wasmtime
//! error becomes a [`Trap`].

use wasmtime::Store;

use super::MessageEnv;
use crate::InstallError;
use crate::engine::CanisterModule;
use crate::system_api::{Context, MessageState, StoreData, SystemState, Trap};

/// A store for instances of `module`, holding `system`.
pub(super) fn new_store(module: &CanisterModule, system: SystemState) -> Store<StoreData> {
    let mut store = Store::new(module.engine(), StoreData { system, ..StoreData::default() });
    store.limiter(|data| &mut data.allocated);
    store
}

/// Instantiates `module`, running its `start` function if it has one.
pub(super) fn instantiate(
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
pub(super) fn instantiate_with(
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
pub(super) fn classify(error: wasmtime::Error, limit: u64) -> Trap {
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return trap.clone();
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => Trap::OutOfInstructions(limit),
        Some(trap) => Trap::Wasm(trap.to_string()),
        None => Trap::Wasm(format!("{error:#}")),
    }
}
