//! The message: its argument, caller and method, and the response.

use wasmtime::Linker;

use super::Context::*;
use super::{Allowed, C, Ptr, Response, StoreData, copy_to_heap, enter, read_heap, violation};
use crate::costs::{self, overhead};

const ARG: Allowed =
    Allowed::Only(&[Init, Update, ReplicatedQuery, Query, CompositeQuery, InspectMessage]);
const CALLER: Allowed = Allowed::NotStart;
const CALLER_INFO: Allowed =
    Allowed::Only(&[Update, ReplicatedQuery, Query, CompositeQuery, InspectMessage]);
const DEADLINE: Allowed = Allowed::Only(&[Update, ReplicatedQuery, Query, CompositeQuery]);
const REPLY: Allowed = Allowed::Only(&[Update, ReplicatedQuery, Query, CompositeQuery]);
const INSPECT: Allowed = Allowed::Only(&[InspectMessage]);
/// Reply and reject callbacks, which ingress messages never run.
const CALLBACKS: Allowed = Allowed::Only(&[]);

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

pub(super) fn add_to_linker<I: Ptr>(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.func_wrap("ic0", "msg_arg_data_size", |mut c: C<'_>| -> wasmtime::Result<I> {
        enter(&mut c, "msg_arg_data_size", ARG, overhead::MSG_ARG_DATA_SIZE)?;
        Ok(I::from_len(c.data().message.arg.len()))
    })?;
    linker.func_wrap("ic0", "msg_arg_data_copy", |mut c: C<'_>, dst: I, offset: I, size: I| {
        let cost = overhead::MSG_ARG_DATA_COPY + size.to_u64();
        enter(&mut c, "msg_arg_data_copy", ARG, cost)?;
        copy_to_heap(&mut c, dst.to_u64(), offset.to_u64(), size.to_u64(), "argument", |d| {
            &d.message.arg
        })
    })?;

    linker.func_wrap("ic0", "msg_caller_size", |mut c: C<'_>| -> wasmtime::Result<I> {
        enter(&mut c, "msg_caller_size", CALLER, overhead::MSG_CALLER_SIZE)?;
        Ok(I::from_len(c.data().message.caller.len()))
    })?;
    linker.func_wrap("ic0", "msg_caller_copy", |mut c: C<'_>, dst: I, offset: I, size: I| {
        enter(&mut c, "msg_caller_copy", CALLER, overhead::MSG_CALLER_COPY + size.to_u64())?;
        copy_to_heap(&mut c, dst.to_u64(), offset.to_u64(), size.to_u64(), "caller", |d| {
            &d.message.caller
        })
    })?;

    // Ingress messages carry no caller information.
    for (size_fn, copy_fn) in [
        ("msg_caller_info_data_size", "msg_caller_info_data_copy"),
        ("msg_caller_info_signer_size", "msg_caller_info_signer_copy"),
    ] {
        linker.func_wrap("ic0", size_fn, move |mut c: C<'_>| -> wasmtime::Result<I> {
            enter(&mut c, size_fn, CALLER_INFO, overhead::MSG_CALLER_SIZE)?;
            Ok(I::from_len(0))
        })?;
        linker.func_wrap("ic0", copy_fn, move |mut c: C<'_>, dst: I, offset: I, size: I| {
            enter(&mut c, copy_fn, CALLER_INFO, overhead::MSG_CALLER_COPY + size.to_u64())?;
            copy_to_heap(
                &mut c,
                dst.to_u64(),
                offset.to_u64(),
                size.to_u64(),
                "caller info",
                |_| &[],
            )
        })?;
    }

    linker.func_wrap("ic0", "msg_method_name_size", |mut c: C<'_>| -> wasmtime::Result<I> {
        enter(&mut c, "msg_method_name_size", INSPECT, overhead::MSG_METHOD_NAME_SIZE)?;
        Ok(I::from_len(c.data().message.method.len()))
    })?;
    linker.func_wrap(
        "ic0",
        "msg_method_name_copy",
        |mut c: C<'_>, dst: I, offset: I, size: I| {
            let cost = overhead::MSG_METHOD_NAME_COPY + size.to_u64();
            enter(&mut c, "msg_method_name_copy", INSPECT, cost)?;
            copy_to_heap(&mut c, dst.to_u64(), offset.to_u64(), size.to_u64(), "method name", |d| {
                d.message.method.as_bytes()
            })
        },
    )?;
    linker.func_wrap("ic0", "accept_message", |mut c: C<'_>| {
        enter(&mut c, "accept_message", INSPECT, overhead::ACCEPT_MESSAGE)?;
        let message = &mut c.data_mut().message;
        if message.accepted {
            return Err(violation("\"ic0.accept_message\": the message was already accepted"));
        }
        message.accepted = true;
        Ok(())
    })?;
    linker.func_wrap("ic0", "msg_deadline", |mut c: C<'_>| -> wasmtime::Result<u64> {
        enter(&mut c, "msg_deadline", DEADLINE, overhead::MSG_CALLER_SIZE)?;
        // Ingress messages expect a guaranteed response: no deadline.
        Ok(0)
    })?;

    linker.func_wrap("ic0", "msg_reply_data_append", |mut c: C<'_>, src: I, size: I| {
        let cost =
            overhead::MSG_REPLY_DATA_APPEND + costs::BYTE_TRANSMISSION_COST_FACTOR * size.to_u64();
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

    linker.func_wrap("ic0", "msg_reject_code", |mut c: C<'_>| -> wasmtime::Result<u32> {
        enter(&mut c, "msg_reject_code", CALLBACKS, overhead::MSG_REJECT_CODE)?;
        Ok(0)
    })?;
    linker.func_wrap("ic0", "msg_reject_msg_size", |mut c: C<'_>| -> wasmtime::Result<I> {
        enter(&mut c, "msg_reject_msg_size", CALLBACKS, overhead::MSG_REJECT_MSG_SIZE)?;
        Ok(I::from_len(0))
    })?;
    linker.func_wrap(
        "ic0",
        "msg_reject_msg_copy",
        |mut c: C<'_>, _dst: I, _off: I, _size: I| {
            enter(&mut c, "msg_reject_msg_copy", CALLBACKS, overhead::MSG_REJECT_MSG_COPY)
        },
    )?;
    Ok(())
}
