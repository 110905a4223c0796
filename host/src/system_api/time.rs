//! Time: `ic0.time`, the global timer and the performance counters.

use wasmtime::Linker;

use super::Context::*;
use super::{Allowed, C, StoreData, enter, violation};
use crate::costs::overhead;

const TIMER: Allowed = Allowed::Only(&[Init, PreUpgrade, Update, SystemTask]);

pub(super) fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
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
    Ok(())
}
