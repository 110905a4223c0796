//! The `ic0` System API, as the IC interface specification defines it.
//!
//! Every import is registered once in a [`Linker`], generic over the pointer
//! type `I` (`u32` for wasm32 modules, `u64` for wasm64 ones such as Motoko's).
//! Each function checks that it may be called in the current execution
//! context, charges its instructions ([`crate::costs`]), bounds-checks every
//! memory access, and traps — never panics — on a contract violation.
//!
//! Areas: `msg` (arguments, caller, replies), `cycles`, `canister` (the
//! canister, its subnet, certified data, costs, environment), `stable`
//! (stable memory), `time` (time, the global timer, performance counters),
//! `debug` (debug printing and traps) and `call` (calls to other
//! canisters, which this host does not support).

use std::fmt;

use wasmtime::{Caller, Linker, Memory};

use crate::memory::StableMemory;

mod call;
mod canister;
mod cycles;
mod debug;
mod msg;
mod stable;
mod time;

/// A parameter or result type of an `ic0` function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiType {
    /// A pointer or size: `i32` in wasm32 modules, `i64` in wasm64 ones.
    I,
    I32,
    I64,
}

/// One function of the System API and its signature.
#[derive(Clone, Copy, Debug)]
pub struct ApiFunction {
    pub name: &'static str,
    pub params: &'static [ApiType],
    pub results: &'static [ApiType],
    /// Only wasm32 modules may import it (the 64-bit-unsafe legacy API).
    pub wasm32_only: bool,
}

macro_rules! api_table {
    ($($name:ident : ( $($p:ident),* ) -> ( $($r:ident),* ) $(, $legacy:ident)? ;)*) => {
        /// Every `ic0` function this host provides, with the signatures of the
        /// IC interface specification (`ic0.txt`, as `ic0` 1.2 / ic-cdk 0.20 import
        /// them). Validation checks a module's imports against this table, and a
        /// test checks that the linkers register exactly these types.
        pub const API: &[ApiFunction] = &[
            $(ApiFunction {
                name: stringify!($name),
                params: &[$(ApiType::$p),*],
                results: &[$(ApiType::$r),*],
                wasm32_only: api_table!(@legacy $($legacy)?),
            },)*
        ];
    };
    (@legacy) => { false };
    (@legacy legacy) => { true };
}

api_table! {
    msg_arg_data_size: () -> (I);
    msg_arg_data_copy: (I, I, I) -> ();
    msg_caller_size: () -> (I);
    msg_caller_copy: (I, I, I) -> ();
    msg_caller_info_data_size: () -> (I);
    msg_caller_info_data_copy: (I, I, I) -> ();
    msg_caller_info_signer_size: () -> (I);
    msg_caller_info_signer_copy: (I, I, I) -> ();
    msg_reject_code: () -> (I32);
    msg_reject_msg_size: () -> (I);
    msg_reject_msg_copy: (I, I, I) -> ();
    msg_deadline: () -> (I64);
    msg_reply_data_append: (I, I) -> ();
    msg_reply: () -> ();
    msg_reject: (I, I) -> ();
    msg_cycles_available128: (I) -> ();
    msg_cycles_refunded128: (I) -> ();
    msg_cycles_accept128: (I64, I64, I) -> ();
    cycles_burn128: (I64, I64, I) -> ();
    canister_self_size: () -> (I);
    canister_self_copy: (I, I, I) -> ();
    canister_cycle_balance128: (I) -> ();
    canister_liquid_cycle_balance128: (I) -> ();
    canister_status: () -> (I32);
    canister_version: () -> (I64);
    subnet_self_size: () -> (I);
    subnet_self_copy: (I, I, I) -> ();
    subnet_self_node_count: () -> (I32);
    msg_method_name_size: () -> (I);
    msg_method_name_copy: (I, I, I) -> ();
    accept_message: () -> ();
    call_new: (I, I, I, I, I, I, I, I) -> ();
    call_on_cleanup: (I, I) -> ();
    call_data_append: (I, I) -> ();
    call_with_best_effort_response: (I32) -> ();
    call_cycles_add128: (I64, I64) -> ();
    call_perform: () -> (I32);
    stable64_size: () -> (I64);
    stable64_grow: (I64) -> (I64);
    stable64_write: (I64, I64, I64) -> ();
    stable64_read: (I64, I64, I64) -> ();
    root_key_size: () -> (I);
    root_key_copy: (I, I, I) -> ();
    certified_data_set: (I, I) -> ();
    data_certificate_present: () -> (I32);
    data_certificate_size: () -> (I);
    data_certificate_copy: (I, I, I) -> ();
    time: () -> (I64);
    global_timer_set: (I64) -> (I64);
    performance_counter: (I32) -> (I64);
    is_controller: (I, I) -> (I32);
    in_replicated_execution: () -> (I32);
    cost_call: (I64, I64, I) -> ();
    cost_create_canister: (I) -> ();
    cost_http_request: (I64, I64, I) -> ();
    cost_sign_with_ecdsa: (I, I, I32, I) -> (I32);
    cost_sign_with_schnorr: (I, I, I32, I) -> (I32);
    cost_vetkd_derive_key: (I, I, I32, I) -> (I32);
    env_var_count: () -> (I);
    env_var_name_size: (I) -> (I);
    env_var_name_copy: (I, I, I, I) -> ();
    env_var_name_exists: (I, I) -> (I32);
    env_var_value_size: (I, I) -> (I);
    env_var_value_copy: (I, I, I, I, I) -> ();
    debug_print: (I, I) -> ();
    trap: (I, I) -> ();
    msg_cycles_available: () -> (I64), legacy;
    msg_cycles_refunded: () -> (I64), legacy;
    msg_cycles_accept: (I64) -> (I64), legacy;
    canister_cycle_balance: () -> (I64), legacy;
    call_cycles_add: (I64) -> (), legacy;
    stable_size: () -> (I32), legacy;
    stable_grow: (I32) -> (I32), legacy;
    stable_write: (I32, I32, I32) -> (), legacy;
    stable_read: (I32, I32, I32) -> (), legacy;
}

/// The function of the System API called `name`.
pub fn api_function(name: &str) -> Option<&'static ApiFunction> {
    API.iter().find(|f| f.name == name)
}

/// Where a message executes (the specification's execution contexts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// The wasm `start` function (`s`).
    Start,
    /// `canister_init` or `canister_post_upgrade` (`I`).
    Init,
    /// `canister_pre_upgrade` (`G`).
    PreUpgrade,
    /// An update method (`U`).
    Update,
    /// A query method called as an update (`RQ`).
    ReplicatedQuery,
    /// A query method (`NRQ`).
    Query,
    /// A composite query method (`CQ`).
    CompositeQuery,
    /// `canister_inspect_message` (`F`).
    InspectMessage,
    /// `canister_heartbeat` or `canister_global_timer` (`T`).
    SystemTask,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Context::Start => "start",
            Context::Init => "init",
            Context::PreUpgrade => "pre_upgrade",
            Context::Update => "update",
            Context::ReplicatedQuery => "replicated query",
            Context::Query => "non-replicated query",
            Context::CompositeQuery => "composite query",
            Context::InspectMessage => "inspect message",
            Context::SystemTask => "system task",
        })
    }
}

impl Context {
    /// Whether the message runs on every replica (`ic0.in_replicated_execution`).
    pub fn is_replicated(self) -> bool {
        !matches!(self, Context::Query | Context::CompositeQuery | Context::InspectMessage)
    }

    /// Whether a message that returns normally keeps its changes. A query
    /// never does, even when called as an update.
    pub fn keeps_changes(self) -> bool {
        !matches!(
            self,
            Context::Query
                | Context::ReplicatedQuery
                | Context::CompositeQuery
                | Context::InspectMessage
        )
    }
}

/// Why a message trapped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Trap {
    /// The canister called `ic0.trap`.
    #[error("canister called `ic0.trap` with message: {0}")]
    Explicit(String),
    /// The canister broke a rule of the System API.
    #[error("{0}")]
    ContractViolation(String),
    /// The message used up its instruction limit.
    #[error("canister exceeded the limit of {0} instructions for a single message execution")]
    OutOfInstructions(u64),
    /// A wasm trap (unreachable, out-of-bounds access, stack overflow, …).
    #[error("canister trapped: {0}")]
    Wasm(String),
}

/// How an execution ended, when it did not trap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Reply(Vec<u8>),
    /// The canister rejected the call with this message (reject code 4).
    Reject(String),
}

/// The part of a canister's system state that outlives messages.
#[derive(Clone, Default)]
pub struct SystemState {
    pub canister_id: Vec<u8>,
    pub controllers: Vec<Vec<u8>>,
    pub stable: StableMemory,
    pub cycles: u128,
    pub version: u64,
    pub global_timer: u64,
    pub certified_data: Vec<u8>,
}

/// Everything about the message being executed.
#[derive(Default)]
pub struct MessageState {
    pub context: Option<Context>,
    pub arg: Vec<u8>,
    pub caller: Vec<u8>,
    pub method: String,
    pub time: u64,
    pub instruction_limit: u64,
    pub reply: Vec<u8>,
    pub response: Option<Response>,
    pub accepted: bool,
    /// Instructions charged for System API calls.
    pub system_instructions: u64,
    pub stable_bytes_written: u64,
    pub cycles_burned: u128,
    pub debug_output: Vec<String>,
}

/// What a canister's `Store` holds.
#[derive(Default)]
pub struct StoreData {
    pub system: SystemState,
    pub message: MessageState,
    /// The canister's linear memory, once instantiated.
    pub memory: Option<Memory>,
    /// What the store has allocated for linear memories.
    pub allocated: MemoryAccount,
}

/// The bytes of linear memory a `Store` has allocated, over every instance
/// it ever held: wasmtime frees no instance of a store before the store is
/// dropped, so this never goes down. The host keeps it at one instance's
/// heap by replacing the store whenever it needs a new instance.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryAccount {
    pub bytes: u64,
}

impl wasmtime::ResourceLimiter for MemoryAccount {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.bytes += desired.saturating_sub(current) as u64;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// A pointer or size in the canister's address space.
pub trait Ptr: wasmtime::WasmTy + Copy + Send + Sync + 'static {
    fn to_u64(self) -> u64;
    fn from_len(len: usize) -> Self;
}

impl Ptr for u32 {
    fn to_u64(self) -> u64 {
        u64::from(self)
    }
    fn from_len(len: usize) -> Self {
        u32::try_from(len).expect("lengths the host returns fit in 32 bits")
    }
}

impl Ptr for u64 {
    fn to_u64(self) -> u64 {
        self
    }
    fn from_len(len: usize) -> Self {
        len as u64
    }
}

type C<'a> = Caller<'a, StoreData>;

/// Registers every `ic0` function in `linker`, with pointers of type `I`;
/// wasm32 linkers also get the legacy 32-bit functions.
pub fn add_to_linker<I: Ptr>(linker: &mut Linker<StoreData>, wasm32: bool) -> wasmtime::Result<()> {
    msg::add_to_linker::<I>(linker)?;
    cycles::add_to_linker::<I>(linker, wasm32)?;
    canister::add_to_linker::<I>(linker)?;
    stable::add_to_linker(linker, wasm32)?;
    time::add_to_linker(linker)?;
    debug::add_to_linker::<I>(linker)?;
    call::add_to_linker::<I>(linker)?;
    if wasm32 {
        call::add_legacy_to_linker(linker)?;
    }
    Ok(())
}

fn violation(msg: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(Trap::ContractViolation(msg.into()))
}

/// Which contexts may call a function (the specification's letters).
#[derive(Clone, Copy)]
enum Allowed {
    /// Everywhere, including `start` (`* s`).
    Anywhere,
    /// Everywhere except `start` (`*`).
    NotStart,
    Only(&'static [Context]),
}

/// Checks the context and charges `cost` instructions.
fn enter(c: &mut C<'_>, name: &str, allowed: Allowed, cost: u64) -> wasmtime::Result<()> {
    let context = c.data().message.context.unwrap_or(Context::Start);
    let ok = match allowed {
        Allowed::Anywhere => true,
        Allowed::NotStart => context != Context::Start,
        Allowed::Only(list) => list.contains(&context),
    };
    if !ok {
        return Err(violation(format!("\"ic0.{name}\" cannot be executed in {context} mode")));
    }
    charge(c, cost)
}

/// Charges `amount` instructions, trapping when the limit is reached.
pub(crate) fn charge(c: &mut C<'_>, amount: u64) -> wasmtime::Result<()> {
    let fuel = c.get_fuel()?;
    c.data_mut().message.system_instructions += amount;
    if fuel < amount {
        c.set_fuel(0)?;
        let limit = c.data().message.instruction_limit;
        return Err(wasmtime::Error::new(Trap::OutOfInstructions(limit)));
    }
    c.set_fuel(fuel - amount)?;
    Ok(())
}

fn memory(c: &C<'_>) -> wasmtime::Result<Memory> {
    c.data().memory.ok_or_else(|| violation("the canister has no memory"))
}

/// The range `[start, start + len)` of a buffer of `size` bytes, if in bounds.
fn range(
    start: u64,
    len: u64,
    size: usize,
    what: &str,
) -> wasmtime::Result<std::ops::Range<usize>> {
    match start.checked_add(len) {
        Some(end) if end <= size as u64 => Ok(start as usize..end as usize),
        _ => Err(violation(format!(
            "{what} out of bounds: {len} bytes at offset {start} exceed its size of {size} bytes"
        ))),
    }
}

/// Reads `size` bytes of the heap at `src`.
fn read_heap(c: &mut C<'_>, src: u64, size: u64) -> wasmtime::Result<Vec<u8>> {
    let memory = memory(c)?;
    let heap = memory.data(&*c);
    Ok(heap[range(src, size, heap.len(), "heap access")?].to_vec())
}

/// Copies `size` bytes at `offset` of the buffer `pick` selects into the
/// heap at `dst`.
fn copy_to_heap(
    c: &mut C<'_>,
    dst: u64,
    offset: u64,
    size: u64,
    what: &str,
    pick: impl Fn(&StoreData) -> &[u8],
) -> wasmtime::Result<()> {
    let memory = memory(c)?;
    let (heap, data) = memory.data_and_store_mut(c);
    let source = pick(data);
    let from = range(offset, size, source.len(), what)?;
    let to = range(dst, size, heap.len(), "heap access")?;
    heap[to].copy_from_slice(&source[from]);
    Ok(())
}

/// Writes a 128-bit amount (little-endian, as the specification says).
fn write_u128(c: &mut C<'_>, dst: u64, value: u128) -> wasmtime::Result<()> {
    let memory = memory(c)?;
    let heap = memory.data_mut(c);
    let to = range(dst, 16, heap.len(), "heap access")?;
    heap[to].copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// Registers the host's own import, which instrumentation calls before bulk
/// memory operations to charge their length (see [`crate::metering`]).
pub fn add_host_imports(linker: &mut Linker<StoreData>, wasm64: bool) -> wasmtime::Result<()> {
    let refund = crate::metering::injected_charge_cost(wasm64);
    linker.func_wrap(
        crate::instrument::HOST_MODULE,
        crate::instrument::CHARGE_BYTES,
        move |mut c: C<'_>, length: u64| -> wasmtime::Result<u64> {
            // The inserted instructions themselves are free, as on the IC.
            let fuel = c.get_fuel()?;
            c.set_fuel(fuel + refund)?;
            charge(&mut c, length)?;
            Ok(length)
        },
    )?;
    Ok(())
}
