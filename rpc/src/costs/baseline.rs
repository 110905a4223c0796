//! A committed cost baseline: the workload suite's instructions per method,
//! and the check that fails when a change makes them grow, the way canbench
//! baselines are committed and diffed for canisters on ICP.
//!
//! Instruction counts are deterministic (the same module and the same
//! transactions give the same counts on every machine), so the check
//! compares exact figures; the threshold only leaves room for changes
//! that are meant.
//!
//! ```text
//! cargo run --release -- costs report --save docs/costs/baseline.json     # regenerate
//! cargo run --release -- costs report --check docs/costs/baseline.json    # exit 1 on growth
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::report::Report;
use crate::txlog::grouped;

pub const SCHEMA: &str = "canister-evm/costs-baseline/1";

/// The growth `--check` tolerates by default, in percent.
pub const DEFAULT_THRESHOLD: f64 = 2.0;

/// Each method's calls and their instructions and gas, in total.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub schema: String,
    /// By `Contract.method`.
    pub workloads: BTreeMap<String, Workload>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub calls: u64,
    pub instructions: u64,
    pub gas: u64,
}

impl Workload {
    fn per_call(&self) -> f64 {
        self.instructions as f64 / self.calls.max(1) as f64
    }
}

impl Baseline {
    pub fn of(report: &Report) -> Self {
        let workloads = report
            .methods
            .iter()
            .map(|m| {
                let gas = report
                    .transactions
                    .iter()
                    .filter(|t| t.contract == m.contract && t.method == m.method)
                    .map(|t| t.gas)
                    .sum();
                let workload = Workload { calls: m.calls, instructions: m.total_instructions, gas };
                (format!("{}.{}", m.contract, m.method), workload)
            })
            .collect();
        Self { schema: SCHEMA.to_owned(), workloads }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a baseline serialises") + "\n"
    }

    pub fn from_json(json: &str) -> anyhow::Result<Self> {
        let baseline: Self = serde_json::from_str(json)?;
        anyhow::ensure!(
            baseline.schema == SCHEMA,
            "not a cost baseline of this version (schema {:?}, expected {SCHEMA:?})",
            baseline.schema
        );
        Ok(baseline)
    }

    /// How `now` compares with this baseline.
    pub fn compare(&self, now: &Self, threshold: f64) -> Comparison {
        let mut rows = Vec::new();
        for (name, before) in &self.workloads {
            let after = now.workloads.get(name);
            let change = after.map(|after| (after.per_call() / before.per_call() - 1.0) * 100.0);
            let verdict = match change {
                None => Verdict::Missing,
                Some(change) if change > threshold => Verdict::Regressed,
                Some(change) if change < -threshold => Verdict::Improved,
                Some(_) => Verdict::Unchanged,
            };
            rows.push(Row {
                name: name.clone(),
                before: Some(before.per_call()),
                after: after.map(Workload::per_call),
                change,
                verdict,
            });
        }
        for (name, after) in &now.workloads {
            if !self.workloads.contains_key(name) {
                rows.push(Row {
                    name: name.clone(),
                    before: None,
                    after: Some(after.per_call()),
                    change: None,
                    verdict: Verdict::New,
                });
            }
        }
        Comparison { rows, threshold }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Unchanged,
    Improved,
    /// Grew by more than the threshold.
    Regressed,
    /// In the baseline, not in this run.
    Missing,
    /// In this run, not in the baseline.
    New,
}

#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    /// Instructions per call.
    pub before: Option<f64>,
    pub after: Option<f64>,
    /// Percent.
    pub change: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Clone, Debug)]
pub struct Comparison {
    pub rows: Vec<Row>,
    pub threshold: f64,
}

impl Comparison {
    /// Workloads whose instructions grew beyond the threshold.
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|row| row.verdict == Verdict::Regressed)
    }

    pub fn passed(&self) -> bool {
        self.regressions().next().is_none()
    }

    /// The diff table: every workload that changed, was added or went.
    pub fn table(&self) -> String {
        let changed: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.verdict != Verdict::Unchanged || r.change != Some(0.0))
            .collect();
        if changed.is_empty() {
            return "every workload's instructions are exactly as in the baseline\n".to_owned();
        }
        let width = changed.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
        let mut out = format!(
            "{:<width$}  {:>16}  {:>16}  {:>8}\n",
            "Workload", "instr/call before", "instr/call now", "change"
        );
        let number = |x: Option<f64>| x.map_or("—".to_owned(), |x| grouped(x.round() as u128));
        for row in &changed {
            let change = row.change.map_or("—".to_owned(), |c| format!("{c:+.2} %"));
            let mark = match row.verdict {
                Verdict::Regressed => format!("  regressed (> {} %)", self.threshold),
                Verdict::Improved => "  improved".to_owned(),
                Verdict::Missing => "  missing from this run".to_owned(),
                Verdict::New => "  new".to_owned(),
                Verdict::Unchanged => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:>16}  {:>16}  {:>8}{mark}",
                row.name,
                number(row.before),
                number(row.after),
                change
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(entries: &[(&str, u64)]) -> Baseline {
        Baseline {
            schema: SCHEMA.to_owned(),
            workloads: entries
                .iter()
                .map(|(name, instructions)| {
                    ((*name).to_owned(), Workload { calls: 2, instructions: *instructions, gas: 1 })
                })
                .collect(),
        }
    }

    #[test]
    fn growth_beyond_the_threshold_fails_the_check() {
        let before = baseline(&[("Token.transfer", 20_000_000), ("WETH.deposit", 10_000_000)]);
        assert!(before.compare(&before, DEFAULT_THRESHOLD).passed());
        // +1.5 %: within 2 %.
        let slight = baseline(&[("Token.transfer", 20_300_000), ("WETH.deposit", 10_000_000)]);
        assert!(before.compare(&slight, DEFAULT_THRESHOLD).passed());
        // +5 %.
        let worse = baseline(&[("Token.transfer", 21_000_000), ("WETH.deposit", 9_000_000)]);
        let comparison = before.compare(&worse, DEFAULT_THRESHOLD);
        assert!(!comparison.passed());
        let regressed: Vec<&str> = comparison.regressions().map(|r| r.name.as_str()).collect();
        assert_eq!(regressed, ["Token.transfer"]);
        let table = comparison.table();
        assert!(table.contains("+5.00 %  regressed"), "{table}");
        assert!(table.contains("-10.00 %  improved"), "{table}");
    }

    #[test]
    fn added_and_removed_workloads_are_shown_not_failed() {
        let before = baseline(&[("A.a", 10), ("B.b", 10)]);
        let now = baseline(&[("A.a", 10), ("C.c", 10)]);
        let comparison = before.compare(&now, DEFAULT_THRESHOLD);
        assert!(comparison.passed());
        let table = comparison.table();
        assert!(table.contains("missing from this run") && table.contains("new"), "{table}");
    }

    #[test]
    fn a_baseline_round_trips_and_other_files_are_refused() {
        let before = baseline(&[("A.a", 10)]);
        assert_eq!(Baseline::from_json(&before.to_json()).unwrap(), before);
        let err = Baseline::from_json(r#"{"schema":"x","workloads":{}}"#).unwrap_err();
        assert!(err.to_string().contains("not a cost baseline"), "{err}");
    }
}
