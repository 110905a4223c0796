//! `canister-evm`: starts a development chain whose EVM runs in a wasm canister.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::hex;
use anyhow::Context as _;
use canister_evm::dev::{DERIVATION_PATH, DevChain, TEST_MNEMONIC};
use canister_evm::eth::NodeHandle;
use canister_evm::node::{Clock, Node, NodeConfig};
use canister_host::{Compiler, HostConfig};
use clap::Parser;

/// A local Ethereum development chain whose EVM (revm) runs inside an
/// Internet Computer canister, compiled to wasm and executed by a
/// deterministic wasmtime replica.
///
/// It prefunds accounts derived from the standard test mnemonic, as anvil and
/// Hardhat do, and serves Ethereum JSON-RPC over HTTP and WebSocket.
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
    /// Execute every message a second time with another compiler and compare
    /// replies, instruction counts and state hashes; a divergence is logged
    /// and the message rejected. The only value is `winch`.
    #[arg(long, value_name = "COMPILER", value_parser = ["winch"])]
    verify_with: Option<String>,
    /// Where compiled canister modules are cached [default: the user's cache
    /// directory, e.g. ~/.cache/canister-evm].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|dir| dir.join("canister-evm"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,jsonrpsee=warn,wasmtime=warn,cranelift=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();

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
            cache_dir: cli.cache_dir.or_else(default_cache_dir),
            ..HostConfig::default()
        },
        verify_with: cli.verify_with.map(|_| Compiler::Winch),
        clock: Clock::System,
    };
    let started = Instant::now();
    let node =
        tokio::task::spawn_blocking(move || Node::start(canister_evm::CANISTER_WASM, config))
            .await?
            .context("starting the EVM canister")?;
    let install_instructions = node.install_instructions();

    println!(
        "\ncanister-evm {} — an EVM inside an Internet Computer canister\n",
        env!("CARGO_PKG_VERSION")
    );
    println!("Available Accounts\n==================");
    for (i, signer) in signers.iter().enumerate() {
        println!("({i}) {} ({} ETH)", signer.address(), cli.balance);
    }
    println!("\nPrivate Keys\n==================");
    for (i, signer) in signers.iter().enumerate() {
        println!("({i}) 0x{}", hex::encode(signer.credential().to_bytes()));
    }
    println!("\nWallet\n==================");
    println!("Mnemonic:          {TEST_MNEMONIC}");
    println!("Derivation path:   {DERIVATION_PATH}<index>");
    println!("\nChain ID\n==================\n{}", cli.chain_id);
    println!("\nBase Fee\n==================\n{}", cli.base_fee);
    println!("\nGas Limit\n==================\n{}", cli.gas_limit);
    println!("\nGenesis Timestamp\n==================\n{timestamp}");
    println!(
        "\nCanister\n==================\nevm-canister ({} bytes of wasm) installed in {:.2?}, canister_init took {install_instructions} instructions",
        canister_evm::CANISTER_WASM.len(),
        started.elapsed()
    );

    let accounts = signers.iter().map(|s| s.address()).collect();
    let handle = NodeHandle::new(node, accounts);
    let (addr, server) = canister_evm::server::serve(handle, SocketAddr::new(cli.host, cli.port))
        .await
        .with_context(|| format!("listening on {}:{}", cli.host, cli.port))?;
    println!("\nListening on {addr}");

    shutdown_signal().await;
    println!("\nShutting down");
    server.stop()?;
    server.stopped().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
