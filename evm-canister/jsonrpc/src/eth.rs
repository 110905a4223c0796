//! The `eth_` methods both the node and the canister answer, over any
//! [`Backend`].

use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{
    AccessListResult, Block, FeeHistory, Filter, Log, Transaction, TransactionReceipt,
    TransactionRequest,
};
use alloy_serde::JsonStorageKey;
use evm_canister_api::{BlockTag, CallOutcome, Estimate, HaltReason};

use crate::error::{self, RpcError, internal};
use crate::{Backend, convert};

/// Priority fee the chain suggests (`eth_maxPriorityFeePerGas`), as anvil does.
pub const SUGGESTED_PRIORITY_FEE: u64 = 1_000_000_000;

pub type Result<T> = std::result::Result<T, RpcError>;

/// Runs a backend call, its own failure as a JSON-RPC error.
fn on<B: Backend, T>(outcome: std::result::Result<T, B::Error>) -> Result<T> {
    outcome.map_err(Into::into)
}

pub fn chain_id<B: Backend>(backend: &mut B) -> Result<U64> {
    Ok(U64::from(on::<B, _>(backend.chain_info())?.chain_id))
}

pub fn block_number<B: Backend>(backend: &mut B) -> Result<U64> {
    Ok(U64::from(on::<B, _>(backend.chain_info())?.latest_block))
}

pub fn gas_price<B: Backend>(backend: &mut B) -> Result<U256> {
    let info = on::<B, _>(backend.chain_info())?;
    Ok(info.next_base_fee.0 + U256::from(SUGGESTED_PRIORITY_FEE))
}

pub fn max_priority_fee_per_gas() -> U256 {
    U256::from(SUGGESTED_PRIORITY_FEE)
}

pub fn fee_history<B: Backend>(
    backend: &mut B,
    block_count: u64,
    newest_block: BlockNumberOrTag,
    reward_percentiles: Option<Vec<f64>>,
) -> Result<FeeHistory> {
    let asked_rewards = reward_percentiles.is_some();
    let percentiles = reward_percentiles.unwrap_or_default();
    let newest = convert::number_tag(newest_block);
    let history = on::<B, _>(backend.fee_history(block_count, newest, percentiles))?
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
        reward: asked_rewards
            .then(|| history.reward.iter().map(|r| r.iter().map(|w| w.0.to()).collect()).collect()),
    })
}

pub fn balance<B: Backend>(
    backend: &mut B,
    address: Address,
    block: Option<BlockId>,
) -> Result<U256> {
    let account = on::<B, _>(backend.account(address.into(), convert::block_tag(block)))?;
    Ok(account.map_err(|e| error::query_error(&e))?.balance.0)
}

pub fn transaction_count<B: Backend>(
    backend: &mut B,
    address: Address,
    block: Option<BlockId>,
) -> Result<U256> {
    let account = on::<B, _>(backend.account(address.into(), convert::block_tag(block)))?;
    Ok(U256::from(account.map_err(|e| error::query_error(&e))?.nonce))
}

pub fn code<B: Backend>(
    backend: &mut B,
    address: Address,
    block: Option<BlockId>,
) -> Result<Bytes> {
    let code = on::<B, _>(backend.code(address.into(), convert::block_tag(block)))?;
    Ok(code.map_err(|e| error::query_error(&e))?.into_vec().into())
}

pub fn storage_at<B: Backend>(
    backend: &mut B,
    address: Address,
    slot: JsonStorageKey,
    block: Option<BlockId>,
) -> Result<B256> {
    let slot = slot.as_b256().into();
    let value = on::<B, _>(backend.storage(address.into(), slot, convert::block_tag(block)))?;
    Ok(value.map_err(|e| error::query_error(&e))?.0)
}

pub fn call<B: Backend>(
    backend: &mut B,
    request: TransactionRequest,
    block: Option<BlockId>,
    state_overrides: Option<StateOverride>,
) -> Result<Bytes> {
    let overrides = convert::state_overrides(state_overrides)?;
    let args = convert::call_args(request)?;
    let outcome = on::<B, _>(backend.call(args, convert::block_tag(block), overrides))?;
    match outcome.map_err(|e| error::call_error(&e))? {
        CallOutcome::Success { output, .. } => Ok(output.into_vec().into()),
        failed => Err(error::failed_call(&failed)),
    }
}

/// The gas `eth_estimateGas` answers for an estimate, or its error; `cap`
/// is the gas the caller allowed, if it said.
pub fn gas_estimate(
    estimate: std::result::Result<Estimate, evm_canister_api::CallError>,
    cap: Option<u64>,
) -> Result<u64> {
    match estimate.map_err(|e| error::call_error(&e))? {
        Estimate::Gas(gas) => Ok(gas),
        Estimate::Failure(CallOutcome::Halt { reason: HaltReason::OutOfGas, gas_used }) => {
            Err(error::server_error(format!(
                "gas required exceeds allowance ({})",
                cap.unwrap_or(gas_used)
            )))
        }
        Estimate::Failure(failed) => Err(error::failed_call(&failed)),
    }
}

/// Without a block, a request for the block being built (as geth and anvil
/// estimate).
fn pending_unless(block: Option<BlockId>) -> BlockTag {
    block.map_or(BlockTag::Pending, |b| convert::block_tag(Some(b)))
}

pub fn estimate_gas<B: Backend>(
    backend: &mut B,
    request: TransactionRequest,
    block: Option<BlockId>,
    state_overrides: Option<StateOverride>,
) -> Result<U64> {
    let overrides = convert::state_overrides(state_overrides)?;
    let args = convert::call_args(request)?;
    let cap = args.gas;
    let estimate = on::<B, _>(backend.estimate_gas(args, pending_unless(block), overrides))?;
    gas_estimate(estimate, cap).map(U64::from)
}

pub fn create_access_list<B: Backend>(
    backend: &mut B,
    request: TransactionRequest,
    block: Option<BlockId>,
    state_overrides: Option<StateOverride>,
) -> Result<AccessListResult> {
    let overrides = convert::state_overrides(state_overrides)?;
    let args = convert::call_args(request)?;
    let outcome = on::<B, _>(backend.create_access_list(args, pending_unless(block), overrides))?;
    let outcome = outcome.map_err(|e| error::call_error(&e))?;
    Ok(AccessListResult {
        access_list: convert::access_list(outcome.access_list),
        gas_used: U256::from(outcome.gas_used),
        error: outcome.error,
    })
}

/// Submits a signed transaction; its hash.
pub fn send_raw_transaction<B: Backend>(backend: &mut B, bytes: &[u8]) -> Result<B256> {
    let submitted = on::<B, _>(backend.send_raw_transaction(bytes))?;
    Ok(submitted.map_err(|e| error::tx_error(&e))?.tx_hash.0)
}

/// An included transaction, or one waiting in the pool.
pub fn transaction_by_hash<B: Backend>(backend: &mut B, hash: B256) -> Result<Option<Transaction>> {
    if let Some(view) = on::<B, _>(backend.transaction(hash.into()))? {
        return convert::transaction(view).map(Some);
    }
    on::<B, _>(backend.pooled_transaction(hash.into()))?
        .map(convert::pooled_transaction)
        .transpose()
}

pub fn transaction_receipt<B: Backend>(
    backend: &mut B,
    hash: B256,
) -> Result<Option<TransactionReceipt>> {
    on::<B, _>(backend.receipt(hash.into()))?.map(convert::receipt).transpose()
}

pub fn block<B: Backend>(backend: &mut B, tag: BlockTag, full: bool) -> Result<Option<Block>> {
    on::<B, _>(backend.block(tag, full))?.map(|view| convert::block(view, full)).transpose()
}

/// The logs `filter` matches, at most `max_blocks` blocks and `max_logs`
/// logs (the canister's own limits if `None`).
pub fn logs<B: Backend>(
    backend: &mut B,
    filter: &Filter,
    max_blocks: Option<u64>,
    max_logs: Option<u64>,
) -> Result<Vec<Log>> {
    let mut filter = convert::log_filter(filter);
    filter.max_blocks = max_blocks;
    filter.max_logs = max_logs;
    let logs = on::<B, _>(backend.logs(filter))?;
    Ok(logs.map_err(|e| error::query_error(&e))?.into_iter().map(convert::log).collect())
}

pub fn block_transaction_count<B: Backend>(backend: &mut B, tag: BlockTag) -> Result<Option<U64>> {
    let view = on::<B, _>(backend.block(tag, false))?;
    Ok(view.map(|view| U64::from(view.transactions.len())))
}

/// Transaction `index` of a block, if both exist.
pub fn transaction_in<B: Backend>(
    backend: &mut B,
    tag: BlockTag,
    index: usize,
) -> Result<Option<Transaction>> {
    let Some(view) = on::<B, _>(backend.block(tag, true))? else { return Ok(None) };
    view.full_transactions.into_iter().nth(index).map(convert::transaction).transpose()
}

/// Blocks have no uncles: zero for a block that exists.
pub fn uncle_count<B: Backend>(backend: &mut B, tag: BlockTag) -> Result<Option<U64>> {
    Ok(on::<B, _>(backend.block(tag, false))?.map(|_| U64::ZERO))
}

pub fn coinbase<B: Backend>(backend: &mut B) -> Result<Address> {
    let view = on::<B, _>(backend.block(BlockTag::Latest, false))?;
    let view = view.ok_or_else(|| internal("the latest block is missing"))?;
    Ok(convert::block(view, false)?.header.beneficiary)
}
