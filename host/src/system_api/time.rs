//! Time, the global timer, performance counters, debugging, traps — and
//! calls to other canisters, which this host refuses.

use wasmtime::Linker;

use super::Context::*;
use super::{Allowed, C, Ptr, StoreData, Trap, enter, read_heap, violation};
use crate::costs::overhead;

const TIMER: Allowed = Allowed::Only(&[Init, PreUpgrade, Update, SystemTask]);
const CALLS: Allowed = Allowed::Only(&[Update, CompositeQuery, SystemTask]);

fn not_supported(name: &str) -> wasmtime::Error {
    violation(format!("\"ic0.{name}\": calls to other canisters are not supported by this host"))
}

pub(super) fn add_to_linker<I: Ptr>(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap("ic0", "time", |mut c: C<'_>| -> wasmtime::Result<u64> {
        enter(&mut c, "time", Allowed::NotStart, overhead::TIME)?;
        Ok(c.data().message.time)
    })?;
    linker.func_wrap(
        "ic0",
        "global_timer_set",
        |mut c: C<'_>, timestamp: u64| -> wasmtime::Result<u64> {
            enter(&mut c, "global_timer_set", TIMER, overhead::GLOBAL_TIMER_SET)?;
            Ok(std::mem::replace(&mut c.data_mut().system.global_timer, timestamp))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "performance_counter",
        |mut c: C<'_>, kind: u32| -> wasmtime::Result<u64> {
            enter(&mut c, "performance_counter", Allowed::Anywhere, overhead::PERFORMANCE_COUNTER)?;
            match kind {
                // Instructions of this execution, and of the call context; without
                // calls to other canisters the two are the same.
                0 | 1 => Ok(c.data().message.instruction_limit - c.get_fuel()?),
                other => Err(violation(format!(
                    "\"ic0.performance_counter\": unknown counter type {other}"
                ))),
            }
        },
    )?;

    linker.func_wrap("ic0", "debug_print", |mut c: C<'_>, src: I, size: I| {
        enter(&mut c, "debug_print", Allowed::Anywhere, overhead::DEBUG_PRINT + size.to_u64())?;
        let bytes = read_heap(&mut c, src.to_u64(), size.to_u64())?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        tracing::debug!(target: "canister", "{text}");
        c.data_mut().message.debug_output.push(text);
        Ok(())
    })?;
    linker.func_wrap("ic0", "trap", |mut c: C<'_>, src: I, size: I| -> wasmtime::Result<()> {
        enter(&mut c, "trap", Allowed::Anywhere, overhead::TRAP + size.to_u64())?;
        let bytes = read_heap(&mut c, src.to_u64(), size.to_u64())?;
        Err(wasmtime::Error::new(Trap::Explicit(String::from_utf8_lossy(&bytes).into_owned())))
    })?;

    linker.func_wrap(
        "ic0",
        "call_new",
        |mut c: C<'_>,
         _a: I,
         _b: I,
         _c3: I,
         _d: I,
         _e: I,
         _f: I,
         _g: I,
         _h: I|
         -> wasmtime::Result<()> {
            enter(&mut c, "call_new", CALLS, overhead::CALL_NEW)?;
            Err(not_supported("call_new"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "call_on_cleanup",
        |mut c: C<'_>, _fun: I, _env: I| -> wasmtime::Result<()> {
            enter(&mut c, "call_on_cleanup", CALLS, overhead::CALL_NEW)?;
            Err(not_supported("call_on_cleanup"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "call_data_append",
        |mut c: C<'_>, _src: I, _size: I| -> wasmtime::Result<()> {
            enter(&mut c, "call_data_append", CALLS, overhead::CALL_NEW)?;
            Err(not_supported("call_data_append"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "call_cycles_add128",
        |mut c: C<'_>, _hi: u64, _lo: u64| -> wasmtime::Result<()> {
            enter(&mut c, "call_cycles_add128", CALLS, overhead::CALL_NEW)?;
            Err(not_supported("call_cycles_add128"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "call_with_best_effort_response",
        |mut c: C<'_>, _t: u32| -> wasmtime::Result<()> {
            enter(&mut c, "call_with_best_effort_response", CALLS, overhead::CALL_NEW)?;
            Err(not_supported("call_with_best_effort_response"))
        },
    )?;
    linker.func_wrap("ic0", "call_perform", |mut c: C<'_>| -> wasmtime::Result<u32> {
        enter(&mut c, "call_perform", CALLS, overhead::CALL_NEW)?;
        Err(not_supported("call_perform"))
    })?;
    Ok(())
}

/// The wasm32-only `call_cycles_add`.
pub(super) fn add_legacy_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "ic0",
        "call_cycles_add",
        |mut c: C<'_>, _amount: u64| -> wasmtime::Result<()> {
            enter(&mut c, "call_cycles_add", CALLS, overhead::CALL_NEW)?;
            Err(not_supported("call_cycles_add"))
        },
    )?;
    Ok(())
}
