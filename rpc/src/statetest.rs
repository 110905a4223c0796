//! `canister-evm statetest`: Ethereum's official state tests, run through the
//! EVM canister.
//!
//! Each case (one fork, one combination of a test's data, gas and value) gets
//! a fresh chain: a canister installed in the host whose genesis is the
//! fixture's pre-state and whose first block has the fixture's environment
//! (`InitArgs::first_block`). The fixture's signed transaction (`txbytes`) is
//! submitted exactly as `eth_sendRawTransaction` would submit it, and the
//! block's state root and the transaction's logs hash are compared with the
//! fixture. A case that expects the transaction to be invalid passes only if
//! the chain refuses it (and its state root is still the pre-state's).
//!
//! With [`Mode::Native`] the same canister code runs natively (no wasm, no
//! host), which lets a test show both give identical results.
//!
//! The fixture format is read with `revm-statetest-types`. Only what a case
//! needs is deserialised: the transaction template is not, since `txbytes`
//! is the transaction.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_consensus::{Header, ReceiptEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use anyhow::Context as _;
use canister_host::{Canister, CanisterModule, CanisterSettings, Host, HostConfig, MessageEnv};
use evm_canister_api::{
    BlockTag, BlockView, FirstBlock, GenesisAccount, Hash, InitArgs, ReceiptView, SubmitResult,
    TxError,
};
use revm_statetest_types::{AccountInfo, Env, SpecName, Test};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Where the canister code runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Compiled to wasm, installed in the host: what the node runs.
    Wasm,
    /// The same Rust code compiled natively, without a host.
    Native,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Fixture files, or directories searched for `*.json` files.
    pub paths: Vec<PathBuf>,
    /// Forks to run (fixture names such as `Cancun`); all if empty.
    pub forks: Vec<String>,
    /// Only tests whose name or file contains this.
    pub filter: Option<String>,
    pub mode: Mode,
    /// Worker threads.
    pub jobs: usize,
    /// Print progress to stderr.
    pub progress: bool,
}

/// The verdict on one case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed(String),
    /// The case cannot apply to this chain; the reason says which rule.
    Skipped(String),
}

/// What the chain did with a case's transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// Why the chain refused the transaction, if it did.
    pub rejected: Option<String>,
    /// State root after the transaction's block (the genesis root if refused).
    pub state_root: B256,
    /// `keccak256(rlp(logs))` of the transaction's logs.
    pub logs_hash: B256,
    /// Instructions of the update that executed the transaction (wasm only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<u64>,
}

/// One case and its result.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub file: String,
    pub test: String,
    pub fork: String,
    /// Index of the case in `post[fork]`.
    pub index: usize,
    #[serde(flatten)]
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
}

impl CaseResult {
    /// `file: test [Fork #index]`, how failures are listed.
    pub fn name(&self) -> String {
        format!("{}: {} [{} #{}]", self.file, self.test, self.fork, self.index)
    }
}

/// Counts of one fork (or of all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Tally {
    fn add(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Passed => self.passed += 1,
            Verdict::Failed(_) => self.failed += 1,
            Verdict::Skipped(_) => self.skipped += 1,
        }
    }

    /// Passed cases as a percentage of the cases that ran.
    pub fn pass_rate(&self) -> f64 {
        let ran = self.passed + self.failed;
        if ran == 0 { 100.0 } else { 100.0 * self.passed as f64 / ran as f64 }
    }
}

/// Everything a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub mode: Mode,
    pub files: usize,
    /// Per fork, in fork order.
    pub forks: Vec<(String, Tally)>,
    pub total: Tally,
    #[serde(rename = "wallTimeSecs", serialize_with = "as_secs")]
    pub wall_time: Duration,
    pub cases: Vec<CaseResult>,
}

fn as_secs<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// A fixture file's tests. The transaction template is not read: each case
/// carries its signed transaction (`txbytes`).
#[derive(Deserialize)]
struct Unit {
    env: Env,
    pre: BTreeMap<alloy_primitives::Address, AccountInfo>,
    post: BTreeMap<SpecName, Vec<Test>>,
}

/// One case to run.
struct Case {
    file: Arc<str>,
    test: Arc<str>,
    unit: Arc<Unit>,
    /// Position of the fork in `unit.post`.
    fork: usize,
    index: usize,
}

impl Case {
    fn fork(&self) -> (&SpecName, &Test) {
        let (fork, posts) = self.unit.post.iter().nth(self.fork).expect("the fork exists");
        (fork, &posts[self.index])
    }
}

/// Runs the state tests under `options.paths`.
pub fn run(options: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let files = fixture_files(&options.paths)?;
    let forks: Vec<SpecName> = options
        .forks
        .iter()
        .map(|name| {
            serde_json::from_value::<SpecName>(serde_json::Value::String(name.clone()))
                .ok()
                .filter(|spec| *spec != SpecName::Unknown)
                .with_context(|| format!("unknown fork {name:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut cases = Vec::new();
    let mut unreadable = Vec::new();
    for path in &files {
        let shown = display_path(path, &options.paths);
        let units: BTreeMap<String, Unit> = match std::fs::read(path)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(serde_json::from_slice(&bytes)?))
        {
            Ok(units) => units,
            Err(error) => {
                unreadable.push(CaseResult {
                    file: shown,
                    test: String::new(),
                    fork: String::new(),
                    index: 0,
                    verdict: Verdict::Failed(format!("the fixture does not parse: {error}")),
                    observed: None,
                });
                continue;
            }
        };
        let file: Arc<str> = shown.into();
        for (name, unit) in units {
            if let Some(filter) = &options.filter
                && !name.contains(filter.as_str())
                && !file.contains(filter.as_str())
            {
                continue;
            }
            let test: Arc<str> = name.into();
            let unit = Arc::new(unit);
            for (position, (fork, posts)) in unit.post.iter().enumerate() {
                if !forks.is_empty() && !forks.contains(fork) {
                    continue;
                }
                for index in 0..posts.len() {
                    cases.push(Case {
                        file: file.clone(),
                        test: test.clone(),
                        unit: unit.clone(),
                        fork: position,
                        index,
                    });
                }
            }
        }
    }

    let runner = Runner::new(options.mode)?;
    let results =
        run_parallel(&cases, options.jobs.max(1), options.progress, |case| runner.run_case(case));

    let mut results: Vec<CaseResult> = unreadable.into_iter().chain(results).collect();
    results.sort_by(|a, b| {
        (&a.file, &a.test, &a.fork, a.index).cmp(&(&b.file, &b.test, &b.fork, b.index))
    });
    let mut per_fork: BTreeMap<(u8, String), Tally> = BTreeMap::new();
    let mut total = Tally::default();
    for result in &results {
        let order = spec_order(&result.fork);
        per_fork.entry((order, result.fork.clone())).or_default().add(&result.verdict);
        total.add(&result.verdict);
    }
    Ok(Report {
        mode: options.mode,
        files: files.len(),
        forks: per_fork.into_iter().map(|((_, fork), tally)| (fork, tally)).collect(),
        total,
        wall_time: started.elapsed(),
        cases: results,
    })
}

/// Forks sort by age, unknown ones last.
fn spec_order(fork: &str) -> u8 {
    serde_json::from_value::<SpecName>(serde_json::Value::String(fork.to_owned()))
        .ok()
        .and_then(|fork| chain_spec(&fork))
        .map_or(u8::MAX, |spec| spec as u8)
}

/// The chain's hardfork for a fixture fork, if the chain supports it: the
/// chain starts at the Merge or later.
fn chain_spec(fork: &SpecName) -> Option<revm::primitives::hardfork::SpecId> {
    use revm::primitives::hardfork::SpecId;
    match fork {
        SpecName::Paris | SpecName::Merge => Some(SpecId::MERGE),
        SpecName::Shanghai => Some(SpecId::SHANGHAI),
        SpecName::Cancun => Some(SpecId::CANCUN),
        SpecName::Prague => Some(SpecId::PRAGUE),
        SpecName::Osaka => Some(SpecId::OSAKA),
        _ => None,
    }
}

/// Every `*.json` file under `paths`, sorted.
fn fixture_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("{}", path.display()))?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            entries.sort();
            for entry in entries {
                if entry.is_dir() || entry.extension().is_some_and(|ext| ext == "json") {
                    walk(&entry, out)?;
                }
            }
        } else {
            out.push(path.to_owned());
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        walk(path, &mut files)?;
    }
    Ok(files)
}

/// A file's path relative to the argument it was found under.
fn display_path(file: &Path, roots: &[PathBuf]) -> String {
    roots
        .iter()
        .filter(|root| root.is_dir())
        .find_map(|root| file.strip_prefix(root).ok())
        .unwrap_or(file)
        .display()
        .to_string()
}

/// Runs `f` on every case with `jobs` threads; results in case order.
fn run_parallel<F>(cases: &[Case], jobs: usize, progress: bool, f: F) -> Vec<CaseResult>
where
    F: Fn(&Case) -> CaseResult + Sync,
{
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CaseResult>>> = Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let result = f(case);
                    results.lock().unwrap()[i] = Some(result);
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if progress && (finished.is_multiple_of(1000) || finished == cases.len()) {
                        eprintln!("… {finished}/{} cases", cases.len());
                    }
                }
            });
        }
    });
    results.into_inner().unwrap().into_iter().map(|r| r.expect("every case ran")).collect()
}

/// The chain a case runs on.
enum Runner {
    Wasm { host: Box<Host>, module: Arc<CanisterModule> },
    Native,
}

/// The anonymous principal, which every message comes from.
const CALLER: [u8; 1] = [4];

/// What a chain made of a case's transaction.
struct Outcome {
    genesis_root: B256,
    included: Result<(B256, B256), String>,
    instructions: Option<u64>,
}

impl Runner {
    fn new(mode: Mode) -> anyhow::Result<Self> {
        Ok(match mode {
            Mode::Wasm => {
                let host = Host::new(HostConfig::default())?;
                let module = host.compile(crate::CANISTER_WASM)?;
                Self::Wasm { host: Box::new(host), module }
            }
            Mode::Native => Self::Native,
        })
    }

    fn run_case(&self, case: &Case) -> CaseResult {
        let (fork, test) = case.fork();
        let (verdict, observed) = match self.judge(fork, &case.unit, test) {
            Ok((verdict, observed)) => (verdict, observed),
            Err(error) => (Verdict::Failed(format!("{error:#}")), None),
        };
        CaseResult {
            file: case.file.to_string(),
            test: case.test.to_string(),
            fork: format!("{fork:?}"),
            index: case.index,
            verdict,
            observed,
        }
    }

    fn judge(
        &self,
        fork: &SpecName,
        unit: &Unit,
        test: &Test,
    ) -> anyhow::Result<(Verdict, Option<Observed>)> {
        let Some(spec) = chain_spec(fork) else {
            return Ok((
                Verdict::Skipped(format!(
                    "{fork:?} predates the Merge; the chain runs Paris and later forks"
                )),
                None,
            ));
        };
        let Some(tx) = &test.txbytes else {
            anyhow::bail!("the case has no txbytes");
        };
        if tx.first() == Some(&3) {
            return Ok((
                Verdict::Skipped(
                    "a blob transaction (EIP-4844, type 3): the chain does not accept them"
                        .to_owned(),
                ),
                None,
            ));
        }
        let genesis = genesis(&unit.env, &unit.pre, spec);
        let outcome = self.execute(&genesis, tx)?;
        let observed = match &outcome.included {
            Ok((state_root, logs_hash)) => Observed {
                rejected: None,
                state_root: *state_root,
                logs_hash: *logs_hash,
                instructions: outcome.instructions,
            },
            Err(reason) => Observed {
                rejected: Some(reason.clone()),
                state_root: outcome.genesis_root,
                logs_hash: keccak256([alloy_rlp::EMPTY_LIST_CODE]),
                instructions: outcome.instructions,
            },
        };
        Ok((verdict(test, &observed), Some(observed)))
    }

    /// Installs a chain with `genesis` and submits `tx`.
    fn execute(&self, genesis: &InitArgs, tx: &Bytes) -> anyhow::Result<Outcome> {
        let first = genesis.first_block.as_ref().expect("state tests pin the first block");
        let now = first.timestamp.saturating_mul(1_000_000_000);
        match self {
            Self::Native => {
                let memory = evm_canister::SparseMemory::default();
                let mut chain = evm_canister::Chain::create(memory, genesis)
                    .map_err(|e| anyhow::anyhow!("invalid genesis: {e}"))?;
                let genesis_root = state_root(chain.block(BlockTag::Earliest, false))?;
                let included = match chain.submit(tx, now) {
                    Ok(result) if result.included().is_none() => Err(POOLED.to_owned()),
                    Ok(result) => {
                        let root = state_root(chain.block(BlockTag::Latest, false))?;
                        Ok((root, logs_hash(chain.receipt(result.tx_hash.0))?))
                    }
                    Err(error) => Err(describe(&error)),
                };
                Ok(Outcome { genesis_root, included, instructions: None })
            }
            Self::Wasm { host, module } => {
                let env = MessageEnv { caller: CALLER.to_vec(), time: now };
                let arg = candid::encode_one(genesis)?;
                let (mut canister, _) = Canister::install(
                    host,
                    module.clone(),
                    CanisterSettings::default(),
                    &arg,
                    &env,
                )?;
                let block = |canister: &mut Canister, tag: BlockTag| -> anyhow::Result<B256> {
                    let arg = candid::encode_args((tag, false))?;
                    let execution = canister.query("get_block", &arg, &env)?;
                    let reply = execution.reply().context("get_block")?;
                    state_root(candid::decode_one(reply)?)
                };
                let genesis_root = block(&mut canister, BlockTag::Earliest)?;
                let arg = candid::encode_one(ByteBuf::from(tx.to_vec()))?;
                let execution = canister.update("send_raw_transaction", &arg, &env)?;
                let instructions = Some(execution.instructions);
                let reply = execution
                    .reply()
                    .map_err(|error| anyhow::anyhow!("send_raw_transaction: {error}"))?;
                let submitted: Result<SubmitResult, TxError> = candid::decode_one(reply)?;
                let included = match submitted {
                    Ok(result) if result.included().is_none() => Err(POOLED.to_owned()),
                    Ok(result) => {
                        let root = block(&mut canister, BlockTag::Latest)?;
                        let arg = candid::encode_one(result.tx_hash)?;
                        let execution = canister.query("get_receipt", &arg, &env)?;
                        let reply = execution.reply().context("get_receipt")?;
                        Ok((root, logs_hash(candid::decode_one(reply)?)?))
                    }
                    Err(error) => Err(describe(&error)),
                };
                Ok(Outcome { genesis_root, included, instructions })
            }
        }
    }
}

/// Why a transaction a state test expects to fail was not included: its
/// nonce is ahead of the sender's, so the pool keeps it for later.
const POOLED: &str = "nonce too high: the transaction waits in the pool";

/// The verdict on a case given what the chain did.
fn verdict(test: &Test, observed: &Observed) -> Verdict {
    match (&test.expect_exception, &observed.rejected) {
        (Some(expected), None) => {
            Verdict::Failed(format!("the chain accepted a transaction that must fail ({expected})"))
        }
        (None, Some(reason)) => {
            Verdict::Failed(format!("the chain refused the transaction: {reason}"))
        }
        (Some(_), Some(_)) | (None, None) => {
            if observed.state_root != test.hash {
                Verdict::Failed(format!(
                    "state root {} (expected {})",
                    observed.state_root, test.hash
                ))
            } else if observed.logs_hash != test.logs {
                Verdict::Failed(format!(
                    "logs hash {} (expected {})",
                    observed.logs_hash, test.logs
                ))
            } else {
                Verdict::Passed
            }
        }
    }
}

/// A refusal as one line.
fn describe(error: &TxError) -> String {
    format!("{error:?}")
}

fn state_root(block: Option<BlockView>) -> anyhow::Result<B256> {
    let block = block.context("the block is missing")?;
    Ok(Header::decode(&mut block.header.as_ref())?.state_root)
}

/// `keccak256(rlp(logs))` of a receipt's logs, as state tests define it.
fn logs_hash(receipt: Option<ReceiptView>) -> anyhow::Result<B256> {
    let receipt = receipt.context("the receipt is missing")?;
    let envelope = ReceiptEnvelope::decode_2718(&mut receipt.receipt.as_ref())?;
    let mut rlp = Vec::new();
    alloy_rlp::encode_list(envelope.logs(), &mut rlp);
    Ok(keccak256(rlp))
}

/// The genesis of a case's chain: the pre-state, and the fixture's block as
/// the first block after genesis. Chain id 1, as in every state test.
fn genesis(
    env: &Env,
    pre: &BTreeMap<alloy_primitives::Address, AccountInfo>,
    spec: revm::primitives::hardfork::SpecId,
) -> InitArgs {
    let u64_of = |value: U256| value.saturating_to::<u64>();
    let timestamp = u64_of(env.current_timestamp);
    InitArgs {
        chain_id: 1,
        hardfork: Some(<&str>::from(spec).to_owned()),
        block_gas_limit: u64_of(env.current_gas_limit),
        initial_base_fee: env.current_base_fee.map(u64_of).unwrap_or_default(),
        genesis_timestamp: timestamp.saturating_sub(1),
        coinbase: Some(env.current_coinbase.into()),
        accounts: pre
            .iter()
            .map(|(address, account)| {
                let mut storage: Vec<(Hash, Hash)> = account
                    .storage
                    .iter()
                    .map(|(slot, value)| (B256::from(*slot).into(), B256::from(*value).into()))
                    .collect();
                storage.sort_by_key(|(slot, _)| slot.0);
                GenesisAccount {
                    address: (*address).into(),
                    balance: account.balance.into(),
                    nonce: account.nonce,
                    code: account.code.to_vec().into(),
                    storage,
                }
            })
            .collect(),
        first_block: Some(FirstBlock {
            number: u64_of(env.current_number),
            timestamp,
            base_fee: env.current_base_fee.map(u64_of).unwrap_or_default(),
            prevrandao: env.current_random.unwrap_or_default().into(),
            excess_blob_gas: env.current_excess_blob_gas.map(u64_of).unwrap_or_default(),
        }),
    }
}

impl Report {
    /// The report as text: a line per failure, the skip rules with their
    /// counts, and the summary per fork.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for case in &self.cases {
            if let Verdict::Failed(reason) = &case.verdict {
                let _ = writeln!(out, "FAIL {}: {reason}", case.name());
            }
        }
        let mut skips: BTreeMap<&str, usize> = BTreeMap::new();
        for case in &self.cases {
            if let Verdict::Skipped(reason) = &case.verdict {
                *skips.entry(reason).or_default() += 1;
            }
        }
        for (reason, count) in &skips {
            let _ = writeln!(out, "SKIP {count} cases: {reason}");
        }
        let _ = writeln!(
            out,
            "\n{} files, {} cases, {} in {:.1?} ({})",
            self.files,
            self.cases.len(),
            match self.mode {
                Mode::Wasm => "canister in wasm",
                Mode::Native => "canister code native",
            },
            self.wall_time,
            if self.total.failed == 0 { "ok" } else { "FAILED" },
        );
        let _ = writeln!(
            out,
            "{:<18} {:>8} {:>8} {:>8} {:>9}",
            "fork", "passed", "failed", "skipped", "pass rate"
        );
        for (fork, tally) in self.forks.iter().chain([&("total".to_owned(), self.total)]) {
            let _ = writeln!(
                out,
                "{fork:<18} {:>8} {:>8} {:>8} {:>8.2}%",
                tally.passed,
                tally.failed,
                tally.skipped,
                tally.pass_rate()
            );
        }
        out
    }
}
