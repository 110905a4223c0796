//! Integration tests of the node without a socket: the canister runs in wasm
//! under the host, and JSON-RPC handlers are called through `RpcModule::call`.

mod controls;
mod costs;
mod determinism;
mod durability;
mod fuzz_candid;
mod fuzz_datadir;
mod fuzz_rpc;
mod inspect;
mod methods;
mod node;
mod rpc;
mod trace;
mod transport;
mod verify;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use canister_evm::devchain::DevChain;
use canister_evm::node::{Clock, Node, NodeConfig};
use canister_host::costs::Limits;
use canister_host::{Compiler, HostConfig};

/// A node with the default development chain, and its accounts' keys.
pub fn start() -> (Node, Vec<PrivateKeySigner>) {
    start_with(None, Limits::default())
}

/// A node that verifies every message with `verify_with`, under `limits`.
pub fn start_with(verify_with: Option<Compiler>, limits: Limits) -> (Node, Vec<PrivateKeySigner>) {
    let chain = DevChain { accounts: 3, timestamp: 1_700_000_000, ..DevChain::default() };
    let signers = chain.signers();
    let config = NodeConfig {
        genesis: chain.genesis(&signers),
        host: HostConfig {
            cache_dir: Some(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache")),
            limits,
            ..HostConfig::default()
        },
        verify_with,
        clock: Clock::Manual { start: 1_700_000_000_000_000_000, step: 1_000_000_000 },
        data_dir: None,
        checkpoint_interval: 1_000,
    };
    (Node::start(canister_evm::CANISTER_WASM, config).unwrap().0, signers)
}

/// A node configuration keeping the chain in `dir/chain`, with the
/// development chain of [`start`].
pub fn durable_config(
    dir: &std::path::Path,
    checkpoint_interval: u64,
) -> (NodeConfig, Vec<PrivateKeySigner>) {
    let chain = DevChain { accounts: 3, timestamp: 1_700_000_000, ..DevChain::default() };
    let signers = chain.signers();
    let config = NodeConfig {
        genesis: chain.genesis(&signers),
        host: HostConfig {
            cache_dir: Some(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-cache")),
            ..HostConfig::default()
        },
        verify_with: None,
        clock: Clock::Manual { start: 1_700_000_000_000_000_000, step: 1_000_000_000 },
        data_dir: Some(dir.join("chain")),
        checkpoint_interval,
    };
    (config, signers)
}

/// A signed EIP-1559 transaction.
pub fn signed(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Vec<u8>,
) -> Vec<u8> {
    signed_with_gas(signer, nonce, to, value, input, 1_000_000)
}

/// A signed EIP-1559 transaction with gas limit `gas`.
pub fn signed_with_gas(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Vec<u8>,
    gas: u64,
) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value,
        access_list: Default::default(),
        input: Bytes::from(input),
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
}

pub fn transfer(signer: &PrivateKeySigner, nonce: u64) -> Vec<u8> {
    signed(signer, nonce, TxKind::Call(Address::repeat_byte(0x42)), U256::from(1), vec![])
}
