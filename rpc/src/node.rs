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
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::B256;
use candid::utils::ArgumentEncoder;
use candid::{CandidType, Principal};
use canister_host::persist::{Kind, Record};
use canister_host::{
    Canister, CanisterSettings, Compiler, Execution, Host, HostConfig, MessageEnv, UpgradeError,
};
use evm_canister_api::{
    AccessListOutcome, AccountEdit, AccountProof, AccountState, Address, BlockTag, BlockView,
    CallArgs, CallError, CallOutcome, ChainInfo, Estimate, FeeHistory, Hash, InitArgs, LogFilter,
    LogView, MinedBlock, MiningMode, PooledTx, QueryError, ReceiptView, StateOverride,
    SubmitResult, TransactionView, TxError,
};
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;

use crate::storage::{StorageError, Store};

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock, made strictly increasing.
    #[default]
    System,
    /// Starts at `start` nanoseconds and advances `step` per message: the
    /// same messages then give the same results on every run.
    Manual { start: u64, step: u64 },
}

/// What a transaction cost, in every unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCost {
    pub gas_used: u64,
    /// Wasm instructions of the update that included the transaction.
    pub instructions: u64,
    /// Cycles the canister paid for that update.
    pub cycles: u128,
    pub stable_bytes_written: u64,
}

/// A transaction the canister accepted, and what it cost.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub result: SubmitResult,
    /// Its cost, if it was included (not left waiting in the pool).
    pub cost: Option<TxCost>,
}

/// Facts about the installed canister (`ic_canisterInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanisterInfo {
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
    pub durable: bool,
    pub verifying: bool,
}

/// What opening a data directory did.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// Journaled messages executed again after the checkpoint.
    pub replayed: usize,
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
    costs: HashMap<B256, TxCost>,
    /// The clock as each snapshot found it: (offset, next block time).
    snapshot_clocks: HashMap<u64, (u64, Option<u64>)>,
}

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
        let host = Host::new(HostConfig { track_state: verifying, ..config.host.clone() })?;
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
            costs: HashMap::new(),
            snapshot_clocks: HashMap::new(),
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
            costs: opened.costs,
            snapshot_clocks: HashMap::new(),
        };
        let mut store = opened.store;
        store.set_checkpoint_interval(config.checkpoint_interval);
        let replayed = opened.pending.len();
        for record in opened.pending {
            for (hash, cost) in node.replay(&store, record)? {
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

    /// Executes a journaled message again; returns the costs of the
    /// transactions it included.
    fn replay(&mut self, store: &Store, record: Record) -> anyhow::Result<Vec<(B256, TxCost)>> {
        self.last_time = self.last_time.max(record.time);
        let env = MessageEnv { caller: record.caller, time: record.time };
        match record.kind {
            Kind::Update => {
                let Ok(execution) = self.execute_update(&record.method, &record.arg, &env) else {
                    return Ok(Vec::new()); // refused then as now
                };
                let costs = costs_of(&mined_blocks(&record.method, &execution), &execution);
                self.costs.extend(costs.iter().copied());
                return Ok(costs);
            }
            Kind::Upgrade => {
                let hash = parse_hash(&record.method)?;
                let wasm = store.module(&hash)?;
                // A failed upgrade failed the first time too.
                let _ = self.execute_upgrade(&wasm, &record.arg, &env);
            }
            Kind::Cancel => unreachable!("the journal drops cancellations"),
        }
        Ok(Vec::new())
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

    /// Facts about the installed canister.
    pub fn canister_info(&self) -> CanisterInfo {
        CanisterInfo {
            module_hash: self.module_hash(),
            version: self.canister.version(),
            cycles: self.canister.cycles(),
            heap_bytes: self.canister.heap().len() as u64,
            host_memory_bytes: self.canister.allocated_memory(),
            stable_bytes: self.canister.stable_memory().len(),
            stable_resident_bytes: self.canister.stable_memory().resident_bytes(),
            durable: self.store.is_some(),
            verifying: self.verifier.is_some(),
        }
    }

    /// The environment of the next message. Only updates and upgrades
    /// move the clock: a query sees the time an update would see now,
    /// without taking it, so how often clients poll does not change block
    /// timestamps. An update uses the timestamp set by
    /// [`Node::set_next_block_time`], until a block is produced.
    fn env(&mut self, message: Message) -> MessageEnv {
        let natural = match self.clock {
            Clock::System => {
                now().saturating_add(self.time_offset).max(self.last_time.saturating_add(1))
            }
            Clock::Manual { step, .. } => self.last_time.saturating_add(step),
        };
        let time = match (message, self.next_time) {
            (Message::Query, _) => match self.clock {
                Clock::System => natural,
                Clock::Manual { .. } => self.last_time,
            },
            (Message::Update, Some(next)) => next.max(self.last_time.saturating_add(1)),
            (Message::Update | Message::Upgrade, _) => natural,
        };
        if message != Message::Query {
            self.last_time = time;
        }
        MessageEnv { caller: self.caller.clone(), time }
    }

    /// A block was produced at `time`: a pending next timestamp is used up,
    /// and the clock carries on from it.
    fn block_produced(&mut self) {
        if self.next_time.take().is_some() && self.clock == Clock::System {
            self.time_offset = self.last_time.saturating_sub(now());
        }
    }

    /// Moves the chain's clock forward by `seconds` (`evm_increaseTime`);
    /// returns the total offset from the wall clock, in seconds. Refused
    /// if the clock would pass [`LATEST_TIME`].
    pub fn increase_time(&mut self, seconds: u64) -> Result<u64, String> {
        let nanos = self.time_increase(seconds)?;
        self.time_offset += nanos;
        if let Clock::Manual { .. } = self.clock {
            // The manual clock is the last message's time: move that.
            self.last_time += nanos;
        }
        Ok(self.time_offset / 1_000_000_000)
    }

    /// `seconds` in nanoseconds, if the clock can move on by that much.
    pub fn time_increase(&self, seconds: u64) -> Result<u64, String> {
        let clock = match self.clock {
            Clock::System => now().saturating_add(self.time_offset).max(self.last_time),
            Clock::Manual { .. } => self.last_time,
        };
        seconds
            .checked_mul(1_000_000_000)
            .filter(|nanos| clock.saturating_add(*nanos) <= LATEST_TIME)
            .ok_or_else(|| too_late(seconds))
    }

    /// The timestamp (seconds) of the next block (`evm_setNextBlockTimestamp`);
    /// it must be later than the last message's time.
    pub fn set_next_block_time(&mut self, seconds: u64) -> Result<(), String> {
        let nanos = seconds
            .checked_mul(1_000_000_000)
            .filter(|nanos| *nanos <= LATEST_TIME)
            .ok_or_else(|| {
                format!("timestamp {seconds} is past the year 2553, the latest the clock can go")
            })?;
        if nanos <= self.last_time {
            return Err(format!(
                "timestamp {seconds} is not after the latest block's ({})",
                self.last_time / 1_000_000_000
            ));
        }
        self.next_time = Some(nanos);
        Ok(())
    }

    /// Produces a block with the pool's executable transactions, or an
    /// empty one (`evm_mine`).
    pub fn mine(&mut self) -> Result<MinedBlock, NodeError> {
        let (block, execution): (MinedBlock, _) = self.update("mine", ())?;
        self.blocks_produced(std::slice::from_ref(&block), &execution)?;
        Ok(block)
    }

    /// Records what the transactions of blocks a message produced cost.
    fn blocks_produced(
        &mut self,
        blocks: &[MinedBlock],
        execution: &Execution,
    ) -> Result<(), NodeError> {
        if blocks.is_empty() {
            return Ok(());
        }
        self.block_produced();
        for (hash, cost) in costs_of(blocks, execution) {
            tracing::info!(
                tx = %hash,
                gas = cost.gas_used,
                instructions = cost.instructions,
                cycles = cost.cycles,
                "transaction included"
            );
            self.costs.insert(hash, cost);
            self.with_store(|store, _, _| store.record_cost(hash, &cost))?;
        }
        Ok(())
    }

    /// Turns automine on or off (`evm_setAutomine`); turning it on mines
    /// what waits in the pool.
    pub fn set_automine(&mut self, automine: bool) -> Result<Vec<MinedBlock>, NodeError> {
        let (blocks, execution): (Vec<MinedBlock>, _) =
            self.update("set_mining_mode", (MiningMode { automine },))?;
        self.blocks_produced(&blocks, &execution)?;
        Ok(blocks)
    }

    pub fn mining_mode(&mut self) -> Result<MiningMode, NodeError> {
        self.query("mining_mode", ())
    }

    /// The transactions waiting in the pool.
    pub fn pool_content(&mut self) -> Result<Vec<PooledTx>, NodeError> {
        self.query("pool_content", ())
    }

    pub fn pooled_transaction(&mut self, hash: Hash) -> Result<Option<PooledTx>, NodeError> {
        self.query("get_pooled_transaction", (hash,))
    }

    /// Sets an account's balance, nonce, code or storage.
    pub fn edit_account(&mut self, edit: AccountEdit) -> Result<(), NodeError> {
        let ((), _) = self.update("edit_account", (edit,))?;
        Ok(())
    }

    /// Records the chain and the node's clock (`evm_snapshot`).
    pub fn snapshot(&mut self) -> Result<u64, NodeError> {
        let (id, _): (u64, _) = self.update("snapshot", ())?;
        self.snapshot_clocks.insert(id, (self.time_offset, self.next_time));
        Ok(id)
    }

    /// Returns the chain to snapshot `id` (`evm_revert`), and the clock's
    /// offset as it was then; `false` if there is no such snapshot.
    pub fn revert(&mut self, id: u64) -> Result<bool, NodeError> {
        let (reverted, _): (bool, _) = self.update("revert", (id,))?;
        if let Some(&(offset, next)) = self.snapshot_clocks.get(&id)
            && reverted
        {
            self.time_offset = offset;
            self.next_time = next;
        }
        self.snapshot_clocks.retain(|&snapshot, _| snapshot < id);
        Ok(reverted)
    }

    fn query<A, R>(&mut self, method: &str, args: A) -> Result<R, NodeError>
    where
        A: ArgumentEncoder,
        R: CandidType + DeserializeOwned,
    {
        let arg = candid::encode_args(args).map_err(NodeError::Encode)?;
        let env = self.env(Message::Query);
        let execution = self.canister.query(method, &arg, &env)?;
        if let Some((_, verifier)) = &mut self.verifier {
            let check = verifier.query(method, &arg, &env)?;
            compare(method, &execution, &check, None, None)?;
        }
        decode(&execution)
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

    fn update<A, R>(&mut self, method: &str, args: A) -> Result<(R, Execution), NodeError>
    where
        A: ArgumentEncoder,
        R: CandidType + DeserializeOwned,
    {
        let arg = candid::encode_args(args).map_err(NodeError::Encode)?;
        let execution = self.update_raw(method, &arg)?;
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

    pub fn send_raw_transaction(
        &mut self,
        raw: &[u8],
    ) -> Result<Result<Submitted, TxError>, NodeError> {
        let (result, execution): (Result<SubmitResult, TxError>, _) =
            self.update("send_raw_transaction", (ByteBuf::from(raw),))?;
        self.submitted(result, &execution)
    }

    /// Sends a transaction as `from` without its key (impersonation): `raw`
    /// may carry any signature.
    pub fn send_impersonated(
        &mut self,
        raw: &[u8],
        from: Address,
    ) -> Result<Result<Submitted, TxError>, NodeError> {
        let (result, execution): (Result<SubmitResult, TxError>, _) =
            self.update("send_impersonated_transaction", (ByteBuf::from(raw), from))?;
        self.submitted(result, &execution)
    }

    fn submitted(
        &mut self,
        result: Result<SubmitResult, TxError>,
        execution: &Execution,
    ) -> Result<Result<Submitted, TxError>, NodeError> {
        let result = match result {
            Ok(result) => result,
            Err(error) => return Ok(Err(error)),
        };
        self.blocks_produced(&result.blocks, execution)?;
        if result.blocks.is_empty() {
            tracing::info!(tx = %result.tx_hash, "transaction pooled");
        }
        let cost = self.costs.get(&result.tx_hash.0).copied();
        Ok(Ok(Submitted { result, cost }))
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

    /// What transaction `hash` cost, if this node included it.
    pub fn transaction_cost(&self, hash: B256) -> Option<TxCost> {
        self.costs.get(&hash).copied()
    }

    pub fn chain_info(&mut self) -> Result<ChainInfo, NodeError> {
        self.query("chain_info", ())
    }

    pub fn account(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<AccountState, QueryError>, NodeError> {
        self.query("get_account", (address, block))
    }

    pub fn code(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<ByteBuf, QueryError>, NodeError> {
        self.query("get_code", (address, block))
    }

    pub fn storage(
        &mut self,
        address: Address,
        slot: Hash,
        block: BlockTag,
    ) -> Result<Result<Hash, QueryError>, NodeError> {
        self.query("get_storage", (address, slot, block))
    }

    pub fn proof(
        &mut self,
        address: Address,
        slots: Vec<Hash>,
        block: BlockTag,
    ) -> Result<Result<AccountProof, QueryError>, NodeError> {
        self.query("get_proof", (address, slots, block))
    }

    /// Executes a message on the state at `block` changed by `overrides`.
    pub fn call(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<CallOutcome, CallError>, NodeError> {
        self.query("call", (args, block, overrides))
    }

    /// The access list a message would use (`eth_createAccessList`).
    pub fn create_access_list(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<AccessListOutcome, CallError>, NodeError> {
        self.query("create_access_list", (args, block, overrides))
    }

    /// The gas a message needs on the state at `block` changed by `overrides`.
    pub fn estimate_gas(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<Estimate, CallError>, NodeError> {
        self.query("estimate_gas", (args, block, overrides))
    }

    /// The geth trace of an included transaction, as JSON (`None` if there
    /// is no such transaction); `options` are the tracer options as JSON.
    pub fn trace_transaction(
        &mut self,
        hash: Hash,
        options: String,
    ) -> Result<Result<Option<String>, QueryError>, NodeError> {
        self.query("trace_transaction", (hash, options))
    }

    /// The geth traces of every transaction of a block, in order, as JSON.
    pub fn trace_block(
        &mut self,
        block: BlockTag,
        options: String,
    ) -> Result<Result<Vec<(Hash, String)>, QueryError>, NodeError> {
        self.query("trace_block", (block, options))
    }

    /// The geth trace of a message executed at `block`, as JSON.
    pub fn trace_call(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        options: String,
    ) -> Result<Result<String, CallError>, NodeError> {
        self.query("trace_call", (args, block, options))
    }

    pub fn block(&mut self, block: BlockTag, full: bool) -> Result<Option<BlockView>, NodeError> {
        self.query("get_block", (block, full))
    }

    pub fn transaction(&mut self, hash: Hash) -> Result<Option<TransactionView>, NodeError> {
        self.query("get_transaction", (hash,))
    }

    pub fn receipt(&mut self, hash: Hash) -> Result<Option<ReceiptView>, NodeError> {
        self.query("get_receipt", (hash,))
    }

    pub fn logs(
        &mut self,
        filter: LogFilter,
    ) -> Result<Result<Vec<LogView>, QueryError>, NodeError> {
        self.query("get_logs", (filter,))
    }

    pub fn fee_history(
        &mut self,
        count: u64,
        newest: BlockTag,
        percentiles: Vec<f64>,
    ) -> Result<Result<FeeHistory, QueryError>, NodeError> {
        self.query("fee_history", (count, newest, percentiles))
    }

    /// Calls a query method by name with Candid bytes (for tools and tests).
    pub fn query_raw(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>, NodeError> {
        let env = self.env(Message::Query);
        Ok(self.canister.query(method, arg, &env)?.reply()?.to_vec())
    }
}

/// The blocks an update produced, from its reply.
fn mined_blocks(method: &str, execution: &Execution) -> Vec<MinedBlock> {
    match method {
        "send_raw_transaction" | "send_impersonated_transaction" => {
            decode::<Result<SubmitResult, TxError>>(execution)
                .ok()
                .and_then(Result::ok)
                .map(|result| result.blocks)
                .unwrap_or_default()
        }
        "mine" => decode::<MinedBlock>(execution).into_iter().collect(),
        "set_mining_mode" => decode::<Vec<MinedBlock>>(execution).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// What each transaction of `blocks` cost. The update's instructions,
/// cycles and writes are shared out by the instructions each transaction
/// took itself (`ic0.performance_counter`); a lone transaction carries all
/// of them, block overhead (state root, storing) included.
fn costs_of(blocks: &[MinedBlock], execution: &Execution) -> Vec<(B256, TxCost)> {
    let txs: Vec<_> = blocks.iter().flat_map(|block| &block.transactions).collect();
    let own: u128 = txs.iter().map(|tx| u128::from(tx.instructions)).sum();
    let count = txs.len() as u128;
    let share = |total: u128, tx_instructions: u64| {
        match (total * u128::from(tx_instructions)).checked_div(own) {
            Some(share) => share,
            None => total / count, // nothing measured (a native build): equal shares
        }
    };
    txs.iter()
        .map(|tx| {
            let cost = TxCost {
                gas_used: tx.gas_used,
                instructions: share(execution.instructions.into(), tx.instructions) as u64,
                cycles: share(execution.cycles, tx.instructions),
                stable_bytes_written: share(execution.stable_bytes_written.into(), tx.instructions)
                    as u64,
            };
            (tx.hash.0, cost)
        })
        .collect()
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

/// Nanoseconds since 1970, as `ic0.time` reports them.
/// The latest time (nanoseconds, as `ic0.time` counts) the dev clock may
/// be moved to: a year before `u64` nanoseconds run out (in 2554), so
/// blocks can still follow it.
pub const LATEST_TIME: u64 = u64::MAX - 365 * 24 * 3600 * 1_000_000_000;

fn too_late(seconds: u64) -> String {
    format!(
        "moving the clock by {seconds} s would take it past the year 2553, the latest it can go"
    )
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use canister_host::{Response, Trap};

    fn execution(reply: &[u8], instructions: u64) -> Execution {
        Execution {
            result: Ok(Some(Response::Reply(reply.to_vec()))),
            instructions,
            cycles: 0,
            stable_bytes_written: 0,
            debug_output: Vec::new(),
        }
    }

    #[test]
    fn any_difference_is_a_divergence() {
        let a = execution(b"x", 10);
        assert!(compare("m", &a, &a.clone(), Some([1; 32]), Some([1; 32])).is_ok());
        for (b, hash) in [
            (execution(b"y", 10), [1; 32]),
            (execution(b"x", 11), [1; 32]),
            (execution(b"x", 10), [2; 32]),
            (Execution { result: Err(Trap::Wasm("unreachable".into())), ..a.clone() }, [1; 32]),
        ] {
            let error = compare("m", &a, &b, Some([1; 32]), Some(hash)).unwrap_err();
            assert!(matches!(error, NodeError::Divergence(_)), "{error}");
        }
    }
}
