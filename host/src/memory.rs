//! A canister's two memories and how messages commit or discard changes.
//!
//! - The **heap** is the wasm linear memory, owned by wasmtime. [`HeapImage`]
//!   keeps the committed copy of it. After a message the live memory is
//!   compared with the image page by page: committing copies the changed
//!   pages into the image, discarding copies them back. Either way only
//!   changed pages are copied, and the changed pages are reported.
//! - **Stable memory** is owned by the host and reached only through
//!   `ic0.stable64_*`, so [`StableMemory`] sees every write: it saves a page
//!   the first time a message writes it, and discarding restores those pages.
//!
//! Pages are 4 KiB ([`PAGE_SIZE`]). Both memories report which pages changed
//! since they were last asked, for incremental persistence.

use std::collections::BTreeSet;

/// Granularity of change tracking.
pub const PAGE_SIZE: usize = 4096;
/// Size of a wasm page (the unit of `memory.grow` and `stable64_grow`).
pub const WASM_PAGE_SIZE: u64 = 65536;
const PAGES_PER_WASM_PAGE: usize = WASM_PAGE_SIZE as usize / PAGE_SIZE;
const ZERO_PAGE: [u8; PAGE_SIZE] = [0; PAGE_SIZE];

/// A hash of a set of pages that can be updated page by page: the wrapping
/// sum of SHA-256(space, index, content) over all non-zero pages. Changing a
/// page costs two page hashes, whatever the size of the memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageDigest {
    lanes: [u64; 4],
}

impl PageDigest {
    fn page_hash(space: u8, index: usize, page: &[u8]) -> [u64; 4] {
        use sha2::{Digest, Sha256};
        if page == ZERO_PAGE {
            return [0; 4];
        }
        let mut hasher = Sha256::new();
        hasher.update([space]);
        hasher.update((index as u64).to_le_bytes());
        hasher.update(page);
        let hash = hasher.finalize();
        std::array::from_fn(|i| u64::from_le_bytes(hash[i * 8..i * 8 + 8].try_into().unwrap()))
    }

    /// Replaces `old` by `new` as the content of page `index` of `space`.
    pub fn replace(&mut self, space: u8, index: usize, old: &[u8], new: &[u8]) {
        let (old, new) = (Self::page_hash(space, index, old), Self::page_hash(space, index, new));
        for lane in 0..4 {
            self.lanes[lane] = self.lanes[lane].wrapping_sub(old[lane]).wrapping_add(new[lane]);
        }
    }

    /// The digest of all pages of `bytes`.
    pub fn of(space: u8, bytes: &[u8]) -> Self {
        let mut digest = Self::default();
        for (index, page) in bytes.chunks(PAGE_SIZE).enumerate() {
            digest.replace(space, index, &ZERO_PAGE[..page.len()], page);
        }
        digest
    }

    pub fn to_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, lane) in self.lanes.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&lane.to_le_bytes());
        }
        out
    }
}

/// Digest spaces: heap pages and stable pages hash differently.
pub const HEAP_SPACE: u8 = 0;
pub const STABLE_SPACE: u8 = 1;

/// The committed contents of a canister's heap.
#[derive(Clone, Default)]
pub struct HeapImage {
    bytes: Vec<u8>,
}

impl HeapImage {
    pub fn new(bytes: Vec<u8>) -> Self {
        assert_eq!(bytes.len() % PAGE_SIZE, 0, "heap size is a multiple of the page size");
        Self { bytes }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Makes `live` the committed heap; returns the indexes of changed pages.
    ///
    /// `live` may be larger than the image (the heap grew), never smaller.
    pub fn commit(&mut self, live: &[u8]) -> Vec<usize> {
        assert!(live.len() >= self.bytes.len(), "wasm memory cannot shrink");
        let mut changed = Vec::new();
        for (index, (old, new)) in
            self.bytes.chunks_exact_mut(PAGE_SIZE).zip(live.chunks_exact(PAGE_SIZE)).enumerate()
        {
            if old != new {
                old.copy_from_slice(new);
                changed.push(index);
            }
        }
        let old_len = self.bytes.len();
        if live.len() > old_len {
            self.bytes.extend_from_slice(&live[old_len..]);
            changed.extend(old_len / PAGE_SIZE..live.len() / PAGE_SIZE);
        }
        changed
    }

    /// What `digest` (of this image) would be if `live` were committed.
    pub fn digest_after(&self, live: &[u8], mut digest: PageDigest) -> PageDigest {
        let pairs = self.bytes.chunks_exact(PAGE_SIZE).zip(live.chunks_exact(PAGE_SIZE));
        for (index, (old, new)) in pairs.enumerate() {
            if old != new {
                digest.replace(HEAP_SPACE, index, old, new);
            }
        }
        for (i, new) in live[self.bytes.len()..].chunks_exact(PAGE_SIZE).enumerate() {
            digest.replace(HEAP_SPACE, self.bytes.len() / PAGE_SIZE + i, &ZERO_PAGE, new);
        }
        digest
    }

    /// Copies pages `pages` of `source`, an image of the same heap at least
    /// as large, growing to its size first.
    pub fn copy_pages(&mut self, source: &[u8], pages: &[usize]) {
        assert!(source.len() >= self.bytes.len(), "wasm memory cannot shrink");
        self.bytes.resize(source.len(), 0);
        for &page in pages {
            let range = page * PAGE_SIZE..(page + 1) * PAGE_SIZE;
            self.bytes[range.clone()].copy_from_slice(&source[range]);
        }
    }

    /// Restores the committed contents into `live`, which has the image's
    /// size; returns how many pages had changed.
    pub fn restore(&self, live: &mut [u8]) -> usize {
        assert_eq!(live.len(), self.bytes.len(), "restore needs a heap of the committed size");
        let mut restored = 0;
        for (old, new) in self.bytes.chunks_exact(PAGE_SIZE).zip(live.chunks_exact_mut(PAGE_SIZE)) {
            if old != new {
                new.copy_from_slice(old);
                restored += 1;
            }
        }
        restored
    }
}

/// How the host holds stable memory: blocks of 1 MiB, each allocated on the
/// first write to it. Blocks this size are mapped by the allocator on their
/// own, outside its arenas, so a chain that grows by a few pages per block
/// does not fragment the heap the way wasm-page-sized (64 KiB) allocations
/// interleaved with short-lived buffers did (measured with the soak bench).
const BLOCK_SIZE: usize = 1 << 20;
const PAGES_PER_BLOCK: usize = BLOCK_SIZE / PAGE_SIZE;

/// A canister's stable memory, with a journal for discarding a message.
///
/// Invariant: bytes of a block past [`StableMemory::len`] are zero, so
/// growing again reads zeros.
#[derive(Clone, Default)]
pub struct StableMemory {
    /// `None` is a block of zeros.
    blocks: Vec<Option<Box<[u8]>>>,
    /// Size in wasm pages.
    size: u64,
    /// Pages the current message wrote, in the order it first wrote them,
    /// with where their old contents are in `saved` (`None`: the page is
    /// new or was all zeros).
    journal: Vec<(usize, Option<usize>)>,
    /// The old contents of journaled pages, back to back: one buffer reused
    /// from message to message rather than an allocation per page.
    saved: Vec<u8>,
    journaled: BTreeSet<usize>,
    size_before: u64,
    /// Pages written since [`StableMemory::take_dirty`] was last called.
    dirty: BTreeSet<usize>,
    /// Per block, a bit per page ever written: a block is allocated zeroed
    /// (`calloc`, pages the kernel maps on first write), so these are the
    /// pages it holds in memory.
    touched: Vec<[u64; PAGES_PER_BLOCK / 64]>,
    /// Per replica following this memory, the pages committed messages
    /// wrote since [`StableMemory::take_unsynced`] was last called for it.
    unsynced: Vec<BTreeSet<usize>>,
}

/// `saved` keeps up to this much capacity between messages.
const SAVED_KEPT: usize = 4 << 20;

fn blocks_for(size_in_wasm_pages: u64) -> usize {
    (size_in_wasm_pages * WASM_PAGE_SIZE).div_ceil(BLOCK_SIZE as u64) as usize
}

fn page_of(blocks: &[Option<Box<[u8]>>], page: usize) -> Option<&[u8]> {
    let within = (page % PAGES_PER_BLOCK) * PAGE_SIZE;
    let block = blocks.get(page / PAGES_PER_BLOCK)?.as_deref()?;
    Some(&block[within..within + PAGE_SIZE])
}

fn zero_block() -> Box<[u8]> {
    vec![0u8; BLOCK_SIZE].into_boxed_slice()
}

impl StableMemory {
    /// Size in wasm pages.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.size * WASM_PAGE_SIZE
    }

    /// Bytes the host holds in memory for the contents: the pages ever
    /// written (blocks of zeros never written take no memory, nor do the
    /// pages of a block not written yet).
    pub fn resident_bytes(&self) -> u64 {
        let pages: u32 = self.touched.iter().flatten().map(|word| word.count_ones()).sum();
        u64::from(pages) * PAGE_SIZE as u64
    }

    /// Records that pages `first..=last` are written.
    fn touch(&mut self, first: usize, last: usize) {
        if self.touched.len() < self.blocks.len() {
            self.touched.resize(self.blocks.len(), [0; PAGES_PER_BLOCK / 64]);
        }
        for page in first..=last {
            let bits = &mut self.touched[page / PAGES_PER_BLOCK];
            let within = page % PAGES_PER_BLOCK;
            bits[within / 64] |= 1 << (within % 64);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Grows by `pages` wasm pages; returns the previous size, or `None` if
    /// the new size would exceed `max_pages`.
    pub fn grow(&mut self, pages: u64, max_pages: u64) -> Option<u64> {
        let old = self.size;
        let new = old.checked_add(pages).filter(|&n| n <= max_pages)?;
        self.size = new;
        self.blocks.resize_with(blocks_for(new), || None);
        Some(old)
    }

    /// The 4 KiB page `page`, or `None` if it is in a block of zeros.
    fn page(&self, page: usize) -> Option<&[u8]> {
        page_of(&self.blocks, page)
    }

    /// Reads `buf.len()` bytes at `offset`, which must be in bounds.
    pub fn read(&self, offset: u64, buf: &mut [u8]) {
        assert!(offset + buf.len() as u64 <= self.len(), "stable read out of bounds");
        let mut offset = offset as usize;
        let mut done = 0;
        while done < buf.len() {
            let (block, within) = (offset / BLOCK_SIZE, offset % BLOCK_SIZE);
            let n = (BLOCK_SIZE - within).min(buf.len() - done);
            match &self.blocks[block] {
                Some(bytes) => buf[done..done + n].copy_from_slice(&bytes[within..within + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
            offset += n;
        }
    }

    /// Writes `data` at `offset`, which must be in bounds; returns how many
    /// pages the current message wrote for the first time.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> usize {
        assert!(offset + data.len() as u64 <= self.len(), "stable write out of bounds");
        if data.is_empty() {
            return 0;
        }
        let first = offset as usize / PAGE_SIZE;
        let last = (offset as usize + data.len() - 1) / PAGE_SIZE;
        let mut new_pages = 0;
        for page in first..=last {
            new_pages += usize::from(self.journal_page(page));
            self.dirty.insert(page);
        }
        self.touch(first, last);
        let mut offset = offset as usize;
        let mut done = 0;
        while done < data.len() {
            let (block, within) = (offset / BLOCK_SIZE, offset % BLOCK_SIZE);
            let n = (BLOCK_SIZE - within).min(data.len() - done);
            let bytes = self.blocks[block].get_or_insert_with(zero_block);
            bytes[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
            offset += n;
        }
        new_pages
    }

    /// Saves `page` before its first write in this message; returns whether
    /// this was the first write.
    fn journal_page(&mut self, page: usize) -> bool {
        if !self.journaled.insert(page) {
            return false;
        }
        // Pages of memory grown by this message need no saving: they were
        // zeros, and discarding the message zeroes or truncates them.
        let old = if ((page / PAGES_PER_WASM_PAGE) as u64) < self.size_before {
            page_of(&self.blocks, page).filter(|bytes| bytes.iter().any(|&b| b != 0))
        } else {
            None
        };
        let at = old.map(|bytes| {
            let at = self.saved.len();
            self.saved.extend_from_slice(bytes);
            at
        });
        self.journal.push((page, at));
        true
    }

    fn saved_page(&self, at: Option<usize>) -> &[u8] {
        at.map_or(&ZERO_PAGE[..], |at| &self.saved[at..at + PAGE_SIZE])
    }

    /// Size in wasm pages when the current message started.
    pub fn size_before_message(&self) -> u64 {
        self.size_before
    }

    /// Starts a message: later writes can be discarded.
    pub fn begin(&mut self) {
        debug_assert!(self.journal.is_empty());
        self.size_before = self.size;
    }

    /// What `digest` (of the memory before the current message) is with the
    /// current message's writes.
    pub fn digest_after(&self, mut digest: PageDigest) -> PageDigest {
        for &(page, at) in &self.journal {
            let new = self.page(page).unwrap_or(&ZERO_PAGE);
            digest.replace(STABLE_SPACE, page, self.saved_page(at), new);
        }
        digest
    }

    /// The digest of the whole memory.
    pub fn digest(&self) -> PageDigest {
        let mut digest = PageDigest::default();
        for (block, bytes) in self.blocks.iter().enumerate() {
            if let Some(bytes) = bytes {
                for (i, page) in bytes.chunks_exact(PAGE_SIZE).enumerate() {
                    digest.replace(STABLE_SPACE, block * PAGES_PER_BLOCK + i, &ZERO_PAGE, page);
                }
            }
        }
        digest
    }

    /// Keeps the current message's writes.
    pub fn commit(&mut self) {
        for unsynced in &mut self.unsynced {
            unsynced.extend(self.journal.iter().map(|&(page, _)| page));
        }
        self.clear_journal();
    }

    /// Starts recording, for replica `slot`, the pages committed messages
    /// write (from nothing, if it was recording already).
    pub fn track_unsynced(&mut self, slot: usize) {
        if self.unsynced.len() <= slot {
            self.unsynced.resize_with(slot + 1, BTreeSet::new);
        }
        self.unsynced[slot].clear();
    }

    /// Stops recording for every replica (a replica's own memory).
    pub fn untrack_unsynced(&mut self) {
        self.unsynced = Vec::new();
    }

    /// Pages committed messages wrote since the last call for `slot` (none
    /// unless [`StableMemory::track_unsynced`] is on for it).
    pub fn take_unsynced(&mut self, slot: usize) -> Vec<usize> {
        self.unsynced.get_mut(slot).map(std::mem::take).unwrap_or_default().into_iter().collect()
    }

    /// Makes this memory (a replica of `source`) the size of `source`, with
    /// pages `pages` copied from it: after [`StableMemory::take_unsynced`],
    /// it is then equal to `source`. Must be called between messages.
    pub fn copy_pages(&mut self, source: &Self, pages: &[usize]) {
        debug_assert!(self.journal.is_empty());
        self.size = source.size;
        self.blocks.truncate(blocks_for(self.size));
        self.blocks.resize_with(blocks_for(self.size), || None);
        self.touched.truncate(self.blocks.len());
        for &page in pages {
            // A page past the end was written by a message whose growth a
            // later one cannot undo: memory never shrinks. Skip it anyway.
            let Some(bytes) = source.page(page) else { continue };
            let within = (page % PAGES_PER_BLOCK) * PAGE_SIZE;
            let block = self.blocks[page / PAGES_PER_BLOCK].get_or_insert_with(zero_block);
            block[within..within + PAGE_SIZE].copy_from_slice(bytes);
            self.touch(page, page);
        }
    }

    fn clear_journal(&mut self) {
        self.journal.clear();
        self.journaled.clear();
        self.saved.clear();
        self.saved.shrink_to(SAVED_KEPT);
    }

    /// Discards the current message's writes and growth.
    pub fn rollback(&mut self) {
        for &(page, at) in &self.journal {
            let within = (page % PAGES_PER_BLOCK) * PAGE_SIZE;
            let Some(Some(bytes)) = self.blocks.get_mut(page / PAGES_PER_BLOCK) else {
                unreachable!("a journaled page was written, so its block exists");
            };
            let old = at.map_or(&ZERO_PAGE[..], |at| &self.saved[at..at + PAGE_SIZE]);
            bytes[within..within + PAGE_SIZE].copy_from_slice(old);
        }
        self.size = self.size_before;
        self.blocks.truncate(blocks_for(self.size));
        self.touched.truncate(self.blocks.len());
        // Pages of a discarded message are no longer dirty unless an earlier
        // message dirtied them; keeping them listed is harmless.
        self.clear_journal();
    }

    /// Pages written since the last call.
    pub fn take_dirty(&mut self) -> BTreeSet<usize> {
        std::mem::take(&mut self.dirty)
    }

    /// A memory of as many wasm pages as `chunks` gives, each all zeros
    /// (`None`) or given.
    pub fn from_chunks(chunks: impl IntoIterator<Item = Option<Box<[u8]>>>) -> Self {
        let mut memory = Self::default();
        for (i, chunk) in chunks.into_iter().enumerate() {
            memory.grow(1, u64::MAX).expect("no limit");
            if let Some(chunk) = chunk {
                assert_eq!(chunk.len() as u64, WASM_PAGE_SIZE, "a chunk is one wasm page");
                let at = i * WASM_PAGE_SIZE as usize;
                memory.blocks[at / BLOCK_SIZE].get_or_insert_with(zero_block)
                    [at % BLOCK_SIZE..at % BLOCK_SIZE + chunk.len()]
                    .copy_from_slice(&chunk);
                memory.touch(at / PAGE_SIZE, (at + chunk.len() - 1) / PAGE_SIZE);
            }
        }
        memory
    }

    /// The whole contents.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.len() as usize];
        self.read(0, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_commit_reports_changed_and_grown_pages() {
        let mut image = HeapImage::new(vec![0u8; 4 * PAGE_SIZE]);
        let mut live = vec![0u8; 6 * PAGE_SIZE];
        live[PAGE_SIZE + 5] = 1;
        live[3 * PAGE_SIZE] = 2;
        assert_eq!(image.commit(&live), vec![1, 3, 4, 5]);
        assert_eq!(image.bytes(), &live[..]);
        assert!(image.commit(&live).is_empty());
    }

    #[test]
    fn heap_restore_undoes_changes() {
        let image = HeapImage::new(vec![7u8; 2 * PAGE_SIZE]);
        let mut live = vec![7u8; 2 * PAGE_SIZE];
        live[PAGE_SIZE] = 0;
        assert_eq!(image.restore(&mut live), 1);
        assert_eq!(live, vec![7u8; 2 * PAGE_SIZE]);
    }

    #[test]
    fn stable_reads_back_writes_across_chunks() {
        let mut stable = StableMemory::default();
        assert_eq!(stable.grow(2, 10), Some(0));
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let offset = WASM_PAGE_SIZE - 3_000;
        stable.write(offset, &data);
        let mut back = vec![0u8; data.len()];
        stable.read(offset, &mut back);
        assert_eq!(back, data);
        let mut zeros = [1u8; 16];
        stable.read(0, &mut zeros);
        assert_eq!(zeros, [0u8; 16]);
    }

    #[test]
    fn stable_writes_across_a_block_and_rolls_back() {
        let mut stable = StableMemory::default();
        stable.grow(40, 100);
        stable.begin();
        let data = vec![5u8; 3 * PAGE_SIZE];
        let offset = BLOCK_SIZE as u64 - PAGE_SIZE as u64 - 1;
        assert_eq!(stable.write(offset, &data), 4);
        let mut back = vec![0u8; data.len()];
        stable.read(offset, &mut back);
        assert_eq!(back, data);
        // The four pages written, in two blocks, are what it holds.
        assert_eq!(stable.resident_bytes(), 4 * PAGE_SIZE as u64);
        stable.rollback();
        assert_eq!(stable.resident_bytes(), 4 * PAGE_SIZE as u64, "written zeros stay mapped");
        assert!(stable.to_vec().iter().all(|&b| b == 0));
    }

    #[test]
    fn stable_from_chunks_round_trips() {
        let chunk = |b: u8| Some(vec![b; WASM_PAGE_SIZE as usize].into_boxed_slice());
        let stable = StableMemory::from_chunks(
            [chunk(1), None, chunk(3)]
                .into_iter()
                .chain(std::iter::repeat_n(None, 20).chain([chunk(4)])),
        );
        assert_eq!(stable.size(), 24);
        let bytes = stable.to_vec();
        let page = |i: usize| &bytes[i * WASM_PAGE_SIZE as usize..][..WASM_PAGE_SIZE as usize];
        assert!(page(0).iter().all(|&b| b == 1));
        assert!(page(1).iter().all(|&b| b == 0));
        assert!(page(2).iter().all(|&b| b == 3));
        assert!(page(23).iter().all(|&b| b == 4));
        // The three chunks given, not the two blocks they are in.
        assert_eq!(stable.resident_bytes(), 3 * WASM_PAGE_SIZE);
    }

    #[test]
    fn stable_grow_respects_the_limit() {
        let mut stable = StableMemory::default();
        assert_eq!(stable.grow(3, 4), Some(0));
        assert_eq!(stable.grow(2, 4), None);
        assert_eq!(stable.size(), 3);
    }

    #[test]
    fn stable_rollback_restores_contents_and_size() {
        let mut stable = StableMemory::default();
        stable.begin();
        stable.grow(1, 100);
        stable.write(10, b"committed");
        stable.commit();
        let before = stable.to_vec();

        stable.begin();
        stable.write(10, b"discarded");
        stable.write(PAGE_SIZE as u64 * 3, b"x");
        stable.grow(2, 100);
        stable.write(WASM_PAGE_SIZE + 1, b"new page");
        stable.rollback();

        assert_eq!(stable.size(), 1);
        assert_eq!(stable.to_vec(), before);
        // A later message sees no trace of the discarded one.
        stable.begin();
        stable.grow(1, 100);
        let mut buf = [9u8; 8];
        stable.read(WASM_PAGE_SIZE + 1, &mut buf);
        assert_eq!(buf, [0u8; 8]);
    }

    #[test]
    fn stable_reports_dirty_pages() {
        let mut stable = StableMemory::default();
        stable.grow(1, 100);
        stable.begin();
        assert_eq!(stable.write(PAGE_SIZE as u64 - 1, b"ab"), 2);
        assert_eq!(stable.write(0, b"c"), 0);
        stable.commit();
        assert_eq!(stable.take_dirty().into_iter().collect::<Vec<_>>(), vec![0, 1]);
        assert!(stable.take_dirty().is_empty());
    }
}

#[cfg(test)]
mod digest_tests {
    use super::*;

    #[test]
    fn an_updated_digest_equals_a_fresh_one() {
        let mut image = HeapImage::new(vec![0u8; 4 * PAGE_SIZE]);
        let mut digest = PageDigest::of(HEAP_SPACE, image.bytes());
        let mut live = image.bytes().to_vec();
        live[5] = 1;
        live.extend_from_slice(&[2u8; PAGE_SIZE]);
        digest = image.digest_after(&live, digest);
        image.commit(&live);
        assert_eq!(digest, PageDigest::of(HEAP_SPACE, &live));
        assert_ne!(digest, PageDigest::of(HEAP_SPACE, &vec![0u8; 5 * PAGE_SIZE]));
    }

    #[test]
    fn stable_digest_follows_writes_and_growth() {
        let mut stable = StableMemory::default();
        let mut digest = stable.digest();
        stable.begin();
        stable.grow(2, 10);
        stable.write(100, b"hello");
        stable.write(WASM_PAGE_SIZE + 7, b"world");
        digest = stable.digest_after(digest);
        stable.commit();
        assert_eq!(digest, stable.digest());
        stable.begin();
        stable.write(100, &[0; 5]);
        digest = stable.digest_after(digest);
        stable.commit();
        assert_eq!(digest, stable.digest());
    }

    #[test]
    fn the_same_bytes_in_another_place_hash_differently() {
        let mut a = vec![0u8; 2 * PAGE_SIZE];
        let mut b = a.clone();
        a[1] = 9;
        b[PAGE_SIZE + 1] = 9;
        assert_ne!(PageDigest::of(HEAP_SPACE, &a), PageDigest::of(HEAP_SPACE, &b));
        assert_ne!(PageDigest::of(HEAP_SPACE, &a), PageDigest::of(STABLE_SPACE, &a));
    }
}
