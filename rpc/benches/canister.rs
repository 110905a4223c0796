//! What running the EVM inside a wasm canister costs.
//!
//! Runs the same signed transactions and calls through
//! 1. the canister in wasm, under the host (Cranelift, fuel metering), and
//! 2. the same `evm-canister` code compiled natively,
//!
//! in one process, one after the other, and prints wall time per operation,
//! wasm instructions, and the wasm/native ratio. Then it serves a node on a
//! loopback port and measures ERC20 transfers per second through JSON-RPC.
//!
//! `cargo bench -p canister-evm --bench canister [-- --transfers N --rpc-transfers N]`

use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolValue, sol};
use canister_evm::devchain::DevChain;
use canister_evm::handle::NodeHandle;
use canister_evm::node::{Clock, Node, NodeConfig};
use canister_host::{Canister, CanisterSettings, Compiler, Host, HostConfig, MessageEnv};
use evm_canister::Chain;
use evm_canister_api::{BlockTag, CallArgs, CallOutcome, InitArgs, SubmitResult, TxError};
use ic_stable_structures::DefaultMemoryImpl;

sol! {
    function transfer(address to, uint256 amount) returns (bool);
    function keccakLoop(bytes32 seed, uint256 rounds) returns (bytes32);
}

const CHAIN_ID: u64 = 31337;
const SECOND: u64 = 1_000_000_000;

struct Args {
    transfers: usize,
    keccak_calls: usize,
    rpc_transfers: usize,
    verify_transfers: usize,
}

fn args() -> Args {
    let mut args =
        Args { transfers: 300, keccak_calls: 10, rpc_transfers: 1000, verify_transfers: 200 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok()).expect("a number after the flag");
        match arg.as_str() {
            "--transfers" => args.transfers = value(),
            "--keccak-calls" => args.keccak_calls = value(),
            "--rpc-transfers" => args.rpc_transfers = value(),
            "--verify-transfers" => args.verify_transfers = value(),
            _ => {} // cargo bench passes `--bench`
        }
    }
    args
}

fn sign(signer: &PrivateKeySigner, nonce: u64, to: TxKind, input: Vec<u8>) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 3_000_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value: U256::ZERO,
        access_list: Default::default(),
        input: Bytes::from(input),
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
}

fn artifact(name: &str) -> Vec<u8> {
    let path = format!("{}/../contracts/artifacts/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    alloy_primitives::hex::decode(json["bytecode"].as_str().unwrap()).unwrap()
}

/// The two ways to run the canister's code.
trait Engine {
    fn submit(&mut self, raw: &[u8], time: u64) -> (Result<SubmitResult, TxError>, u64);
    fn call(&mut self, args: &CallArgs, time: u64) -> (CallOutcome, u64);
    fn head_hash(&mut self) -> B256;
}

struct Wasm(Canister);

impl Engine for Wasm {
    fn submit(&mut self, raw: &[u8], time: u64) -> (Result<SubmitResult, TxError>, u64) {
        let arg = candid::encode_one(serde_bytes::ByteBuf::from(raw)).unwrap();
        let execution = self
            .0
            .update("send_raw_transaction", &arg, &MessageEnv { caller: vec![4], time })
            .unwrap();
        (candid::decode_one(execution.reply().unwrap()).unwrap(), execution.instructions)
    }
    fn call(&mut self, args: &CallArgs, time: u64) -> (CallOutcome, u64) {
        let arg = candid::encode_args((
            args,
            BlockTag::Latest,
            Vec::<evm_canister_api::StateOverride>::new(),
        ))
        .unwrap();
        let execution = self.0.query("call", &arg, &MessageEnv { caller: vec![4], time }).unwrap();
        let outcome: Result<CallOutcome, evm_canister_api::CallError> =
            candid::decode_one(execution.reply().unwrap()).unwrap();
        (outcome.unwrap(), execution.instructions)
    }
    fn head_hash(&mut self) -> B256 {
        let execution = self
            .0
            .query("chain_info", &candid::encode_args(()).unwrap(), &MessageEnv::default())
            .unwrap();
        let info: evm_canister_api::ChainInfo =
            candid::decode_one(execution.reply().unwrap()).unwrap();
        info.latest_hash.0
    }
}

struct Native(Chain<DefaultMemoryImpl>);

impl Engine for Native {
    fn submit(&mut self, raw: &[u8], time: u64) -> (Result<SubmitResult, TxError>, u64) {
        (self.0.submit(raw, time), 0)
    }
    fn call(&mut self, args: &CallArgs, time: u64) -> (CallOutcome, u64) {
        (self.0.call(args, BlockTag::Latest, &[], time).unwrap(), 0)
    }
    fn head_hash(&mut self) -> B256 {
        self.0.info().latest_hash.0
    }
}

#[derive(Default)]
struct Measured {
    time: Duration,
    instructions: u64,
    gas: u64,
    count: u32,
}

impl Measured {
    fn per_op(&self) -> Duration {
        self.time / self.count
    }
}

struct Workload {
    setup: Vec<Vec<u8>>,
    transfers: Vec<Vec<u8>>,
    keccak: CallArgs,
    keccak_calls: usize,
}

fn workload(genesis_signers: &[PrivateKeySigner], args: &Args) -> Workload {
    let alice = &genesis_signers[0];
    let mut token_code = artifact("Token");
    token_code.extend(
        ("Token".to_string(), "TOK".to_string(), U256::from(10u64).pow(U256::from(30)))
            .abi_encode_params(),
    );
    let token = alice.address().create(0);
    let tester = alice.address().create(1);
    let setup = vec![
        sign(alice, 0, TxKind::Create, token_code),
        sign(alice, 1, TxKind::Create, artifact("Tester")),
    ];
    let transfers = (0..args.transfers as u64)
        .map(|i| {
            let to = Address::from_word(alloy_primitives::keccak256(i.to_be_bytes()));
            let input = transferCall { to, amount: U256::from(1000) }.abi_encode();
            sign(alice, 2 + i, TxKind::Call(token), input)
        })
        .collect();
    let keccak = CallArgs {
        to: Some(tester.into()),
        input: keccakLoopCall { seed: B256::ZERO, rounds: U256::from(10_000) }.abi_encode().into(),
        gas: Some(30_000_000),
        ..Default::default()
    };
    Workload { setup, transfers, keccak, keccak_calls: args.keccak_calls }
}

/// Runs the workload; returns (transfers, keccak calls, final head hash).
fn run(engine: &mut dyn Engine, work: &Workload) -> (Measured, Measured, B256) {
    let mut time = 1_700_000_100 * SECOND;
    for raw in &work.setup {
        let (result, _) = engine.submit(raw, time);
        assert!(result.unwrap().included().expect("automined").success);
        time += SECOND;
    }
    let mut transfers = Measured::default();
    for raw in &work.transfers {
        let started = Instant::now();
        let (result, instructions) = engine.submit(raw, time);
        transfers.time += started.elapsed();
        let result = result.unwrap().included().expect("automined");
        assert!(result.success);
        transfers.instructions += instructions;
        transfers.gas += result.gas_used;
        transfers.count += 1;
        time += SECOND;
    }
    let mut keccak = Measured::default();
    for _ in 0..work.keccak_calls {
        let started = Instant::now();
        let (outcome, instructions) = engine.call(&work.keccak, time);
        keccak.time += started.elapsed();
        let CallOutcome::Success { gas_used, .. } = outcome else { panic!("{outcome:?}") };
        keccak.instructions += instructions;
        keccak.gas += gas_used;
        keccak.count += 1;
    }
    (transfers, keccak, engine.head_hash())
}

fn rpc_throughput(
    genesis: InitArgs,
    signers: &[PrivateKeySigner],
    count: usize,
) -> anyhow::Result<(f64, f64)> {
    let runtime = tokio::runtime::Runtime::new()?;
    let node = Node::start(
        canister_evm::CANISTER_WASM,
        NodeConfig {
            genesis,
            host: HostConfig::default(),
            verify_with: None,
            clock: Default::default(),
            data_dir: None,
            checkpoint_interval: 1_000,
        },
    )?
    .0;
    let (addr, _server) = runtime.block_on(canister_evm::server::serve(
        NodeHandle::new(node, signers.to_vec()),
        "127.0.0.1:0".parse()?,
    ))?;
    let url = format!("http://{addr}");
    let send = |raw: &[u8]| {
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
            "params": [alloy_primitives::hex::encode_prefixed(raw)],
        });
        let text = ureq::post(&url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        assert!(text.contains("\"result\""), "{text}");
    };
    // Deploy a token per sender, then transfer from all senders.
    let senders = &signers[..4];
    let mut code = artifact("Token");
    code.extend(
        ("Token".to_string(), "TOK".to_string(), U256::from(10u64).pow(U256::from(30)))
            .abi_encode_params(),
    );
    for signer in senders {
        send(&sign(signer, 0, TxKind::Create, code.clone()));
    }
    let batch = |signer: &PrivateKeySigner, first_nonce: u64, n: usize| -> Vec<Vec<u8>> {
        let token = signer.address().create(0);
        (0..n as u64)
            .map(|i| {
                let to = Address::from_word(alloy_primitives::keccak256(
                    (first_nonce + i).to_be_bytes(),
                ));
                sign(
                    signer,
                    first_nonce + i,
                    TxKind::Call(token),
                    transferCall { to, amount: U256::from(1) }.abi_encode(),
                )
            })
            .collect()
    };
    // Sequential: one client, one transaction at a time.
    let txs = batch(&senders[0], 1, count);
    let started = Instant::now();
    for raw in &txs {
        send(raw);
    }
    let sequential = count as f64 / started.elapsed().as_secs_f64();
    // Concurrent: four clients, each its own sender.
    let per_sender = count / senders.len();
    let batches: Vec<Vec<Vec<u8>>> = senders
        .iter()
        .enumerate()
        .map(|(i, s)| batch(s, if i == 0 { 1 + count as u64 } else { 1 }, per_sender))
        .collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for txs in &batches {
            scope.spawn(|| txs.iter().for_each(|raw| send(raw)));
        }
    });
    let concurrent = (per_sender * senders.len()) as f64 / started.elapsed().as_secs_f64();
    Ok((sequential, concurrent))
}

fn node(genesis: &InitArgs, verify_with: Option<Compiler>) -> anyhow::Result<Node> {
    let clock = Clock::Manual { start: 1_700_000_000 * SECOND, step: SECOND };
    let host = HostConfig::default();
    Node::start(
        canister_evm::CANISTER_WASM,
        NodeConfig {
            genesis: genesis.clone(),
            host,
            verify_with,
            clock,
            data_dir: None,
            checkpoint_interval: 1_000,
        },
    )
    .map(|(node, _)| node)
}

fn token_code() -> Vec<u8> {
    let mut code = artifact("Token");
    code.extend(
        ("Token".to_string(), "TOK".to_string(), U256::from(10u64).pow(U256::from(30)))
            .abi_encode_params(),
    );
    code
}

/// What typical transactions cost in gas, wasm instructions and cycles.
fn costs(genesis: &InitArgs, signers: &[PrivateKeySigner]) -> anyhow::Result<()> {
    let mut node = node(genesis, None)?;
    let alice = &signers[0];
    let mut nonce = 0;
    let mut send = |node: &mut Node, to: TxKind, input: Vec<u8>, value: U256| {
        let tx = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit: 3_000_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to,
            value,
            access_list: Default::default(),
            input: Bytes::from(input),
        };
        nonce += 1;
        let signature = alice.sign_hash_sync(&tx.signature_hash()).unwrap();
        let raw = TxEnvelope::from(tx.into_signed(signature)).encoded_2718();
        node.send_raw_transaction(&raw).unwrap().unwrap().cost.expect("automined")
    };
    let plain = send(&mut node, TxKind::Call(Address::repeat_byte(1)), vec![], U256::from(1));
    let deploy = send(&mut node, TxKind::Create, token_code(), U256::ZERO);
    let input = transferCall { to: Address::repeat_byte(2), amount: U256::from(5) }.abi_encode();
    let transfer = send(&mut node, TxKind::Call(alice.address().create(1)), input, U256::ZERO);
    let tester = send(&mut node, TxKind::Create, artifact("Tester"), U256::ZERO);
    let rows = [
        ("plain transfer", plain),
        ("ERC20 deploy (OpenZeppelin)", deploy),
        ("ERC20 transfer", transfer),
        ("contract deploy (Tester)", tester),
    ];
    println!(
        "\nWhat a transaction costs, one update message each ({})",
        canister_host::fees::FEE_TABLE_VERSION
    );
    println!(
        "{:<28} {:>10} {:>14} {:>14} {:>10} {:>12}",
        "transaction", "gas", "instructions", "cycles", "instr/gas", "stable bytes"
    );
    for (name, cost) in rows {
        println!(
            "{name:<28} {:>10} {:>14} {:>14} {:>10.0} {:>12}",
            cost.gas_used,
            cost.instructions,
            cost.cycles,
            cost.instructions as f64 / cost.gas_used as f64,
            cost.stable_bytes_written
        );
    }
    Ok(())
}

/// Time per ERC20 transfer with and without `--verify-with winch`.
fn verify_slowdown(
    genesis: &InitArgs,
    signers: &[PrivateKeySigner],
    count: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let alice = &signers[0];
    let token = alice.address().create(0);
    let mut txs = vec![sign(alice, 0, TxKind::Create, token_code())];
    txs.extend((1..=count as u64).map(|i| {
        let to = Address::from_word(alloy_primitives::keccak256(i.to_be_bytes()));
        sign(alice, i, TxKind::Call(token), transferCall { to, amount: U256::from(1) }.abi_encode())
    }));
    let time = |verify_with| -> anyhow::Result<Duration> {
        let mut node = node(genesis, verify_with)?;
        node.send_raw_transaction(&txs[0])?.unwrap();
        let started = Instant::now();
        for raw in &txs[1..] {
            assert!(node.send_raw_transaction(raw)?.unwrap().result.included().unwrap().success);
        }
        Ok(started.elapsed() / count as u32)
    };
    Ok((time(None)?, time(Some(Compiler::Winch))?))
}

fn main() -> anyhow::Result<()> {
    let args = args();
    let chain = DevChain { accounts: 4, timestamp: 1_700_000_000, ..DevChain::default() };
    let signers = chain.signers();
    let genesis = chain.genesis(&signers);
    let work = workload(&signers, &args);

    println!(
        "canister-evm benchmark: the same code in wasm (canister, Cranelift, fuel on) and native\n"
    );
    let host = Host::new(HostConfig::default())?;
    let module = host.compile(canister_evm::CANISTER_WASM)?;
    let env = MessageEnv { caller: vec![4], time: 1_700_000_000 * SECOND };
    let (canister, _) = Canister::install(
        &host,
        module,
        CanisterSettings::default(),
        &candid::encode_one(&genesis)?,
        &env,
    )?;
    let (wasm_transfers, wasm_keccak, wasm_head) = run(&mut Wasm(canister), &work);

    let native = Chain::create(DefaultMemoryImpl::default(), &genesis)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (native_transfers, native_keccak, native_head) = run(&mut Native(native), &work);

    let row = |name: &str, wasm: &Measured, native: &Measured| {
        println!(
            "{name:<28} {:>10.1?} {:>10.1?} {:>7.2}x {:>14} {:>10} {:>9.0}",
            wasm.per_op(),
            native.per_op(),
            wasm.per_op().as_secs_f64() / native.per_op().as_secs_f64(),
            wasm.instructions / u64::from(wasm.count),
            wasm.gas / u64::from(wasm.count),
            wasm.instructions as f64 / wasm.gas as f64,
        );
    };
    println!(
        "{:<28} {:>10} {:>10} {:>8} {:>14} {:>10} {:>9}",
        "operation", "wasm", "native", "ratio", "instructions", "gas", "instr/gas"
    );
    row(&format!("ERC20 transfer (x{})", args.transfers), &wasm_transfers, &native_transfers);
    row(&format!("keccak loop 10k (x{})", args.keccak_calls), &wasm_keccak, &native_keccak);
    println!(
        "\nwasm and native end on the same block hash: {} ({wasm_head})",
        if wasm_head == native_head { "yes" } else { "NO" }
    );
    assert_eq!(wasm_head, native_head, "wasm and native diverged");

    costs(&genesis, &signers)?;

    let (plain, verified) = verify_slowdown(&genesis, &signers, args.verify_transfers)?;
    println!(
        "\n--verify-with winch (every message also run by Winch, states hashed and compared):"
    );
    println!(
        "  ERC20 transfer: {plain:.1?} alone, {verified:.1?} verified ({:.2}x)",
        verified.as_secs_f64() / plain.as_secs_f64()
    );

    let (sequential, concurrent) = rpc_throughput(genesis, &signers, args.rpc_transfers)?;
    println!("\nJSON-RPC eth_sendRawTransaction, ERC20 transfers (automine, one block each):");
    println!("  1 client:  {sequential:>7.0} tx/s");
    println!("  4 clients: {concurrent:>7.0} tx/s");
    Ok(())
}
