//! The canister and its surroundings: identity, status, controllers,
//! certified data, the subnet, cost estimates and environment variables.

use wasmtime::Linker;

use super::Context::*;
use super::{
    Allowed, C, Context, Ptr, StoreData, copy_to_heap, enter, read_heap, violation, write_u128,
};
use crate::costs::overhead;
use crate::fees::{self, FEES};

const CHANGES_SYSTEM_STATE: Allowed = Allowed::Only(&[Init, PreUpgrade, Update, SystemTask]);
const CERTIFICATE: Allowed = Allowed::Only(&[Query, CompositeQuery]);
const ROOT_KEY: Allowed = Allowed::Only(&[Init, PreUpgrade, Update, ReplicatedQuery, SystemTask]);

/// The subnet this host stands in for (a self-authenticating principal).
const SUBNET_ID: &[u8] = &[0x1d; 29];

/// The root key this host reports: the DER prefix of a BLS12-381 public key
/// and zeros. This host issues no certificates, so nothing verifies with it.
const ROOT_KEY_DER: [u8; 133] = {
    const PREFIX: [u8; 37] = [
        0x30, 0x81, 0x82, 0x30, 0x1d, 0x06, 0x0d, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c,
        0x05, 0x03, 0x01, 0x02, 0x01, 0x06, 0x0c, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xdc, 0x7c,
        0x05, 0x03, 0x02, 0x01, 0x03, 0x61, 0x00,
    ];
    let mut key = [0u8; 133];
    let mut i = 0;
    while i < PREFIX.len() {
        key[i] = PREFIX[i];
        i += 1;
    }
    key
};

pub(super) fn add_to_linker<I: Ptr>(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap("ic0", "canister_self_size", |mut c: C<'_>| -> wasmtime::Result<I> {
        enter(&mut c, "canister_self_size", Allowed::NotStart, overhead::CANISTER_SELF_SIZE)?;
        Ok(I::from_len(c.data().system.canister_id.len()))
    })?;
    linker.func_wrap("ic0", "canister_self_copy", |mut c: C<'_>, dst: I, offset: I, size: I| {
        let cost = overhead::CANISTER_SELF_COPY + size.to_u64();
        enter(&mut c, "canister_self_copy", Allowed::NotStart, cost)?;
        copy_to_heap(&mut c, dst.to_u64(), offset.to_u64(), size.to_u64(), "canister id", |d| {
            &d.system.canister_id
        })
    })?;
    linker.func_wrap("ic0", "canister_status", |mut c: C<'_>| -> wasmtime::Result<u32> {
        enter(&mut c, "canister_status", Allowed::NotStart, overhead::CANISTER_STATUS)?;
        // 1 = running: this host never stops a canister.
        Ok(1)
    })?;
    linker.func_wrap("ic0", "canister_version", |mut c: C<'_>| -> wasmtime::Result<u64> {
        enter(&mut c, "canister_version", Allowed::NotStart, overhead::CANISTER_VERSION)?;
        Ok(c.data().system.version)
    })?;
    linker.func_wrap(
        "ic0",
        "is_controller",
        |mut c: C<'_>, src: I, size: I| -> wasmtime::Result<u32> {
            enter(
                &mut c,
                "is_controller",
                Allowed::Anywhere,
                overhead::IS_CONTROLLER + size.to_u64(),
            )?;
            if size.to_u64() > 29 {
                return Err(violation("\"ic0.is_controller\": a principal has at most 29 bytes"));
            }
            let principal = read_heap(&mut c, src.to_u64(), size.to_u64())?;
            Ok(u32::from(c.data().system.controllers.contains(&principal)))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "in_replicated_execution",
        |mut c: C<'_>| -> wasmtime::Result<u32> {
            let cost = overhead::IN_REPLICATED_EXECUTION;
            enter(&mut c, "in_replicated_execution", Allowed::Anywhere, cost)?;
            Ok(u32::from(c.data().message.context.is_none_or(Context::is_replicated)))
        },
    )?;

    linker.func_wrap("ic0", "certified_data_set", |mut c: C<'_>, src: I, size: I| {
        let cost = overhead::CERTIFIED_DATA_SET + size.to_u64();
        enter(&mut c, "certified_data_set", CHANGES_SYSTEM_STATE, cost)?;
        if size.to_u64() > 32 {
            return Err(violation(
                "\"ic0.certified_data_set\": certified data has at most 32 bytes",
            ));
        }
        let data = read_heap(&mut c, src.to_u64(), size.to_u64())?;
        c.data_mut().system.certified_data = data;
        Ok(())
    })?;
    linker.func_wrap(
        "ic0",
        "data_certificate_present",
        |mut c: C<'_>| -> wasmtime::Result<u32> {
            let cost = overhead::DATA_CERTIFICATE_PRESENT;
            enter(&mut c, "data_certificate_present", Allowed::NotStart, cost)?;
            // This host does not certify state.
            Ok(0)
        },
    )?;
    linker.func_wrap("ic0", "data_certificate_size", |mut c: C<'_>| -> wasmtime::Result<I> {
        enter(&mut c, "data_certificate_size", CERTIFICATE, overhead::DATA_CERTIFICATE_SIZE)?;
        Err(violation("\"ic0.data_certificate_size\": no data certificate is present"))
    })?;
    linker.func_wrap(
        "ic0",
        "data_certificate_copy",
        |mut c: C<'_>, _dst: I, _off: I, _size: I| -> wasmtime::Result<()> {
            enter(&mut c, "data_certificate_copy", CERTIFICATE, overhead::DATA_CERTIFICATE_COPY)?;
            Err(violation("\"ic0.data_certificate_copy\": no data certificate is present"))
        },
    )?;

    linker.func_wrap("ic0", "subnet_self_size", |mut c: C<'_>| -> wasmtime::Result<I> {
        enter(&mut c, "subnet_self_size", Allowed::NotStart, overhead::CANISTER_SELF_SIZE)?;
        Ok(I::from_len(SUBNET_ID.len()))
    })?;
    linker.func_wrap("ic0", "subnet_self_copy", |mut c: C<'_>, dst: I, offset: I, size: I| {
        let cost = overhead::CANISTER_SELF_COPY + size.to_u64();
        enter(&mut c, "subnet_self_copy", Allowed::NotStart, cost)?;
        copy_to_heap(&mut c, dst.to_u64(), offset.to_u64(), size.to_u64(), "subnet id", |_| {
            SUBNET_ID
        })
    })?;
    linker.func_wrap("ic0", "subnet_self_node_count", |mut c: C<'_>| -> wasmtime::Result<u32> {
        enter(&mut c, "subnet_self_node_count", Allowed::NotStart, overhead::CANISTER_SELF_SIZE)?;
        Ok(fees::SUBNET_SIZE)
    })?;
    linker.func_wrap("ic0", "root_key_size", |mut c: C<'_>| -> wasmtime::Result<I> {
        enter(&mut c, "root_key_size", ROOT_KEY, overhead::CANISTER_SELF_SIZE)?;
        Ok(I::from_len(ROOT_KEY_DER.len()))
    })?;
    linker.func_wrap("ic0", "root_key_copy", |mut c: C<'_>, dst: I, offset: I, size: I| {
        enter(&mut c, "root_key_copy", ROOT_KEY, overhead::CANISTER_SELF_COPY + size.to_u64())?;
        copy_to_heap(&mut c, dst.to_u64(), offset.to_u64(), size.to_u64(), "root key", |_| {
            &ROOT_KEY_DER
        })
    })?;

    linker.func_wrap("ic0", "cost_call", |mut c: C<'_>, method: u64, payload: u64, dst: I| {
        enter(&mut c, "cost_call", Allowed::Anywhere, overhead::COST_CALL)?;
        write_u128(&mut c, dst.to_u64(), FEES.call_cost(method, payload))
    })?;
    linker.func_wrap("ic0", "cost_create_canister", |mut c: C<'_>, dst: I| {
        enter(&mut c, "cost_create_canister", Allowed::Anywhere, overhead::COST_CALL)?;
        write_u128(&mut c, dst.to_u64(), FEES.canister_creation_fee)
    })?;
    linker.func_wrap(
        "ic0",
        "cost_http_request",
        |mut c: C<'_>, request: u64, response: u64, dst: I| {
            enter(&mut c, "cost_http_request", Allowed::Anywhere, overhead::COST_CALL)?;
            write_u128(&mut c, dst.to_u64(), FEES.http_request_cost(request, response))
        },
    )?;
    // This host holds no threshold keys: every key name is unknown (code 2).
    for name in ["cost_sign_with_ecdsa", "cost_sign_with_schnorr", "cost_vetkd_derive_key"] {
        linker.func_wrap(
            "ic0",
            name,
            move |mut c: C<'_>, _src: I, _size: I, _alg: u32, _dst: I| {
                enter(&mut c, name, Allowed::Anywhere, overhead::COST_CALL)?;
                Ok(2u32)
            },
        )?;
    }

    // This host sets no environment variables.
    linker.func_wrap("ic0", "env_var_count", |mut c: C<'_>| -> wasmtime::Result<I> {
        enter(&mut c, "env_var_count", Allowed::NotStart, overhead::ENV_VAR)?;
        Ok(I::from_len(0))
    })?;
    linker.func_wrap(
        "ic0",
        "env_var_name_size",
        |mut c: C<'_>, _index: I| -> wasmtime::Result<I> {
            enter(&mut c, "env_var_name_size", Allowed::NotStart, overhead::ENV_VAR)?;
            Err(violation(
                "\"ic0.env_var_name_size\": index out of bounds (there are no variables)",
            ))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "env_var_name_copy",
        |mut c: C<'_>, _i: I, _dst: I, _off: I, _size: I| -> wasmtime::Result<()> {
            enter(&mut c, "env_var_name_copy", Allowed::NotStart, overhead::ENV_VAR)?;
            Err(violation(
                "\"ic0.env_var_name_copy\": index out of bounds (there are no variables)",
            ))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "env_var_name_exists",
        |mut c: C<'_>, _src: I, _size: I| -> wasmtime::Result<u32> {
            enter(&mut c, "env_var_name_exists", Allowed::NotStart, overhead::ENV_VAR)?;
            Ok(0)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "env_var_value_size",
        |mut c: C<'_>, _src: I, _size: I| -> wasmtime::Result<I> {
            enter(&mut c, "env_var_value_size", Allowed::NotStart, overhead::ENV_VAR)?;
            Err(violation("\"ic0.env_var_value_size\": no such environment variable"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "env_var_value_copy",
        |mut c: C<'_>, _n: I, _ns: I, _dst: I, _off: I, _size: I| -> wasmtime::Result<()> {
            enter(&mut c, "env_var_value_copy", Allowed::NotStart, overhead::ENV_VAR)?;
            Err(violation("\"ic0.env_var_value_copy\": no such environment variable"))
        },
    )?;
    Ok(())
}
