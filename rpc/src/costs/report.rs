//! `canister-evm costs report`: gas next to Wasm instructions and cycles,
//! per contract and method, with what a call would cost on the Internet
//! Computer and on Ethereum.
//!
//! The JSON form is described by `docs/costs/report.schema.json`; the
//! table, Markdown and CSV forms carry the same columns.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::Sample;
use crate::cost::CostBreakdown;
use crate::txlog::{grouped, short};

/// The `schema` of every report this version writes.
pub const SCHEMA: &str = "canister-evm/costs-report/1";

/// What cycles and gas are worth, to put both in dollars.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    /// Cycles one XDR buys: ICP pegs 1 T cycles to 1 XDR.
    pub cycles_per_xdr: f64,
    /// US dollars per XDR.
    pub usd_per_xdr: f64,
    /// The Ethereum gas price to compare with, in gwei.
    pub gas_price_gwei: f64,
    /// US dollars per ether.
    pub eth_usd: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Self { cycles_per_xdr: 1e12, usd_per_xdr: 1.36, gas_price_gwei: 1.0, eth_usd: 3_000.0 }
    }
}

impl Prices {
    pub fn cycles_usd(&self, cycles: f64) -> f64 {
        cycles / self.cycles_per_xdr * self.usd_per_xdr
    }

    pub fn gas_eth(&self, gas: f64) -> f64 {
        gas * self.gas_price_gwei * 1e-9
    }
}

/// Minimum, mean, median and maximum.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub min: f64,
    pub avg: f64,
    pub median: f64,
    pub max: f64,
}

impl Stats {
    fn of(values: &mut [f64]) -> Self {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median =
            if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
        Self {
            min: values[0],
            avg: values.iter().sum::<f64>() / n as f64,
            median,
            max: values[n - 1],
        }
    }
}

/// One method's costs over its calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodCosts {
    pub contract: String,
    pub method: String,
    pub calls: u64,
    pub gas: Stats,
    pub instructions: Stats,
    /// The instructions of all calls: deterministic, what baselines compare.
    pub total_instructions: u64,
    pub cycles: Stats,
    /// Mean instructions per mean gas.
    pub instructions_per_gas: f64,
    pub cycles_per_gas: f64,
    /// Mean instructions of each phase, where the canister measured them.
    pub phases: Option<Vec<PhaseShare>>,
    /// A mean call's cycles in US dollars.
    pub icp_usd: f64,
    /// A mean call's gas at the gas price, in ether and in US dollars.
    pub eth: f64,
    pub eth_usd: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseShare {
    pub phase: String,
    pub instructions: f64,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema: String,
    /// Where the transactions came from: `built-in suite`, a URL or a
    /// data directory.
    pub source: String,
    pub cycles_per_instruction: f64,
    pub prices: Prices,
    /// Per contract and method, in the order first seen.
    pub methods: Vec<MethodCosts>,
    pub transactions: Vec<Sample>,
}

impl Report {
    /// Groups `samples` by contract and method.
    pub fn new(source: &str, samples: Vec<Sample>, prices: Prices) -> Self {
        let mut order: Vec<(String, String)> = Vec::new();
        for sample in &samples {
            let key = (sample.contract.clone(), sample.method.clone());
            if !order.contains(&key) {
                order.push(key);
            }
        }
        let methods = order
            .into_iter()
            .map(|(contract, method)| {
                let calls: Vec<&Sample> = samples
                    .iter()
                    .filter(|s| s.contract == contract && s.method == method)
                    .collect();
                let stats = |f: fn(&Sample) -> f64| {
                    Stats::of(&mut calls.iter().map(|s| f(s)).collect::<Vec<_>>())
                };
                let gas = stats(|s| s.gas as f64);
                let instructions = stats(|s| s.instructions as f64);
                let cycles = stats(|s| s.cycles as f64);
                let phases = calls.iter().all(|s| s.phases.is_some()).then(|| {
                    let sums = calls.iter().fold([0u64; 7], |mut sums, s| {
                        for (sum, value) in
                            sums.iter_mut().zip(s.phases.unwrap_or_default().values())
                        {
                            *sum += value;
                        }
                        sums
                    });
                    CostBreakdown::NAMES
                        .iter()
                        .zip(sums)
                        .map(|(name, sum)| PhaseShare {
                            phase: (*name).to_owned(),
                            instructions: sum as f64 / calls.len() as f64,
                        })
                        .collect()
                });
                let per_gas = |x: f64| if gas.avg > 0.0 { x / gas.avg } else { 0.0 };
                MethodCosts {
                    calls: calls.len() as u64,
                    total_instructions: calls.iter().map(|s| s.instructions).sum(),
                    instructions_per_gas: per_gas(instructions.avg),
                    cycles_per_gas: per_gas(cycles.avg),
                    phases,
                    icp_usd: prices.cycles_usd(cycles.avg),
                    eth: prices.gas_eth(gas.avg),
                    eth_usd: prices.gas_eth(gas.avg) * prices.eth_usd,
                    gas,
                    instructions,
                    cycles,
                    contract,
                    method,
                }
            })
            .collect();
        Self {
            schema: SCHEMA.to_owned(),
            source: source.to_owned(),
            cycles_per_instruction: super::cycles_per_instruction(),
            prices,
            methods,
            transactions: samples,
        }
    }

    /// The report in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::to_string_pretty(self).expect("a report serialises") + "\n",
            Format::Table => self.text_table(),
            Format::Markdown => self.markdown(),
            Format::Csv => self.csv(),
        }
    }

    const HEADER: [&'static str; 13] = [
        "Method",
        "Calls",
        "Gas min",
        "Gas avg",
        "Gas median",
        "Gas max",
        "Instructions avg",
        "Instr/gas",
        "Cycles avg",
        "Cycles/gas",
        "ICP $",
        "ETH",
        "ETH $",
    ];

    fn rows(&self) -> Vec<[String; 13]> {
        self.methods
            .iter()
            .map(|m| {
                [
                    format!("{}.{}", m.contract, m.method),
                    m.calls.to_string(),
                    grouped(m.gas.min as u128),
                    grouped(m.gas.avg.round() as u128),
                    grouped(m.gas.median.round() as u128),
                    grouped(m.gas.max as u128),
                    short(m.instructions.avg.round() as u128),
                    format!("{:.0}", m.instructions_per_gas),
                    short(m.cycles.avg.round() as u128),
                    format!("{:.0}", m.cycles_per_gas),
                    significant(m.icp_usd),
                    significant(m.eth),
                    significant(m.eth_usd),
                ]
            })
            .collect()
    }

    fn footer(&self) -> String {
        let p = &self.prices;
        format!(
            "Cycles at {} per instruction; ICP $ at {} cycles = 1 XDR = ${}; \
             ETH at {} gwei per gas, ETH $ at ${} per ether.",
            self.cycles_per_instruction,
            short(p.cycles_per_xdr as u128),
            p.usd_per_xdr,
            p.gas_price_gwei,
            p.eth_usd
        )
    }

    fn text_table(&self) -> String {
        let rows = self.rows();
        let mut widths = Self::HEADER.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i] - cell.chars().count();
                if i == 0 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str("  ");
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
            out.trim_end().to_owned() + "\n"
        };
        let mut out = format!("Costs of {}\n\n", self.source);
        out += &line(&Self::HEADER.map(str::to_owned));
        out += &line(&widths.map(|w| "─".repeat(w)));
        for row in &rows {
            out += &line(row);
        }
        out + "\n" + &self.footer() + "\n"
    }

    fn markdown(&self) -> String {
        let mut out = format!("| {} |\n", Self::HEADER.join(" | "));
        out += &format!("|---|{}\n", "---:|".repeat(Self::HEADER.len() - 1));
        for row in self.rows() {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out + "\n" + &self.footer() + "\n"
    }

    fn csv(&self) -> String {
        let mut out = String::from(
            "contract,method,calls,gas_min,gas_avg,gas_median,gas_max,instructions_avg,\
             instructions_per_gas,cycles_avg,cycles_per_gas,icp_usd,eth,eth_usd\n",
        );
        for m in &self.methods {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&m.contract),
                csv_field(&m.method),
                m.calls,
                m.gas.min,
                m.gas.avg,
                m.gas.median,
                m.gas.max,
                m.instructions.avg,
                m.instructions_per_gas,
                m.cycles.avg,
                m.cycles_per_gas,
                m.icp_usd,
                m.eth,
                m.eth_usd
            );
        }
        out
    }
}

/// How a report or table is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    Markdown,
    /// As `docs/costs/report.schema.json` describes.
    Json,
    Csv,
}

/// A CSV field, quoted when it must be (RFC 4180).
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// `x` to three significant figures, without an exponent: `0.0000234`.
pub fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;

    fn sample(contract: &str, method: &str, gas: u64, instructions: u64) -> Sample {
        Sample {
            contract: contract.to_owned(),
            method: method.to_owned(),
            hash: B256::ZERO,
            gas,
            instructions,
            cycles: u128::from(instructions),
            phases: None,
        }
    }

    #[test]
    fn methods_are_grouped_with_their_spread() {
        let samples = vec![
            sample("Token", "transfer", 50_000, 10_000_000),
            sample("Token", "approve", 46_000, 9_000_000),
            sample("Token", "transfer", 30_000, 8_000_000),
            sample("Token", "transfer", 40_000, 9_000_000),
        ];
        let report = Report::new("test", samples, Prices::default());
        assert_eq!(report.methods.len(), 2);
        let transfer = &report.methods[0];
        assert_eq!((transfer.contract.as_str(), transfer.method.as_str()), ("Token", "transfer"));
        assert_eq!(transfer.calls, 3);
        assert_eq!(
            transfer.gas,
            Stats { min: 30_000.0, avg: 40_000.0, median: 40_000.0, max: 50_000.0 }
        );
        assert_eq!(transfer.total_instructions, 27_000_000);
        assert_eq!(transfer.instructions_per_gas, 225.0);
        // 9 M cycles at 1 T cycles per XDR and $1.36 per XDR; 40k gas at 1 gwei.
        assert!((transfer.icp_usd - 9e6 / 1e12 * 1.36).abs() < 1e-15);
        assert!((transfer.eth - 4e-5).abs() < 1e-15);
        assert!((transfer.eth_usd - 0.12).abs() < 1e-12);
    }

    #[test]
    fn every_format_has_every_method() {
        let report = Report::new(
            "test",
            vec![sample("Token", "transfer", 51_553, 11_700_000), sample("a,b", "m", 1, 1)],
            Prices::default(),
        );
        let table = report.render(Format::Table);
        assert!(
            table.contains("Token.transfer")
                && table.contains("51,553")
                && table.contains("11.7 M"),
            "{table}"
        );
        let markdown = report.render(Format::Markdown);
        assert_eq!(markdown.lines().filter(|l| l.starts_with('|')).count(), 4, "{markdown}");
        let csv = report.render(Format::Csv);
        assert!(csv.lines().nth(1).unwrap().starts_with("Token,transfer,1,51553,"), "{csv}");
        assert!(csv.contains("\"a,b\",m,"), "{csv}");
        let json: Report = serde_json::from_str(&report.render(Format::Json)).unwrap();
        assert_eq!(json, report);
    }

    #[test]
    fn small_dollar_amounts_keep_three_figures() {
        assert_eq!(significant(0.0000234567), "0.0000235");
        assert_eq!(significant(0.12), "0.120");
        assert_eq!(significant(1234.5), "1234");
        assert_eq!(significant(0.0), "0");
    }
}
