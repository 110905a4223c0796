//! Calls to other canisters (`ic0.call_*`), which this host does not
//! support: each function checks its context, charges its instructions and
//! then traps.

use wasmtime::Linker;

use super::Context::*;
use super::{Allowed, C, Ptr, StoreData, enter, violation};
use crate::costs::overhead;

const CALLS: Allowed = Allowed::Only(&[Update, CompositeQuery, SystemTask]);

fn not_supported(name: &str) -> wasmtime::Error {
    violation(format!("\"ic0.{name}\": calls to other canisters are not supported by this host"))
}

pub(super) fn add_to_linker<I: Ptr>(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
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
