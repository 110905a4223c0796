//! The `ic0` System API, as the IC interface specification defines it.
//!
//! Every import is registered once in a [`Linker`], generic over the pointer
//! type `I` (`u32` for wasm32 modules, `u64` for wasm64 ones such as Motoko's).
//! Each function checks that it may be called in the current execution
//! context, charges its instructions ([`crate::costs`]), bounds-checks every
//! memory access, and traps — never panics — on a contract violation.

use std::fmt;

use wasmtime::{Caller, Linker, Memory};

use crate::costs::{self, overhead};
use crate::memory::StableMemory;

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
        !matches!(
            self,
            Context::Query | Context::CompositeQuery | Context::InspectMessage
        )
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
#[derive(Default)]
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

fn violation(msg: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(Trap::ContractViolation(msg.into()))
}

/// Which contexts may call a function.
#[derive(Clone, Copy)]
enum Allowed {
    /// Everywhere, including `start` (`* s`).
    Anywhere,
    /// Everywhere except `start` (`*`).
    NotStart,
    Only(&'static [Context]),
}

use Context::*;
const ARG: Allowed = Allowed::Only(&[
    Init,
    Update,
    ReplicatedQuery,
    Query,
    CompositeQuery,
    InspectMessage,
]);
const CALLER: Allowed = Allowed::Only(&[
    Init,
    PreUpgrade,
    Update,
    ReplicatedQuery,
    Query,
    CompositeQuery,
    InspectMessage,
]);
const REPLY: Allowed = Allowed::Only(&[Update, ReplicatedQuery, Query, CompositeQuery]);
const INSPECT: Allowed = Allowed::Only(&[InspectMessage]);
const CALLBACKS: Allowed = Allowed::Only(&[]);
const CHANGES_SYSTEM_STATE: Allowed = Allowed::Only(&[Init, PreUpgrade, Update, SystemTask]);
const CYCLES_IN: Allowed = Allowed::Only(&[Update, ReplicatedQuery]);
const CERTIFICATE: Allowed = Allowed::Only(&[Query, CompositeQuery]);

/// Checks the context and charges `cost` instructions.
fn enter(c: &mut C<'_>, name: &str, allowed: Allowed, cost: u64) -> wasmtime::Result<()> {
    let context = c.data().message.context.unwrap_or(Start);
    let ok = match allowed {
        Allowed::Anywhere => true,
        Allowed::NotStart => context != Start,
        Allowed::Only(list) => list.contains(&context),
    };
    if !ok {
        return Err(violation(format!(
            "\"ic0.{name}\" cannot be executed in {context} mode"
        )));
    }
    charge(c, cost)
}

/// Charges `amount` instructions, trapping when the limit is reached.
pub(crate) fn charge(c: &mut C<'_>, amount: u64) -> wasmtime::Result<()> {
    let fuel = c.get_fuel()?;
    c.data_mut().message.system_instructions += amount;
    if fuel < amount {
        c.set_fuel(0)?;
        return Err(wasmtime::Error::new(Trap::OutOfInstructions(
            c.data().message.instruction_limit,
        )));
    }
    c.set_fuel(fuel - amount)?;
    Ok(())
}

fn memory(c: &C<'_>) -> wasmtime::Result<Memory> {
    c.data()
        .memory
        .ok_or_else(|| violation("the canister has no memory"))
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

/// Copies `size` bytes at `offset` of the buffer `pick` selects into the heap at `dst`.
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

fn write_u128(c: &mut C<'_>, dst: u64, value: u128) -> wasmtime::Result<()> {
    let memory = memory(c)?;
    let heap = memory.data_mut(c);
    let to = range(dst, 16, heap.len(), "heap access")?;
    heap[to].copy_from_slice(&value.to_le_bytes());
    Ok(())
}

fn not_supported(name: &str) -> wasmtime::Error {
    violation(format!(
        "\"ic0.{name}\": calls to other canisters are not supported by this host"
    ))
}

fn respond(c: &mut C<'_>, name: &str, response: Response) -> wasmtime::Result<()> {
    let message = &mut c.data_mut().message;
    if message.response.is_some() {
        return Err(violation(format!(
            "\"ic0.{name}\": the call has already been replied to or rejected"
        )));
    }
    message.response = Some(response);
    Ok(())
}

/// Registers every `ic0` function in `linker`, with pointers of type `I`.
pub fn add_to_linker<I: Ptr>(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    // ----- message data ---------------------------------------------------
    linker.func_wrap(
        "ic0",
        "msg_arg_data_size",
        |mut c: C<'_>| -> wasmtime::Result<I> {
            enter(
                &mut c,
                "msg_arg_data_size",
                ARG,
                overhead::MSG_ARG_DATA_SIZE,
            )?;
            Ok(I::from_len(c.data().message.arg.len()))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_arg_data_copy",
        |mut c: C<'_>, dst: I, offset: I, size: I| {
            enter(
                &mut c,
                "msg_arg_data_copy",
                ARG,
                overhead::MSG_ARG_DATA_COPY + size.to_u64(),
            )?;
            copy_to_heap(
                &mut c,
                dst.to_u64(),
                offset.to_u64(),
                size.to_u64(),
                "argument",
                |d| &d.message.arg,
            )
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_caller_size",
        |mut c: C<'_>| -> wasmtime::Result<I> {
            enter(&mut c, "msg_caller_size", CALLER, overhead::MSG_CALLER_SIZE)?;
            Ok(I::from_len(c.data().message.caller.len()))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_caller_copy",
        |mut c: C<'_>, dst: I, offset: I, size: I| {
            enter(
                &mut c,
                "msg_caller_copy",
                CALLER,
                overhead::MSG_CALLER_COPY + size.to_u64(),
            )?;
            copy_to_heap(
                &mut c,
                dst.to_u64(),
                offset.to_u64(),
                size.to_u64(),
                "caller",
                |d| &d.message.caller,
            )
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_method_name_size",
        |mut c: C<'_>| -> wasmtime::Result<I> {
            enter(
                &mut c,
                "msg_method_name_size",
                INSPECT,
                overhead::MSG_METHOD_NAME_SIZE,
            )?;
            Ok(I::from_len(c.data().message.method.len()))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_method_name_copy",
        |mut c: C<'_>, dst: I, offset: I, size: I| {
            enter(
                &mut c,
                "msg_method_name_copy",
                INSPECT,
                overhead::MSG_METHOD_NAME_COPY + size.to_u64(),
            )?;
            copy_to_heap(
                &mut c,
                dst.to_u64(),
                offset.to_u64(),
                size.to_u64(),
                "method name",
                |d| d.message.method.as_bytes(),
            )
        },
    )?;
    linker.func_wrap("ic0", "accept_message", |mut c: C<'_>| {
        enter(&mut c, "accept_message", INSPECT, overhead::ACCEPT_MESSAGE)?;
        let message = &mut c.data_mut().message;
        if message.accepted {
            return Err(violation(
                "\"ic0.accept_message\": the message was already accepted",
            ));
        }
        message.accepted = true;
        Ok(())
    })?;
    linker.func_wrap(
        "ic0",
        "msg_deadline",
        |mut c: C<'_>| -> wasmtime::Result<u64> {
            enter(&mut c, "msg_deadline", CALLER, overhead::MSG_CALLER_SIZE)?;
            // Ingress messages have no deadline.
            Ok(0)
        },
    )?;

    // ----- replying -------------------------------------------------------
    linker.func_wrap("ic0", "msg_reply_data_append", |mut c: C<'_>, src: I, size: I| {
        let cost = overhead::MSG_REPLY_DATA_APPEND + costs::BYTE_TRANSMISSION_COST_FACTOR * size.to_u64();
        enter(&mut c, "msg_reply_data_append", REPLY, cost)?;
        if c.data().message.response.is_some() {
            return Err(violation(
                "\"ic0.msg_reply_data_append\": the call has already been replied to or rejected",
            ));
        }
        let bytes = read_heap(&mut c, src.to_u64(), size.to_u64())?;
        let message = &mut c.data_mut().message;
        let limit = if message.context == Some(Query) {
            costs::MAX_QUERY_REPLY_BYTES
        } else {
            costs::MAX_UPDATE_REPLY_BYTES
        };
        if message.reply.len() + bytes.len() > limit {
            return Err(violation(format!(
                "\"ic0.msg_reply_data_append\": the reply exceeds the limit of {limit} bytes"
            )));
        }
        message.reply.extend_from_slice(&bytes);
        Ok(())
    })?;
    linker.func_wrap("ic0", "msg_reply", |mut c: C<'_>| {
        enter(&mut c, "msg_reply", REPLY, overhead::MSG_REPLY)?;
        let reply = std::mem::take(&mut c.data_mut().message.reply);
        respond(&mut c, "msg_reply", Response::Reply(reply))
    })?;
    linker.func_wrap("ic0", "msg_reject", |mut c: C<'_>, src: I, size: I| {
        let cost = overhead::MSG_REJECT + costs::BYTE_TRANSMISSION_COST_FACTOR * size.to_u64();
        enter(&mut c, "msg_reject", REPLY, cost)?;
        let bytes = read_heap(&mut c, src.to_u64(), size.to_u64())?;
        let text = String::from_utf8(bytes)
            .map_err(|_| violation("\"ic0.msg_reject\": the reject message is not UTF-8"))?;
        respond(&mut c, "msg_reject", Response::Reject(text))
    })?;
    // Reject codes and messages exist only in callbacks, which ingress
    // messages never run.
    linker.func_wrap(
        "ic0",
        "msg_reject_code",
        |mut c: C<'_>| -> wasmtime::Result<u32> {
            enter(
                &mut c,
                "msg_reject_code",
                CALLBACKS,
                overhead::MSG_REJECT_CODE,
            )?;
            Ok(0)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_reject_msg_size",
        |mut c: C<'_>| -> wasmtime::Result<I> {
            enter(
                &mut c,
                "msg_reject_msg_size",
                CALLBACKS,
                overhead::MSG_REJECT_MSG_SIZE,
            )?;
            Ok(I::from_len(0))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_reject_msg_copy",
        |mut c: C<'_>, _dst: I, _offset: I, _size: I| {
            enter(
                &mut c,
                "msg_reject_msg_copy",
                CALLBACKS,
                overhead::MSG_REJECT_MSG_COPY,
            )
        },
    )?;

    // ----- cycles ---------------------------------------------------------
    linker.func_wrap("ic0", "msg_cycles_available128", |mut c: C<'_>, dst: I| {
        enter(
            &mut c,
            "msg_cycles_available128",
            CYCLES_IN,
            overhead::MSG_CYCLES_AVAILABLE128,
        )?;
        // Ingress messages carry no cycles.
        write_u128(&mut c, dst.to_u64(), 0)
    })?;
    linker.func_wrap("ic0", "msg_cycles_refunded128", |mut c: C<'_>, dst: I| {
        enter(
            &mut c,
            "msg_cycles_refunded128",
            CALLBACKS,
            overhead::MSG_CYCLES_REFUNDED128,
        )?;
        write_u128(&mut c, dst.to_u64(), 0)
    })?;
    linker.func_wrap(
        "ic0",
        "msg_cycles_accept128",
        |mut c: C<'_>, _high: u64, _low: u64, dst: I| {
            enter(
                &mut c,
                "msg_cycles_accept128",
                CYCLES_IN,
                overhead::MSG_CYCLES_ACCEPT128,
            )?;
            write_u128(&mut c, dst.to_u64(), 0)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "cycles_burn128",
        |mut c: C<'_>, high: u64, low: u64, dst: I| {
            enter(
                &mut c,
                "cycles_burn128",
                CHANGES_SYSTEM_STATE,
                overhead::CYCLES_BURN128,
            )?;
            let amount = (u128::from(high) << 64) | u128::from(low);
            let data = c.data_mut();
            let burned = amount.min(data.system.cycles);
            data.system.cycles -= burned;
            data.message.cycles_burned += burned;
            write_u128(&mut c, dst.to_u64(), burned)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "canister_cycle_balance128",
        |mut c: C<'_>, dst: I| {
            enter(
                &mut c,
                "canister_cycle_balance128",
                Allowed::NotStart,
                overhead::CANISTER_CYCLE_BALANCE128,
            )?;
            let balance = c.data().system.cycles;
            write_u128(&mut c, dst.to_u64(), balance)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "canister_liquid_cycle_balance128",
        |mut c: C<'_>, dst: I| {
            enter(
                &mut c,
                "canister_liquid_cycle_balance128",
                Allowed::NotStart,
                overhead::CANISTER_CYCLE_BALANCE128,
            )?;
            let balance = c.data().system.cycles;
            write_u128(&mut c, dst.to_u64(), balance)
        },
    )?;

    // ----- the canister itself --------------------------------------------
    linker.func_wrap(
        "ic0",
        "canister_self_size",
        |mut c: C<'_>| -> wasmtime::Result<I> {
            enter(
                &mut c,
                "canister_self_size",
                Allowed::NotStart,
                overhead::CANISTER_SELF_SIZE,
            )?;
            Ok(I::from_len(c.data().system.canister_id.len()))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "canister_self_copy",
        |mut c: C<'_>, dst: I, offset: I, size: I| {
            enter(
                &mut c,
                "canister_self_copy",
                Allowed::NotStart,
                overhead::CANISTER_SELF_COPY + size.to_u64(),
            )?;
            copy_to_heap(
                &mut c,
                dst.to_u64(),
                offset.to_u64(),
                size.to_u64(),
                "canister id",
                |d| &d.system.canister_id,
            )
        },
    )?;
    linker.func_wrap(
        "ic0",
        "canister_status",
        |mut c: C<'_>| -> wasmtime::Result<u32> {
            enter(
                &mut c,
                "canister_status",
                Allowed::NotStart,
                overhead::CANISTER_STATUS,
            )?;
            // 1 = running: the host never stops a canister.
            Ok(1)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "canister_version",
        |mut c: C<'_>| -> wasmtime::Result<u64> {
            enter(
                &mut c,
                "canister_version",
                Allowed::NotStart,
                overhead::CANISTER_VERSION,
            )?;
            Ok(c.data().system.version)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "is_controller",
        |mut c: C<'_>, src: I, size: I| -> wasmtime::Result<u32> {
            enter(
                &mut c,
                "is_controller",
                Allowed::NotStart,
                overhead::IS_CONTROLLER + size.to_u64(),
            )?;
            if size.to_u64() > 29 {
                return Err(violation(
                    "\"ic0.is_controller\": a principal has at most 29 bytes",
                ));
            }
            let principal = read_heap(&mut c, src.to_u64(), size.to_u64())?;
            Ok(u32::from(c.data().system.controllers.contains(&principal)))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "in_replicated_execution",
        |mut c: C<'_>| -> wasmtime::Result<u32> {
            enter(
                &mut c,
                "in_replicated_execution",
                Allowed::Anywhere,
                overhead::IN_REPLICATED_EXECUTION,
            )?;
            Ok(u32::from(
                c.data().message.context.is_none_or(Context::is_replicated),
            ))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "certified_data_set",
        |mut c: C<'_>, src: I, size: I| {
            enter(
                &mut c,
                "certified_data_set",
                CHANGES_SYSTEM_STATE,
                overhead::CANISTER_SELF_COPY + size.to_u64(),
            )?;
            if size.to_u64() > 32 {
                return Err(violation(
                    "\"ic0.certified_data_set\": certified data has at most 32 bytes",
                ));
            }
            let data = read_heap(&mut c, src.to_u64(), size.to_u64())?;
            c.data_mut().system.certified_data = data;
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "data_certificate_present",
        |mut c: C<'_>| -> wasmtime::Result<u32> {
            enter(
                &mut c,
                "data_certificate_present",
                Allowed::NotStart,
                overhead::CANISTER_STATUS,
            )?;
            // This host does not certify state.
            Ok(0)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "data_certificate_size",
        |mut c: C<'_>| -> wasmtime::Result<I> {
            enter(
                &mut c,
                "data_certificate_size",
                CERTIFICATE,
                overhead::CANISTER_STATUS,
            )?;
            Err(violation(
                "\"ic0.data_certificate_size\": no data certificate is present",
            ))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "data_certificate_copy",
        |mut c: C<'_>, _dst: I, _offset: I, _size: I| {
            enter(
                &mut c,
                "data_certificate_copy",
                CERTIFICATE,
                overhead::CANISTER_STATUS,
            )?;
            Err::<(), _>(violation(
                "\"ic0.data_certificate_copy\": no data certificate is present",
            ))
        },
    )?;

    // ----- stable memory --------------------------------------------------
    linker.func_wrap(
        "ic0",
        "stable64_size",
        |mut c: C<'_>| -> wasmtime::Result<u64> {
            enter(
                &mut c,
                "stable64_size",
                Allowed::Anywhere,
                overhead::STABLE64_SIZE,
            )?;
            Ok(c.data().system.stable.size())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "stable64_grow",
        |mut c: C<'_>, pages: u64| -> wasmtime::Result<u64> {
            enter(
                &mut c,
                "stable64_grow",
                Allowed::Anywhere,
                overhead::STABLE64_GROW,
            )?;
            Ok(c.data_mut()
                .system
                .stable
                .grow(pages, costs::MAX_STABLE_PAGES)
                .unwrap_or(u64::MAX))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "stable64_read",
        |mut c: C<'_>, dst: u64, offset: u64, size: u64| {
            enter(
                &mut c,
                "stable64_read",
                Allowed::Anywhere,
                overhead::STABLE64_READ + size,
            )?;
            let memory = memory(&c)?;
            let (heap, data) = memory.data_and_store_mut(&mut c);
            let stable = &data.system.stable;
            range(offset, size, stable.len() as usize, "stable memory access")?;
            let to = range(dst, size, heap.len(), "heap access")?;
            stable.read(offset, &mut heap[to]);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "stable64_write",
        |mut c: C<'_>, offset: u64, src: u64, size: u64| {
            enter(
                &mut c,
                "stable64_write",
                Allowed::Anywhere,
                overhead::STABLE64_WRITE + size,
            )?;
            let memory = memory(&c)?;
            let (heap, data) = memory.data_and_store_mut(&mut c);
            let stable = &mut data.system.stable;
            range(offset, size, stable.len() as usize, "stable memory access")?;
            let from = range(src, size, heap.len(), "heap access")?;
            let new_pages = stable.write(offset, &heap[from]);
            data.message.stable_bytes_written += size;
            charge(&mut c, new_pages as u64 * costs::DIRTY_PAGE_OVERHEAD)
        },
    )?;

    // ----- time, timers, counters -----------------------------------------
    linker.func_wrap("ic0", "time", |mut c: C<'_>| -> wasmtime::Result<u64> {
        enter(&mut c, "time", Allowed::NotStart, overhead::TIME)?;
        Ok(c.data().message.time)
    })?;
    linker.func_wrap(
        "ic0",
        "global_timer_set",
        |mut c: C<'_>, timestamp: u64| -> wasmtime::Result<u64> {
            enter(
                &mut c,
                "global_timer_set",
                CHANGES_SYSTEM_STATE,
                overhead::GLOBAL_TIMER_SET,
            )?;
            Ok(std::mem::replace(
                &mut c.data_mut().system.global_timer,
                timestamp,
            ))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "performance_counter",
        |mut c: C<'_>, kind: u32| -> wasmtime::Result<u64> {
            enter(
                &mut c,
                "performance_counter",
                Allowed::Anywhere,
                overhead::PERFORMANCE_COUNTER,
            )?;
            match kind {
                // Instructions of this execution, and of the call context; without
                // inter-canister calls the two are the same.
                0 | 1 => Ok(c.data().message.instruction_limit - c.get_fuel()?),
                other => Err(violation(format!(
                    "\"ic0.performance_counter\": unknown counter type {other}"
                ))),
            }
        },
    )?;

    // ----- debugging ------------------------------------------------------
    linker.func_wrap("ic0", "debug_print", |mut c: C<'_>, src: I, size: I| {
        enter(
            &mut c,
            "debug_print",
            Allowed::Anywhere,
            overhead::DEBUG_PRINT + size.to_u64(),
        )?;
        let bytes = read_heap(&mut c, src.to_u64(), size.to_u64())?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        tracing::debug!(target: "canister", "{text}");
        c.data_mut().message.debug_output.push(text);
        Ok(())
    })?;
    linker.func_wrap(
        "ic0",
        "trap",
        |mut c: C<'_>, src: I, size: I| -> wasmtime::Result<()> {
            enter(
                &mut c,
                "trap",
                Allowed::Anywhere,
                overhead::TRAP + size.to_u64(),
            )?;
            let bytes = read_heap(&mut c, src.to_u64(), size.to_u64())?;
            Err(wasmtime::Error::new(Trap::Explicit(
                String::from_utf8_lossy(&bytes).into_owned(),
            )))
        },
    )?;

    // ----- calls to other canisters ----------------------------------------
    linker.func_wrap(
        "ic0",
        "call_new",
        |_c: C<'_>,
         _a: I,
         _b: I,
         _c2: I,
         _d: I,
         _e: I,
         _f: I,
         _g: I,
         _h: I|
         -> wasmtime::Result<()> { Err(not_supported("call_new")) },
    )?;
    linker.func_wrap(
        "ic0",
        "call_on_cleanup",
        |_c: C<'_>, _fun: I, _env: I| -> wasmtime::Result<()> {
            Err(not_supported("call_on_cleanup"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "call_data_append",
        |_c: C<'_>, _src: I, _size: I| -> wasmtime::Result<()> {
            Err(not_supported("call_data_append"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "call_cycles_add128",
        |_c: C<'_>, _h: u64, _l: u64| -> wasmtime::Result<()> {
            Err(not_supported("call_cycles_add128"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "call_with_best_effort_response",
        |_c: C<'_>, _t: u32| -> wasmtime::Result<()> {
            Err(not_supported("call_with_best_effort_response"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "call_perform",
        |_c: C<'_>| -> wasmtime::Result<u32> { Err(not_supported("call_perform")) },
    )?;
    Ok(())
}
