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
use alloy_signer::SignerSync;
use evm_canister_api::SubmitResult;
use jsonrpsee::core::RpcResult;

use crate::error::{self, internal};
use crate::handle::{ChainEvent, NodeHandle};
use crate::node::{Queries as _, Reader};

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

    /// Runs one of the `eth_` methods the node shares with the canister's
    /// own HTTP endpoint (`evm_jsonrpc::eth`); they all read, so they run on
    /// the node's reader.
    async fn shared<R, F>(&self, method: F) -> RpcResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Reader) -> Result<R, evm_jsonrpc::RpcError> + Send + 'static,
    {
        Ok(self.node.read(move |reader| Ok(method(reader))).await??)
    }

    async fn latest_number(&self) -> RpcResult<u64> {
        Ok(self.node.read(|reader| reader.chain_info()).await?.latest_block)
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
