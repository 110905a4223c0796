//! Append-only files of checksummed frames: the format of the journal, and
//! of an embedder's own logs (the node keeps its cost ledger in one).
//!
//! ```text
//!  ┌──────── file header ────────┐
//!  │ magic (8 bytes) │ version u32 │
//!  └─────────────────────────────┘
//!  ┌──────────────────────── frame ────────────────────────┐
//!  │ length u32 │ crc32 u32 │ header crc32 u32 │ payload … │   little-endian
//!  └───────────────────────────────────────────────────────┘
//! ```
//!
//! The first crc covers the payload, the header crc the eight bytes before
//! it (length and payload crc). A crash while appending can leave a torn
//! frame at the end of a file, never acknowledged: torn means the frame is
//! incomplete, or what follows is zeros (a file system may extend a file
//! before its data reaches the disk). Any other bad frame — a header or
//! payload whose crc fails, even the last one — is corruption. The header
//! crc is what tells a flipped length from a short write.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

/// Longest frame accepted when reading (a sanity bound against garbage).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// The header of a file of frames.
pub const HEADER: usize = 12;
const FRAME_HEADER: usize = 12;

/// What a file of frames holds, named by its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    pub magic: [u8; 8],
    pub version: u32,
}

impl Format {
    pub fn header(&self) -> [u8; HEADER] {
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&self.magic);
        header[8..].copy_from_slice(&self.version.to_le_bytes());
        header
    }

    /// Whether `bytes` start like a file of this format (any version).
    pub fn recognises(&self, bytes: &[u8]) -> bool {
        bytes.starts_with(&self.magic)
    }
}

/// `payload` framed.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_HEADER + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let header_crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&header_crc.to_le_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The frames of a file's bytes.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub payloads: Vec<&'a [u8]>,
    /// Where the last good frame ends.
    pub end: usize,
    /// Whether a torn frame follows `end`.
    pub torn: bool,
}

/// Parses `bytes`, a whole file of `format`. A short header, another
/// version or a corrupted frame is an error naming `what`.
pub fn parse<'a>(bytes: &'a [u8], format: &Format, what: &Path) -> io::Result<Parsed<'a>> {
    let invalid = |why: String| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{} {why}", what.display()))
    };
    if bytes.len() < HEADER {
        if format.header().starts_with(bytes) {
            // A file a crash left before its header was complete.
            return Ok(Parsed { payloads: Vec::new(), end: bytes.len(), torn: false });
        }
        return Err(invalid("is not a file of this kind (too short)".to_owned()));
    }
    if bytes[..8] != format.magic {
        return Err(invalid("is not a file of this kind (bad magic)".to_owned()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if version != format.version {
        return Err(invalid(format!(
            "has format version {version}; this build reads {}",
            format.version
        )));
    }
    let mut parsed = Parsed { payloads: Vec::new(), end: HEADER, torn: false };
    while parsed.end < bytes.len() {
        let rest = &bytes[parsed.end..];
        if rest.len() < FRAME_HEADER || rest.iter().all(|&b| b == 0) {
            parsed.torn = true;
            break;
        }
        let header_crc = u32::from_le_bytes(rest[8..12].try_into().unwrap());
        if crc32fast::hash(&rest[..8]) != header_crc {
            return Err(invalid(format!(
                "is corrupted at byte {}: frame header checksum mismatch",
                parsed.end
            )));
        }
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
        if len > MAX_FRAME {
            return Err(invalid(format!("is corrupted at byte {}: frame too long", parsed.end)));
        }
        let Some(payload) = rest.get(FRAME_HEADER..FRAME_HEADER + len) else {
            parsed.torn = true;
            break;
        };
        if crc32fast::hash(payload) != crc {
            return Err(invalid(format!(
                "is corrupted at byte {}: frame checksum mismatch",
                parsed.end
            )));
        }
        parsed.payloads.push(payload);
        parsed.end += FRAME_HEADER + len;
    }
    Ok(parsed)
}

/// Creates (or recreates, if a crash left it incomplete) a file of
/// `format` with nothing but its header, durably; returns it open for
/// appending.
pub fn create(path: &Path, format: &Format) -> io::Result<File> {
    let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(path)?;
    file.write_all(&format.header())?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        super::sync_dir(dir)?;
    }
    drop(file);
    let mut file = OpenOptions::new().append(true).open(path)?;
    file.seek(SeekFrom::End(0))?;
    Ok(file)
}

/// Cuts the file at `end` (where a torn frame starts), durably.
pub fn cut(path: &Path, end: usize) -> io::Result<()> {
    tracing::warn!(
        "cutting a torn record off the end of {} at byte {end}: a crash interrupted it",
        path.display()
    );
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(end as u64)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMAT: Format = Format { magic: *b"TESTFRMS", version: 3 };

    fn file(frames: &[&[u8]]) -> Vec<u8> {
        let mut bytes = FORMAT.header().to_vec();
        for frame in frames {
            bytes.extend_from_slice(&encode(frame));
        }
        bytes
    }

    #[test]
    fn frame_layout_is_stable() {
        // length 2 | crc32("hi") | crc32 of those 8 bytes | "hi"
        let frame = encode(b"hi");
        assert_eq!(hex::encode(frame), "02000000ac2a93d8a03e04c76869");
        assert_eq!(&FORMAT.header()[..], b"TESTFRMS\x03\x00\x00\x00");
    }

    #[test]
    fn frames_come_back_and_a_torn_tail_is_reported() {
        let path = Path::new("test");
        let bytes = file(&[b"one", b"two"]);
        let parsed = parse(&bytes, &FORMAT, path).unwrap();
        assert_eq!(parsed.payloads, [&b"one"[..], b"two"]);
        assert_eq!((parsed.end, parsed.torn), (bytes.len(), false));
        let first = HEADER + encode(b"one").len();
        let short = parse(&bytes[..bytes.len() - 1], &FORMAT, path).unwrap();
        assert_eq!((short.payloads.len(), short.end, short.torn), (1, first, true));
        let zeros = [bytes.as_slice(), &[0; 30]].concat();
        let zeros = parse(&zeros, &FORMAT, path).unwrap();
        assert_eq!((zeros.payloads.len(), zeros.end, zeros.torn), (2, bytes.len(), true));
        // A file a crash left with a partial header holds nothing.
        let header = FORMAT.header();
        let partial = parse(&header[..5], &FORMAT, path).unwrap();
        assert!(partial.payloads.is_empty());
    }

    #[test]
    fn every_flipped_byte_is_corruption_or_a_bad_header() {
        let path = Path::new("test");
        let good = file(&[b"one", b"two", b"three"]);
        for at in 0..good.len() {
            let mut bytes = good.clone();
            bytes[at] ^= 0x10;
            assert!(parse(&bytes, &FORMAT, path).is_err(), "a flip at byte {at} went unnoticed");
        }
    }
}
