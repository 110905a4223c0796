//! `canister-evm`: starts a development chain whose EVM runs in a wasm canister.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::{U256, hex};
use anyhow::{Context as _, bail};
use canister_evm::devchain::{DERIVATION_PATH, DevChain, TEST_MNEMONIC};
use canister_evm::handle::NodeHandle;
use canister_evm::limits::Limits;
use canister_evm::node::Queries as _;
use canister_evm::node::{Clock, Node, NodeConfig};
use canister_host::{Compiler, HostConfig};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::io::{IsTerminal, Write as _};

/// A local Ethereum development chain whose EVM (revm) runs inside an
/// Internet Computer canister, compiled to wasm and executed by a
/// deterministic wasmtime replica.
///
/// It prefunds accounts derived from the standard test mnemonic, as anvil and
/// Hardhat do, and serves Ethereum JSON-RPC over HTTP and WebSocket. The chain
/// is kept in a data directory and survives restarts, crashes and upgrades.
#[derive(Debug, Parser)]
#[command(name = "canister-evm", version)]
struct Cli {
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on; 0 picks a free port.
    #[arg(long, short, default_value_t = 8545)]
    port: u16,
    /// Chain id (EIP-155) of the chain.
    #[arg(long, default_value_t = 31337)]
    chain_id: u64,
    /// Number of prefunded development accounts.
    #[arg(long, short, default_value_t = 10)]
    accounts: u32,
    /// Balance of each development account, in ether.
    #[arg(long, default_value_t = 10_000)]
    balance: u64,
    /// Gas limit of every block.
    #[arg(long, default_value_t = 30_000_000)]
    gas_limit: u64,
    /// Base fee of the genesis block, in wei.
    #[arg(long, default_value_t = 1_000_000_000)]
    base_fee: u64,
    /// Where the chain is kept [default: $XDG_DATA_HOME/canister-evm/chain-<chain-id>,
    /// i.e. ~/.local/share/canister-evm/chain-<chain-id>]. Starting again with the
    /// same directory continues the same chain.
    #[arg(long, value_name = "DIR", conflicts_with = "ephemeral")]
    data_dir: Option<PathBuf>,
    /// Keep the chain in memory only; it is gone when the node stops.
    #[arg(long)]
    ephemeral: bool,
    /// Upgrade the canister in the data directory before serving: to WASM, or
    /// to the module built into this binary. A failed upgrade leaves the old
    /// canister running.
    #[arg(long, value_name = "WASM", num_args = 0..=1, default_missing_value = "")]
    upgrade: Option<PathBuf>,
    /// Execute every message a second time with another compiler and compare
    /// replies, instruction counts and state hashes; a divergence is logged
    /// and the message rejected: `winch` (wasmtime's baseline compiler) or
    /// `pulley` (its interpreter, far slower).
    #[arg(long, value_name = "COMPILER", value_parser = ["winch", "pulley"])]
    verify_with: Option<String>,
    /// Do not log a line per mined transaction (hash, contract and method,
    /// gas, wasm instructions, cycles).
    #[arg(long, short)]
    quiet: bool,
    /// Updates between checkpoints of the data directory.
    #[arg(long, default_value_t = canister_evm::storage::CHECKPOINT_INTERVAL, hide = true)]
    checkpoint_interval: u64,
    /// Where compiled canister modules are cached [default: the user's cache
    /// directory, e.g. ~/.cache/canister-evm].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Produce a block every this many seconds with the transactions that
    /// wait in the pool, like ICP rounds, instead of one block per
    /// transaction (automine).
    #[arg(short, long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    block_time: Option<u64>,
    /// Produce blocks only on `evm_mine` / `anvil_mine`: transactions wait
    /// in the pool.
    #[arg(long, conflicts_with = "block_time")]
    no_mining: bool,
    /// Also serve the canister itself through an HTTP gateway on this port
    /// (0 picks one), as dfx's replica does: its own JSON-RPC at
    /// `http://127.0.0.1:PORT/?canisterId=<id>` and `http://<id>.localhost:PORT/`.
    #[arg(long, value_name = "PORT")]
    gateway_port: Option<u16>,
    /// Do not serve the block explorer at `GET /` on the JSON-RPC port.
    #[arg(long)]
    no_explorer: bool,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// What EVM work costs as Wasm instructions and ICP cycles: `costs
    /// calibrate` (per opcode) and `costs report` (per contract method).
    #[command(subcommand)]
    Costs(canister_evm::costs::cli::Costs),
    /// Re-execute a chain from its genesis, offline, and check every block
    /// hash and the final state hash against the data directory (stop the
    /// node using it first). Exits with 1 at the first divergence.
    Verify {
        /// The chain's data directory.
        data_dir: PathBuf,
        /// The compiler that re-executes it: another one than the node's
        /// (Cranelift) checks that execution does not depend on it.
        #[arg(long = "with", value_name = "COMPILER", default_value = "cranelift",
              value_parser = ["cranelift", "winch", "pulley"])]
        compiler: String,
    },
}

/// What a public endpoint needs bounded (see the README's "Limits").
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Limits")]
struct LimitArgs {
    /// Open WebSocket connections plus HTTP requests in flight.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    max_connections: u32,
    /// Subscriptions one WebSocket connection may hold.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_subscriptions_per_connection)]
    max_subscriptions_per_connection: u32,
    /// Polling filters installed at once, over all clients.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_filters)]
    max_filters: usize,
    /// Seconds one request (or batch) may take before it is answered with
    /// a timeout error.
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().request_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout: u64,
    /// Blocks one eth_getLogs may scan (at most the canister's 100,000).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_logs_block_range)]
    max_logs_block_range: u64,
    /// Logs one eth_getLogs may return (at most the canister's 10,000).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_logs)]
    max_logs: u64,
    /// Bytes of one trace as JSON (at most what a canister reply carries,
    /// 3 MiB less 64 KiB).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_trace_bytes)]
    max_trace_bytes: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            max_subscriptions_per_connection: self.max_subscriptions_per_connection,
            max_filters: self.max_filters,
            request_timeout: std::time::Duration::from_secs(self.request_timeout),
            max_logs_block_range: self.max_logs_block_range,
            max_logs: self.max_logs,
            max_trace_bytes: self.max_trace_bytes,
            ..Limits::default()
        }
    }
}

/// `canister-evm verify`: progress on standard error, the verdict on
/// standard output.
fn verify(
    data_dir: &std::path::Path,
    compiler: Compiler,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    use canister_evm::verify::{Outcome, Progress};
    let started = Instant::now();
    let outcome =
        canister_evm::verify::verify(data_dir, compiler, cache_dir, |progress| match progress {
            Progress::Executed { done, total, block } => {
                eprint!("\rexecuted {done}/{total} messages (block {block})")
            }
            Progress::Compared { done, total } => {
                eprint!("\rcompared {done}/{total} blocks        ")
            }
        })?;
    eprintln!();
    match outcome {
        Outcome::Verified { blocks, messages, state_hash } => {
            let _ = writeln!(
                std::io::stdout(),
                "verified: {messages} messages re-executed with {compiler:?} in {:.1?} give the same \
                 {} blocks (0 to {blocks}) and the same state (hash 0x{})",
                started.elapsed(),
                blocks + 1,
                hex::encode(state_hash)
            );
            Ok(())
        }
        Outcome::Diverged(divergence) => {
            let _ = writeln!(std::io::stdout(), "DIVERGED: {divergence}");
            std::process::exit(1);
        }
    }
}

fn xdg_dir(variable: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(fallback)))
        .map(|dir| dir.join("canister-evm"))
}

/// Refuses to continue a chain with settings given on the command line that
/// differ from the chain's.
fn check_settings(
    node: &Node,
    cli: &Cli,
    explicit: &dyn Fn(&str) -> bool,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let genesis = node.genesis();
    let ether = U256::from(10u64).pow(U256::from(18));
    let stored_balance = genesis.accounts.first().map(|a| a.balance.0 / ether).unwrap_or_default();
    let checks = [
        ("chain_id", "--chain-id", genesis.chain_id.to_string(), cli.chain_id.to_string()),
        ("accounts", "--accounts", genesis.accounts.len().to_string(), cli.accounts.to_string()),
        ("balance", "--balance", stored_balance.to_string(), cli.balance.to_string()),
        (
            "gas_limit",
            "--gas-limit",
            genesis.block_gas_limit.to_string(),
            cli.gas_limit.to_string(),
        ),
        ("base_fee", "--base-fee", genesis.initial_base_fee.to_string(), cli.base_fee.to_string()),
    ];
    for (id, flag, stored, given) in checks {
        if explicit(id) && stored != given {
            bail!(
                "{} holds a chain with {flag} {stored}; refusing to start it with {flag} {given} \
                 (choose another --data-dir, or --ephemeral)",
                dir.display()
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tune_allocator();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

/// Keeps glibc's allocator from holding on to freed memory. By default
/// every thread that allocates gets its own arena (up to 8 per core), and
/// each keeps the high-water mark of the large, short-lived buffers a
/// request makes (traces, logs, Candid replies): under the soak bench
/// (`cargo bench -p canister-evm --bench soak`) the node's memory besides
/// the chain grew 57 % in a minute. Two arenas, and buffers over 128 KiB
/// mapped and unmapped on their own, keep it flat (+10 %, and RSS 62
/// instead of 124 MiB after 90 s), and throughput is no lower.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
}

/// Returns the allocator's free pages to the system (`malloc_trim`).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,jsonrpsee=warn,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    let explicit = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    if let Some(Command::Verify { data_dir, compiler }) = &cli.command {
        let compiler: Compiler = compiler.parse().map_err(anyhow::Error::msg)?;
        let cache_dir = cli.cache_dir.clone().or_else(|| xdg_dir("XDG_CACHE_HOME", ".cache"));
        return verify(data_dir, compiler, cache_dir);
    }
    if let Some(Command::Costs(command)) = cli.command {
        let host = HostConfig {
            cache_dir: cli.cache_dir.clone().or_else(|| xdg_dir("XDG_CACHE_HOME", ".cache")),
            ..HostConfig::default()
        };
        let code = canister_evm::costs::cli::run(command, host).await?;
        if code != 0 {
            std::process::exit(code);
        }
        return Ok(());
    }

    let data_dir = match (&cli.data_dir, cli.ephemeral) {
        (_, true) => None,
        (Some(dir), false) => Some(dir.clone()),
        (None, false) => Some(
            xdg_dir("XDG_DATA_HOME", ".local/share")
                .context("no home directory: give --data-dir or --ephemeral")?
                .join(format!("chain-{}", cli.chain_id)),
        ),
    };
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let chain = DevChain {
        chain_id: cli.chain_id,
        accounts: cli.accounts,
        balance_ether: cli.balance,
        gas_limit: cli.gas_limit,
        base_fee: cli.base_fee,
        timestamp,
    };
    let signers = chain.signers();
    let config = NodeConfig {
        genesis: chain.genesis(&signers),
        host: HostConfig {
            cache_dir: cli.cache_dir.clone().or_else(|| xdg_dir("XDG_CACHE_HOME", ".cache")),
            ..HostConfig::default()
        },
        verify_with: cli
            .verify_with
            .as_deref()
            .map(|name| name.parse())
            .transpose()
            .map_err(anyhow::Error::msg)?,
        clock: Clock::System,
        data_dir: data_dir.clone(),
        checkpoint_interval: cli.checkpoint_interval,
    };
    let started = Instant::now();
    let (mut node, recovery) =
        tokio::task::spawn_blocking(move || Node::start(canister_evm::CANISTER_WASM, config))
            .await?
            .with_context(|| match &data_dir {
                Some(dir) => format!("starting the chain in {}", dir.display()),
                None => "starting the chain".to_owned(),
            })?;
    // Compiling the canister on a first start, or replaying a journal,
    // frees far more than the node then keeps: give it back.
    release_free_memory();
    if let Some(dir) = &data_dir {
        check_settings(&node, &cli, &explicit, dir)?;
    }
    if !cli.quiet {
        node.log_transactions(canister_evm::txlog::Names::builtin());
    }
    if let Some(path) = &cli.upgrade {
        let wasm = if path.as_os_str().is_empty() {
            canister_evm::CANISTER_WASM.to_vec()
        } else {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
        };
        match node.upgrade(&wasm, &candid::encode_args(())?)? {
            Ok(execution) => println!(
                "Upgraded the canister to module {} ({} instructions)",
                hex::encode(node.module_hash()),
                execution.instructions
            ),
            Err(error) => {
                eprintln!("error: the upgrade failed, the old canister keeps running: {error}")
            }
        }
    }

    let genesis = node.genesis().clone();
    let accounts: Vec<_> = genesis.accounts.iter().map(|a| a.address.0).collect();
    let own_keys = signers.iter().map(|s| s.address()).eq(accounts.iter().copied());
    println!(
        "\ncanister-evm {} — an EVM inside an Internet Computer canister\n",
        env!("CARGO_PKG_VERSION")
    );
    println!("Available Accounts\n==================");
    let ether = U256::from(10u64).pow(U256::from(18));
    for (i, account) in genesis.accounts.iter().enumerate() {
        println!("({i}) {} ({} ETH)", account.address, account.balance.0 / ether);
    }
    if own_keys {
        println!("\nPrivate Keys\n==================");
        for (i, signer) in signers.iter().enumerate() {
            println!("({i}) 0x{}", hex::encode(signer.credential().to_bytes()));
        }
        println!("\nWallet\n==================");
        println!("Mnemonic:          {TEST_MNEMONIC}");
        println!("Derivation path:   {DERIVATION_PATH}<index>");
    }
    println!("\nChain ID\n==================\n{}", genesis.chain_id);
    println!("\nBase Fee\n==================\n{}", genesis.initial_base_fee);
    println!("\nGas Limit\n==================\n{}", genesis.block_gas_limit);
    println!("\nGenesis Timestamp\n==================\n{}", genesis.genesis_timestamp);
    println!("\nCanister\n==================");
    println!(
        "module {} ({} bytes built in)",
        hex::encode(node.module_hash()),
        canister_evm::CANISTER_WASM.len()
    );
    match &data_dir {
        Some(dir) if node.install_instructions() == 0 => println!(
            "continued the chain in {} ({} journaled messages replayed) in {:.2?}",
            dir.display(),
            recovery.replayed,
            started.elapsed()
        ),
        Some(dir) => println!(
            "installed in {:.2?} (canister_init: {} instructions); chain kept in {}",
            started.elapsed(),
            node.install_instructions(),
            dir.display()
        ),
        None => println!(
            "installed in {:.2?}; the chain is in memory only (--ephemeral)",
            started.elapsed()
        ),
    }
    if node.verifying() {
        println!("verifying every message on Winch (--verify-with winch)");
    }

    // The node signs for (and `eth_accounts` lists) the genesis accounts
    // whose keys it has.
    let signers = signers.into_iter().filter(|s| accounts.contains(&s.address())).collect();
    let mut node = node;
    let automine = cli.block_time.is_none() && !cli.no_mining;
    if node.mining_mode()?.automine != automine {
        node.set_automine(automine)?;
    }
    let handle = NodeHandle::with_limits(node, signers, cli.limits.limits());
    match cli.block_time {
        Some(seconds) => {
            handle.set_interval_mining(Some(std::time::Duration::from_secs(seconds)));
            println!("mining a block every {seconds} s (--block-time)");
        }
        None if cli.no_mining => println!("mining on request only (--no-mining)"),
        None => println!("automine: one block per transaction"),
    }
    let options = canister_evm::server::ServeOptions { explorer: !cli.no_explorer };
    let (addr, server) = canister_evm::server::serve_with(
        handle.clone(),
        SocketAddr::new(cli.host, cli.port),
        options,
    )
    .await
    .with_context(|| format!("listening on {}:{}", cli.host, cli.port))?;
    // Catch the signals before saying we listen: a supervisor (or a test)
    // may stop the node the moment it reads that line.
    let shutdown = shutdown_signal()?;
    if !cli.host.is_loopback() {
        eprintln!(
            "WARNING: listening on {} — beyond this machine. The development accounts' \
             private keys are public (the test mnemonic): anyone who reaches this port can \
             spend their funds and sign as them.",
            cli.host
        );
    }
    let gateway = match cli.gateway_port {
        Some(port) => {
            let gateway =
                canister_evm::gateway::serve(handle.clone(), SocketAddr::new(cli.host, port))
                    .await
                    .with_context(|| format!("serving the gateway on {}:{port}", cli.host))?;
            let id = handle
                .run(|node| Ok(node.canister_id()))
                .await
                .map_err(|e| anyhow::anyhow!("reading the canister id: {}", e.message()))?;
            let at = gateway.local_addr();
            println!(
                "HTTP gateway: the canister's own JSON-RPC at http://{at}/?canisterId={id} \
                 (and http://{id}.localhost:{}/)",
                at.port()
            );
            Some(gateway)
        }
        None => None,
    };
    if options.explorer {
        println!("Explorer: http://{addr}/");
    }
    println!("\nListening on {addr}");

    shutdown.await;
    // Whoever read our output may be gone (a closed pipe): failing to say
    // so must not stop the final checkpoint, as `println!` would by panicking.
    let _ = writeln!(std::io::stdout(), "\nShutting down");
    drop(gateway);
    server.stop()?;
    server.stopped().await;
    handle.run(|node| node.checkpoint()).await.map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
