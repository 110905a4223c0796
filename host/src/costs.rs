//! What a message costs: instruction charges for System API calls, the
//! instruction limits, and (in one place) the fee table in cycles.
//!
//! Wasm instructions are counted with wasmtime's fuel (one unit per operator,
//! wasmtime's default table). System API calls do not consume fuel by
//! themselves, so the host charges them explicitly here, following the
//! replica's "new" metering (`rs/embedders/src/wasmtime_embedder/
//! system_api_complexity.rs` in dfinity/ic): a fixed overhead per call plus one
//! instruction per byte copied, fifty per byte of a reply or reject, and a
//! surcharge per stable-memory page a message dirties for the first time.

/// Instruction limits per message, by kind of message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// An update call (and a replicated query).
    pub update: u64,
    /// A query call.
    pub query: u64,
    /// `canister_init`, the `start` function, and each upgrade hook.
    pub install: u64,
    /// `canister_inspect_message`.
    pub inspect: u64,
}

impl Default for Limits {
    /// The limits of an application subnet.
    fn default() -> Self {
        Self {
            update: 40_000_000_000,
            query: 5_000_000_000,
            install: 300_000_000_000,
            inspect: 200_000_000,
        }
    }
}

/// Largest argument of an ingress message, in bytes.
pub const MAX_INGRESS_BYTES: usize = 2 * 1024 * 1024;
/// Largest reply of an update call, in bytes.
pub const MAX_UPDATE_REPLY_BYTES: usize = 2 * 1024 * 1024;
/// Largest reply of a non-replicated query, in bytes.
pub const MAX_QUERY_REPLY_BYTES: usize = 3 * 1024 * 1024;

/// Stable memory limit, in wasm pages (the replica's 500 GiB is more than a
/// development node should allow; 64 GiB is still far beyond its workloads).
pub const MAX_STABLE_PAGES: u64 = 64 * 1024 * 1024 * 1024 / 65536;

/// Instructions charged per byte a reply or reject transmits.
pub const BYTE_TRANSMISSION_COST_FACTOR: u64 = 50;
/// Instructions charged for each stable-memory page (4 KiB) a message dirties.
pub const DIRTY_PAGE_OVERHEAD: u64 = 1_000;

/// Fixed overhead of each System API call, in instructions.
pub mod overhead {
    pub const ACCEPT_MESSAGE: u64 = 500;
    pub const CANISTER_CYCLE_BALANCE128: u64 = 500;
    pub const CANISTER_SELF_COPY: u64 = 500;
    pub const CANISTER_SELF_SIZE: u64 = 500;
    pub const CANISTER_STATUS: u64 = 500;
    pub const CANISTER_VERSION: u64 = 500;
    pub const CALL_NEW: u64 = 1_500;
    pub const CERTIFIED_DATA_SET: u64 = 500;
    /// Not in the replica's table; charged like its other cost queries.
    pub const COST_CALL: u64 = 500;
    pub const DATA_CERTIFICATE_COPY: u64 = 500;
    pub const DATA_CERTIFICATE_PRESENT: u64 = 500;
    pub const DATA_CERTIFICATE_SIZE: u64 = 500;
    /// Not in the replica's table; charged like `canister_self_size`.
    pub const ENV_VAR: u64 = 500;
    pub const CYCLES_BURN128: u64 = 100;
    pub const DEBUG_PRINT: u64 = 100;
    pub const GLOBAL_TIMER_SET: u64 = 500;
    pub const IN_REPLICATED_EXECUTION: u64 = 500;
    pub const IS_CONTROLLER: u64 = 1_000;
    pub const MSG_ARG_DATA_COPY: u64 = 500;
    pub const MSG_ARG_DATA_SIZE: u64 = 500;
    pub const MSG_CALLER_COPY: u64 = 500;
    pub const MSG_CALLER_SIZE: u64 = 500;
    pub const MSG_CYCLES_ACCEPT128: u64 = 500;
    pub const MSG_CYCLES_AVAILABLE128: u64 = 500;
    pub const MSG_CYCLES_REFUNDED128: u64 = 500;
    pub const MSG_METHOD_NAME_COPY: u64 = 500;
    pub const MSG_METHOD_NAME_SIZE: u64 = 500;
    pub const MSG_REJECT: u64 = 500;
    pub const MSG_REJECT_CODE: u64 = 500;
    pub const MSG_REJECT_MSG_COPY: u64 = 500;
    pub const MSG_REJECT_MSG_SIZE: u64 = 500;
    pub const MSG_REPLY: u64 = 500;
    pub const MSG_REPLY_DATA_APPEND: u64 = 500;
    pub const PERFORMANCE_COUNTER: u64 = 200;
    pub const STABLE64_GROW: u64 = 500;
    pub const STABLE64_READ: u64 = 20;
    pub const STABLE64_SIZE: u64 = 20;
    pub const STABLE64_WRITE: u64 = 20;
    pub const TIME: u64 = 500;
    pub const TRAP: u64 = 500;
}
