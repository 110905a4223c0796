//! `canister-evm costs …`: the command line of the cost instrument.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use canister_host::HostConfig;

use super::baseline::{self, Baseline};
use super::calibrate::{self, OpCost};
use super::lab::Lab;
use super::report::{Format, Prices, Report};
use super::{plot, source, suite};
use crate::node::{Clock, NodeConfig};
use crate::txlog::Names;

/// What EVM work costs as Wasm instructions and ICP cycles.
#[derive(Debug, clap::Subcommand)]
pub enum Costs {
    /// Runs a micro-benchmark per opcode class and precompile in the
    /// canister, and prints gas, Wasm instructions, instructions per gas
    /// and cycles for each.
    Calibrate(CalibrateArgs),
    /// Gas next to instructions and cycles per contract and method, from
    /// the built-in workload suite or a chain's real transactions.
    Report(ReportArgs),
}

/// How and where a table or report is written.
#[derive(Debug, clap::Args)]
pub struct Output {
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
}

impl Output {
    fn write(&self, text: &str) -> anyhow::Result<()> {
        match &self.out {
            Some(path) => {
                std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
            }
            None => Ok(std::io::stdout().write_all(text.as_bytes())?),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    #[command(flatten)]
    output: Output,
    /// Draw the instructions-per-gas chart into DIR (SVG and PNG).
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Run only the benchmarks whose name contains TEXT.
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The transactions of the node at URL (http://).
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    url: Option<String>,
    /// The transactions of the chain in DIR (a copy is read; the directory
    /// is not touched).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// ABIs (or artifacts) to name more contracts' methods by.
    #[arg(long, value_name = "FILE")]
    abi: Vec<PathBuf>,
    #[command(flatten)]
    output: Output,
    /// Draw the gas-vs-instructions scatter and the phases chart into DIR.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Write the instructions of every method as a baseline to FILE.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Compare with the baseline in FILE; exit 1 if any method's
    /// instructions per call grew by more than --threshold.
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
    /// Growth --check tolerates, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = baseline::DEFAULT_THRESHOLD)]
    threshold: f64,
    /// US dollars per XDR (cycles are pegged: 1 T cycles = 1 XDR).
    #[arg(long, value_name = "USD", default_value_t = Prices::default().usd_per_xdr)]
    usd_per_xdr: f64,
    /// Cycles per XDR.
    #[arg(long, value_name = "CYCLES", default_value_t = Prices::default().cycles_per_xdr)]
    cycles_per_xdr: f64,
    /// Ethereum gas price to compare with, in gwei.
    #[arg(long, value_name = "GWEI", default_value_t = Prices::default().gas_price_gwei)]
    gas_price: f64,
    /// US dollars per ether.
    #[arg(long, value_name = "USD", default_value_t = Prices::default().eth_usd)]
    eth_usd: f64,
}

/// Runs `command`; the process's exit code.
pub async fn run(command: Costs, host: HostConfig) -> anyhow::Result<i32> {
    match command {
        Costs::Calibrate(args) => calibrate(args, host).await,
        Costs::Report(args) => report(args, host).await,
    }
}

async fn calibrate(args: CalibrateArgs, host: HostConfig) -> anyhow::Result<i32> {
    let rows = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<OpCost>> {
        let mut lab = Lab::start(host.cache_dir)?;
        let mut micros = calibrate::suite(&mut lab)?;
        if let Some(only) = &args.only {
            micros.retain(|m| m.name.contains(only.as_str()));
        }
        calibrate::run(&mut lab, &micros)
    })
    .await??;
    args.output.write(&calibrate::render(&rows, args.output.format))?;
    if let Some(dir) = &args.plots {
        for path in plot::opcode_classes(&rows, dir)? {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(0)
}

async fn report(args: ReportArgs, host: HostConfig) -> anyhow::Result<i32> {
    let mut names = Names::builtin();
    source::add_abis(&mut names, &args.abi)?;
    let (source, samples) = if let Some(url) = &args.url {
        (url.clone(), source::from_url(url, names).await?)
    } else if let Some(dir) = args.data_dir.clone() {
        let label = dir.display().to_string();
        let samples = tokio::task::spawn_blocking(move || {
            let config = NodeConfig { clock: Clock::System, ..super::lab::config(host.cache_dir) };
            source::from_data_dir(&dir, config, names)
        })
        .await??;
        (label, samples)
    } else {
        let samples = tokio::task::spawn_blocking(move || {
            let mut lab = Lab::start(host.cache_dir)?;
            suite::run(&mut lab)
        })
        .await??;
        ("the built-in workload suite".to_owned(), samples)
    };
    anyhow::ensure!(!samples.is_empty(), "{source} has no transactions");
    let prices = Prices {
        cycles_per_xdr: args.cycles_per_xdr,
        usd_per_xdr: args.usd_per_xdr,
        gas_price_gwei: args.gas_price,
        eth_usd: args.eth_usd,
    };
    let report = Report::new(&source, samples, prices);
    args.output.write(&report.render(args.output.format))?;
    if let Some(dir) = &args.plots {
        for path in plot::scatter(&report, dir)?.into_iter().chain(plot::phases(&report, dir)?) {
            eprintln!("wrote {}", path.display());
        }
    }
    let now = Baseline::of(&report);
    if let Some(path) = &args.save {
        std::fs::write(path, now.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the baseline {}", path.display());
    }
    if let Some(path) = &args.check {
        let json =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let before = Baseline::from_json(&json).with_context(|| format!("{}", path.display()))?;
        let comparison = before.compare(&now, args.threshold);
        eprint!("{}", comparison.table());
        if !comparison.passed() {
            eprintln!(
                "cost check failed: {} workload(s) grew by more than {} % against {}",
                comparison.regressions().count(),
                args.threshold,
                path.display()
            );
            return Ok(1);
        }
        eprintln!("cost check passed against {}", path.display());
    }
    Ok(0)
}
