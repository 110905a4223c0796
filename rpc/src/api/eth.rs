//! The `eth_` namespace: the methods, and the wire types they add.

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U128, U256};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{
    AccessListResult, Block, EIP1186AccountProofResponse, FeeHistory, Filter, Index, Log,
    Transaction, TransactionReceipt, TransactionRequest,
};
use alloy_serde::{JsonStorageKey, WithOtherFields};
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use crate::api::Quantity;

/// A transaction receipt with the node's extra fields (`wasmInstructions`,
/// `cycles`, `costBreakdown`), which ethers, viem and web3 accept and ignore.
pub type Receipt = WithOtherFields<TransactionReceipt>;

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
        block_count: Quantity,
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
