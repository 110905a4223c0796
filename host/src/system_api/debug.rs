//! Debugging and traps: `ic0.debug_print` and `ic0.trap`.

use wasmtime::Linker;

use super::{Allowed, C, Ptr, StoreData, Trap, enter, read_heap};
use crate::costs::overhead;

pub(super) fn add_to_linker<I: Ptr>(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
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
    Ok(())
}
