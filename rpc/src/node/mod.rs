//! The node: one EVM canister installed in the host, and typed access to its
//! Candid methods.
//!
//! With a data directory ([`crate::storage`]) every update is journaled and
//! synced before it runs, and the canister's memory is checkpointed; opening
//! the directory again continues the same chain.
//!
//! With a verifier ([`NodeConfig::verify_with`]) every message also runs on a
//! second canister compiled by another code generator (Winch). Replies,
//! instruction counts and state hashes must agree before either copy
//! commits; a divergence is logged as an error and the message is rejected,
//! leaving both copies as they were.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use alloy_primitives::B256;
use candid::{CandidType, Principal};
use canister_host::persist::{Kind, Record};
use canister_host::{
    Canister, CanisterSettings, Compiler, Execution, Host, HostConfig, MessageEnv, UpgradeError,
};
use evm_canister_api::{ChainInfo, InitArgs, MinedBlock, SubmitResult, TxError};
use serde::de::DeserializeOwned;

use crate::cost::{TxCost, costs_of};
use crate::storage::{StorageError, Store};
use crate::txlog::Names;
use clock::now;
pub use headers::RecentHeaders;

mod backend;
mod client;
mod clock;
mod headers;
mod queries;
mod reader;

pub use queries::{Caller, Queries};
pub use reader::Reader;

/// Why the node could not answer, apart from what the canister itself says.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("canister call failed: {0}")]
    Call(#[from] canister_host::CallError),
    #[error("cannot encode the call: {0}")]
    Encode(candid::Error),
    #[error("the canister's reply does not decode: {0}")]
    Decode(candid::Error),
    #[error("determinism violation, message rejected: {0}")]
    Divergence(String),
    #[error("storage failure, the node refuses further updates until restarted: {0}")]
    Storage(String),
    #[error("the canister's answers disagree: {0}")]
    Inconsistent(String),
    #[error("the node has failed: {0}")]
    Failed(String),
}

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Genesis of a new chain (ignored when `data_dir` already holds one).
    pub genesis: InitArgs,
    pub host: HostConfig,
    /// Run every message a second time with this compiler and compare.
    pub verify_with: Option<Compiler>,
    pub clock: Clock,
    /// Where the chain is kept; `None` keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    /// Updates between checkpoints of the data directory.
    pub checkpoint_interval: u64,
}

/// Where the time of each message (`ic0.time`) comes from.
pub use clock::{Clock, LATEST_TIME};

#[derive(Clone, Debug)]
pub struct Submitted {
    pub result: SubmitResult,
    /// Its cost, if it was included (not left waiting in the pool).
    pub cost: Option<TxCost>,
}

/// Facts about the installed canister (`ic_canisterInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanisterStatus {
    pub module_hash: [u8; 32],
    pub version: u64,
    pub cycles: u128,
    pub heap_bytes: u64,
    /// Linear memory the host holds for the canister: its heap, unless
    /// discarded messages leak.
    pub host_memory_bytes: u64,
    pub stable_bytes: u64,
    /// What the host holds in memory of the stable memory.
    pub stable_resident_bytes: u64,
    /// What the node holds in memory of the cost ledger (an estimate of the
    /// map's allocation: it grows with the chain).
    pub cost_ledger_bytes: u64,
    pub durable: bool,
    pub verifying: bool,
}

/// What opening a data directory did.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// Journaled messages executed again after the checkpoint.
    pub replayed: usize,
}

/// Where [`Node::replay`] finds the module an upgrade installed, by SHA-256.
pub type ModuleSource<'a> = dyn Fn(&[u8; 32]) -> Result<Vec<u8>, StorageError> + 'a;

/// What a replayed message produced.
#[derive(Debug, Default)]
pub struct Replayed {
    pub blocks: Vec<MinedBlock>,
    /// The costs of the blocks' transactions.
    pub costs: Vec<(B256, TxCost)>,
}

/// What the transactions a node executed cost, added up
/// ([`Node::cost_totals`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CostTotals {
    pub transactions: u64,
    pub gas_used: u128,
    pub instructions: u128,
    pub cycles: u128,
    pub stable_bytes_written: u128,
}

/// What a cost ledger of `capacity` (as `HashMap::capacity` reports it)
/// allocates: hashbrown keeps a power of two of buckets, a sixteenth (at
/// most 7 entries) or an eighth of them empty, each an entry and a control
/// byte, plus a group of control bytes.
fn cost_ledger_bytes(capacity: usize) -> u64 {
    let buckets = match capacity {
        0 => return 0,
        1..=3 => 4,
        4..=7 => 8,
        _ => (capacity * 8 / 7).next_power_of_two(),
    };
    (buckets * (std::mem::size_of::<(B256, TxCost)>() + 1) + 16) as u64
}

/// The EVM canister running in a host.
pub struct Node {
    host: Host,
    canister: Canister,
    /// The same canister compiled by another compiler, in verify mode.
    verifier: Option<(Host, Canister)>,
    store: Option<Store>,
    /// Set after a storage failure: updates are refused.
    failed: Option<String>,
    genesis: InitArgs,
    /// Principal of the (anonymous) user all calls come from.
    caller: Vec<u8>,
    clock: Clock,
    /// Time of the last message, in nanoseconds; never goes backwards.
    last_time: u64,
    /// Added to the wall clock (`evm_increaseTime`), in nanoseconds.
    time_offset: u64,
    /// The time of the next block, if set (`evm_setNextBlockTimestamp`).
    next_time: Option<u64>,
    /// Instructions `canister_init` took (0 for a reopened chain).
    install_instructions: u64,
    /// What each transaction cost, by hash.
    costs: CostLedger,
    /// The clock as each snapshot found it: (offset, next block time).
    snapshot_clocks: HashMap<u64, (u64, Option<u64>)>,
    /// Log a line per mined transaction, naming methods with these.
    transaction_log: Option<Names>,
    /// The last `chain_info` answer and the canister version it was read
    /// at (see [`Node::chain_info`]).
    chain_info: Option<(u64, ChainInfo)>,
    /// The latest blocks' headers, for `newHeads` subscriptions.
    headers: RecentHeaders,
}

/// What each transaction cost, by hash: the node records, its [`Reader`]
/// reads.
pub(crate) type CostLedger = Arc<RwLock<HashMap<B256, TxCost>>>;

/// What kind of message a time is for (see [`Node::env`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Message {
    Query,
    Update,
    Upgrade,
}

/// The principal the node calls its canister as: the canister's controller,
/// so the dev-node controls (controllers only) are open to it.
pub fn controller() -> Principal {
    Principal::self_authenticating(b"canister-evm development node")
}

impl Node {
    /// Starts a node: opens the chain in the data directory if there is one,
    /// otherwise installs the canister `wasm` with the genesis.
    pub fn start(wasm: &[u8], config: NodeConfig) -> anyhow::Result<(Self, Recovery)> {
        if let Some(dir) = &config.data_dir
            && Store::exists(dir)
        {
            return Self::open(config);
        }
        Ok((Self::create(wasm, config)?, Recovery::default()))
    }

    fn hosts(config: &NodeConfig) -> anyhow::Result<(Host, Option<Host>)> {
        let verifying = config.verify_with.is_some();
        let track_state = verifying || config.host.track_state;
        let host = Host::new(HostConfig { track_state, ..config.host.clone() })?;
        let verifier = match config.verify_with {
            Some(compiler) => {
                Some(Host::new(HostConfig { compiler, track_state: true, ..config.host.clone() })?)
            }
            None => None,
        };
        Ok((host, verifier))
    }

    fn create(wasm: &[u8], config: NodeConfig) -> anyhow::Result<Self> {
        let arg = candid::encode_one(&config.genesis)?;
        let caller = controller().as_slice().to_vec();
        let settings = CanisterSettings { controllers: vec![caller.clone()], ..Default::default() };
        let time = match config.clock {
            Clock::System => now(),
            Clock::Manual { start, .. } => start,
        };
        let env = MessageEnv { caller: caller.clone(), time };
        let (host, verifier_host) = Self::hosts(&config)?;
        let install = |host: &Host| -> anyhow::Result<(Canister, Execution)> {
            let module = host.compile(wasm)?;
            Ok(Canister::install(host, module, settings.clone(), &arg, &env)?)
        };
        let (mut canister, execution) = install(&host)?;
        let verifier = match verifier_host {
            Some(verifier_host) => {
                let (verifier, check) = install(&verifier_host)?;
                compare(
                    "canister_init",
                    &execution,
                    &check,
                    canister.state_hash(),
                    verifier.state_hash(),
                )?;
                Some((verifier_host, verifier))
            }
            None => None,
        };
        let store = match &config.data_dir {
            Some(dir) => {
                let mut store = Store::create(dir, &config.genesis, wasm, &mut canister, time)?;
                store.set_checkpoint_interval(config.checkpoint_interval);
                Some(store)
            }
            None => None,
        };
        Ok(Self {
            host,
            canister,
            verifier,
            store,
            failed: None,
            genesis: config.genesis,
            caller,
            clock: config.clock,
            last_time: time,
            time_offset: 0,
            next_time: None,
            install_instructions: execution.instructions,
            costs: reader::new_ledger(HashMap::new()),
            snapshot_clocks: HashMap::new(),
            headers: RecentHeaders::default(),
            transaction_log: None,
            chain_info: None,
        })
    }

    fn open(config: NodeConfig) -> anyhow::Result<(Self, Recovery)> {
        let dir = config.data_dir.as_deref().expect("open needs a data directory");
        let opened = Store::open(dir)?;
        let wasm = opened.store.checkpoint_module()?;
        let (host, verifier_host) = Self::hosts(&config)?;
        let canister = opened.store.restore(&host, host.compile(&wasm)?)?;
        let verifier = match verifier_host {
            Some(verifier_host) => {
                let verifier =
                    opened.store.restore(&verifier_host, verifier_host.compile(&wasm)?)?;
                Some((verifier_host, verifier))
            }
            None => None,
        };
        let mut node = Self {
            host,
            canister,
            verifier,
            store: None,
            failed: None,
            genesis: opened.genesis,
            caller: controller().as_slice().to_vec(),
            clock: config.clock,
            last_time: opened.last_time,
            time_offset: 0,
            next_time: None,
            install_instructions: 0,
            costs: reader::new_ledger(opened.costs),
            snapshot_clocks: HashMap::new(),
            headers: RecentHeaders::default(),
            transaction_log: None,
            chain_info: None,
        };
        let mut store = opened.store;
        store.set_checkpoint_interval(config.checkpoint_interval);
        let replayed = opened.pending.len();
        for record in opened.pending {
            let replayed = node.replay(&|hash| store.module(hash), record)?;
            for (hash, cost) in replayed.costs {
                // The crash may have lost this record of the cost ledger.
                store.record_cost(hash, &cost)?;
            }
        }
        if replayed > 0 {
            store.checkpoint(&mut node.canister, node.last_time)?;
        }
        node.store = Some(store);
        Ok((node, Recovery { replayed }))
    }

    /// Executes a journaled message again, with the modules upgrades
    /// installed from `modules`; returns the blocks it produced and the
    /// costs of their transactions.
    pub fn replay(
        &mut self,
        modules: &ModuleSource<'_>,
        record: Record,
    ) -> anyhow::Result<Replayed> {
        self.last_time = self.last_time.max(record.time);
        let env = MessageEnv { caller: record.caller, time: record.time };
        match record.kind {
            Kind::Update => {
                let Ok(execution) = self.execute_update(&record.method, &record.arg, &env) else {
                    return Ok(Default::default()); // refused then as now
                };
                let blocks = Update::from_name(&record.method)
                    .map_or_else(Vec::new, |update| update.mined_blocks(&execution));
                let costs = costs_of(&blocks, &execution);
                self.costs.write().unwrap_or_else(|e| e.into_inner()).extend(costs.iter().copied());
                return Ok(Replayed { blocks, costs });
            }
            Kind::Upgrade => {
                let hash = parse_hash(&record.method)?;
                let wasm = modules(&hash)?;
                // A failed upgrade failed the first time too.
                let _ = self.execute_upgrade(&wasm, &record.arg, &env);
            }
            Kind::Cancel => unreachable!("the journal drops cancellations"),
        }
        Ok(Default::default())
    }

    /// The hash of the canister's whole state (memory, system state), if
    /// the host keeps it (`HostConfig::track_state`, or verifying).
    pub fn state_hash(&self) -> Option<[u8; 32]> {
        self.canister.state_hash()
    }

    /// Logs a line per mined transaction from now on (`tracing`, at info
    /// level: hash, contract and method, gas, instructions, cycles), as
    /// Hardhat's node does; replayed transactions are not logged.
    pub fn log_transactions(&mut self, names: Names) {
        self.transaction_log = Some(names);
    }

    pub fn install_instructions(&self) -> u64 {
        self.install_instructions
    }

    /// The genesis of the chain (as stored, for a reopened chain).
    pub fn genesis(&self) -> &InitArgs {
        &self.genesis
    }

    /// Whether every message is cross-checked on a second compiler.
    pub fn verifying(&self) -> bool {
        self.verifier.is_some()
    }

    /// Whether the chain is kept in a data directory.
    pub fn durable(&self) -> bool {
        self.store.is_some()
    }

    /// SHA-256 of the canister module the node runs.
    pub fn module_hash(&self) -> [u8; 32] {
        self.canister.module().hash()
    }

    /// How many discarded messages on the node's own canister had grown
    /// its heap ([`Canister::fresh_instances`]).
    pub fn fresh_instances(&self) -> u64 {
        self.canister.fresh_instances()
    }

    /// Facts about the installed canister.
    pub fn canister_status(&self) -> CanisterStatus {
        CanisterStatus {
            module_hash: self.module_hash(),
            version: self.canister.version(),
            cycles: self.canister.cycles(),
            heap_bytes: self.canister.heap().len() as u64,
            host_memory_bytes: self.canister.allocated_memory(),
            stable_bytes: self.canister.stable_memory().len(),
            stable_resident_bytes: self.canister.stable_memory().resident_bytes(),
            cost_ledger_bytes: cost_ledger_bytes(
                self.costs.read().unwrap_or_else(|e| e.into_inner()).capacity(),
            ),
            durable: self.store.is_some(),
            verifying: self.verifier.is_some(),
        }
    }

    /// Runs an update on the canister (and the verifier), without journaling.
    fn execute_update(
        &mut self,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<Execution, NodeError> {
        let mut pending = self.canister.update_pending(method, arg, env)?;
        if let Some((_, verifier)) = &mut self.verifier {
            let mut check = verifier.update_pending(method, arg, env)?;
            let (hash, check_hash) = (pending.state_hash(), check.state_hash());
            if let Err(divergence) =
                compare(method, pending.execution(), check.execution(), hash, check_hash)
            {
                pending.discard();
                check.discard();
                return Err(divergence);
            }
            check.commit();
            // Only the primary's dirty pages are checkpointed.
            verifier.take_dirty();
        }
        Ok(pending.commit())
    }

    fn update<A, R>(&mut self, method: Update, args: A) -> Result<(R, Execution), NodeError>
    where
        A: evm_canister_api::encode::Args,
        R: CandidType + DeserializeOwned,
    {
        let arg = evm_canister_api::encode::encode(&args).map_err(NodeError::Encode)?;
        let execution = self.update_raw(method.name(), &arg)?;
        let reply = decode(&execution)?;
        Ok((reply, execution))
    }

    /// Runs an update by name with Candid bytes as `caller` (for tools and
    /// tests: the node itself calls as [`controller`]); returns the reply.
    pub fn update_as(
        &mut self,
        caller: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, NodeError> {
        let node_caller = std::mem::replace(&mut self.caller, caller.as_slice().to_vec());
        let execution = self.update_raw(method, arg);
        self.caller = node_caller;
        Ok(execution?.reply()?.to_vec())
    }

    /// Journals and runs an update.
    fn update_raw(&mut self, method: &str, arg: &[u8]) -> Result<Execution, NodeError> {
        if let Some(failure) = &self.failed {
            return Err(NodeError::Storage(failure.clone()));
        }
        let env = self.env(Message::Update);
        let seq =
            self.with_store(|store, _, _| store.log_update(env.time, &env.caller, method, arg))?;
        let execution = match self.execute_update(method, arg, &env) {
            Err(divergence @ NodeError::Divergence(_)) => {
                // The message was journaled but not executed: say so, or
                // replaying would execute it.
                if let Some(seq) = seq {
                    self.with_store(|store, _, _| store.cancel(seq, env.time))?;
                }
                return Err(divergence);
            }
            other => other?,
        };
        self.with_store(|store, canister, time| store.after_message(canister, time))?;
        Ok(execution)
    }

    /// Runs `f` on the store, if the chain has one. A storage failure is
    /// recorded: updates are refused from then on.
    fn with_store<T>(
        &mut self,
        f: impl FnOnce(&mut Store, &mut Canister, u64) -> Result<T, StorageError>,
    ) -> Result<Option<T>, NodeError> {
        let Some(store) = &mut self.store else { return Ok(None) };
        match f(store, &mut self.canister, self.last_time) {
            Ok(value) => Ok(Some(value)),
            Err(error) => {
                let message = error.to_string();
                tracing::error!("storage failure: {message}; refusing further updates");
                self.failed = Some(message.clone());
                Err(NodeError::Storage(message))
            }
        }
    }

    fn execute_upgrade(
        &mut self,
        wasm: &[u8],
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<Execution, UpgradeError> {
        let module = self.host.compile(wasm).map_err(UpgradeError::Install)?;
        let execution = self.canister.upgrade(&self.host, module, arg, env)?;
        if let Some((host, verifier)) = &mut self.verifier {
            let module = host.compile(wasm).map_err(UpgradeError::Install)?;
            verifier.upgrade(host, module, arg, env)?;
        }
        Ok(execution)
    }

    /// Upgrades the canister to `wasm`: `canister_pre_upgrade`, new code,
    /// `canister_post_upgrade` with the Candid argument `arg`, stable memory
    /// kept. If it fails, the old canister keeps running, unchanged.
    pub fn upgrade(
        &mut self,
        wasm: &[u8],
        arg: &[u8],
    ) -> Result<Result<Execution, UpgradeError>, NodeError> {
        if let Some(failure) = &self.failed {
            return Err(NodeError::Storage(failure.clone()));
        }
        let env = self.env(Message::Upgrade);
        self.with_store(|store, _, _| store.log_upgrade(env.time, &env.caller, wasm, arg))?;
        let result = self.execute_upgrade(wasm, arg, &env);
        // Checkpoint now: the heap is all new.
        self.with_store(|store, canister, time| store.checkpoint(canister, time))?;
        Ok(result)
    }

    /// Writes a checkpoint (on a clean shutdown, say).
    pub fn checkpoint(&mut self) -> Result<(), NodeError> {
        if self.failed.is_some() {
            return Ok(());
        }
        self.with_store(|store, canister, time| store.checkpoint(canister, time)).map(|_| ())
    }
}

/// The canister's update methods the node calls, by the names the journal
/// records: what replay needs to know of a journaled update is typed here,
/// not matched on strings where it is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Update {
    SendRawTransaction,
    SendImpersonatedTransaction,
    Mine,
    SetMiningMode,
    EditAccount,
    Snapshot,
    Revert,
}

impl Update {
    const ALL: [Self; 7] = [
        Self::SendRawTransaction,
        Self::SendImpersonatedTransaction,
        Self::Mine,
        Self::SetMiningMode,
        Self::EditAccount,
        Self::Snapshot,
        Self::Revert,
    ];

    /// The method's name in `evm.did` (and in the journal).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::SendRawTransaction => "send_raw_transaction",
            Self::SendImpersonatedTransaction => "send_impersonated_transaction",
            Self::Mine => "mine",
            Self::SetMiningMode => "set_mining_mode",
            Self::EditAccount => "edit_account",
            Self::Snapshot => "snapshot",
            Self::Revert => "revert",
        }
    }

    /// The method a journal record names, if the node calls it; other
    /// updates (by [`Node::update_as`]) produce no blocks.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|update| update.name() == name)
    }

    /// The blocks the update produced, from its reply.
    fn mined_blocks(self, execution: &Execution) -> Vec<MinedBlock> {
        match self {
            Self::SendRawTransaction | Self::SendImpersonatedTransaction => {
                decode::<Result<SubmitResult, TxError>>(execution)
                    .ok()
                    .and_then(Result::ok)
                    .map(|result| result.blocks)
                    .unwrap_or_default()
            }
            Self::Mine => decode::<MinedBlock>(execution).into_iter().collect(),
            Self::SetMiningMode => decode::<Vec<MinedBlock>>(execution).unwrap_or_default(),
            Self::EditAccount | Self::Snapshot | Self::Revert => Vec::new(),
        }
    }
}

impl Queries for Node {
    fn execute_query(
        &mut self,
        method: &str,
        arg: &[u8],
        caller: Caller,
    ) -> Result<Execution, NodeError> {
        let mut env = self.env(Message::Query);
        env.caller = caller.principal(&self.caller);
        let execution = self.canister.query(method, arg, &env)?;
        if let Some((_, verifier)) = &mut self.verifier {
            let check = verifier.query(method, arg, &env)?;
            compare(method, &execution, &check, None, None)?;
        }
        Ok(execution)
    }

    fn chain_info(&mut self) -> Result<ChainInfo, NodeError> {
        let version = self.canister.version();
        if let Some((at, info)) = &self.chain_info
            && *at == version
        {
            return Ok(info.clone());
        }
        let info: ChainInfo = self.query("chain_info", ())?;
        self.chain_info = Some((version, info.clone()));
        Ok(info)
    }

    fn transaction_cost(&self, hash: B256) -> Option<TxCost> {
        self.costs.read().unwrap_or_else(|e| e.into_inner()).get(&hash).copied()
    }
}

fn parse_hash(hex: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = alloy_primitives::hex::decode(hex)?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("a module hash has 32 bytes"))
}

/// Checks that two engines executed `method` identically.
fn compare(
    method: &str,
    a: &Execution,
    b: &Execution,
    hash_a: Option<[u8; 32]>,
    hash_b: Option<[u8; 32]>,
) -> Result<(), NodeError> {
    let mut differences = Vec::new();
    if a.result != b.result {
        differences.push(format!("results differ: {:?} vs {:?}", a.result, b.result));
    }
    if a.instructions != b.instructions {
        differences.push(format!("instructions differ: {} vs {}", a.instructions, b.instructions));
    }
    if hash_a != hash_b {
        let hex = |h: Option<[u8; 32]>| h.map(alloy_primitives::hex::encode).unwrap_or_default();
        differences.push(format!("state hashes differ: {} vs {}", hex(hash_a), hex(hash_b)));
    }
    if differences.is_empty() {
        return Ok(());
    }
    let report = format!("{method}: {}", differences.join("; "));
    tracing::error!("DETERMINISM VIOLATION between compilers in {report}");
    Err(NodeError::Divergence(report))
}

fn decode<R: CandidType + DeserializeOwned>(execution: &Execution) -> Result<R, NodeError> {
    let reply = execution.reply()?;
    candid::decode_one(reply).map_err(NodeError::Decode)
}

#[cfg(test)]
mod tests;
