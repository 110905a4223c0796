//! The node's data directory: the chain survives restarts, crashes and
//! upgrades.
//!
//! ```text
//!  <data-dir>/
//!    genesis          the chain's genesis (Candid), magic + version + SHA-256
//!    modules/         installed canister modules, by SHA-256
//!    state/           the last checkpoint of the canister's memory (host::persist)
//!    journal/         every update and upgrade since, synced before it runs
//!    history/         the journal's earlier files, which checkpoints made
//!                     unnecessary, and `install` (frames, magic "CEVMINST",
//!                     version 1: install time u64 | module SHA-256): the
//!                     chain's whole input, for `canister-evm verify`
//!    costs            what each transaction cost: frames (host::persist::frames),
//!                     magic "CEVMCOST", version 2, one record per transaction
//! ```
//!
//! A transaction is appended to the journal and synced *before* the canister
//! executes it, so nothing a client has seen — a transaction hash, a block, a
//! balance — can be lost: after a crash the node loads the checkpoint and
//! executes the journal's later messages again, which, being deterministic,
//! recreate exactly the same chain. Checkpoints write only the pages that
//! changed. The directory is created under a temporary name and renamed into
//! place, so a crash during creation leaves nothing a later start accepts.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use canister_host::persist::frames::{self, Format};
use canister_host::persist::modules::Modules;
use canister_host::persist::{Journal, Kind, Record, Snapshot, StateDir};
use canister_host::{Canister, CanisterModule, Host};
use evm_canister_api::InitArgs;
use sha2::{Digest, Sha256};

use crate::cost::{CostBreakdown, TxCost};

/// Messages between checkpoints, unless configured otherwise.
pub const CHECKPOINT_INTERVAL: u64 = 1_000;

const GENESIS_MAGIC: &[u8; 8] = b"CEVMGNSS";

/// The `history/install` file: how the canister was installed.
const INSTALL: Format = Format { magic: *b"CEVMINST", version: 1 };
const FORMAT_VERSION: u32 = 1;

/// The cost ledger's format. A record, little-endian:
///
/// ```text
///  0        32      40             48        64             72
///  ├────────┼───────┼──────────────┼─────────┼──────────────┤
///  │tx hash │ gas   │ instructions │ cycles  │ stable bytes │
/// ```
///
/// followed, for transactions whose phases were measured, by the seven
/// phases of [`CostBreakdown`] (u64 each, in its field order: 56 bytes). A
/// record without them, as version 2 ledgers from before phases hold, has
/// no breakdown; so the version stays 2.
const COSTS: Format = Format { magic: *b"CEVMCOST", version: 2 };
const COST_RECORD: usize = 32 + 8 + 8 + 16 + 8;
const BREAKDOWN: usize = 7 * 8;
/// A version-1 record: the same fields and a CRC-32 of them, unframed.
const COST_RECORD_V1: usize = COST_RECORD + 4;

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> StorageError {
    let context = context.into();
    move |source| StorageError::Io { context, source }
}

/// What opening an existing directory found.
pub struct Opened {
    pub store: Store,
    pub genesis: InitArgs,
    /// Journal records after the checkpoint, to execute again.
    pub pending: Vec<Record>,
    pub costs: HashMap<B256, TxCost>,
    /// The node's clock at the checkpoint.
    pub last_time: u64,
}

/// An open data directory.
pub struct Store {
    dir: PathBuf,
    state: StateDir,
    journal: Journal,
    modules: Modules,
    costs: File,
    since_checkpoint: u64,
    checkpoint_interval: u64,
}

impl Store {
    /// Whether `dir` holds a chain.
    pub fn exists(dir: &Path) -> bool {
        dir.join("genesis").exists()
    }

    /// Creates the directory of a new chain whose canister was just installed.
    pub fn create(
        dir: &Path,
        genesis: &InitArgs,
        wasm: &[u8],
        canister: &mut Canister,
        last_time: u64,
    ) -> Result<Self, StorageError> {
        if dir.exists()
            && fs::read_dir(dir)
                .map_err(io_context(format!("reading {}", dir.display())))?
                .next()
                .is_some()
        {
            return Err(StorageError::Invalid(format!(
                "{} is not empty but holds no chain (no `genesis` file); refusing to use it",
                dir.display()
            )));
        }
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(io_context(format!("creating {}", parent.display())))?;
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("data");
        let tmp = parent.join(format!(".{name}.creating-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        let context = format!("writing the new chain to {}", tmp.display());
        (|| -> io::Result<()> {
            fs::create_dir_all(&tmp)?;
            write_genesis(&tmp.join("genesis"), genesis)?;
            let hash = Modules::new(&tmp.join("modules")).put(wasm)?;
            debug_assert_eq!(hash, canister.module().hash());
            let (dirty_heap, dirty_stable) = canister.take_dirty();
            StateDir::create(
                &tmp.join("state"),
                &snapshot(canister, &dirty_heap, &dirty_stable),
                0,
                NodeData { last_time, costs_len: Some(frames::HEADER as u64) }.encode(),
            )?;
            Journal::open(&tmp.join("journal"), 0)?;
            fs::create_dir_all(tmp.join("history"))?;
            let mut install = last_time.to_le_bytes().to_vec();
            install.extend_from_slice(&hash);
            let mut file = frames::create(&tmp.join("history/install"), &INSTALL)?;
            file.write_all(&frames::encode(&install))?;
            file.sync_all()?;
            frames::create(&tmp.join("costs"), &COSTS)?;
            canister_host::persist::sync_dir(&tmp)?;
            if dir.exists() {
                fs::remove_dir(dir)?;
            }
            fs::rename(&tmp, dir)?;
            canister_host::persist::sync_dir(parent)
        })()
        .map_err(io_context(context))?;
        Ok(Self::open(dir)?.store)
    }

    /// Opens an existing chain directory.
    pub fn open(dir: &Path) -> Result<Opened, StorageError> {
        let genesis = read_genesis(&dir.join("genesis"))?;
        let state =
            StateDir::open(&dir.join("state")).map_err(io_context("opening the checkpoint"))?;
        let (mut journal, pending) = Journal::open(&dir.join("journal"), state.meta().seq)
            .map_err(io_context("opening the journal"))?;
        // Chains created before the history was kept go on without one.
        if dir.join("history").exists() {
            journal.archive_to(&dir.join("history")).map_err(io_context("opening the history"))?;
        }
        let costs_path = dir.join("costs");
        let node_data = NodeData::parse(&state.meta().app)?;
        let costs = read_costs(&costs_path, node_data.costs_len)?;
        let last_time = node_data.last_time;
        let costs_file = OpenOptions::new()
            .append(true)
            .open(&costs_path)
            .map_err(io_context(format!("opening {}", costs_path.display())))?;
        let store = Store {
            dir: dir.to_owned(),
            state,
            journal,
            modules: Modules::new(&dir.join("modules")),
            costs: costs_file,
            since_checkpoint: pending.len() as u64,
            checkpoint_interval: CHECKPOINT_INTERVAL,
        };
        Ok(Opened { store, genesis, pending, costs, last_time })
    }

    /// Checkpoints after every `messages` updates (at least one).
    pub fn set_checkpoint_interval(&mut self, messages: u64) {
        self.checkpoint_interval = messages.max(1);
    }

    /// The module the checkpoint's canister runs.
    pub fn checkpoint_module(&self) -> Result<Vec<u8>, StorageError> {
        self.module(&self.state.meta().module_hash)
    }

    pub fn module(&self, hash: &[u8; 32]) -> Result<Vec<u8>, StorageError> {
        self.modules.get(hash).map_err(io_context("reading an installed module"))
    }

    /// The canister as the checkpoint has it, compiled by `host`.
    pub fn restore(
        &self,
        host: &Host,
        module: std::sync::Arc<CanisterModule>,
    ) -> Result<Canister, StorageError> {
        let meta = self.state.meta();
        if module.hash() != meta.module_hash {
            return Err(StorageError::Invalid(
                "the module does not match the checkpoint".to_owned(),
            ));
        }
        let (heap, stable) = self.state.load().map_err(io_context("loading the checkpoint"))?;
        let globals = meta.globals.iter().map(|g| g.to_val()).collect();
        Canister::restore(host, module, heap, globals, meta.system_state(stable)).map_err(|e| {
            StorageError::Invalid(format!("cannot restore the canister from the checkpoint: {e}"))
        })
    }

    /// Appends an update to the journal and syncs it: only then may it run.
    /// Returns its sequence number.
    pub fn log_update(
        &mut self,
        time: u64,
        caller: &[u8],
        method: &str,
        arg: &[u8],
    ) -> Result<u64, StorageError> {
        let seq = self
            .journal
            .append(time, Kind::Update, caller, method, arg)
            .map_err(io_context("writing the journal"))?;
        self.journal.sync().map_err(io_context("syncing the journal"))?;
        Ok(seq)
    }

    /// Journals that update `seq` was refused after all.
    pub fn cancel(&mut self, seq: u64, time: u64) -> Result<(), StorageError> {
        self.journal.cancel(seq, time).map_err(io_context("writing the journal"))
    }

    /// Stores `wasm` and journals an upgrade to it.
    pub fn log_upgrade(
        &mut self,
        time: u64,
        caller: &[u8],
        wasm: &[u8],
        arg: &[u8],
    ) -> Result<(), StorageError> {
        let hash = self.modules.put(wasm).map_err(io_context("storing the module"))?;
        let hex = canister_host::persist::modules::hex(&hash);
        self.journal
            .append(time, Kind::Upgrade, caller, &hex, arg)
            .map_err(io_context("writing the journal"))?;
        self.journal.sync().map_err(io_context("syncing the journal"))
    }

    /// Remembers what a transaction cost (made durable at the next
    /// checkpoint; replaying the journal recreates what a crash loses).
    pub fn record_cost(&mut self, hash: B256, cost: &TxCost) -> Result<(), StorageError> {
        let frame = frames::encode(&encode_cost(hash, cost));
        self.costs.write_all(&frame).map_err(io_context("writing the cost ledger"))
    }

    /// Counts a message; checkpoints when enough have run since the last one.
    pub fn after_message(
        &mut self,
        canister: &mut Canister,
        last_time: u64,
    ) -> Result<(), StorageError> {
        self.since_checkpoint += 1;
        if self.since_checkpoint >= self.checkpoint_interval {
            self.checkpoint(canister, last_time)?;
        }
        Ok(())
    }

    /// Writes the pages changed since the last checkpoint and trims the
    /// journal.
    pub fn checkpoint(
        &mut self,
        canister: &mut Canister,
        last_time: u64,
    ) -> Result<(), StorageError> {
        let seq = self.journal.next_seq() - 1;
        self.costs.sync_data().map_err(io_context("syncing the cost ledger"))?;
        let costs_len = self.costs.metadata().map_err(io_context("sizing the cost ledger"))?.len();
        let (dirty_heap, dirty_stable) = canister.take_dirty();
        let app = NodeData { last_time, costs_len: Some(costs_len) }.encode();
        self.state
            .checkpoint(&snapshot(canister, &dirty_heap, &dirty_stable), seq, app)
            .map_err(io_context(format!("checkpointing into {}", self.dir.display())))?;
        self.journal.rotate(seq).map_err(io_context("trimming the journal"))?;
        self.since_checkpoint = 0;
        Ok(())
    }
}

/// A chain's whole input, as `history/` and the journal keep it: how the
/// canister was installed, and every message since.
pub struct History {
    pub genesis: InitArgs,
    /// `ic0.time` of `canister_init`.
    pub install_time: u64,
    /// The module installed first.
    pub module: Vec<u8>,
    /// Every update and upgrade, in order, from the first.
    pub records: Vec<Record>,
    modules: Modules,
}

impl History {
    /// Reads the history of the chain in `dir`.
    pub fn read(dir: &Path) -> Result<Self, StorageError> {
        let genesis = read_genesis(&dir.join("genesis"))?;
        let install_path = dir.join("history/install");
        let no_history = || {
            StorageError::Invalid(format!(
                "{} keeps no history of its inputs (it was created by an older canister-evm,                  which deleted the journal after each checkpoint): it cannot be verified",
                dir.display()
            ))
        };
        let bytes = fs::read(&install_path).map_err(|_| no_history())?;
        let parsed = frames::parse(&bytes, &INSTALL, &install_path)
            .map_err(|e| StorageError::Invalid(e.to_string()))?;
        let install = match parsed.payloads.as_slice() {
            [install] if install.len() == 40 && !parsed.torn => install,
            _ => {
                return Err(StorageError::Invalid(format!(
                    "{} is not a valid install record",
                    install_path.display()
                )));
            }
        };
        let install_time = u64::from_le_bytes(install[..8].try_into().unwrap());
        let hash: [u8; 32] = install[8..].try_into().unwrap();
        let modules = Modules::new(&dir.join("modules"));
        let module =
            modules.get(&hash).map_err(io_context("reading the first installed module"))?;
        let records =
            canister_host::persist::journal::history(&dir.join("history"), &dir.join("journal"), 1)
                .map_err(|e| StorageError::Invalid(format!("reading the history: {e}")))?;
        Ok(Self { genesis, install_time, module, records, modules })
    }

    /// The module an upgrade installed.
    pub fn module(&self, hash: &[u8; 32]) -> Result<Vec<u8>, StorageError> {
        self.modules.get(hash).map_err(io_context("reading an installed module"))
    }
}

fn snapshot<'a>(
    canister: &'a Canister,
    dirty_heap: &'a std::collections::BTreeSet<usize>,
    dirty_stable: &'a std::collections::BTreeSet<usize>,
) -> Snapshot<'a> {
    Snapshot {
        heap: canister.heap(),
        stable: canister.stable_memory(),
        dirty_heap,
        dirty_stable,
        globals: canister.globals(),
        system: canister.system_state(),
        module_hash: canister.module().hash(),
    }
}

/// The node's data in a checkpoint: its clock, and how long the cost
/// ledger was (it is synced with the checkpoint), so a ledger shortened
/// below that is refused rather than taken for a torn write.
///
/// ```text
///  0            8              16
///  ├────────────┼──────────────┤
///  │ last time  │ costs length │   little-endian (version 1: the time only)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NodeData {
    last_time: u64,
    costs_len: Option<u64>,
}

impl NodeData {
    fn encode(&self) -> Vec<u8> {
        let mut bytes = self.last_time.to_le_bytes().to_vec();
        if let Some(len) = self.costs_len {
            bytes.extend_from_slice(&len.to_le_bytes());
        }
        bytes
    }

    fn parse(bytes: &[u8]) -> Result<Self, StorageError> {
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        match bytes.len() {
            8 => Ok(Self { last_time: word(0), costs_len: None }),
            16 => Ok(Self { last_time: word(0), costs_len: Some(word(8)) }),
            _ => Err(StorageError::Invalid("the checkpoint's node data is malformed".to_owned())),
        }
    }
}

fn write_genesis(path: &Path, genesis: &InitArgs) -> io::Result<()> {
    let candid = candid::encode_one(genesis).map_err(|e| io::Error::other(e.to_string()))?;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(GENESIS_MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&candid);
    bytes.extend_from_slice(&Sha256::digest(&bytes));
    let mut file = File::create(path)?;
    file.write_all(&bytes)?;
    file.sync_all()
}

fn read_genesis(path: &Path) -> Result<InitArgs, StorageError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_context(format!("reading {}", path.display())))?;
    let corrupt = |why: &str| {
        StorageError::Invalid(format!("{} is not a valid genesis file: {why}", path.display()))
    };
    if bytes.len() < 12 + 32 || &bytes[..8] != GENESIS_MAGIC {
        return Err(corrupt("bad magic or too short"));
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body)[..] != *digest {
        return Err(corrupt("checksum mismatch"));
    }
    let version = u32::from_le_bytes(body[8..12].try_into().unwrap());
    if version != FORMAT_VERSION {
        return Err(corrupt(&format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        )));
    }
    candid::decode_one(&body[12..]).map_err(|e| corrupt(&e.to_string()))
}

fn encode_cost(hash: B256, cost: &TxCost) -> Vec<u8> {
    let mut record = Vec::with_capacity(COST_RECORD);
    record.extend_from_slice(hash.as_slice());
    record.extend_from_slice(&cost.gas_used.to_le_bytes());
    record.extend_from_slice(&cost.instructions.to_le_bytes());
    record.extend_from_slice(&cost.cycles.to_le_bytes());
    record.extend_from_slice(&cost.stable_bytes_written.to_le_bytes());
    if let Some(b) = &cost.breakdown {
        let phases = [
            b.decoding,
            b.sender_recovery,
            b.validation,
            b.evm_execution,
            b.state_write,
            b.block_seal,
            b.other,
        ];
        for phase in phases {
            record.extend_from_slice(&phase.to_le_bytes());
        }
    }
    record
}

fn decode_cost(record: &[u8]) -> Option<(B256, TxCost)> {
    if record.len() != COST_RECORD && record.len() != COST_RECORD + BREAKDOWN {
        return None;
    }
    let field = |at: usize, len: usize| &record[at..at + len];
    let word = |at: usize| u64::from_le_bytes(field(at, 8).try_into().unwrap());
    let breakdown = (record.len() > COST_RECORD).then(|| CostBreakdown {
        decoding: word(COST_RECORD),
        sender_recovery: word(COST_RECORD + 8),
        validation: word(COST_RECORD + 16),
        evm_execution: word(COST_RECORD + 24),
        state_write: word(COST_RECORD + 32),
        block_seal: word(COST_RECORD + 40),
        other: word(COST_RECORD + 48),
    });
    let cost = TxCost {
        gas_used: word(32),
        instructions: word(40),
        cycles: u128::from_le_bytes(field(48, 16).try_into().unwrap()),
        stable_bytes_written: word(64),
        breakdown,
    };
    Some((B256::from_slice(field(0, 32)), cost))
}

/// Reads the cost ledger. A torn last record (written after the last
/// checkpoint; replaying the journal writes it again) is cut off; any other
/// damage, and a ledger shorter than it was at the checkpoint
/// (`checkpointed` bytes), is an error: the costs of transactions would be
/// lost.
fn read_costs(
    path: &Path,
    checkpointed: Option<u64>,
) -> Result<HashMap<B256, TxCost>, StorageError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_context(format!("reading {}", path.display())))?;
    if let Some(len) = checkpointed
        && (bytes.len() as u64) < len
    {
        return Err(StorageError::Invalid(format!(
            "{} is truncated: {} bytes, the checkpoint says {len}; the chain itself is intact: \
             move the file aside to start without the recorded costs of earlier transactions",
            path.display(),
            bytes.len()
        )));
    }
    if !bytes.is_empty() && !COSTS.recognises(&bytes) && !COSTS.header().starts_with(&bytes) {
        return upgrade_costs_v1(path, &bytes);
    }
    let corrupt = |why: String| {
        StorageError::Invalid(format!(
            "{why}; the chain itself is intact: move the file aside to start without the \
             recorded costs of earlier transactions"
        ))
    };
    let parsed = frames::parse(&bytes, &COSTS, path).map_err(|e| corrupt(e.to_string()))?;
    let mut costs = HashMap::with_capacity(parsed.payloads.len());
    for (index, record) in parsed.payloads.iter().enumerate() {
        let (hash, cost) = decode_cost(record).ok_or_else(|| {
            corrupt(format!("{} has a malformed record (number {index})", path.display()))
        })?;
        costs.insert(hash, cost);
    }
    if parsed.torn {
        frames::cut(path, parsed.end)
            .map_err(io_context(format!("truncating {}", path.display())))?;
    }
    Ok(costs)
}

/// Reads a ledger of version 1 (fixed records with a CRC each, no header)
/// and rewrites it as version 2.
fn upgrade_costs_v1(path: &Path, bytes: &[u8]) -> Result<HashMap<B256, TxCost>, StorageError> {
    let mut costs = HashMap::new();
    let mut upgraded = COSTS.header().to_vec();
    let records: Vec<&[u8]> = bytes.chunks(COST_RECORD_V1).collect();
    for (index, record) in records.iter().enumerate() {
        let torn = index + 1 == records.len() && record.len() < COST_RECORD_V1;
        if torn {
            break;
        }
        let (body, crc) = record.split_at(COST_RECORD);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
            return Err(StorageError::Invalid(format!(
                "{} is corrupted at record {index}",
                path.display()
            )));
        }
        let (hash, cost) = decode_cost(body).expect("a record of the right length");
        costs.insert(hash, cost);
        upgraded.extend_from_slice(&frames::encode(body));
    }
    let tmp = path.with_extension("upgrading");
    (|| -> io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(&upgraded)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        path.parent().map_or(Ok(()), canister_host::persist::sync_dir)
    })()
    .map_err(io_context(format!("upgrading {} to version 2", path.display())))?;
    Ok(costs)
}

#[cfg(test)]
mod tests;
