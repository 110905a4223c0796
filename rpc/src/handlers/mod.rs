//! The implementations of the [`crate::api`] traits, over a [`NodeHandle`]:
//! one file per namespace, with what they share here.

mod controls;
mod cost_trace;
mod debug;
mod eth;
mod ic;
mod net;
mod pubsub;
mod send;

pub use send::{SUGGESTED_PRIORITY_FEE, impersonation_signature};

use alloy_primitives::{Address, B256, Bytes};
use alloy_rpc_types_eth::{Index, Transaction};
use alloy_signer::SignerSync;
use evm_canister_api::{BlockTag, CallArgs, SubmitResult};
use jsonrpsee::core::RpcResult;

use crate::convert;
use crate::error::{self, internal};
use crate::handle::{ChainEvent, NodeHandle};
use send::gas_estimate;

/// Implements the namespaces over a [`NodeHandle`].
#[derive(Clone)]
pub struct Handlers {
    node: NodeHandle,
}

impl Handlers {
    pub fn new(node: NodeHandle) -> Self {
        Self { node }
    }

    pub fn node(&self) -> &NodeHandle {
        &self.node
    }

    /// Submits a signed transaction, and tells subscribers and filters.
    async fn submit(&self, bytes: Vec<u8>) -> RpcResult<B256> {
        self.submit_as(bytes, None).await
    }

    /// Submits a transaction, as `sender` without checking its signature if
    /// given (impersonation).
    async fn submit_as(&self, bytes: Vec<u8>, sender: Option<Address>) -> RpcResult<B256> {
        let submitted = self
            .node
            .run(move |node| match sender {
                Some(sender) => node.send_impersonated(&bytes, sender.into()),
                None => node.send_raw_transaction(&bytes),
            })
            .await?;
        let result = submitted.map_err(|e| error::tx_error(&e))?.result;
        self.publish_submitted(&result);
        Ok(result.tx_hash.0)
    }

    /// Tells subscribers and filters about an accepted transaction and the
    /// blocks it produced.
    fn publish_submitted(&self, result: &SubmitResult) {
        self.node.publish(ChainEvent::Transaction(result.tx_hash.0));
        if let Some(block) = result.blocks.last() {
            self.node.publish(ChainEvent::Block(block.number));
        }
    }

    /// Gas for `args` at `tag`, or the error `eth_estimateGas` gives.
    async fn estimate(
        &self,
        args: CallArgs,
        tag: BlockTag,
        overrides: Vec<evm_canister_api::StateOverride>,
    ) -> RpcResult<u64> {
        let cap = args.gas;
        let estimate = self.node.run(move |node| node.estimate_gas(args, tag, overrides)).await?;
        gas_estimate(estimate, cap)
    }

    async fn block_view(
        &self,
        tag: BlockTag,
        full: bool,
    ) -> RpcResult<Option<evm_canister_api::BlockView>> {
        self.node.run(move |node| node.block(tag, full)).await
    }

    async fn latest_number(&self) -> RpcResult<u64> {
        Ok(self.node.run(|node| node.chain_info()).await?.latest_block)
    }

    /// Transaction `index` of a block, if both exist.
    async fn transaction_in(&self, tag: BlockTag, index: Index) -> RpcResult<Option<Transaction>> {
        let Some(view) = self.block_view(tag, true).await? else { return Ok(None) };
        view.full_transactions.into_iter().nth(index.0).map(convert::transaction).transpose()
    }

    /// An EIP-191 signature of `message` by the dev account `address`.
    fn sign_message(&self, address: Address, message: &[u8]) -> RpcResult<Bytes> {
        let signature = self
            .node
            .signer(address)?
            .sign_message_sync(message)
            .map_err(|e| internal(format!("signing failed: {e}")))?;
        Ok(signature.as_bytes().into())
    }
}
