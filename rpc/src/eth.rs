//! The `eth_`, `net_` and `web3_` JSON-RPC namespaces.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use alloy_consensus::{SignableTransaction, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U128, U256, keccak256};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{
    AccessListResult, Block, EIP1186AccountProofResponse, EIP1186StorageProof, FeeHistory, Filter,
    FilterBlockOption, Index, Log, Transaction, TransactionReceipt, TransactionRequest,
};
use alloy_serde::{JsonStorageKey, WithOtherFields};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use evm_canister_api::{BlockTag, CallArgs, CallOutcome, Estimate, ReceiptView, SubmitResult};
use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Deserializer, Serialize};
use tokio::sync::broadcast;

use crate::convert;
use crate::error::{self, internal, invalid_params};
use crate::filters::{FilterError, FilterKind, Filters};
use crate::limits::Limits;
use crate::node::{Node, NodeError, TxCost};

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

/// Something that happened to the chain, for subscriptions and filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainEvent {
    /// The chain accepted a transaction.
    Transaction(B256),
    /// The chain produced the block with this number (and those before it).
    Block(u64),
    /// The chain was reverted to a snapshot; this is its head now.
    Reverted(u64),
}

/// The node, shared by all connections. Calls run on tokio's blocking pool:
/// executing wasm is CPU work that must not stall the async runtime.
#[derive(Clone)]
pub struct NodeHandle {
    node: Arc<Mutex<Node>>,
    /// The dev accounts the node signs for (`eth_sendTransaction`, `eth_sign`).
    signers: Arc<Vec<PrivateKeySigner>>,
    events: broadcast::Sender<ChainEvent>,
    filters: Arc<Filters>,
    /// Accounts `eth_sendTransaction` may send as without their keys
    /// (`anvil_impersonateAccount`).
    impersonated: Arc<Mutex<HashSet<Address>>>,
    /// The task producing blocks at an interval, if interval mining is on.
    interval: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    limits: Limits,
}

impl NodeHandle {
    /// A handle with the default [`Limits`].
    pub fn new(node: Node, signers: Vec<PrivateKeySigner>) -> Self {
        Self::with_limits(node, signers, Limits::default())
    }

    pub fn with_limits(node: Node, signers: Vec<PrivateKeySigner>, limits: Limits) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            node: Arc::new(Mutex::new(node)),
            signers: Arc::new(signers),
            events,
            filters: Arc::new(Filters::new(limits.max_filters)),
            impersonated: Arc::default(),
            interval: Arc::default(),
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Lets `eth_sendTransaction` send as `address` without its key.
    pub fn impersonate(&self, address: Address, on: bool) {
        let mut impersonated = self.impersonated.lock().unwrap_or_else(|e| e.into_inner());
        if on {
            impersonated.insert(address);
        } else {
            impersonated.remove(&address);
        }
    }

    fn is_impersonated(&self, address: &Address) -> bool {
        self.impersonated.lock().unwrap_or_else(|e| e.into_inner()).contains(address)
    }

    /// Produces a block every `period` (none if `None`), with what waits in
    /// the pool, as ICP produces a round whether or not messages arrived.
    /// Must be called within the tokio runtime.
    pub fn set_interval_mining(&self, period: Option<std::time::Duration>) {
        let mut interval = self.interval.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = interval.take() {
            task.abort();
        }
        let Some(period) = period else { return };
        let node = self.clone();
        *interval = Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match node.run(|node| node.mine()).await {
                    Ok(block) => node.publish(ChainEvent::Block(block.number)),
                    Err(error) => tracing::error!("interval mining failed: {}", error.message()),
                }
            }
        }));
    }

    /// The accounts the node sends as, as `eth_accounts` lists them: those
    /// it holds keys for, then the impersonated ones (as anvil lists them).
    pub fn accounts(&self) -> Vec<Address> {
        let mut accounts: Vec<Address> = self.signers.iter().map(|s| s.address()).collect();
        let impersonated = self.impersonated.lock().unwrap_or_else(|e| e.into_inner());
        let mut extra: Vec<Address> =
            impersonated.iter().filter(|a| !accounts.contains(a)).copied().collect();
        extra.sort();
        accounts.extend(extra);
        accounts
    }

    fn signer(&self, address: Address) -> RpcResult<&PrivateKeySigner> {
        self.signers
            .iter()
            .find(|signer| signer.address() == address)
            .ok_or_else(|| error::server_error(format!("unknown account {address}")))
    }

    /// Chain events from now on.
    pub fn events(&self) -> broadcast::Receiver<ChainEvent> {
        self.events.subscribe()
    }

    /// Tells subscribers and filters about `event`.
    pub fn publish(&self, event: ChainEvent) {
        match event {
            ChainEvent::Transaction(hash) => self.filters.on_pending_transaction(hash),
            ChainEvent::Reverted(head) => self.filters.on_revert(head),
            ChainEvent::Block(_) => {}
        }
        // No receivers is fine: nobody subscribed.
        let _ = self.events.send(event);
    }

    /// Runs `f` on the node, off the async runtime.
    pub async fn run<R, F>(&self, f: F) -> RpcResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Node) -> Result<R, NodeError> + Send + 'static,
    {
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while the lock was held is a bug, and it may have left
            // the node's own state (journal, clock, costs) half-updated:
            // refuse to go on with it. Restarting recovers the chain from
            // its data directory, with nothing acknowledged lost.
            let Ok(mut node) = node.lock() else {
                return Err(NodeError::Failed(
                    "an earlier request panicked while the node was in use (a bug); \
                     restart the node, which recovers the chain from its data directory"
                        .to_owned(),
                ));
            };
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
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<Bytes>;

    /// Handler for: eth_createAccessList
    #[method(name = "createAccessList")]
    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<AccessListResult>;

    /// Handler for: eth_estimateGas
    #[method(name = "estimateGas")]
    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
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

    /// Handler for: eth_getBlockReceipts
    #[method(name = "getBlockReceipts")]
    async fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<Receipt>>>;

    /// Handler for: eth_getBlockTransactionCountByHash
    #[method(name = "getBlockTransactionCountByHash")]
    async fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;

    /// Handler for: eth_getBlockTransactionCountByNumber
    #[method(name = "getBlockTransactionCountByNumber")]
    async fn block_transaction_count_by_number(
        &self,
        number: BlockNumberOrTag,
    ) -> RpcResult<Option<U64>>;

    /// Handler for: eth_getTransactionByBlockHashAndIndex
    #[method(name = "getTransactionByBlockHashAndIndex")]
    async fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: Index,
    ) -> RpcResult<Option<Transaction>>;

    /// Handler for: eth_getTransactionByBlockNumberAndIndex
    #[method(name = "getTransactionByBlockNumberAndIndex")]
    async fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: Index,
    ) -> RpcResult<Option<Transaction>>;

    /// Handler for: eth_getUncleCountByBlockHash (always 0: no uncles)
    #[method(name = "getUncleCountByBlockHash")]
    async fn uncle_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>>;

    /// Handler for: eth_getUncleCountByBlockNumber (always 0: no uncles)
    #[method(name = "getUncleCountByBlockNumber")]
    async fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>>;

    /// Handler for: eth_getUncleByBlockHashAndIndex (always null)
    #[method(name = "getUncleByBlockHashAndIndex")]
    fn uncle_by_hash(&self, hash: B256, index: Index) -> RpcResult<Option<Block>>;

    /// Handler for: eth_getUncleByBlockNumberAndIndex (always null)
    #[method(name = "getUncleByBlockNumberAndIndex")]
    fn uncle_by_number(&self, number: BlockNumberOrTag, index: Index) -> RpcResult<Option<Block>>;

    /// Handler for: eth_syncing (a dev chain is never syncing)
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<bool>;

    /// Handler for: eth_mining (blocks are being produced)
    #[method(name = "mining")]
    fn mining(&self) -> RpcResult<bool>;

    /// Handler for: eth_hashrate (no proof of work)
    #[method(name = "hashrate")]
    fn hashrate(&self) -> RpcResult<U64>;

    /// Handler for: eth_coinbase, the latest block's beneficiary
    #[method(name = "coinbase")]
    async fn coinbase(&self) -> RpcResult<Address>;

    /// Handler for: eth_newFilter
    #[method(name = "newFilter")]
    async fn new_filter(&self, filter: Filter) -> RpcResult<U128>;

    /// Handler for: eth_newBlockFilter
    #[method(name = "newBlockFilter")]
    async fn new_block_filter(&self) -> RpcResult<U128>;

    /// Handler for: eth_newPendingTransactionFilter
    #[method(name = "newPendingTransactionFilter")]
    async fn new_pending_transaction_filter(&self) -> RpcResult<U128>;

    /// Handler for: eth_getFilterChanges — logs, or block or transaction hashes
    #[method(name = "getFilterChanges")]
    async fn filter_changes(&self, id: U128) -> RpcResult<serde_json::Value>;

    /// Handler for: eth_getFilterLogs
    #[method(name = "getFilterLogs")]
    async fn filter_logs(&self, id: U128) -> RpcResult<Vec<Log>>;

    /// Handler for: eth_uninstallFilter
    #[method(name = "uninstallFilter")]
    async fn uninstall_filter(&self, id: U128) -> RpcResult<bool>;

    /// Handler for: eth_sign (EIP-191 personal message, by a dev account)
    #[method(name = "sign")]
    async fn sign(&self, address: Address, message: Bytes) -> RpcResult<Bytes>;

    /// Handler for: eth_signTypedData_v4 and eth_signTypedData (EIP-712, by
    /// a dev account; web3.py sends the unsuffixed name); the typed data may
    /// be an object or a JSON string, as clients send both.
    #[method(name = "signTypedData_v4", aliases = ["eth_signTypedData"])]
    async fn sign_typed_data_v4(
        &self,
        address: Address,
        data: serde_json::Value,
    ) -> RpcResult<Bytes>;

    /// Handler for: eth_sendTransaction, signed by the dev account `from`
    #[method(name = "sendTransaction")]
    async fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256>;
}

#[rpc(server, namespace = "personal")]
pub trait PersonalApi {
    /// Handler for: personal_sign (EIP-191, by a dev account)
    #[method(name = "sign")]
    async fn personal_sign(&self, message: Bytes, address: Address) -> RpcResult<Bytes>;
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
    /// Linear memory the host holds for the canister, over all the
    /// instances its store has had: `heapBytes`, unless memory leaks.
    pub host_memory_bytes: U64,
    pub stable_memory_bytes: U64,
    /// What the node holds in memory of the stable memory: the pages ever
    /// written (it grows with the chain).
    pub stable_memory_resident_bytes: U64,
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

    /// Handler for: net_listening
    #[method(name = "listening")]
    fn listening(&self) -> RpcResult<bool>;

    /// Handler for: net_peerCount (a dev chain has no peers)
    #[method(name = "peerCount")]
    fn peer_count(&self) -> RpcResult<U64>;
}

#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    /// Handler for: web3_clientVersion
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;

    /// Handler for: web3_sha3, keccak-256 of the data
    #[method(name = "sha3")]
    fn sha3(&self, data: Bytes) -> RpcResult<B256>;
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

fn filter_error(error: FilterError) -> ErrorObjectOwned {
    error::server_error(error.to_string())
}

/// A receipt as JSON-RPC returns it, with what the transaction cost as wasm.
fn receipt_with_cost(view: ReceiptView, cost: Option<TxCost>) -> RpcResult<Receipt> {
    let mut receipt = WithOtherFields::new(convert::receipt(view)?);
    if let Some(cost) = cost {
        receipt.other.insert(
            "wasmInstructions".into(),
            serde_json::to_value(U64::from(cost.instructions)).unwrap(),
        );
        receipt
            .other
            .insert("cycles".into(), serde_json::to_value(U128::from(cost.cycles)).unwrap());
    }
    Ok(receipt)
}

/// `filter` restricted to blocks `from..=to`.
fn within(filter: &Filter, from: u64, to: u64) -> Filter {
    filter.clone().from_block(from).to_block(to)
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
        Ok(self.node.accounts())
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
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<Bytes> {
        let overrides = convert::state_overrides(state_overrides)?;
        let args = convert::call_args(request)?;
        let tag = convert::block_tag(block);
        let outcome = self.node.run(move |node| node.call(args, tag, overrides)).await?;
        match outcome.map_err(|e| error::call_error(&e))? {
            CallOutcome::Success { output, .. } => Ok(output.into_vec().into()),
            failed => Err(error::failed_call(&failed)),
        }
    }

    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<U64> {
        let overrides = convert::state_overrides(state_overrides)?;
        let args = convert::call_args(request)?;
        // Without a block, estimate against the block being built (as geth
        // and anvil do).
        let tag = block.map_or(BlockTag::Pending, |b| convert::block_tag(Some(b)));
        Ok(U64::from(self.estimate(args, tag, overrides).await?))
    }

    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
        state_overrides: Option<StateOverride>,
    ) -> RpcResult<AccessListResult> {
        let overrides = convert::state_overrides(state_overrides)?;
        let args = convert::call_args(request)?;
        // Without a block, for the block being built (as geth).
        let tag = block.map_or(BlockTag::Pending, |b| convert::block_tag(Some(b)));
        let outcome =
            self.node.run(move |node| node.create_access_list(args, tag, overrides)).await?;
        let outcome = outcome.map_err(|e| error::call_error(&e))?;
        Ok(AccessListResult {
            access_list: convert::access_list(outcome.access_list),
            gas_used: U256::from(outcome.gas_used),
            error: outcome.error,
        })
    }

    async fn send_raw_transaction(&self, bytes: Bytes) -> RpcResult<B256> {
        self.submit(bytes.into()).await
    }

    async fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        let (view, pooled) = self
            .node
            .run(move |node| match node.transaction(hash.into())? {
                Some(view) => Ok((Some(view), None)),
                None => Ok((None, node.pooled_transaction(hash.into())?)),
            })
            .await?;
        match (view, pooled) {
            (Some(view), _) => convert::transaction(view).map(Some),
            (None, Some(pooled)) => convert::pooled_transaction(pooled).map(Some),
            (None, None) => Ok(None),
        }
    }

    async fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<Receipt>> {
        let (view, cost) = self
            .node
            .run(move |node| Ok((node.receipt(hash.into())?, node.transaction_cost(hash))))
            .await?;
        view.map(|view| receipt_with_cost(view, cost)).transpose()
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
        let mut filter = convert::log_filter(&filter);
        filter.max_blocks = Some(self.node.limits.max_logs_block_range);
        filter.max_logs = Some(self.node.limits.max_logs);
        let logs = self.node.run(move |node| node.logs(filter)).await?;
        Ok(logs.map_err(|e| error::query_error(&e))?.into_iter().map(convert::log).collect())
    }

    async fn block_receipts(&self, block: BlockId) -> RpcResult<Option<Vec<Receipt>>> {
        let tag = convert::block_tag(Some(block));
        let receipts = self
            .node
            .run(move |node| {
                let Some(block) = node.block(tag, false)? else { return Ok(None) };
                let mut receipts = Vec::with_capacity(block.transactions.len());
                for hash in block.transactions {
                    let view = node.receipt(hash)?.ok_or_else(|| {
                        NodeError::Inconsistent(format!("no receipt for {}", hash.0))
                    })?;
                    receipts.push((view, node.transaction_cost(hash.0)));
                }
                Ok(Some(receipts))
            })
            .await?;
        let Some(receipts) = receipts else { return Ok(None) };
        receipts
            .into_iter()
            .map(|(view, cost)| receipt_with_cost(view, cost))
            .collect::<RpcResult<_>>()
            .map(Some)
    }

    async fn block_transaction_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let view = self.block_view(BlockTag::Hash(hash.into()), false).await?;
        Ok(view.map(|view| U64::from(view.transactions.len())))
    }

    async fn block_transaction_count_by_number(
        &self,
        number: BlockNumberOrTag,
    ) -> RpcResult<Option<U64>> {
        let view = self.block_view(convert::number_tag(number), false).await?;
        Ok(view.map(|view| U64::from(view.transactions.len())))
    }

    async fn transaction_by_block_hash_and_index(
        &self,
        hash: B256,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        self.transaction_in(BlockTag::Hash(hash.into()), index).await
    }

    async fn transaction_by_block_number_and_index(
        &self,
        number: BlockNumberOrTag,
        index: Index,
    ) -> RpcResult<Option<Transaction>> {
        self.transaction_in(convert::number_tag(number), index).await
    }

    async fn uncle_count_by_hash(&self, hash: B256) -> RpcResult<Option<U64>> {
        let view = self.block_view(BlockTag::Hash(hash.into()), false).await?;
        Ok(view.map(|_| U64::ZERO))
    }

    async fn uncle_count_by_number(&self, number: BlockNumberOrTag) -> RpcResult<Option<U64>> {
        let view = self.block_view(convert::number_tag(number), false).await?;
        Ok(view.map(|_| U64::ZERO))
    }

    fn uncle_by_hash(&self, _hash: B256, _index: Index) -> RpcResult<Option<Block>> {
        Ok(None)
    }

    fn uncle_by_number(
        &self,
        _number: BlockNumberOrTag,
        _index: Index,
    ) -> RpcResult<Option<Block>> {
        Ok(None)
    }

    fn syncing(&self) -> RpcResult<bool> {
        Ok(false)
    }

    fn mining(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn hashrate(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }

    async fn coinbase(&self) -> RpcResult<Address> {
        let view = self.block_view(BlockTag::Latest, false).await?;
        let view = view.ok_or_else(|| internal("the latest block is missing"))?;
        Ok(convert::block(view, false)?.header.beneficiary)
    }

    async fn new_filter(&self, filter: Filter) -> RpcResult<U128> {
        // The first block the filter reports: geth starts at the next block
        // for `latest` (or no) `fromBlock`, else at `fromBlock`.
        let latest = self.latest_number().await?;
        let next = match filter.block_option {
            FilterBlockOption::Range { from_block: Some(BlockNumberOrTag::Number(n)), .. } => n,
            FilterBlockOption::Range { from_block: Some(BlockNumberOrTag::Earliest), .. } => 0,
            _ => latest + 1,
        };
        let kind = FilterKind::Logs { filter: Box::new(filter), next };
        self.node.filters.install(kind, Instant::now()).map_err(filter_error)
    }

    async fn new_block_filter(&self) -> RpcResult<U128> {
        let next = self.latest_number().await? + 1;
        self.node.filters.install(FilterKind::Blocks { next }, Instant::now()).map_err(filter_error)
    }

    async fn new_pending_transaction_filter(&self) -> RpcResult<U128> {
        self.node.filters.install_pending(Instant::now()).map_err(filter_error)
    }

    async fn filter_changes(&self, id: U128) -> RpcResult<serde_json::Value> {
        let latest = self.latest_number().await?;
        // Advance the filter first, so concurrent polls never report the
        // same blocks twice.
        let work = self
            .node
            .filters
            .poll(id, Instant::now(), |kind, pending| match kind {
                FilterKind::Blocks { next } => {
                    let range = *next..=latest;
                    *next = (*next).max(latest + 1);
                    Changes::Blocks(range)
                }
                FilterKind::Logs { filter, next } => {
                    let last = match filter.block_option {
                        FilterBlockOption::Range {
                            to_block: Some(BlockNumberOrTag::Number(to)),
                            ..
                        } => to.min(latest),
                        _ => latest,
                    };
                    let range = *next..=last;
                    *next = (*next).max(last + 1);
                    Changes::Logs(
                        Box::new(within(filter, *range.start(), *range.end())),
                        range.is_empty(),
                    )
                }
                FilterKind::PendingTransactions { next } => {
                    Changes::Transactions(pending.take_from(next))
                }
            })
            .map_err(filter_error)?;
        let value = match work {
            Changes::Transactions(hashes) => serde_json::to_value(hashes),
            Changes::Blocks(range) => {
                let hashes = self
                    .node
                    .run(move |node| {
                        let mut hashes = Vec::new();
                        for number in range {
                            if let Some(block) = node.block(BlockTag::Number(number), false)? {
                                hashes.push(block.hash.0);
                            }
                        }
                        Ok(hashes)
                    })
                    .await?;
                serde_json::to_value(hashes)
            }
            Changes::Logs(_, true) => Ok(serde_json::Value::Array(Vec::new())),
            Changes::Logs(filter, false) => serde_json::to_value(self.logs(*filter).await?),
        };
        value.map_err(|e| internal(e.to_string()))
    }

    async fn filter_logs(&self, id: U128) -> RpcResult<Vec<Log>> {
        match self.node.filters.get(id, Instant::now()).map_err(filter_error)? {
            FilterKind::Logs { filter, .. } => self.logs(*filter).await,
            _ => Err(filter_error(FilterError::NotFound)),
        }
    }

    async fn uninstall_filter(&self, id: U128) -> RpcResult<bool> {
        Ok(self.node.filters.uninstall(id, Instant::now()))
    }

    async fn sign(&self, address: Address, message: Bytes) -> RpcResult<Bytes> {
        self.sign_message(address, &message)
    }

    async fn sign_typed_data_v4(
        &self,
        address: Address,
        data: serde_json::Value,
    ) -> RpcResult<Bytes> {
        // viem and MetaMask send the typed data as a JSON string, ethers as
        // an object.
        let data = match data {
            serde_json::Value::String(text) => serde_json::from_str(&text),
            object => serde_json::from_value(object),
        };
        let data: alloy_dyn_abi::TypedData =
            data.map_err(|e| invalid_params(format!("invalid typed data: {e}")))?;
        let signature = self
            .node
            .signer(address)?
            .sign_dynamic_typed_data_sync(&data)
            .map_err(|e| invalid_params(format!("cannot sign the typed data: {e}")))?;
        Ok(signature.as_bytes().into())
    }

    async fn send_transaction(&self, request: TransactionRequest) -> RpcResult<B256> {
        let from = request.from.ok_or_else(|| invalid_params("the transaction has no \"from\""))?;
        let signer = match self.node.signer(from) {
            Ok(signer) => Some(signer.clone()),
            Err(_) if self.node.is_impersonated(&from) => None,
            Err(unknown) => return Err(unknown),
        };
        // Filling in, signing and submitting take one turn of the node, so
        // two sends from one account cannot be given the same nonce.
        let submitted = self
            .node
            .run(move |node| Ok(fill_and_submit(node, request, from, signer.as_ref())))
            .await??;
        self.publish_submitted(&submitted);
        Ok(submitted.tx_hash.0)
    }
}

/// `eth_sendTransaction` on the node: fills in what `request` leaves out
/// (chain id, nonce, fees, gas), signs it as `signer` (or as the
/// impersonated `from` without a key) and submits it.
fn fill_and_submit(
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
fn gas_estimate(
    estimate: Result<Estimate, evm_canister_api::CallError>,
    cap: Option<u64>,
) -> RpcResult<u64> {
    match estimate.map_err(|e| error::call_error(&e))? {
        Estimate::Gas(gas) => Ok(gas),
        Estimate::Failure(CallOutcome::Halt { reason, gas_used })
            if reason.contains("OutOfGas") =>
        {
            Err(error::server_error(format!(
                "gas required exceeds allowance ({})",
                cap.unwrap_or(gas_used)
            )))
        }
        Estimate::Failure(failed) => Err(error::failed_call(&failed)),
    }
}

/// The placeholder signature of a transaction sent as an impersonated
/// account: `r` is the sender's address, so the same fields sent as two
/// accounts have different hashes (the canister does not check it).
pub fn impersonation_signature(from: Address) -> alloy_primitives::Signature {
    alloy_primitives::Signature::new(U256::from_be_slice(from.as_slice()), U256::from(1), false)
}

/// What an `eth_getFilterChanges` poll has to fetch.
enum Changes {
    Blocks(std::ops::RangeInclusive<u64>),
    /// The filter for the new blocks, and whether there are none.
    Logs(Box<Filter>, bool),
    Transactions(Vec<B256>),
}

#[async_trait]
impl PersonalApiServer for EthRpc {
    async fn personal_sign(&self, message: Bytes, address: Address) -> RpcResult<Bytes> {
        self.sign_message(address, &message)
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
            host_memory_bytes: U64::from(info.host_memory_bytes),
            stable_memory_bytes: U64::from(info.stable_bytes),
            stable_memory_resident_bytes: U64::from(info.stable_resident_bytes),
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

    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn peer_count(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }
}

impl Web3ApiServer for EthRpc {
    fn client_version(&self) -> RpcResult<String> {
        Ok(format!("canister-evm/v{}/wasm32-icp/revm", env!("CARGO_PKG_VERSION")))
    }

    fn sha3(&self, data: Bytes) -> RpcResult<B256> {
        Ok(keccak256(data))
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
