//! Stable memory: 64-bit (`stable64_*`) and, for wasm32 modules, the legacy
//! 32-bit functions.

use wasmtime::Linker;

use super::{Allowed, C, StoreData, charge, enter, memory, range, violation};
use crate::costs::{self, overhead};

/// Largest stable memory the 32-bit functions can address, in wasm pages.
const MAX_32_BIT_PAGES: u64 = 65536;

fn read(c: &mut C<'_>, name: &str, dst: u64, offset: u64, size: u64) -> wasmtime::Result<()> {
    enter(c, name, Allowed::Anywhere, overhead::STABLE64_READ + size)?;
    let memory = memory(c)?;
    let (heap, data) = memory.data_and_store_mut(&mut *c);
    let stable = &data.system.stable;
    range(offset, size, stable.len() as usize, "stable memory access")?;
    let to = range(dst, size, heap.len(), "heap access")?;
    stable.read(offset, &mut heap[to]);
    Ok(())
}

fn write(c: &mut C<'_>, name: &str, offset: u64, src: u64, size: u64) -> wasmtime::Result<()> {
    enter(c, name, Allowed::Anywhere, overhead::STABLE64_WRITE + size)?;
    let memory = memory(c)?;
    let (heap, data) = memory.data_and_store_mut(&mut *c);
    let stable = &mut data.system.stable;
    range(offset, size, stable.len() as usize, "stable memory access")?;
    let from = range(src, size, heap.len(), "heap access")?;
    let new_pages = stable.write(offset, &heap[from]);
    data.message.stable_bytes_written += size;
    // Pages a message dirties for the first time cost extra, as on the IC.
    charge(c, new_pages as u64 * costs::DIRTY_PAGE_OVERHEAD)
}

fn grow(c: &mut C<'_>, name: &str, pages: u64, max: u64) -> wasmtime::Result<Option<u64>> {
    enter(c, name, Allowed::Anywhere, overhead::STABLE64_GROW)?;
    Ok(c.data_mut().system.stable.grow(pages, max))
}

fn check_32_bit(c: &C<'_>, name: &str) -> wasmtime::Result<()> {
    if c.data().system.stable.size() > MAX_32_BIT_PAGES {
        return Err(violation(format!(
            "\"ic0.{name}\": stable memory is larger than 4 GiB; use the stable64 functions"
        )));
    }
    Ok(())
}

pub(super) fn add_to_linker(linker: &mut Linker<StoreData>, wasm32: bool) -> wasmtime::Result<()> {
    linker.func_wrap("ic0", "stable64_size", |mut c: C<'_>| -> wasmtime::Result<u64> {
        enter(&mut c, "stable64_size", Allowed::Anywhere, overhead::STABLE64_SIZE)?;
        Ok(c.data().system.stable.size())
    })?;
    linker.func_wrap(
        "ic0",
        "stable64_grow",
        |mut c: C<'_>, pages: u64| -> wasmtime::Result<u64> {
            Ok(grow(&mut c, "stable64_grow", pages, costs::MAX_STABLE_PAGES)?.unwrap_or(u64::MAX))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "stable64_read",
        |mut c: C<'_>, dst: u64, offset: u64, size: u64| {
            read(&mut c, "stable64_read", dst, offset, size)
        },
    )?;
    linker.func_wrap(
        "ic0",
        "stable64_write",
        |mut c: C<'_>, offset: u64, src: u64, size: u64| {
            write(&mut c, "stable64_write", offset, src, size)
        },
    )?;
    if !wasm32 {
        return Ok(());
    }

    linker.func_wrap("ic0", "stable_size", |mut c: C<'_>| -> wasmtime::Result<u32> {
        enter(&mut c, "stable_size", Allowed::Anywhere, overhead::STABLE64_SIZE)?;
        check_32_bit(&c, "stable_size")?;
        Ok(c.data().system.stable.size() as u32)
    })?;
    linker.func_wrap(
        "ic0",
        "stable_grow",
        |mut c: C<'_>, pages: u32| -> wasmtime::Result<u32> {
            check_32_bit(&c, "stable_grow")?;
            let max = costs::MAX_STABLE_PAGES.min(MAX_32_BIT_PAGES);
            let old = grow(&mut c, "stable_grow", u64::from(pages), max)?;
            Ok(old.map_or(u32::MAX, |old| old as u32))
        },
    )?;
    linker.func_wrap("ic0", "stable_read", |mut c: C<'_>, dst: u32, offset: u32, size: u32| {
        check_32_bit(&c, "stable_read")?;
        read(&mut c, "stable_read", dst.into(), offset.into(), size.into())
    })?;
    linker.func_wrap("ic0", "stable_write", |mut c: C<'_>, offset: u32, src: u32, size: u32| {
        check_32_bit(&c, "stable_write")?;
        write(&mut c, "stable_write", offset.into(), src.into(), size.into())
    })?;
    Ok(())
}
