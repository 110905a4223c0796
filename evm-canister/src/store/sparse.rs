//! [`SparseMemory`]: stable memory for running a [`Chain`](crate::Chain)
//! natively, outside a canister.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use ic_stable_structures::Memory;

/// Stable memory for a chain run natively, allocated a wasm page at a time
/// as it is written. The memory manager spreads a chain over many megabytes
/// of mostly untouched address space; `DefaultMemoryImpl` (a `Vec`) zeroes
/// and copies all of it as it grows, which dominates short native runs such
/// as state tests. Like `DefaultMemoryImpl`, clones share the memory.
#[derive(Clone, Default)]
pub struct SparseMemory(Rc<RefCell<SparsePages>>);

#[derive(Default)]
struct SparsePages {
    size: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl SparseMemory {
    /// A wasm page: the unit of `Memory::grow`.
    const PAGE: u64 = 65_536;

    /// Calls `f(page, offset within the page, range of the buffer)` for each
    /// page that `len` bytes at `offset` touch.
    fn for_each_page(
        offset: u64,
        len: usize,
        mut f: impl FnMut(u64, usize, std::ops::Range<usize>),
    ) {
        let mut done = 0;
        while done < len {
            let at = offset + done as u64;
            let within = (at % Self::PAGE) as usize;
            let n = (Self::PAGE as usize - within).min(len - done);
            f(at / Self::PAGE, within, done..done + n);
            done += n;
        }
    }
}

impl Memory for SparseMemory {
    fn size(&self) -> u64 {
        self.0.borrow().size
    }

    fn grow(&self, pages: u64) -> i64 {
        let mut memory = self.0.borrow_mut();
        let old = memory.size;
        match old.checked_add(pages).filter(|&n| n <= i64::MAX as u64 / Self::PAGE) {
            Some(new) => {
                memory.size = new;
                old as i64
            }
            None => -1,
        }
    }

    fn read(&self, offset: u64, dst: &mut [u8]) {
        let memory = self.0.borrow();
        assert!(
            offset.saturating_add(dst.len() as u64) <= memory.size * Self::PAGE,
            "read out of bounds"
        );
        Self::for_each_page(offset, dst.len(), |page, within, range| {
            let n = range.len();
            match memory.pages.get(&page) {
                Some(bytes) => dst[range].copy_from_slice(&bytes[within..within + n]),
                None => dst[range].fill(0),
            }
        });
    }

    fn write(&self, offset: u64, src: &[u8]) {
        let mut memory = self.0.borrow_mut();
        assert!(
            offset.saturating_add(src.len() as u64) <= memory.size * Self::PAGE,
            "write out of bounds"
        );
        Self::for_each_page(offset, src.len(), |page, within, range| {
            let bytes = memory
                .pages
                .entry(page)
                .or_insert_with(|| vec![0; Self::PAGE as usize].into_boxed_slice());
            bytes[within..within + range.len()].copy_from_slice(&src[range]);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_writes_across_pages_and_zeroes_elsewhere() {
        let memory = SparseMemory::default();
        assert_eq!(memory.grow(3), 0);
        assert_eq!(memory.size(), 3);
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8 | 1).collect();
        memory.write(60_000, &data);
        let mut back = vec![0; data.len()];
        memory.read(60_000, &mut back);
        assert_eq!(back, data);
        let mut edge = [9; 4];
        memory.read(59_998, &mut edge);
        assert_eq!(edge, [0, 0, data[0], data[1]]);
        // Clones share the memory, as `DefaultMemoryImpl`'s do.
        let clone = memory.clone();
        clone.write(0, &[7]);
        let mut first = [0];
        memory.read(0, &mut first);
        assert_eq!(first, [7]);
        assert_eq!(memory.0.borrow().pages.len(), 3);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn access_beyond_the_size_panics() {
        let memory = SparseMemory::default();
        memory.grow(1);
        memory.write(65_535, &[1, 2]);
    }

    #[test]
    fn growing_beyond_the_address_space_fails() {
        let memory = SparseMemory::default();
        assert_eq!(memory.grow(u64::MAX), -1);
        assert_eq!(memory.size(), 0);
    }
}
