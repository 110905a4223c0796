//! A small, deterministic Internet Computer replica.
//!
//! The host installs canisters — wasm modules that import only the `ic0`
//! System API — and executes their messages under [wasmtime], with the
//! semantics of the IC interface specification: a message runs to completion,
//! replies at most once, and either commits all of its changes or, if it
//! traps or is a query, none of them. It knows nothing about what a canister
//! does; callers pass Candid (or any) bytes in and get bytes out.
//!
//! # Determinism
//!
//! Given the same module, the same messages and the same `MessageEnv` (caller
//! and time), the host produces the same replies, the same instruction counts
//! and the same memory contents, on any machine and with either compiler:
//!
//! - the only imports are the `ic0` functions; a canister has no other way to
//!   observe the host, and the time it sees is an input of the message;
//! - NaNs are canonicalised and relaxed SIMD is off, the two sources of
//!   platform-dependent results in wasm;
//! - instructions are counted with wasmtime fuel, a deterministic count of
//!   wasm operators, plus fixed charges for System API calls
//!   ([`costs`]); an instruction limit is therefore hit at the same point on
//!   every run;
//! - a trapped message leaves no trace: heap, mutable globals, stable memory
//!   and system state are restored from the committed state.
//!
//! What is not covered: exhausting the *native* stack (deep recursion) traps
//! at a depth that depends on the compiler's frame sizes.
//!
//! # Structure
//!
//! [`Host`] owns the wasmtime engine and the System API linkers and compiles
//! modules ([`CanisterModule`]). [`Canister`] is one installed canister: its
//! wasmtime store, committed heap image and stable memory ([`memory`]). Its
//! code (the private `canister` module) has a file per job: its lifecycle
//! (install, upgrade, restore), message dispatch, cycles, committing and
//! rolling back a message (and the two-phase [`Pending`] update),
//! instantiation, and the state hash. The `ic0` imports ([`system_api`]) have
//! one module per area of the System API.

mod canister;
pub mod costs;
mod engine;
pub mod fees;
pub mod instrument;
pub mod memory;
pub mod metering;
pub mod persist;
pub mod system_api;
pub mod validation;

pub use canister::{Canister, CanisterSettings, Execution, MessageEnv, Pending, Synced};
pub use engine::{CanisterModule, Compiler, Host, HostConfig};
pub use system_api::{Context, Response, Trap};

/// Why a canister could not be installed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InstallError {
    #[error("invalid canister module: {0}")]
    InvalidModule(String),
    #[error("the module's start function trapped: {0}")]
    StartTrapped(Trap),
    #[error("canister_init trapped: {0}")]
    InitTrapped(Trap),
}

/// Why an upgrade failed; the canister runs the old code, unchanged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpgradeError {
    #[error("canister_pre_upgrade trapped: {0}")]
    PreUpgradeTrapped(Trap),
    #[error("the new module cannot be installed: {0}")]
    Install(InstallError),
    #[error("canister_post_upgrade trapped: {0}")]
    PostUpgradeTrapped(Trap),
}

/// Why a call produced no reply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("the canister has no method {0:?}")]
    MethodNotFound(String),
    #[error("the argument has {size} bytes, more than the limit of {limit}")]
    ArgumentTooLarge { size: usize, limit: usize },
    #[error("the canister rejected the call: {0}")]
    Rejected(String),
    #[error("the canister refused the message in canister_inspect_message: {0}")]
    Refused(String),
    #[error("the canister is out of cycles: it holds {balance} and the call needs {needed}")]
    OutOfCycles { balance: u128, needed: u128 },
    #[error("the canister did not reply to the call")]
    NoReply,
    #[error("{0}")]
    Trapped(Trap),
}
