//! The journal: a write-ahead log of the messages that change a canister.
//!
//! Every update (and every upgrade) is appended, and made durable with
//! [`Journal::sync`], *before* it executes. After a crash, the messages after
//! the last checkpoint are executed again; execution is deterministic, so
//! they produce exactly the state they produced before.
//!
//! ```text
//!  journal-<first seq, 20 digits>.log: frames (see `frames.rs`), magic
//!  "CEVMJRNL", version 2; each frame's payload is a record:
//!  seq u64 | time u64 | kind u8 (0 update, 1 upgrade, 2 cancel)
//!  | caller bytes | method bytes | argument bytes      (bytes = u64 length + data)
//! ```
//!
//! A crash while appending can leave a torn record at the end of the last
//! file: it was never acknowledged and is cut off. Any other bad record —
//! even the last one — is corruption, and opening fails rather than losing
//! messages (see [`super::frames`] for how the two are told apart).
//!
//! Files of version 1 (records without the header crc, no file header) are
//! still read; a torn record there is anything bad at the end that no good
//! record follows. New records always go to a version-2 file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::codec::{Reader, Writer};
use super::frames::{self, Format, MAX_FRAME};
use super::sync_dir;

/// The journal's files: frames ([`super::frames`]) of records.
pub const FORMAT: Format = Format { magic: *b"CEVMJRNL", version: 2 };

/// What kind of message a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An update call: `method` with argument `arg`.
    Update,
    /// An upgrade: `method` is the hex SHA-256 of the new module, `arg` the
    /// argument of `canister_post_upgrade`.
    Upgrade,
    /// The record whose sequence number is `method` was not executed after
    /// all (it was logged, then refused); replaying skips it.
    Cancel,
}

/// One logged message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub time: u64,
    pub kind: Kind,
    pub caller: Vec<u8>,
    pub method: String,
    pub arg: Vec<u8>,
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let mut payload = Writer::default();
        payload
            .u64(self.seq)
            .u64(self.time)
            .u8(match self.kind {
                Kind::Update => 0,
                Kind::Upgrade => 1,
                Kind::Cancel => 2,
            })
            .bytes(&self.caller)
            .bytes(self.method.as_bytes())
            .bytes(&self.arg);
        frames::encode(&payload.buf)
    }

    /// Encoded length of the records the tests append for `method`.
    #[cfg(test)]
    fn decode_len(method: &str) -> usize {
        Record {
            seq: 0,
            time: 0,
            kind: Kind::Update,
            caller: b"caller".to_vec(),
            method: method.into(),
            arg: method.as_bytes().to_vec(),
        }
        .encode()
        .len()
    }

    fn decode(payload: &[u8]) -> io::Result<Self> {
        let mut r = Reader::new(payload);
        let seq = r.u64()?;
        let time = r.u64()?;
        let kind = match r.u8()? {
            0 => Kind::Update,
            1 => Kind::Upgrade,
            2 => Kind::Cancel,
            other => return Err(invalid(format!("unknown record kind {other}"))),
        };
        let caller = r.bytes()?.to_vec();
        let method =
            String::from_utf8(r.bytes()?.to_vec()).map_err(|_| invalid("method is not UTF-8"))?;
        let arg = r.bytes()?.to_vec();
        Ok(Self { seq, time, kind, caller, method, arg })
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn file_name(first_seq: u64) -> String {
    format!("journal-{first_seq:020}.log")
}

/// The journal files in `dir`, by first sequence number.
fn files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if let Some(seq) = name.strip_prefix("journal-").and_then(|n| n.strip_suffix(".log")) {
            let seq =
                seq.parse().map_err(|_| invalid(format!("unexpected journal file {name}")))?;
            files.push((seq, path));
        }
    }
    files.sort();
    Ok(files)
}

/// Reads the records of one file; a torn tail is cut off if `last` (only the
/// file being appended to can have one).
fn read_file(path: &Path, last: bool) -> io::Result<Vec<Record>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    if !bytes.is_empty() && !FORMAT.recognises(&bytes) && !FORMAT.header().starts_with(&bytes) {
        // Version 1 had no header: a file of it starts with a good record.
        // Anything else is a damaged header, not an old file to cut short.
        if parse_record_v1(&bytes).is_err() {
            return Err(invalid(format!(
                "journal {} is corrupted: its header is damaged",
                path.display()
            )));
        }
        return read_file_v1(path, &bytes, last);
    }
    let parsed = frames::parse(&bytes, &FORMAT, path)?;
    if parsed.torn {
        if !last {
            return Err(invalid(format!(
                "journal {} ends in an incomplete record at byte {}, but later files follow",
                path.display(),
                parsed.end
            )));
        }
        frames::cut(path, parsed.end)?;
    }
    parsed.payloads.into_iter().map(Record::decode).collect()
}

/// Reads a file of version 1: records framed by length and crc only, with
/// no file header. A bad record is torn unless a good one follows it.
fn read_file_v1(path: &Path, bytes: &[u8], last: bool) -> io::Result<Vec<Record>> {
    let parse = parse_record_v1;
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match parse(&bytes[at..]) {
            Ok((record, used)) => {
                records.push(record);
                at += used;
            }
            Err(error) => {
                let rest = &bytes[at..];
                let later_records = (1..rest.len()).any(|i| parse(&rest[i..]).is_ok());
                if last && !later_records {
                    frames::cut(path, at)?;
                    break;
                }
                return Err(invalid(format!(
                    "journal {} is corrupted at byte {at}: {error}",
                    path.display()
                )));
            }
        }
    }
    Ok(records)
}

/// A version-1 record at the start of `bytes`, and its length.
fn parse_record_v1(bytes: &[u8]) -> io::Result<(Record, usize)> {
    let mut r = Reader::new(bytes);
    let len = r.u32()? as usize;
    let crc = r.u32()?;
    if len > MAX_FRAME {
        return Err(invalid("record length out of range"));
    }
    let payload = r.raw(len)?;
    if crc32fast::hash(payload) != crc {
        return Err(invalid("record checksum mismatch"));
    }
    Ok((Record::decode(payload)?, 8 + len))
}

/// Creates the file whose first record will be `first_seq`.
fn new_file(dir: &Path, first_seq: u64) -> io::Result<File> {
    frames::create(&dir.join(file_name(first_seq)), &FORMAT)
}

/// The journal of one canister, open for appending.
pub struct Journal {
    dir: PathBuf,
    file: File,
    /// Sequence number of the next record.
    next_seq: u64,
    /// Records appended but not yet synced.
    unsynced: bool,
    /// Where files a checkpoint made unnecessary go, to keep the whole
    /// history of inputs (see [`history`]); deleted if `None`.
    archive: Option<PathBuf>,
}

impl Journal {
    /// Opens (or creates) the journal in `dir`; returns it and the records
    /// with a sequence number above `after`, in order, without the cancelled
    /// ones and the cancellations.
    pub fn open(dir: &Path, after: u64) -> io::Result<(Self, Vec<Record>)> {
        fs::create_dir_all(dir)?;
        let files = files(dir)?;
        let (pending, next_seq) = read_records(&files, after)?;
        // Append to the last file if it is of this version; otherwise (no
        // file yet, or one of version 1) start a new one.
        let current = files.last().filter(|(_, path)| {
            let mut magic = [0u8; 8];
            File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
                && magic == FORMAT.magic
        });
        let file = match current {
            Some((_, path)) => {
                let mut file = OpenOptions::new().append(true).open(path)?;
                file.seek(SeekFrom::End(0))?;
                file
            }
            None => new_file(dir, next_seq)?,
        };
        Ok((Self { dir: dir.to_owned(), file, next_seq, unsynced: false, archive: None }, pending))
    }

    /// Sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Journals that record `seq` was not executed, and syncs.
    pub fn cancel(&mut self, seq: u64, time: u64) -> io::Result<()> {
        self.append(time, Kind::Cancel, &[], &seq.to_string(), &[])?;
        self.sync()
    }

    /// Appends a record (not yet durable: call [`Journal::sync`]); returns
    /// its sequence number.
    pub fn append(
        &mut self,
        time: u64,
        kind: Kind,
        caller: &[u8],
        method: &str,
        arg: &[u8],
    ) -> io::Result<u64> {
        let seq = self.next_seq;
        let record = Record {
            seq,
            time,
            kind,
            caller: caller.to_vec(),
            method: method.to_owned(),
            arg: arg.to_vec(),
        };
        self.file.write_all(&record.encode())?;
        self.next_seq += 1;
        self.unsynced = true;
        Ok(seq)
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Starts a new file after a checkpoint that covers everything up to
    /// `checkpoint_seq`, and deletes the files that checkpoint made
    /// unnecessary.
    pub fn rotate(&mut self, checkpoint_seq: u64) -> io::Result<()> {
        self.sync()?;
        if !self.dir.join(file_name(self.next_seq)).exists() {
            self.file = new_file(&self.dir, self.next_seq)?;
        }
        let files = files(&self.dir)?;
        // A file is obsolete when the next one starts at or before the
        // checkpoint: all its records are covered.
        for pair in files.windows(2) {
            if pair[1].0 <= checkpoint_seq + 1 {
                match &self.archive {
                    Some(archive) => {
                        fs::rename(&pair[0].1, archive.join(file_name(pair[0].0)))?;
                    }
                    None => fs::remove_file(&pair[0].1)?,
                }
            }
        }
        if let Some(archive) = &self.archive {
            sync_dir(archive)?;
        }
        sync_dir(&self.dir)
    }

    /// Keeps the files [`Journal::rotate`] makes unnecessary in `archive`
    /// (a directory on the same file system) instead of deleting them.
    pub fn archive_to(&mut self, archive: &Path) -> io::Result<()> {
        fs::create_dir_all(archive)?;
        self.archive = Some(archive.to_owned());
        Ok(())
    }
}

/// Every record a canister's journal has held, from the first: the files
/// archived by [`Journal::archive_to`] and those still in the journal
/// directory, in order, without the cancelled records and the
/// cancellations. Refused with an error if a record is missing (a history
/// that does not start at `first`, or skips) or damaged; a torn record at
/// the very end (never acknowledged) is cut off.
pub fn history(archive: &Path, journal: &Path, first: u64) -> io::Result<Vec<Record>> {
    let mut all = if archive.exists() { files(archive)? } else { Vec::new() };
    all.extend(files(journal)?);
    all.sort();
    all.dedup_by_key(|(seq, _)| *seq);
    Ok(read_records(&all, first.saturating_sub(1))?.0)
}

/// The records of `files` (in order) numbered above `after`, without the
/// cancelled ones and the cancellations, and the number the next record
/// gets. A gap in the numbering is an error; a torn record at the end of
/// the last file is cut off.
fn read_records(files: &[(u64, PathBuf)], after: u64) -> io::Result<(Vec<Record>, u64)> {
    let mut records = Vec::new();
    let mut next_seq = after + 1;
    for (i, (_, path)) in files.iter().enumerate() {
        for record in read_file(path, i + 1 == files.len())? {
            if record.seq <= after {
                continue;
            }
            if record.seq != next_seq {
                return Err(invalid(format!(
                    "journal {} skips from message {} to {}",
                    path.display(),
                    next_seq - 1,
                    record.seq
                )));
            }
            next_seq += 1;
            records.push(record);
        }
    }
    let cancelled: std::collections::BTreeSet<u64> = records
        .iter()
        .filter(|r| r.kind == Kind::Cancel)
        .filter_map(|r| r.method.parse().ok())
        .collect();
    records.retain(|r| r.kind != Kind::Cancel && !cancelled.contains(&r.seq));
    Ok((records, next_seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn append(journal: &mut Journal, method: &str) -> u64 {
        journal.append(7, Kind::Update, b"caller", method, method.as_bytes()).unwrap()
    }

    #[test]
    fn record_layout_is_stable() {
        let record = Record {
            seq: 1,
            time: 2,
            kind: Kind::Upgrade,
            caller: vec![9],
            method: "m".into(),
            arg: vec![],
        };
        // length 43 | crc32 | header crc32 | seq 1 | time 2 | kind 1 | caller [9]
        // | method "m" | arg []
        assert_eq!(
            hex::encode(record.encode()),
            concat!(
                "2b000000907ccfa0",
                "90b921bb",
                "0100000000000000",
                "0200000000000000",
                "01",
                "010000000000000009",
                "01000000000000006d",
                "0000000000000000"
            )
        );
    }

    #[test]
    fn a_damaged_header_is_corruption_not_an_old_file() {
        let dir = dir();
        let path = three_records(dir.path());
        let good = fs::read(&path).unwrap();
        for at in 0..frames::HEADER {
            let mut bytes = good.clone();
            bytes[at] ^= 0x01;
            fs::write(&path, &bytes).unwrap();
            assert!(Journal::open(dir.path(), 0).is_err(), "a flip at byte {at} went unnoticed");
        }
    }

    /// With an archive, rotation moves the files it no longer needs there,
    /// and the history reads every record since the first, in order,
    /// without the cancelled ones; a missing file is an error, not a gap.
    #[test]
    fn rotation_archives_and_the_history_holds_every_record() {
        let dir = dir();
        let (journal_dir, archive) = (dir.path().join("journal"), dir.path().join("history"));
        let (mut journal, _) = Journal::open(&journal_dir, 0).unwrap();
        journal.archive_to(&archive).unwrap();
        for method in ["a", "b"] {
            append(&mut journal, method);
        }
        journal.rotate(2).unwrap();
        let refused = append(&mut journal, "refused");
        journal.cancel(refused, 7).unwrap();
        append(&mut journal, "c");
        journal.rotate(5).unwrap();
        append(&mut journal, "d");
        journal.sync().unwrap();
        assert_eq!(files(&archive).unwrap().len(), 2, "both rotated files are kept");
        assert_eq!(files(&journal_dir).unwrap().len(), 1);
        let methods: Vec<String> =
            history(&archive, &journal_dir, 1).unwrap().into_iter().map(|r| r.method).collect();
        assert_eq!(methods, ["a", "b", "c", "d"]);
        // Only the journal's own files remain to a restart.
        let (_, pending) = Journal::open(&journal_dir, 5).unwrap();
        assert_eq!(pending.len(), 1);

        fs::remove_file(&files(&archive).unwrap()[0].1).unwrap();
        let error = history(&archive, &journal_dir, 1).unwrap_err().to_string();
        assert!(error.contains("skips from message 0 to 3"), "{error}");
    }

    #[test]
    fn file_header_layout_is_stable() {
        assert_eq!(hex::encode(FORMAT.header()), "4345564d4a524e4c02000000");
    }

    /// Appends "a", "b", "c" and returns the path of the file.
    fn three_records(dir: &Path) -> PathBuf {
        let (mut journal, _) = Journal::open(dir, 0).unwrap();
        for method in ["a", "b", "c"] {
            append(&mut journal, method);
        }
        journal.sync().unwrap();
        files(dir).unwrap()[0].1.clone()
    }

    /// A complete last record that fails its checksum was acknowledged:
    /// losing it silently is not an option, whichever byte flipped.
    #[test]
    fn a_corrupted_last_record_is_an_error_not_a_torn_one() {
        let dir = dir();
        let path = three_records(dir.path());
        let good = fs::read(&path).unwrap();
        let last = good.len() - Record::decode_len("c");
        for at in last..good.len() {
            let mut bytes = good.clone();
            bytes[at] ^= 0x01;
            fs::write(&path, &bytes).unwrap();
            let error = Journal::open(dir.path(), 0).err();
            assert!(error.is_some(), "a flip at byte {at} of the last record went unnoticed");
        }
        // A short last record, and zeros, are torn writes: cut off.
        for tail in [&good[..good.len() - 3], &[good.as_slice(), &[0u8; 40]].concat()[..]] {
            fs::write(&path, tail).unwrap();
            let (_, pending) = Journal::open(dir.path(), 0).unwrap();
            assert!(pending.len() >= 2, "{} records", pending.len());
        }
    }

    /// A journal written by version 1 (no file header, no header crc) is
    /// read, and new records go to a new file.
    #[test]
    fn version_1_files_are_read_and_not_appended_to() {
        let dir = dir();
        let v1 = |seq: u64, method: &str| {
            let record = Record {
                seq,
                time: 7,
                kind: Kind::Update,
                caller: b"caller".to_vec(),
                method: method.into(),
                arg: vec![],
            };
            let encoded = record.encode();
            // Version 1: length and crc, then the payload.
            [&encoded[..8], &encoded[12..]].concat()
        };
        let old = [v1(1, "a"), v1(2, "b")].concat();
        fs::write(dir.path().join(file_name(1)), old).unwrap();
        let (mut journal, pending) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(pending.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        append(&mut journal, "c");
        journal.sync().unwrap();
        drop(journal);
        assert_eq!(files(dir.path()).unwrap().len(), 2);
        let (_, pending) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(pending.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn records_after_the_checkpoint_come_back_in_order() {
        let dir = dir();
        let (mut journal, pending) = Journal::open(dir.path(), 0).unwrap();
        assert!(pending.is_empty());
        for method in ["a", "b", "c"] {
            append(&mut journal, method);
        }
        journal.sync().unwrap();
        drop(journal);
        let (journal, pending) = Journal::open(dir.path(), 1).unwrap();
        assert_eq!(pending.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(pending[0].seq, 2);
        assert_eq!(journal.next_seq(), 4);
    }

    #[test]
    fn a_torn_tail_is_cut_off() {
        let dir = dir();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        append(&mut journal, "kept");
        journal.sync().unwrap();
        drop(journal);
        let path = files(dir.path()).unwrap()[0].1.clone();
        // Half a record, as a crash mid-write leaves it.
        let mut torn = Record {
            seq: 2,
            time: 1,
            kind: Kind::Update,
            caller: vec![],
            method: "x".into(),
            arg: vec![1; 100],
        }
        .encode();
        torn.truncate(50);
        OpenOptions::new().append(true).open(&path).unwrap().write_all(&torn).unwrap();
        let (mut journal, pending) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(pending.len(), 1);
        // Appending continues cleanly after the cut.
        append(&mut journal, "next");
        journal.sync().unwrap();
        drop(journal);
        let (_, pending) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(pending.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["kept", "next"]);
    }

    #[test]
    fn corruption_before_good_records_is_an_error() {
        let dir = dir();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        for method in ["a", "b", "c"] {
            append(&mut journal, method);
        }
        journal.sync().unwrap();
        drop(journal);
        let path = files(dir.path()).unwrap()[0].1.clone();
        let mut bytes = fs::read(&path).unwrap();
        bytes[frames::HEADER + 20] ^= 0xff; // inside the first record
        fs::write(&path, bytes).unwrap();
        let error = Journal::open(dir.path(), 0).err().unwrap();
        assert!(error.to_string().contains("is corrupted at byte 12"), "{error}");
    }

    #[test]
    fn cancelled_records_are_not_replayed() {
        let dir = dir();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        append(&mut journal, "a");
        let refused = append(&mut journal, "b");
        journal.cancel(refused, 9).unwrap();
        append(&mut journal, "c");
        journal.sync().unwrap();
        drop(journal);
        let (journal, pending) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(pending.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(journal.next_seq(), 5);
    }

    #[test]
    fn rotation_drops_files_the_checkpoint_covers() {
        let dir = dir();
        let (mut journal, _) = Journal::open(dir.path(), 0).unwrap();
        append(&mut journal, "a");
        append(&mut journal, "b");
        journal.rotate(2).unwrap();
        append(&mut journal, "c");
        journal.sync().unwrap();
        assert_eq!(files(dir.path()).unwrap().len(), 1);
        drop(journal);
        let (_, pending) = Journal::open(dir.path(), 2).unwrap();
        assert_eq!(pending.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["c"]);
        // Opening after an older checkpoint than the files cover is a gap.
        assert!(Journal::open(dir.path(), 0).is_err());
    }
}
