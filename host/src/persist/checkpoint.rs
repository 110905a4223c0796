//! Checkpoints: a canister's memory and system state on disk.
//!
//! ```text
//!  <dir>/heap.img          the heap, byte for byte
//!  <dir>/stable.img        stable memory, byte for byte (sparse: zero chunks are holes)
//!  <dir>/checkpoint        what the images hold: magic, version, the last message
//!                          they include, sizes, CRC-32 of every 64 KiB chunk,
//!                          globals, system state, module hash, embedder data;
//!                          SHA-256 of all that at the end
//!  <dir>/checkpoint.delta  only while a checkpoint is being applied: the changed
//!                          4 KiB pages and the next `checkpoint`, SHA-256 at the end
//! ```
//!
//! A checkpoint writes only the pages changed since the previous one. They
//! first go to `checkpoint.delta`, which is synced and renamed into place
//! (atomically), then into the images, then `checkpoint` is replaced
//! (atomically) and the delta removed. A crash at any point leaves either the
//! old checkpoint or a complete delta, which opening applies again. Every
//! file carries a magic, a version and a checksum; a truncated or corrupted
//! file is an error, never an empty canister.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Val;

use super::codec::{Reader, Writer};
use super::sync_dir;
use crate::memory::{PAGE_SIZE, StableMemory, WASM_PAGE_SIZE};
use crate::system_api::SystemState;

const META_MAGIC: &[u8; 8] = b"CEVMCKPT";
const DELTA_MAGIC: &[u8; 8] = b"CEVMDLTA";
/// Version of the formats in this file.
pub const FORMAT_VERSION: u32 = 1;
/// Granularity of the checksums.
pub const CHUNK: usize = WASM_PAGE_SIZE as usize;

const HEAP: &str = "heap.img";
const STABLE: &str = "stable.img";
const META: &str = "checkpoint";
const DELTA: &str = "checkpoint.delta";

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// A mutable global's value, as saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalValue {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
}

impl GlobalValue {
    pub fn from_val(val: &Val) -> Option<Self> {
        Some(match val {
            Val::I32(v) => Self::I32(*v),
            Val::I64(v) => Self::I64(*v),
            Val::F32(v) => Self::F32(*v),
            Val::F64(v) => Self::F64(*v),
            Val::V128(v) => Self::V128(v.as_u128()),
            _ => return None,
        })
    }

    pub fn to_val(self) -> Val {
        match self {
            Self::I32(v) => Val::I32(v),
            Self::I64(v) => Val::I64(v),
            Self::F32(v) => Val::F32(v),
            Self::F64(v) => Val::F64(v),
            Self::V128(v) => Val::V128(v.into()),
        }
    }
}

/// Everything a checkpoint says besides the page contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointMeta {
    /// The last journal record the checkpoint includes.
    pub seq: u64,
    /// SHA-256 of the installed module.
    pub module_hash: [u8; 32],
    pub heap_len: u64,
    pub stable_pages: u64,
    pub heap_crcs: Vec<u32>,
    pub stable_crcs: Vec<u32>,
    pub globals: Vec<GlobalValue>,
    pub canister_id: Vec<u8>,
    pub controllers: Vec<Vec<u8>>,
    pub cycles: u128,
    pub version: u64,
    pub global_timer: u64,
    pub certified_data: Vec<u8>,
    /// The embedder's own data (the node's clock, say).
    pub app: Vec<u8>,
}

impl CheckpointMeta {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(META_MAGIC).u32(FORMAT_VERSION).u64(self.seq).raw(&self.module_hash);
        w.u64(self.heap_len).u64(self.stable_pages);
        w.u64(self.heap_crcs.len() as u64);
        for crc in &self.heap_crcs {
            w.u32(*crc);
        }
        w.u64(self.stable_crcs.len() as u64);
        for crc in &self.stable_crcs {
            w.u32(*crc);
        }
        w.u64(self.globals.len() as u64);
        for global in &self.globals {
            match *global {
                GlobalValue::I32(v) => w.u8(0).u64(v as u32 as u64),
                GlobalValue::I64(v) => w.u8(1).u64(v as u64),
                GlobalValue::F32(v) => w.u8(2).u64(u64::from(v)),
                GlobalValue::F64(v) => w.u8(3).u64(v),
                GlobalValue::V128(v) => w.u8(4).u128(v),
            };
        }
        w.bytes(&self.canister_id).u64(self.controllers.len() as u64);
        for controller in &self.controllers {
            w.bytes(controller);
        }
        w.u128(self.cycles).u64(self.version).u64(self.global_timer).bytes(&self.certified_data);
        w.bytes(&self.app);
        let digest = Sha256::digest(&w.buf);
        w.raw(&digest);
        w.buf
    }

    fn decode(bytes: &[u8], what: &Path) -> io::Result<Self> {
        let corrupt =
            |why: &str| invalid(format!("{} is not a valid checkpoint: {why}", what.display()));
        if bytes.len() < 12 + 32 || &bytes[..8] != META_MAGIC {
            return Err(corrupt("bad magic or too short"));
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body)[..] != *digest {
            return Err(corrupt("checksum mismatch"));
        }
        let mut r = Reader::new(&body[8..]);
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(corrupt(&format!(
                "format version {version}, this build reads {FORMAT_VERSION}"
            )));
        }
        let seq = r.u64()?;
        let module_hash = r.raw(32)?.try_into().unwrap();
        let heap_len = r.u64()?;
        let stable_pages = r.u64()?;
        let crcs = |r: &mut Reader<'_>| -> io::Result<Vec<u32>> {
            let n = r.u64()?;
            (0..n).map(|_| r.u32()).collect()
        };
        let heap_crcs = crcs(&mut r)?;
        let stable_crcs = crcs(&mut r)?;
        let globals = (0..r.u64()?)
            .map(|_| {
                Ok(match r.u8()? {
                    0 => GlobalValue::I32(r.u64()? as u32 as i32),
                    1 => GlobalValue::I64(r.u64()? as i64),
                    2 => GlobalValue::F32(r.u64()? as u32),
                    3 => GlobalValue::F64(r.u64()?),
                    4 => GlobalValue::V128(r.u128()?),
                    _ => return Err(corrupt("unknown global type")),
                })
            })
            .collect::<io::Result<_>>()?;
        let canister_id = r.bytes()?.to_vec();
        let controllers =
            (0..r.u64()?).map(|_| r.bytes().map(<[u8]>::to_vec)).collect::<io::Result<_>>()?;
        let meta = Self {
            seq,
            module_hash,
            heap_len,
            stable_pages,
            heap_crcs,
            stable_crcs,
            globals,
            canister_id,
            controllers,
            cycles: r.u128()?,
            version: r.u64()?,
            global_timer: r.u64()?,
            certified_data: r.bytes()?.to_vec(),
            app: r.bytes()?.to_vec(),
        };
        if !r.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(meta)
    }

    /// The system state a canister restored from this checkpoint has.
    pub fn system_state(&self, stable: StableMemory) -> SystemState {
        SystemState {
            canister_id: self.canister_id.clone(),
            controllers: self.controllers.clone(),
            stable,
            cycles: self.cycles,
            version: self.version,
            global_timer: self.global_timer,
            certified_data: self.certified_data.clone(),
        }
    }
}

/// The memories of a canister at a checkpoint, as `checkpoint` writes them.
pub struct Snapshot<'a> {
    pub heap: &'a [u8],
    pub stable: &'a StableMemory,
    /// Pages (4 KiB) changed since the previous checkpoint.
    pub dirty_heap: &'a BTreeSet<usize>,
    pub dirty_stable: &'a BTreeSet<usize>,
    pub globals: &'a [Val],
    pub system: &'a SystemState,
    pub module_hash: [u8; 32],
}

fn crc_of_chunks(bytes: impl Fn(usize) -> Vec<u8>, chunks: usize) -> Vec<u32> {
    (0..chunks).map(|i| crc32fast::hash(&bytes(i))).collect()
}

fn stable_chunk(stable: &StableMemory, index: usize) -> Vec<u8> {
    let mut buf = vec![0u8; CHUNK];
    stable.read(index as u64 * WASM_PAGE_SIZE, &mut buf);
    buf
}

fn heap_chunk(heap: &[u8], index: usize) -> Vec<u8> {
    heap[index * CHUNK..((index + 1) * CHUNK).min(heap.len())].to_vec()
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// The checkpoint directory of one canister.
pub struct StateDir {
    dir: PathBuf,
    meta: CheckpointMeta,
}

impl StateDir {
    /// Writes the first checkpoint of a canister into the empty `dir`.
    pub fn create(dir: &Path, snapshot: &Snapshot<'_>, seq: u64, app: Vec<u8>) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let heap_chunks = snapshot.heap.len().div_ceil(CHUNK);
        let stable_chunks = snapshot.stable.size() as usize;
        let meta = CheckpointMeta {
            seq,
            module_hash: snapshot.module_hash,
            heap_len: snapshot.heap.len() as u64,
            stable_pages: snapshot.stable.size(),
            heap_crcs: crc_of_chunks(|i| heap_chunk(snapshot.heap, i), heap_chunks),
            stable_crcs: crc_of_chunks(|i| stable_chunk(snapshot.stable, i), stable_chunks),
            globals: snapshot.globals.iter().filter_map(GlobalValue::from_val).collect(),
            canister_id: snapshot.system.canister_id.clone(),
            controllers: snapshot.system.controllers.clone(),
            cycles: snapshot.system.cycles,
            version: snapshot.system.version,
            global_timer: snapshot.system.global_timer,
            certified_data: snapshot.system.certified_data.clone(),
            app,
        };
        let mut heap = File::create(dir.join(HEAP))?;
        heap.write_all(snapshot.heap)?;
        heap.sync_all()?;
        let stable = File::create(dir.join(STABLE))?;
        stable.set_len(snapshot.stable.len())?;
        for i in 0..stable_chunks {
            let chunk = stable_chunk(snapshot.stable, i);
            if chunk.iter().any(|&b| b != 0) {
                stable.write_all_at(&chunk, (i * CHUNK) as u64)?;
            }
        }
        stable.sync_all()?;
        write_atomically(dir, META, &meta.encode())?;
        Ok(Self { dir: dir.to_owned(), meta })
    }

    /// Opens the checkpoint in `dir`, finishing one a crash interrupted.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let delta = dir.join(DELTA);
        if delta.exists() {
            tracing::warn!("finishing the checkpoint a crash interrupted in {}", dir.display());
            let bytes = fs::read(&delta)?;
            let (pages, meta) = decode_delta(&bytes, &delta)?;
            apply(dir, &pages, &meta)?;
        }
        let path = dir.join(META);
        let bytes = fs::read(&path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot read the checkpoint {}: {e}", path.display()))
        })?;
        let meta = CheckpointMeta::decode(&bytes, &path)?;
        Ok(Self { dir: dir.to_owned(), meta })
    }

    pub fn meta(&self) -> &CheckpointMeta {
        &self.meta
    }

    /// Reads and verifies the heap and stable memory of the checkpoint.
    pub fn load(&self) -> io::Result<(Vec<u8>, StableMemory)> {
        let meta = &self.meta;
        let heap_path = self.dir.join(HEAP);
        let mut heap = Vec::new();
        File::open(&heap_path)?.read_to_end(&mut heap)?;
        if (heap.len() as u64) < meta.heap_len {
            return Err(invalid(format!(
                "{} is truncated: {} bytes, the checkpoint says {}",
                heap_path.display(),
                heap.len(),
                meta.heap_len
            )));
        }
        heap.truncate(meta.heap_len as usize);
        for (i, crc) in meta.heap_crcs.iter().enumerate() {
            if crc32fast::hash(&heap_chunk(&heap, i)) != *crc {
                return Err(invalid(format!("{} is corrupted in chunk {i}", heap_path.display())));
            }
        }

        let stable_path = self.dir.join(STABLE);
        let file = File::open(&stable_path)?;
        let expected = meta.stable_pages * WASM_PAGE_SIZE;
        let actual = file.metadata()?.len();
        if actual < expected {
            return Err(invalid(format!(
                "{} is truncated: {actual} bytes, the checkpoint says {expected}",
                stable_path.display()
            )));
        }
        // Chunk by chunk, skipping the holes of the sparse image: a chunk in
        // a hole is zeros, which its checksum must confirm.
        let zero_crc = crc32fast::hash(&[0u8; CHUNK]);
        let mut data_from = 0u64;
        let mut chunks = Vec::with_capacity(meta.stable_crcs.len());
        for (i, crc) in meta.stable_crcs.iter().enumerate() {
            let offset = (i * CHUNK) as u64;
            if data_from < offset + CHUNK as u64 {
                data_from = next_data(&file, offset)?.unwrap_or(u64::MAX);
            }
            let chunk = if data_from >= offset + CHUNK as u64 {
                (*crc == zero_crc).then_some(None)
            } else {
                let mut bytes = vec![0u8; CHUNK].into_boxed_slice();
                file.read_exact_at(&mut bytes, offset)?;
                (crc32fast::hash(&bytes) == *crc)
                    .then(|| bytes.iter().any(|&b| b != 0).then_some(bytes))
            };
            let Some(chunk) = chunk else {
                return Err(invalid(format!(
                    "{} is corrupted in chunk {i}",
                    stable_path.display()
                )));
            };
            chunks.push(chunk);
        }
        Ok((heap, StableMemory::from_chunks(chunks)))
    }

    /// Writes the pages that changed since the previous checkpoint; the new
    /// checkpoint includes journal records up to `seq`.
    pub fn checkpoint(
        &mut self,
        snapshot: &Snapshot<'_>,
        seq: u64,
        app: Vec<u8>,
    ) -> io::Result<()> {
        let mut meta = CheckpointMeta {
            seq,
            module_hash: snapshot.module_hash,
            heap_len: snapshot.heap.len() as u64,
            stable_pages: snapshot.stable.size(),
            heap_crcs: self.meta.heap_crcs.clone(),
            stable_crcs: self.meta.stable_crcs.clone(),
            globals: snapshot.globals.iter().filter_map(GlobalValue::from_val).collect(),
            canister_id: snapshot.system.canister_id.clone(),
            controllers: snapshot.system.controllers.clone(),
            cycles: snapshot.system.cycles,
            version: snapshot.system.version,
            global_timer: snapshot.system.global_timer,
            certified_data: snapshot.system.certified_data.clone(),
            app,
        };
        let heap_pages = snapshot.heap.len() / PAGE_SIZE;
        let stable_len = snapshot.stable.len();
        let dirty_heap: Vec<usize> =
            snapshot.dirty_heap.iter().copied().filter(|&p| p < heap_pages).collect();
        let dirty_stable: Vec<usize> = snapshot
            .dirty_stable
            .iter()
            .copied()
            .filter(|&p| ((p + 1) * PAGE_SIZE) as u64 <= stable_len)
            .collect();
        let mut pages = Pages::with_capacity(dirty_heap.len() + dirty_stable.len());
        for page in dirty_heap {
            pages.push(0, page as u64, |bytes| {
                bytes.copy_from_slice(&snapshot.heap[page * PAGE_SIZE..(page + 1) * PAGE_SIZE])
            });
        }
        for page in dirty_stable {
            pages.push(1, page as u64, |bytes| {
                snapshot.stable.read((page * PAGE_SIZE) as u64, bytes)
            });
        }
        // Checksums of the chunks that changed, or appeared.
        let heap_chunks = snapshot.heap.len().div_ceil(CHUNK);
        meta.heap_crcs.resize(heap_chunks, 0);
        let chunks_of = |pages: &BTreeSet<usize>| -> BTreeSet<usize> {
            pages.iter().map(|p| p * PAGE_SIZE / CHUNK).collect()
        };
        let mut heap_changed = chunks_of(snapshot.dirty_heap);
        heap_changed.extend(self.meta.heap_crcs.len().min(heap_chunks)..heap_chunks);
        for i in heap_changed.into_iter().filter(|&i| i < heap_chunks) {
            meta.heap_crcs[i] = crc32fast::hash(&heap_chunk(snapshot.heap, i));
        }
        let stable_chunks = snapshot.stable.size() as usize;
        meta.stable_crcs.resize(stable_chunks, crc32fast::hash(&[0u8; CHUNK]));
        for i in chunks_of(snapshot.dirty_stable).into_iter().filter(|&i| i < stable_chunks) {
            meta.stable_crcs[i] = crc32fast::hash(&stable_chunk(snapshot.stable, i));
        }

        let delta = encode_delta(&pages, &meta);
        write_atomically(&self.dir, DELTA, &delta)?;
        apply(&self.dir, &pages, &meta)?;
        self.meta = meta;
        Ok(())
    }
}

/// The offset of the first data (not a hole) at or after `offset`, if any.
fn next_data(file: &File, offset: u64) -> io::Result<Option<u64>> {
    use std::os::fd::AsRawFd;
    // SAFETY: `lseek` on a descriptor `file` keeps open; `read_exact_at`
    // (pread) does not use the file position it moves.
    let found = unsafe { libc::lseek(file.as_raw_fd(), offset as libc::off_t, libc::SEEK_DATA) };
    if found >= 0 {
        return Ok(Some(found as u64));
    }
    match io::Error::last_os_error() {
        // No data after `offset`.
        error if error.raw_os_error() == Some(libc::ENXIO) => Ok(None),
        // A file system without hole support: treat everything as data.
        error if error.raw_os_error() == Some(libc::EINVAL) => Ok(Some(offset)),
        error => Err(error),
    }
}

/// Writes `pages` into the images, then `meta`, then drops the delta.
fn apply(dir: &Path, pages: &Pages, meta: &CheckpointMeta) -> io::Result<()> {
    let heap = OpenOptions::new().write(true).open(dir.join(HEAP))?;
    let stable = OpenOptions::new().write(true).open(dir.join(STABLE))?;
    for (space, page, bytes) in pages.iter() {
        let file = if space == 0 { &heap } else { &stable };
        file.write_all_at(bytes, page * PAGE_SIZE as u64)?;
    }
    heap.set_len(meta.heap_len)?;
    if stable.metadata()?.len() < meta.stable_pages * WASM_PAGE_SIZE {
        stable.set_len(meta.stable_pages * WASM_PAGE_SIZE)?;
    }
    heap.sync_all()?;
    stable.sync_all()?;
    write_atomically(dir, META, &meta.encode())?;
    fs::remove_file(dir.join(DELTA))?;
    sync_dir(dir)
}

fn encode_delta(pages: &Pages, meta: &CheckpointMeta) -> Vec<u8> {
    let mut w = Writer::default();
    w.buf.reserve(pages.bytes.len() + pages.at.len() * 9 + 4096);
    w.raw(DELTA_MAGIC).u32(FORMAT_VERSION).u64(pages.at.len() as u64);
    for (space, page, bytes) in pages.iter() {
        w.u8(space).u64(page).raw(bytes);
    }
    w.bytes(&meta.encode());
    let digest = Sha256::digest(&w.buf);
    w.raw(&digest);
    w.buf
}

/// Changed pages: where each goes (0 the heap, 1 stable memory; the page
/// number) and their bytes, back to back in one buffer. One allocation,
/// not one per page: a checkpoint of thousands of pages would otherwise
/// leave the allocator's arenas fragmented (the soak bench showed it).
#[derive(Default)]
struct Pages {
    at: Vec<(u8, u64)>,
    bytes: Vec<u8>,
}

impl Pages {
    fn with_capacity(pages: usize) -> Self {
        Self { at: Vec::with_capacity(pages), bytes: Vec::with_capacity(pages * PAGE_SIZE) }
    }

    /// Adds page `page` of `space`, whose bytes `fill` writes.
    fn push(&mut self, space: u8, page: u64, fill: impl FnOnce(&mut [u8])) {
        let start = self.bytes.len();
        self.bytes.resize(start + PAGE_SIZE, 0);
        fill(&mut self.bytes[start..]);
        self.at.push((space, page));
    }

    fn iter(&self) -> impl Iterator<Item = (u8, u64, &[u8])> {
        self.at.iter().zip(self.bytes.chunks_exact(PAGE_SIZE)).map(|(&(s, p), b)| (s, p, b))
    }
}

fn decode_delta(bytes: &[u8], path: &Path) -> io::Result<(Pages, CheckpointMeta)> {
    let corrupt =
        |why: &str| invalid(format!("{} is not a valid checkpoint delta: {why}", path.display()));
    if bytes.len() < 12 + 32 || &bytes[..8] != DELTA_MAGIC {
        return Err(corrupt("bad magic or too short"));
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body)[..] != *digest {
        return Err(corrupt("checksum mismatch"));
    }
    let mut r = Reader::new(&body[8..]);
    if r.u32()? != FORMAT_VERSION {
        return Err(corrupt("unknown format version"));
    }
    let count = r.u64()?;
    // Bounded by the delta's size, whatever its count claims.
    let mut pages = Pages::with_capacity((count as usize).min(body.len() / PAGE_SIZE));
    for _ in 0..count {
        let (space, page, bytes) = (r.u8()?, r.u64()?, r.raw(PAGE_SIZE)?);
        pages.push(space, page, |out| out.copy_from_slice(bytes));
    }
    let meta = CheckpointMeta::decode(r.bytes()?, path)?;
    Ok((pages, meta))
}

#[cfg(test)]
mod tests;
