//! Ethereum's official state tests, run through the EVM canister: the
//! `evm-statetest` command and the library behind it.
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
//!
//! - `report`: verdicts, tallies and the report, as text or JSON.
//! - `runner`: one case on a fresh chain, in wasm or natively.

mod report;
mod runner;

pub use report::{CaseResult, Observed, Report, Tally, Verdict};
use runner::Runner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use revm_statetest_types::{AccountInfo, Env, SpecName, Test};
use serde::{Deserialize, Serialize};

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

/// A fixture file's tests. The transaction template is not read: each case
/// carries its signed transaction (`txbytes`).
#[derive(Deserialize)]
pub(crate) struct Unit {
    env: Env,
    pre: BTreeMap<alloy_primitives::Address, AccountInfo>,
    post: BTreeMap<SpecName, Vec<Test>>,
}

/// One case to run.
pub(crate) struct Case {
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
pub(crate) fn chain_spec(fork: &SpecName) -> Option<revm::primitives::hardfork::SpecId> {
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
