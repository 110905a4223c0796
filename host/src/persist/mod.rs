//! Keeping canisters on disk: nothing a canister acknowledged is lost.
//!
//! The Internet Computer's own answer, in small: a [`journal`] of the
//! messages that change a canister, written and synced before they execute,
//! and periodic [`checkpoint`]s of its memory that write only the pages
//! changed since the previous one. Opening a canister loads the last
//! checkpoint and executes the journal's later messages again; execution is
//! deterministic, so the result is the state before the crash, exactly.

pub mod checkpoint;
mod codec;
pub mod frames;
pub mod journal;
pub mod modules;

pub use checkpoint::{CheckpointMeta, Snapshot, StateDir};
pub use journal::{Journal, Kind, Record};

use std::fs::File;
use std::io;
use std::path::Path;

/// Makes a directory's entries (new, renamed or removed files) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
