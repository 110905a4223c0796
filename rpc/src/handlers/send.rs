//! Sending for the dev accounts: `eth_sendTransaction` fills in, signs and
//! submits; `personal_sign`; impersonated senders.

use alloy_consensus::{SignableTransaction, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use evm_canister_api::{BlockTag, CallArgs, SubmitResult};
use jsonrpsee::core::{RpcResult, async_trait};

use super::Handlers;
use crate::api::personal::PersonalApiServer;
use crate::convert;
use crate::error::{self, internal, invalid_params};
use crate::node::Queries as _;
use crate::node::{Node, NodeError};

pub use evm_jsonrpc::eth::{SUGGESTED_PRIORITY_FEE, gas_estimate};

/// `eth_sendTransaction` on the node: fills in what `request` leaves out
/// (chain id, nonce, fees, gas), signs it as `signer` (or as the
/// impersonated `from` without a key) and submits it.
pub(super) fn fill_and_submit(
    node: &mut Node,
    mut request: TransactionRequest,
    from: Address,
    signer: Option<&PrivateKeySigner>,
) -> RpcResult<SubmitResult> {
    let node_error = |e: NodeError| error::node_error(&e);
    let info = node.chain_info().map_err(node_error)?;
    if request.chain_id.is_some_and(|id| id != info.chain_id) {
        return Err(invalid_params(format!(
            "chain id {} does not match the node's ({})",
            request.chain_id.unwrap_or_default(),
            info.chain_id
        )));
    }
    request.chain_id = Some(info.chain_id);
    if request.nonce.is_none() {
        let account = node.account(from.into(), BlockTag::Pending).map_err(node_error)?;
        request.nonce = Some(account.map_err(|e| error::query_error(&e))?.nonce);
    }
    if request.gas_price.is_none() && request.max_fee_per_gas.is_none() {
        let priority =
            request.max_priority_fee_per_gas.unwrap_or(u128::from(SUGGESTED_PRIORITY_FEE));
        request.max_priority_fee_per_gas = Some(priority);
        // Room for the base fee to double, as wallets do.
        request.max_fee_per_gas = Some(info.next_base_fee.0.to::<u128>() * 2 + priority);
    }
    if request.gas.is_none() {
        // The pending state does not include the pool, so a nonce after
        // pooled transactions would not be the state's next one.
        let args = CallArgs { nonce: None, ..convert::call_args(request.clone())? };
        let cap = args.gas;
        let estimate =
            node.estimate_gas(args, BlockTag::Pending, Vec::new()).map_err(node_error)?;
        request.gas = Some(gas_estimate(estimate, cap)?);
    }
    request.to.get_or_insert(TxKind::Create);
    let tx = request.build_typed_tx().map_err(|request| {
        invalid_params(format!("incomplete transaction: {:?}", request.missing_keys()))
    })?;
    let submitted = match signer {
        Some(signer) => {
            let signature = signer
                .sign_hash_sync(&tx.signature_hash())
                .map_err(|e| internal(format!("signing failed: {e}")))?;
            let raw = TxEnvelope::from(tx.into_signed(signature)).encoded_2718();
            node.send_raw_transaction(&raw)
        }
        None => {
            let envelope = TxEnvelope::from(tx.into_signed(impersonation_signature(from)));
            node.send_impersonated(&envelope.encoded_2718(), from.into())
        }
    };
    Ok(submitted.map_err(node_error)?.map_err(|e| error::tx_error(&e))?.result)
}

/// The gas `eth_estimateGas` answers for `estimate`, or its error; `cap`
/// is the gas the caller allowed, if any.
/// The placeholder signature of a transaction sent as an impersonated
/// account: `r` is the sender's address, so the same fields sent as two
/// accounts have different hashes (the canister does not check it).
pub fn impersonation_signature(from: Address) -> alloy_primitives::Signature {
    alloy_primitives::Signature::new(U256::from_be_slice(from.as_slice()), U256::from(1), false)
}

#[async_trait]
impl PersonalApiServer for Handlers {
    async fn personal_sign(&self, message: Bytes, address: Address) -> RpcResult<Bytes> {
        self.sign_message(address, &message)
    }
}
