//! The canister's query methods, typed, for whatever runs them: the
//! [`Node`] itself, on its canister (and its verifier), or a [`Reader`], on
//! replicas of them that answer while updates proceed.
//!
//! [`Reader`]: super::Reader

use alloy_primitives::B256;
use candid::{CandidType, Principal};
use canister_host::Execution;
use evm_canister_api::{
    AccessListOutcome, AccountProof, AccountState, Address, BlockTag, BlockView, CallArgs,
    CallError, CallOutcome, ChainInfo, Estimate, FeeHistory, Hash, LogFilter, LogView, MiningMode,
    PooledTx, QueryError, ReceiptView, StateOverride, TransactionView,
};
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;

use super::{NodeError, decode};
use crate::cost::TxCost;

/// Who a query is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The node's own principal, the canister's controller.
    Node,
    /// The anonymous principal, as a boundary node calls `http_request`.
    Anonymous,
}

impl Caller {
    pub(super) fn principal(self, node: &[u8]) -> Vec<u8> {
        match self {
            Self::Node => node.to_vec(),
            Self::Anonymous => Principal::anonymous().as_slice().to_vec(),
        }
    }
}

/// Runs the canister's queries; the typed methods are provided.
pub trait Queries: Sized {
    /// Runs query `method` with Candid bytes `arg` as `caller`, on the
    /// committed state.
    fn execute_query(
        &mut self,
        method: &str,
        arg: &[u8],
        caller: Caller,
    ) -> Result<Execution, NodeError>;

    /// The chain's head and settings. They read nothing but the committed
    /// state, which only a committed update or an upgrade changes, and both
    /// bump the canister version: so an implementation keeps the answer
    /// until the version moves, and the many requests that begin with it
    /// (`eth_chainId`, `eth_blockNumber`, tag resolution, fee data) skip a
    /// canister query.
    fn chain_info(&mut self) -> Result<ChainInfo, NodeError>;

    /// What transaction `hash` cost, if this node included it.
    fn transaction_cost(&self, hash: B256) -> Option<TxCost>;

    fn query<A, R>(&mut self, method: &str, args: A) -> Result<R, NodeError>
    where
        A: evm_canister_api::encode::Args,
        R: CandidType + DeserializeOwned,
    {
        let arg = evm_canister_api::encode::encode(&args).map_err(NodeError::Encode)?;
        decode(&self.execute_query(method, &arg, Caller::Node)?)
    }

    /// Calls a query method by name with Candid bytes (for tools and tests).
    fn query_raw(&mut self, method: &str, arg: &[u8]) -> Result<Vec<u8>, NodeError> {
        Ok(self.execute_query(method, arg, Caller::Node)?.reply()?.to_vec())
    }

    /// The HTTP gateway's query: `http_request` with Candid bytes, called
    /// as the anonymous principal, as a boundary node calls it.
    fn http_request(&mut self, arg: &[u8]) -> Result<Vec<u8>, NodeError> {
        Ok(self.execute_query("http_request", arg, Caller::Anonymous)?.reply()?.to_vec())
    }

    fn mining_mode(&mut self) -> Result<MiningMode, NodeError> {
        self.query("mining_mode", ())
    }

    /// The transactions waiting in the pool.
    fn pool_content(&mut self) -> Result<Vec<PooledTx>, NodeError> {
        self.query("pool_content", ())
    }

    fn pooled_transaction(&mut self, hash: Hash) -> Result<Option<PooledTx>, NodeError> {
        self.query("get_pooled_transaction", (hash,))
    }

    fn account(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<AccountState, QueryError>, NodeError> {
        self.query("get_account", (address, block))
    }

    fn code(
        &mut self,
        address: Address,
        block: BlockTag,
    ) -> Result<Result<ByteBuf, QueryError>, NodeError> {
        self.query("get_code", (address, block))
    }

    fn storage(
        &mut self,
        address: Address,
        slot: Hash,
        block: BlockTag,
    ) -> Result<Result<Hash, QueryError>, NodeError> {
        self.query("get_storage", (address, slot, block))
    }

    fn proof(
        &mut self,
        address: Address,
        slots: Vec<Hash>,
        block: BlockTag,
    ) -> Result<Result<AccountProof, QueryError>, NodeError> {
        self.query("get_proof", (address, slots, block))
    }

    /// Executes a message on the state at `block` changed by `overrides`.
    fn call(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<CallOutcome, CallError>, NodeError> {
        self.query("call", (args, block, overrides))
    }

    /// The access list a message would use (`eth_createAccessList`).
    fn create_access_list(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<AccessListOutcome, CallError>, NodeError> {
        self.query("create_access_list", (args, block, overrides))
    }

    /// The gas a message needs on the state at `block` changed by `overrides`.
    fn estimate_gas(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        overrides: Vec<StateOverride>,
    ) -> Result<Result<Estimate, CallError>, NodeError> {
        self.query("estimate_gas", (args, block, overrides))
    }

    /// The geth trace of an included transaction, as JSON (`None` if there
    /// is no such transaction); `options` are the tracer options as JSON.
    fn trace_transaction(
        &mut self,
        hash: Hash,
        options: String,
    ) -> Result<Result<Option<String>, QueryError>, NodeError> {
        self.query("trace_transaction", (hash, options))
    }

    /// The geth traces of every transaction of a block, in order, as JSON.
    fn trace_block(
        &mut self,
        block: BlockTag,
        options: String,
    ) -> Result<Result<Vec<(Hash, String)>, QueryError>, NodeError> {
        self.query("trace_block", (block, options))
    }

    /// The geth trace of a message executed at `block`, as JSON.
    fn trace_call(
        &mut self,
        args: CallArgs,
        block: BlockTag,
        options: String,
    ) -> Result<Result<String, CallError>, NodeError> {
        self.query("trace_call", (args, block, options))
    }

    fn block(&mut self, block: BlockTag, full: bool) -> Result<Option<BlockView>, NodeError> {
        self.query("get_block", (block, full))
    }

    fn transaction(&mut self, hash: Hash) -> Result<Option<TransactionView>, NodeError> {
        self.query("get_transaction", (hash,))
    }

    fn receipt(&mut self, hash: Hash) -> Result<Option<ReceiptView>, NodeError> {
        self.query("get_receipt", (hash,))
    }

    /// Every receipt of a block, in one canister query.
    fn block_receipts(&mut self, block: BlockTag) -> Result<Option<Vec<ReceiptView>>, NodeError> {
        self.query("get_block_receipts", (block,))
    }

    fn logs(&mut self, filter: LogFilter) -> Result<Result<Vec<LogView>, QueryError>, NodeError> {
        self.query("get_logs", (filter,))
    }

    fn fee_history(
        &mut self,
        count: u64,
        newest: BlockTag,
        percentiles: Vec<f64>,
    ) -> Result<Result<FeeHistory, QueryError>, NodeError> {
        self.query("fee_history", (count, newest, percentiles))
    }
}
