//! Between JSON-RPC types (alloy) and the canister's Candid types.
//!
//! The canister hands out Ethereum's own encodings (RLP headers, EIP-2718
//! transactions and receipts); here they are decoded with alloy and dressed
//! with the block context JSON-RPC adds.

use crate::error::{RpcError, internal, invalid_params};
use alloy_consensus::transaction::Recovered;
use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{B256, U256};
use alloy_rlp::Decodable;
use alloy_rpc_types_eth::{
    Block, BlockTransactions, Filter, FilterBlockOption, Log, Transaction, TransactionReceipt,
    TransactionRequest,
};
use evm_canister_api::{
    AccessListItem, BlockTag, BlockView, CallArgs, Hash, LogFilter, LogView, PooledTx, ReceiptView,
    StateOverride, TransactionView, Wei,
};

pub fn block_tag(block: Option<BlockId>) -> BlockTag {
    match block.unwrap_or_default() {
        BlockId::Number(number) => number_tag(number),
        BlockId::Hash(hash) => BlockTag::Hash(hash.block_hash.into()),
    }
}

pub fn number_tag(number: BlockNumberOrTag) -> BlockTag {
    match number {
        BlockNumberOrTag::Latest => BlockTag::Latest,
        BlockNumberOrTag::Pending => BlockTag::Pending,
        BlockNumberOrTag::Earliest => BlockTag::Earliest,
        BlockNumberOrTag::Safe => BlockTag::Safe,
        BlockNumberOrTag::Finalized => BlockTag::Finalized,
        BlockNumberOrTag::Number(n) => BlockTag::Number(n),
    }
}

/// A call object as the canister takes it.
pub fn call_args(request: TransactionRequest) -> Result<CallArgs, RpcError> {
    let input = request
        .input
        .try_into_unique_input()
        .map_err(|e| invalid_params(format!("invalid call object: {e}")))?
        .unwrap_or_default();
    if request.blob_versioned_hashes.is_some() || request.sidecar.is_some() {
        return Err(invalid_params("transaction type not supported: blob transactions"));
    }
    Ok(CallArgs {
        from: request.from.map(Into::into),
        to: request.to.and_then(|kind| kind.to().copied()).map(Into::into),
        gas: request.gas,
        gas_price: request.gas_price.map(Into::into),
        max_fee_per_gas: request.max_fee_per_gas.map(Into::into),
        max_priority_fee_per_gas: request.max_priority_fee_per_gas.map(Into::into),
        value: request.value.map(Into::into),
        input: input.to_vec().into(),
        nonce: request.nonce,
        access_list: request
            .access_list
            .map(|list| {
                list.0
                    .into_iter()
                    .map(|item| AccessListItem {
                        address: item.address.into(),
                        storage_keys: item.storage_keys.into_iter().map(Into::into).collect(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        authorization_list: request
            .authorization_list
            .unwrap_or_default()
            .iter()
            .map(|auth| alloy_rlp::encode(auth).into())
            .collect(),
    })
}

pub fn log_filter(filter: &Filter) -> LogFilter {
    let (from_block, to_block, block_hash) = match filter.block_option {
        FilterBlockOption::Range { from_block, to_block } => {
            (from_block.map(number_tag), to_block.map(number_tag), None)
        }
        FilterBlockOption::AtBlockHash(hash) => (None, None, Some(hash.into())),
    };
    LogFilter {
        from_block,
        to_block,
        block_hash,
        addresses: filter.address.iter().map(|a| (*a).into()).collect(),
        topics: filter.topics.iter().map(|set| set.iter().map(|t| (*t).into()).collect()).collect(),
        max_blocks: None,
        max_logs: None,
    }
}

pub fn log(view: LogView) -> Log {
    Log {
        inner: alloy_primitives::Log::new_unchecked(
            view.address.0,
            view.topics.into_iter().map(|t| t.0).collect(),
            view.data.into_vec().into(),
        ),
        block_hash: Some(view.block_hash.0),
        block_number: Some(view.block_number),
        block_timestamp: Some(view.block_timestamp),
        transaction_hash: Some(view.tx_hash.0),
        transaction_index: Some(view.tx_index),
        log_index: Some(view.log_index),
        removed: false,
    }
}

pub fn transaction(view: TransactionView) -> Result<Transaction, RpcError> {
    let envelope = TxEnvelope::decode_2718(&mut view.raw.as_ref())
        .map_err(|e| internal(format!("stored transaction does not decode: {e}")))?;
    Ok(Transaction {
        inner: Recovered::new_unchecked(envelope, view.from.0),
        block_hash: Some(view.block_hash.0),
        block_number: Some(view.block_number),
        transaction_index: Some(view.index),
        effective_gas_price: Some(view.effective_gas_price.0.to()),
        block_timestamp: None,
    })
}

/// State overrides of `eth_call` & co as the canister takes them.
pub fn state_overrides(
    overrides: Option<alloy_rpc_types_eth::state::StateOverride>,
) -> Result<Vec<StateOverride>, RpcError> {
    let slots = |map: alloy_primitives::map::B256Map<B256>| {
        map.into_iter().map(|(slot, value)| (Hash(slot), Hash(value))).collect::<Vec<_>>()
    };
    overrides
        .unwrap_or_default()
        .into_iter()
        .map(|(address, account)| {
            if account.move_precompile_to.is_some() {
                return Err(invalid_params("movePrecompileToAddress is not supported"));
            }
            Ok(StateOverride {
                address: address.into(),
                balance: account.balance.map(Wei),
                nonce: account.nonce,
                code: account.code.map(|code| code.to_vec().into()),
                state: account.state.map(slots),
                state_diff: account.state_diff.map(slots).unwrap_or_default(),
            })
        })
        .collect()
}

/// An access list from the canister's items.
pub fn access_list(items: Vec<AccessListItem>) -> alloy_eips::eip2930::AccessList {
    alloy_eips::eip2930::AccessList(
        items
            .into_iter()
            .map(|item| alloy_eips::eip2930::AccessListItem {
                address: item.address.0,
                storage_keys: item.storage_keys.into_iter().map(|key| key.0).collect(),
            })
            .collect(),
    )
}

/// A transaction waiting in the pool: no block yet.
pub fn pooled_transaction(pooled: PooledTx) -> Result<Transaction, RpcError> {
    let envelope = TxEnvelope::decode_2718(&mut pooled.raw.as_ref())
        .map_err(|e| internal(format!("pooled transaction does not decode: {e}")))?;
    Ok(Transaction {
        inner: Recovered::new_unchecked(envelope, pooled.from.0),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: None,
        block_timestamp: None,
    })
}

pub fn receipt(view: ReceiptView) -> Result<TransactionReceipt, RpcError> {
    let envelope = ReceiptEnvelope::decode_2718(&mut view.receipt.as_ref())
        .map_err(|e| internal(format!("stored receipt does not decode: {e}")))?;
    let mut log_index = view.first_log_index;
    let inner = envelope.map_logs(|log| {
        let log = Log {
            inner: log,
            block_hash: Some(view.block_hash.0),
            block_number: Some(view.block_number),
            block_timestamp: None,
            transaction_hash: Some(view.tx_hash.0),
            transaction_index: Some(view.index),
            log_index: Some(log_index),
            removed: false,
        };
        log_index += 1;
        log
    });
    Ok(TransactionReceipt {
        inner,
        transaction_hash: view.tx_hash.0,
        transaction_index: Some(view.index),
        block_hash: Some(view.block_hash.0),
        block_number: Some(view.block_number),
        gas_used: view.gas_used,
        effective_gas_price: view.effective_gas_price.0.to(),
        blob_gas_used: None,
        blob_gas_price: None,
        from: view.from.0,
        to: view.to.map(|a| a.0),
        contract_address: view.contract_address.map(|a| a.0),
    })
}

pub fn block(view: BlockView, full: bool) -> Result<Block, RpcError> {
    let header = Header::decode(&mut view.header.as_ref())
        .map_err(|e| internal(format!("stored header does not decode: {e}")))?;
    let transactions = if full {
        let txs = view.full_transactions.into_iter().map(transaction).collect::<Result<_, _>>()?;
        BlockTransactions::Full(txs)
    } else {
        BlockTransactions::Hashes(view.transactions.into_iter().map(|h| h.0).collect::<Vec<B256>>())
    };
    let withdrawals = header.withdrawals_root.map(|_| Default::default());
    let header = alloy_rpc_types_eth::Header {
        hash: view.hash.0,
        inner: header,
        total_difficulty: Some(U256::ZERO),
        size: Some(U256::from(view.size)),
    };
    Ok(Block { header, uncles: Vec::new(), transactions, withdrawals })
}
