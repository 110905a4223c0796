//! What keeping a real state root costs per block as the state grows.
//!
//! For each state size S, a chain starts with S funded accounts and an ERC20
//! (OpenZeppelin, from `contracts/`) that has S holders, i.e. S storage
//! slots. Every block then carries one ERC20 transfer to a new holder, so
//! each block adds a storage slot and updates three accounts (sender, token,
//! coinbase) in the tries. The bench prints, in one run:
//! - the time per block, natively, and how it changes with S;
//! - the time to rebuild both roots from scratch (alloy's `HashBuilder` over
//!   the leaves, already sorted in memory: a lower bound for a full rebuild);
//! - the wasm instructions per block in the canister under the host, for the
//!   sizes whose genesis fits the 2 MiB ingress limit.
//!
//! `cargo bench -p canister-evm --bench state_root [-- --blocks N --max-size S]`

use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, sol};
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, KECCAK_EMPTY, Nibbles, TrieAccount};
use canister_host::{Canister, CanisterSettings, Host, HostConfig, MessageEnv};
use evm_canister::{Chain, SparseMemory};
use evm_canister_api::{GenesisAccount, Hash, InitArgs, SubmitResult, TxError};

sol! {
    function transfer(address to, uint256 amount) returns (bool);
}

const CHAIN_ID: u64 = 31337;
const SECOND: u64 = 1_000_000_000;
const TOKEN: Address = Address::repeat_byte(0x70);
/// Wei each genesis account holds; tokens each genesis holder holds.
const FUNDS: u64 = 1_000_000;

fn args() -> (usize, usize) {
    let (mut blocks, mut max_size) = (300, 100_000);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok()).expect("a number after the flag");
        match arg.as_str() {
            "--blocks" => blocks = value(),
            "--max-size" => max_size = value(),
            _ => {} // cargo bench passes `--bench`
        }
    }
    (blocks, max_size)
}

/// Address number `i` of the generated state.
fn address(i: usize) -> Address {
    Address::from_slice(&keccak256((i as u64).to_be_bytes())[12..])
}

/// OpenZeppelin ERC20's `_balances` mapping is slot 0.
fn balance_slot(holder: Address) -> B256 {
    let mut key = [0u8; 64];
    key[12..32].copy_from_slice(holder.as_slice());
    keccak256(key)
}

fn genesis(size: usize, sender: Address) -> InitArgs {
    let artifact: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../contracts/artifacts/Token.json"))
            .unwrap(),
    )
    .unwrap();
    let code =
        alloy_primitives::hex::decode(artifact["deployedBytecode"].as_str().unwrap()).unwrap();
    let big = U256::from(10u64).pow(U256::from(30));
    let mut storage: Vec<(Hash, Hash)> = (0..size)
        .map(|i| (balance_slot(address(i)).into(), B256::from(U256::from(FUNDS)).into()))
        .collect();
    storage.push((balance_slot(sender).into(), B256::from(big).into()));
    // `_totalSupply`, slot 2.
    let supply = big + U256::from(FUNDS) * U256::from(size);
    storage.push((B256::from(U256::from(2)).into(), B256::from(supply).into()));
    let mut accounts: Vec<GenesisAccount> = (0..size)
        .map(|i| GenesisAccount {
            address: address(i).into(),
            balance: U256::from(FUNDS).into(),
            nonce: 0,
            code: Vec::new().into(),
            storage: Vec::new(),
        })
        .collect();
    accounts.push(GenesisAccount {
        address: sender.into(),
        balance: big.into(),
        nonce: 0,
        code: Vec::new().into(),
        storage: Vec::new(),
    });
    accounts.push(GenesisAccount {
        address: TOKEN.into(),
        balance: U256::ZERO.into(),
        nonce: 1,
        code: code.into(),
        storage,
    });
    InitArgs {
        chain_id: CHAIN_ID,
        hardfork: None,
        block_gas_limit: 30_000_000,
        initial_base_fee: 1_000_000_000,
        genesis_timestamp: 1_700_000_000,
        coinbase: None,
        accounts,
        first_block: None,
    }
}

/// Block `n`'s transaction: one token to a holder no block used before.
fn transfer_tx(signer: &PrivateKeySigner, n: usize) -> Vec<u8> {
    let to = Address::from_slice(&keccak256(format!("new holder {n}"))[12..]);
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: n as u64,
        gas_limit: 100_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(TOKEN),
        value: U256::ZERO,
        access_list: Default::default(),
        input: Bytes::from(transferCall { to, amount: U256::from(1) }.abi_encode()),
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
}

fn check(result: Result<SubmitResult, TxError>) {
    let result = result.expect("the transfer is accepted");
    assert!(result.included().expect("automined").success, "the transfer succeeds");
}

/// Time per block natively.
fn native(genesis: &InitArgs, txs: &[Vec<u8>]) -> (Duration, Duration) {
    let started = Instant::now();
    let mut chain = Chain::create(SparseMemory::default(), genesis).unwrap();
    let genesis_time = started.elapsed();
    let started = Instant::now();
    for (n, tx) in txs.iter().enumerate() {
        check(chain.submit(tx, (1_700_000_001 + n as u64) * SECOND));
    }
    (genesis_time, started.elapsed() / txs.len() as u32)
}

/// Instructions per block in wasm, if the genesis fits an ingress message.
fn wasm(host: &Host, genesis: &InitArgs, txs: &[Vec<u8>]) -> Option<u64> {
    let arg = candid::encode_one(genesis).unwrap();
    if arg.len() > canister_host::costs::MAX_INGRESS_BYTES {
        return None;
    }
    let module = host.compile(canister_evm::CANISTER_WASM).unwrap();
    let env = |n: usize| MessageEnv { caller: vec![4], time: (1_700_000_001 + n as u64) * SECOND };
    let (mut canister, _) =
        Canister::install(host, module, CanisterSettings::default(), &arg, &env(0)).unwrap();
    let mut instructions = 0;
    for (n, tx) in txs.iter().enumerate() {
        let arg = candid::encode_one(serde_bytes::ByteBuf::from(tx.clone())).unwrap();
        let execution = canister.update("send_raw_transaction", &arg, &env(n)).unwrap();
        check(candid::decode_one(execution.reply().unwrap()).unwrap());
        instructions += execution.instructions;
    }
    Some(instructions / txs.len() as u64)
}

/// Both roots from scratch over the leaves, sorted in memory beforehand.
fn full_rebuild(size: usize, sender: Address) -> Duration {
    let mut slots: Vec<(Nibbles, Vec<u8>)> = (0..size)
        .map(|i| {
            let key = Nibbles::unpack(keccak256(balance_slot(address(i))));
            (key, alloy_rlp::encode(U256::from(FUNDS)))
        })
        .collect();
    slots.sort();
    let account = |balance: U256, storage_root: B256, code_hash: B256| {
        alloy_rlp::encode(TrieAccount { nonce: 0, balance, storage_root, code_hash })
    };
    let mut accounts: Vec<(Nibbles, Vec<u8>)> = (0..size)
        .map(|i| {
            let key = Nibbles::unpack(keccak256(address(i)));
            (key, account(U256::from(FUNDS), EMPTY_ROOT_HASH, KECCAK_EMPTY))
        })
        .collect();
    accounts.push((
        Nibbles::unpack(keccak256(sender)),
        account(U256::MAX, EMPTY_ROOT_HASH, KECCAK_EMPTY),
    ));
    accounts.sort();

    let started = Instant::now();
    let mut storage = HashBuilder::default();
    for (key, value) in &slots {
        storage.add_leaf(*key, value);
    }
    let storage_root = storage.root();
    let token = account(U256::ZERO, storage_root, B256::ZERO);
    let mut state = HashBuilder::default();
    let token_key = Nibbles::unpack(keccak256(TOKEN));
    let mut token_added = false;
    for (key, value) in &accounts {
        if !token_added && token_key < *key {
            state.add_leaf(token_key, &token);
            token_added = true;
        }
        state.add_leaf(*key, value);
    }
    if !token_added {
        state.add_leaf(token_key, &token);
    }
    std::hint::black_box(state.root());
    started.elapsed()
}

fn main() {
    let (blocks, max_size) = args();
    let signer = PrivateKeySigner::from_bytes(&keccak256("state root bench sender")).unwrap();
    let txs: Vec<Vec<u8>> = (0..blocks).map(|n| transfer_tx(&signer, n)).collect();
    let host = Host::new(HostConfig::default()).unwrap();

    println!(
        "State root per block as the state grows: one ERC20 transfer to a new holder per block, \
         {blocks} blocks per size.\nS = funded accounts = token holders (storage slots).\n"
    );
    println!(
        "{:>9} {:>12} {:>13} {:>15} {:>17} {:>14}",
        "S", "genesis", "native/block", "full rebuild", "rebuild/block", "wasm instr/block"
    );
    let mut size = 1_000;
    while size <= max_size {
        let genesis = genesis(size, signer.address());
        let (genesis_time, per_block) = native(&genesis, &txs);
        let rebuild = full_rebuild(size, signer.address());
        let instructions = wasm(&host, &genesis, &txs)
            .map_or_else(|| "(genesis > 2 MiB)".to_owned(), |n| format!("{:.2}M", n as f64 / 1e6));
        println!(
            "{size:>9} {:>12.1?} {:>13.1?} {:>15.1?} {:>16.1}× {:>17}",
            genesis_time,
            per_block,
            rebuild,
            rebuild.as_secs_f64() / per_block.as_secs_f64(),
            instructions,
        );
        size *= 10;
    }
}
