//! What the benches that drive a dev chain share: signing a transaction
//! for it, and the ERC20 they deploy.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolValue;

/// An EIP-1559 transaction for the dev chain (chain id 31337), signed and
/// encoded as `eth_sendRawTransaction` takes it.
pub fn sign(key: &PrivateKeySigner, nonce: u64, to: TxKind, value: u64, input: Vec<u8>) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: 3_000_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value: U256::from(value),
        access_list: Default::default(),
        input: Bytes::from(input),
    };
    let signature = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
}

/// The init code of `contracts/Token` (an OpenZeppelin ERC20) minting
/// 10^30 to its deployer.
pub fn token_code() -> Vec<u8> {
    let mut code = canister_evm::contracts::artifact("Token").expect("Token").bytecode.to_vec();
    code.extend(
        ("Token".to_string(), "TOK".to_string(), U256::from(10u64).pow(U256::from(30)))
            .abi_encode_params(),
    );
    code
}
