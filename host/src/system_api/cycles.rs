//! Cycles: the canister's balance, burning, and (for ingress, none) cycles
//! attached to the message.

use wasmtime::Linker;

use super::Context::*;
use super::{Allowed, C, Ptr, StoreData, enter, violation, write_u128};
use crate::costs::overhead;

const CYCLES_IN: Allowed = Allowed::Only(&[Update, ReplicatedQuery]);
const CALLBACKS: Allowed = Allowed::Only(&[]);
const BURN: Allowed = Allowed::Only(&[Init, PreUpgrade, Update, ReplicatedQuery, SystemTask]);

pub(super) fn add_to_linker<I: Ptr>(
    linker: &mut Linker<StoreData>,
    wasm32: bool,
) -> wasmtime::Result<()> {
    // Ingress messages carry no cycles, so nothing is available or accepted.
    linker.func_wrap("ic0", "msg_cycles_available128", |mut c: C<'_>, dst: I| {
        enter(&mut c, "msg_cycles_available128", CYCLES_IN, overhead::MSG_CYCLES_AVAILABLE128)?;
        write_u128(&mut c, dst.to_u64(), 0)
    })?;
    linker.func_wrap("ic0", "msg_cycles_refunded128", |mut c: C<'_>, dst: I| {
        enter(&mut c, "msg_cycles_refunded128", CALLBACKS, overhead::MSG_CYCLES_REFUNDED128)?;
        write_u128(&mut c, dst.to_u64(), 0)
    })?;
    linker.func_wrap(
        "ic0",
        "msg_cycles_accept128",
        |mut c: C<'_>, _hi: u64, _lo: u64, dst: I| {
            enter(&mut c, "msg_cycles_accept128", CYCLES_IN, overhead::MSG_CYCLES_ACCEPT128)?;
            write_u128(&mut c, dst.to_u64(), 0)
        },
    )?;
    linker.func_wrap("ic0", "cycles_burn128", |mut c: C<'_>, high: u64, low: u64, dst: I| {
        enter(&mut c, "cycles_burn128", BURN, overhead::CYCLES_BURN128)?;
        let amount = (u128::from(high) << 64) | u128::from(low);
        let data = c.data_mut();
        let burned = amount.min(data.system.cycles);
        data.system.cycles -= burned;
        data.message.cycles_burned += burned;
        write_u128(&mut c, dst.to_u64(), burned)
    })?;
    for name in ["canister_cycle_balance128", "canister_liquid_cycle_balance128"] {
        linker.func_wrap("ic0", name, move |mut c: C<'_>, dst: I| {
            enter(&mut c, name, Allowed::NotStart, overhead::CANISTER_CYCLE_BALANCE128)?;
            let balance = c.data().system.cycles;
            write_u128(&mut c, dst.to_u64(), balance)
        })?;
    }
    if !wasm32 {
        return Ok(());
    }

    // The 64-bit legacy functions of wasm32 modules.
    linker.func_wrap("ic0", "msg_cycles_available", |mut c: C<'_>| -> wasmtime::Result<u64> {
        enter(&mut c, "msg_cycles_available", CYCLES_IN, overhead::MSG_CYCLES_AVAILABLE128)?;
        Ok(0)
    })?;
    linker.func_wrap("ic0", "msg_cycles_refunded", |mut c: C<'_>| -> wasmtime::Result<u64> {
        enter(&mut c, "msg_cycles_refunded", CALLBACKS, overhead::MSG_CYCLES_REFUNDED128)?;
        Ok(0)
    })?;
    linker.func_wrap(
        "ic0",
        "msg_cycles_accept",
        |mut c: C<'_>, _max: u64| -> wasmtime::Result<u64> {
            enter(&mut c, "msg_cycles_accept", CYCLES_IN, overhead::MSG_CYCLES_ACCEPT128)?;
            Ok(0)
        },
    )?;
    linker.func_wrap("ic0", "canister_cycle_balance", |mut c: C<'_>| -> wasmtime::Result<u64> {
        let cost = overhead::CANISTER_CYCLE_BALANCE128;
        enter(&mut c, "canister_cycle_balance", Allowed::NotStart, cost)?;
        u64::try_from(c.data().system.cycles).map_err(|_| {
            violation("\"ic0.canister_cycle_balance\": the balance does not fit in 64 bits")
        })
    })?;
    Ok(())
}
