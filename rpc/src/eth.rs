//! The `eth_`, `net_` and `web3_` JSON-RPC namespaces.

use std::sync::{Arc, Mutex};

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U128, U256};
use alloy_rpc_types_eth::{
    Block, EIP1186AccountProofResponse, EIP1186StorageProof, FeeHistory, Filter, Log, Transaction,
    TransactionReceipt, TransactionRequest,
};
use alloy_serde::{JsonStorageKey, WithOtherFields};
use evm_canister_api::{BlockTag, CallOutcome, Estimate};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use serde::{Deserialize, Deserializer, Serialize};

use crate::convert;
use crate::error::{self, internal, invalid_params};
use crate::node::{Node, NodeError};

/// A transaction receipt with the node's extra fields (`wasmInstructions`,
/// `cycles`), which ethers, viem and web3 accept and ignore.
pub type Receipt = WithOtherFields<TransactionReceipt>;

/// What a transaction cost: `ic_getTransactionCost`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionCost {
    pub gas_used: U64,
    /// Wasm instructions of the canister message that included it.
    pub wasm_instructions: U64,
    /// Cycles the canister paid for that message (13-node subnet fees).
    pub cycles: U128,
    /// Bytes written to the canister's stable memory.
    pub stable_bytes_written: U64,
}

/// Priority fee the node suggests (`eth_maxPriorityFeePerGas`), as anvil does.
pub const SUGGESTED_PRIORITY_FEE: u64 = 1_000_000_000;

/// The node, shared by all connections. Calls run on tokio's blocking pool:
/// executing wasm is CPU work that must not stall the async runtime.
#[derive(Clone)]
pub struct NodeHandle {
    node: Arc<Mutex<Node>>,
    accounts: Arc<Vec<Address>>,
}

impl NodeHandle {
    pub fn new(node: Node, accounts: Vec<Address>) -> Self {
        Self { node: Arc::new(Mutex::new(node)), accounts: Arc::new(accounts) }
    }

    /// Runs `f` on the node, off the async runtime.
    pub async fn run<R, F>(&self, f: F) -> RpcResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Node) -> Result<R, NodeError> + Send + 'static,
    {
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock is a bug in the node, but every
            // message is atomic in the canister, so the state is consistent.
            let mut node = node.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut node)
        })
        .await
        .map_err(|e| internal(format!("node task failed: {e}")))?
        .map_err(|e| error::node_error(&e))
    }
}

/// A block count given as a number or a hex (or decimal) string: Foundry
/// sends `10`, others `"0xa"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockCount(pub u64);

impl<'de> Deserialize<'de> for BlockCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Self(n)),
            Raw::Text(text) => {
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                parsed
                    .map(Self)
                    .map_err(|_| serde::de::Error::custom(format!("invalid block count {text:?}")))
            }
        }
    }
}

#[rpc(server, namespace = "eth")]
pub trait EthApi {
    /// Handler for: eth_chainId
    #[method(name = "chainId")]
    async fn chain_id(&self) -> RpcResult<U64>;

    /// Handler for: eth_blockNumber
    #[method(name = "blockNumber")]
    async fn block_number(&self) -> RpcResult<U64>;

    /// Handler for: eth_gasPrice
    #[method(name = "gasPrice")]
    async fn gas_price(&self) -> RpcResult<U256>;

    /// Handler for: eth_maxPriorityFeePerGas
    #[method(name = "maxPriorityFeePerGas")]
    async fn max_priority_fee_per_gas(&self) -> RpcResult<U256>;

    /// Handler for: eth_feeHistory
    #[method(name = "feeHistory")]
    async fn fee_history(
        &self,
        block_count: BlockCount,
        newest_block: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory>;

    /// Handler for: eth_accounts
    #[method(name = "accounts")]
    async fn accounts(&self) -> RpcResult<Vec<Address>>;

    /// Handler for: eth_getBalance
    #[method(name = "getBalance")]
    async fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;

    /// Handler for: eth_getTransactionCount
    #[method(name = "getTransactionCount")]
    async fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;

    /// Handler for: eth_getCode
    #[method(name = "getCode")]
    async fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;

    /// Handler for: eth_getStorageAt
    #[method(name = "getStorageAt")]
    async fn storage_at(
        &self,
        address: Address,
        slot: JsonStorageKey,
        block: Option<BlockId>,
    ) -> RpcResult<B256>;

    /// Handler for: eth_getProof (EIP-1186), for the latest block.
    #[method(name = "getProof")]
    async fn proof(
        &self,
        address: Address,
        slots: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse>;

    /// Handler for: eth_call
    #[method(name = "call")]
    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<serde_json::Value>,
    ) -> RpcResult<Bytes>;

    /// Handler for: eth_estimateGas
    #[method(name = "estimateGas")]
    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<serde_json::Value>,
    ) -> RpcResult<U64>;

    /// Handler for: eth_sendRawTransaction
    #[method(name = "sendRawTransaction")]
    async fn send_raw_transaction(&self, bytes: Bytes) -> RpcResult<B256>;

    /// Handler for: eth_getTransactionByHash
    #[method(name = "getTransactionByHash")]
    async fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>>;

    /// Handler for: eth_getTransactionReceipt
    #[method(name = "getTransactionReceipt")]
    async fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<Receipt>>;

    /// Handler for: eth_getBlockByNumber
    #[method(name = "getBlockByNumber")]
    async fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: bool,
    ) -> RpcResult<Option<Block>>;

    /// Handler for: eth_getBlockByHash
    #[method(name = "getBlockByHash")]
    async fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>>;

    /// Handler for: eth_getLogs
    #[method(name = "getLogs")]
    async fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>>;
}

/// The installed canister: `ic_canisterInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanisterInfo {
    /// SHA-256 of the wasm module.
    pub module_hash: B256,
    /// `ic0.canister_version`: bumped by every update, install and upgrade.
    pub canister_version: U64,
    pub cycles: U128,
    pub heap_bytes: U64,
    pub stable_memory_bytes: U64,
    /// Whether the chain is kept in a data directory.
    pub durable: bool,
    /// Whether every message is cross-checked on Winch.
    pub verifying: bool,
}

#[rpc(server, namespace = "ic")]
pub trait IcApi {
    /// Handler for: ic_canisterInfo — the module, version, cycles and memory
    /// of the EVM canister.
    #[method(name = "canisterInfo")]
    async fn canister_info(&self) -> RpcResult<CanisterInfo>;

    /// Handler for: ic_getTransactionCost — gas, wasm instructions, cycles and
    /// stable-memory bytes of a transaction this node included.
    #[method(name = "getTransactionCost")]
    async fn transaction_cost(&self, hash: B256) -> RpcResult<Option<TransactionCost>>;
}

#[rpc(server, namespace = "net")]
pub trait NetApi {
    /// Handler for: net_version
    #[method(name = "version")]
    async fn version(&self) -> RpcResult<String>;
}

#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    /// Handler for: web3_clientVersion
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;
}

/// Implements the namespaces over a [`NodeHandle`].
#[derive(Clone)]
pub struct EthRpc {
    node: NodeHandle,
}

impl EthRpc {
    pub fn new(node: NodeHandle) -> Self {
        Self { node }
    }
}

fn no_overrides(overrides: &Option<serde_json::Value>) -> RpcResult<()> {
    match overrides {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(_) => Err(invalid_params("state overrides are not supported")),
    }
}

#[async_trait]
impl EthApiServer for EthRpc {
    async fn chain_id(&self) -> RpcResult<U64> {
        let info = self.node.run(|node| node.chain_info()).await?;
        Ok(U64::from(info.chain_id))
    }

    async fn block_number(&self) -> RpcResult<U64> {
        let info = self.node.run(|node| node.chain_info()).await?;
        Ok(U64::from(info.latest_block))
    }

    async fn gas_price(&self) -> RpcResult<U256> {
        let info = self.node.run(|node| node.chain_info()).await?;
        Ok(info.next_base_fee.0 + U256::from(SUGGESTED_PRIORITY_FEE))
    }

    async fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(U256::from(SUGGESTED_PRIORITY_FEE))
    }

    async fn fee_history(
        &self,
        block_count: BlockCount,
        newest_block: BlockNumberOrTag,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        let asked_rewards = reward_percentiles.is_some();
        let percentiles = reward_percentiles.unwrap_or_default();
        let newest = convert::number_tag(newest_block);
        let history = self
            .node
            .run(move |node| node.fee_history(block_count.0, newest, percentiles))
            .await?
            .map_err(|e| error::query_error(&e))?;
        let blocks = history.gas_used_ratio.len();
        Ok(FeeHistory {
            base_fee_per_gas: history.base_fee_per_gas.iter().map(|w| w.0.to()).collect(),
            gas_used_ratio: history.gas_used_ratio,
            // Blob transactions are refused: blob gas is never used and its
            // price stays at the minimum.
            base_fee_per_blob_gas: vec![1; if blocks == 0 { 0 } else { blocks + 1 }],
            blob_gas_used_ratio: vec![0.0; blocks],
            oldest_block: history.oldest_block,
            reward: asked_rewards.then(|| {
                history.reward.iter().map(|r| r.iter().map(|w| w.0.to()).collect()).collect()
            }),
        })
    }

    async fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(self.node.accounts.to_vec())
    }

    async fn balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let tag = convert::block_tag(block);
        let account = self.node.run(move |node| node.account(address.into(), tag)).await?;
        Ok(account.map_err(|e| error::query_error(&e))?.balance.0)
    }

    async fn transaction_count(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let tag = convert::block_tag(block);
        let account = self.node.run(move |node| node.account(address.into(), tag)).await?;
        Ok(U256::from(account.map_err(|e| error::query_error(&e))?.nonce))
    }

    async fn code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let tag = convert::block_tag(block);
        let code = self.node.run(move |node| node.code(address.into(), tag)).await?;
        Ok(code.map_err(|e| error::query_error(&e))?.into_vec().into())
    }

    async fn storage_at(
        &self,
        address: Address,
        slot: JsonStorageKey,
        block: Option<BlockId>,
    ) -> RpcResult<B256> {
        let tag = convert::block_tag(block);
        let slot = slot.as_b256();
        let value =
            self.node.run(move |node| node.storage(address.into(), slot.into(), tag)).await?;
        Ok(value.map_err(|e| error::query_error(&e))?.0)
    }

    async fn proof(
        &self,
        address: Address,
        slots: Vec<JsonStorageKey>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        let tag = convert::block_tag(block);
        let hashes = slots.iter().map(|slot| slot.as_b256().into()).collect();
        let proof = self.node.run(move |node| node.proof(address.into(), hashes, tag)).await?;
        let proof = proof.map_err(|e| error::query_error(&e))?;
        let nodes = |nodes: Vec<serde_bytes::ByteBuf>| {
            nodes.into_iter().map(|node| Bytes::from(node.into_vec())).collect()
        };
        Ok(EIP1186AccountProofResponse {
            address,
            balance: proof.balance.0,
            code_hash: proof.code_hash.0,
            nonce: proof.nonce,
            storage_hash: proof.storage_hash.0,
            account_proof: nodes(proof.account_proof),
            storage_proof: slots
                .into_iter()
                .zip(proof.storage_proof)
                .map(|(key, slot)| EIP1186StorageProof {
                    key,
                    value: U256::from_be_bytes(slot.value.0.0),
                    proof: nodes(slot.proof),
                })
                .collect(),
        })
    }

    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<serde_json::Value>,
    ) -> RpcResult<Bytes> {
        no_overrides(&state_overrides)?;
        let args = convert::call_args(request)?;
        let tag = convert::block_tag(block);
        let outcome = self.node.run(move |node| node.call(args, tag)).await?;
        match outcome.map_err(|e| error::call_error(&e))? {
            CallOutcome::Success { output, .. } => Ok(output.into_vec().into()),
            failed => Err(error::failed_call(&failed)),
        }
    }

    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<serde_json::Value>,
    ) -> RpcResult<U64> {
        no_overrides(&state_overrides)?;
        let args = convert::call_args(request)?;
        let cap = args.gas;
        // Without a block, estimate against the block being built (as geth
        // and anvil do).
        let tag = block.map_or(BlockTag::Pending, |b| convert::block_tag(Some(b)));
        let estimate = self.node.run(move |node| node.estimate_gas(args, tag)).await?;
        match estimate.map_err(|e| error::call_error(&e))? {
            Estimate::Gas(gas) => Ok(U64::from(gas)),
            Estimate::Failure(CallOutcome::Halt { reason, gas_used })
                if reason.contains("OutOfGas") =>
            {
                Err(jsonrpsee::types::ErrorObjectOwned::owned(
                    error::SERVER_ERROR,
                    format!("gas required exceeds allowance ({})", cap.unwrap_or(gas_used)),
                    None::<()>,
                ))
            }
            Estimate::Failure(failed) => Err(error::failed_call(&failed)),
        }
    }

    async fn send_raw_transaction(&self, bytes: Bytes) -> RpcResult<B256> {
        let submitted = self.node.run(move |node| node.send_raw_transaction(&bytes)).await?;
        Ok(submitted.map_err(|e| error::tx_error(&e))?.result.tx_hash.0)
    }

    async fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        let view = self.node.run(move |node| node.transaction(hash.into())).await?;
        view.map(convert::transaction).transpose()
    }

    async fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<Receipt>> {
        let (view, cost) = self
            .node
            .run(move |node| Ok((node.receipt(hash.into())?, node.transaction_cost(hash))))
            .await?;
        let Some(view) = view else { return Ok(None) };
        let mut receipt = WithOtherFields::new(convert::receipt(view)?);
        // Our addition to the receipt: what the transaction cost as wasm.
        if let Some(cost) = cost {
            receipt.other.insert(
                "wasmInstructions".into(),
                serde_json::to_value(U64::from(cost.instructions)).unwrap(),
            );
            receipt
                .other
                .insert("cycles".into(), serde_json::to_value(U128::from(cost.cycles)).unwrap());
        }
        Ok(Some(receipt))
    }

    async fn block_by_number(
        &self,
        number: BlockNumberOrTag,
        full: bool,
    ) -> RpcResult<Option<Block>> {
        let tag = convert::number_tag(number);
        let view = self.node.run(move |node| node.block(tag, full)).await?;
        view.map(|v| convert::block(v, full)).transpose()
    }

    async fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        let view = self.node.run(move |node| node.block(BlockTag::Hash(hash.into()), full)).await?;
        view.map(|v| convert::block(v, full)).transpose()
    }

    async fn logs(&self, filter: Filter) -> RpcResult<Vec<Log>> {
        let filter = convert::log_filter(&filter);
        let logs = self.node.run(move |node| node.logs(filter)).await?;
        Ok(logs.map_err(|e| error::query_error(&e))?.into_iter().map(convert::log).collect())
    }
}

#[async_trait]
impl IcApiServer for EthRpc {
    async fn canister_info(&self) -> RpcResult<CanisterInfo> {
        let info = self.node.run(|node| Ok(node.canister_info())).await?;
        Ok(CanisterInfo {
            module_hash: B256::from(info.module_hash),
            canister_version: U64::from(info.version),
            cycles: U128::from(info.cycles),
            heap_bytes: U64::from(info.heap_bytes),
            stable_memory_bytes: U64::from(info.stable_bytes),
            durable: info.durable,
            verifying: info.verifying,
        })
    }

    async fn transaction_cost(&self, hash: B256) -> RpcResult<Option<TransactionCost>> {
        let cost = self.node.run(move |node| Ok(node.transaction_cost(hash))).await?;
        Ok(cost.map(|cost| TransactionCost {
            gas_used: U64::from(cost.gas_used),
            wasm_instructions: U64::from(cost.instructions),
            cycles: U128::from(cost.cycles),
            stable_bytes_written: U64::from(cost.stable_bytes_written),
        }))
    }
}

#[async_trait]
impl NetApiServer for EthRpc {
    async fn version(&self) -> RpcResult<String> {
        let info = self.node.run(|node| node.chain_info()).await?;
        Ok(info.chain_id.to_string())
    }
}

impl Web3ApiServer for EthRpc {
    fn client_version(&self) -> RpcResult<String> {
        Ok(format!("canister-evm/v{}/wasm32-icp/revm", env!("CARGO_PKG_VERSION")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_counts_parse_as_numbers_and_strings() {
        for (json, count) in [("10", 10), ("\"0xa\"", 10), ("\"0x1\"", 1), ("\"5\"", 5)] {
            assert_eq!(
                serde_json::from_str::<BlockCount>(json).unwrap(),
                BlockCount(count),
                "{json}"
            );
        }
        assert!(serde_json::from_str::<BlockCount>("\"0xzz\"").is_err());
        assert!(serde_json::from_str::<BlockCount>("-1").is_err());
    }
}
