//! `evm-statetest`: runs Ethereum state-test fixtures through the EVM
//! canister, in wasm under the host: a fresh chain per case whose genesis is
//! the fixture's pre-state; compares the post-state root and logs hash.
//! Exits with status 1 if any case fails, 2 if the run could not start
//! (bad arguments, an unknown fork, a path that does not exist).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use evm_statetest::{Mode, Options};

/// Run Ethereum state-test fixtures through the EVM canister, in wasm under
/// the host: a fresh chain per case whose genesis is the fixture's
/// pre-state; compares the post-state root and logs hash. Exits with status
/// 1 if any case fails.
#[derive(Debug, Parser)]
#[command(name = "evm-statetest", version)]
struct Args {
    /// Fixture files, or directories searched for `*.json` fixtures.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Only these forks, comma-separated (e.g. `Cancun,Prague`) [default: all].
    #[arg(long, value_delimiter = ',')]
    fork: Vec<String>,
    /// Only tests whose name or file path contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Run the canister's code natively instead of in wasm under the host.
    #[arg(long)]
    native: bool,
    /// Print a JSON report with every case instead of text.
    #[arg(long)]
    json: bool,
    /// Worker threads [default: the number of CPUs].
    #[arg(long, short)]
    jobs: Option<usize>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether every case passed or was skipped.
fn run(args: Args) -> anyhow::Result<bool> {
    let jobs =
        args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let options = Options {
        paths: args.paths,
        forks: args.fork,
        filter: args.filter,
        mode: if args.native { Mode::Native } else { Mode::Wasm },
        jobs,
        progress: !args.json && std::io::stderr().is_terminal(),
    };
    let report = evm_statetest::run(&options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(report.total.failed == 0)
}
