//! What a run found: a verdict per case, tallies per fork, and the report
//! as text or JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy_primitives::B256;
use serde::Serialize;

use crate::Mode;

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
    pub(crate) fn add(&mut self, verdict: &Verdict) {
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
