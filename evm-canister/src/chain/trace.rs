//! Geth tracing (`debug_traceTransaction`, `debug_traceCall`) inside the
//! canister, with revm-inspectors' tracers.
//!
//! A transaction is traced by replaying its block up to it on the state
//! before the block (the history makes every earlier state readable), then
//! executing it under the tracer. Nothing is written: these are queries.

use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::Decodable2718;
use alloy_evm::FromRecoveredTx;
use alloy_primitives::B256;
use alloy_rpc_types_trace::geth::{GethDebugTracingOptions, GethTrace};
use evm_canister_api::{AccountEdit, BlockTag, CallArgs, CallError, QueryError};
use ic_stable_structures::Memory;
use revm::DatabaseCommit;
use revm::context::TxEnv;
use revm::database::CacheDB;

use super::simulate::checks_nonce;
use super::{Chain, dev};
use crate::evm::{self, BlockContext, Mode, TraceError};
use crate::store::state::StateAt;

use evm_canister_api::MAX_TRACE_BYTES;

impl<M: Memory> Chain<M> {
    /// The trace of an included transaction as geth's tracer `options`
    /// (JSON, as `debug_traceTransaction` takes them) produces it, as JSON;
    /// `None` if there is no such transaction.
    pub fn trace_transaction(
        &self,
        hash: B256,
        options: &str,
    ) -> Result<Option<String>, QueryError> {
        let options = parse_options(options)?;
        let Some(target) = self.transactions.get(&hash.0) else { return Ok(None) };
        let mut replay = self.replay_block(target.block_number)?;
        for (hash, env) in std::mem::take(&mut replay.txs).into_iter().take(target.index as usize) {
            replay.execute(hash, env)?;
        }
        let env = tx_env(&target.raw, target.from)?;
        let trace = replay.trace(hash, env, options)?;
        to_json(&trace).map(Some)
    }

    /// The trace of every transaction of a block, in order, as JSON pairs
    /// of hash and trace (`debug_traceBlockByNumber` / `ByHash`). The block
    /// is replayed once, and as one query, so the traces are of one chain.
    pub fn trace_block(
        &self,
        tag: BlockTag,
        options: &str,
    ) -> Result<Vec<(B256, String)>, QueryError> {
        let options = parse_options(options)?;
        let number = self.resolve(tag)?;
        let mut replay = self.replay_block(number)?;
        let txs = std::mem::take(&mut replay.txs);
        let mut traces = Vec::with_capacity(txs.len());
        let mut bytes = 0;
        for (hash, env) in txs {
            let json = to_json(&replay.trace(hash, env, options.clone())?)?;
            bytes += json.len();
            if bytes > MAX_TRACE_BYTES {
                return Err(too_large(bytes));
            }
            traces.push((hash, json));
        }
        Ok(traces)
    }

    /// The state block `number` started from — the state after its parent
    /// and the controller's edits recorded in it (made before any of its
    /// transactions ran) — and the block's transactions.
    fn replay_block(&self, number: u64) -> Result<Replay<'_, M>, QueryError> {
        let header = self.header(number);
        // (A genesis block has no transactions: the state it reads is moot.)
        let mut db = CacheDB::new(self.state_at(Some(number.saturating_sub(1))));
        for entry in self.edits.range((number, 0)..=(number, u64::MAX)) {
            let edit: AccountEdit =
                candid::decode_one(&entry.value()).expect("a logged edit decodes");
            dev::apply_edit(&mut db, &edit);
        }
        let block = self.blocks.get(&number).expect("a resolved block exists");
        let mut txs = Vec::with_capacity(block.transactions.len());
        for hash in &block.transactions {
            let stored = self.transactions.get(&hash.0).expect("a block's transactions exist");
            txs.push((*hash, tx_env(&stored.raw, stored.from)?));
        }
        Ok(Replay { chain: self, context: Self::block_context(&header), db, txs })
    }

    /// The trace of a message executed at `tag` (`debug_traceCall`).
    pub fn trace_call(
        &self,
        args: &CallArgs,
        tag: BlockTag,
        options: &str,
        now: u64,
    ) -> Result<String, CallError> {
        let options = parse_options(options).map_err(CallError::Query)?;
        let counter = self.instructions;
        let (trace, _) = self.with_message(args, tag, &[], now, |context, db, tx| {
            let mode = Mode::call(&tx, checks_nonce(args, tag));
            evm::trace(db, self.chain_id(), self.spec(), context, tx, mode, options, counter)
                .map_err(|e| match e {
                    TraceError::Tx(e) => CallError::Tx(e),
                    TraceError::Options(message) => {
                        CallError::Query(QueryError::InvalidArgument(message))
                    }
                })
        })?;
        to_json(&trace).map_err(CallError::Query)
    }
}

/// A block being executed again, transaction by transaction, on a cache
/// over the state before it; nothing is written.
struct Replay<'a, M: Memory> {
    chain: &'a Chain<M>,
    context: BlockContext,
    db: CacheDB<StateAt<'a, M, Chain<M>>>,
    /// The block's transactions, to execute in order.
    txs: Vec<(B256, TxEnv)>,
}

impl<M: Memory> Replay<'_, M> {
    /// Executes the next transaction.
    fn execute(&mut self, hash: B256, env: TxEnv) -> Result<(), QueryError> {
        let chain = self.chain;
        // Impersonated senders may have code; valid signed ones never do.
        let executed = evm::execute(
            &self.db,
            chain.chain_id(),
            chain.spec(),
            &self.context,
            env,
            Mode::Impersonated,
        )
        .map_err(|e| replay_failed(hash, e))?;
        self.db.commit(executed.state);
        Ok(())
    }

    /// Executes the next transaction under a tracer.
    fn trace(
        &mut self,
        hash: B256,
        env: TxEnv,
        options: GethDebugTracingOptions,
    ) -> Result<GethTrace, QueryError> {
        let chain = self.chain;
        let (trace, state) = evm::trace(
            &self.db,
            chain.chain_id(),
            chain.spec(),
            &self.context,
            env,
            Mode::Impersonated,
            options,
            chain.instructions,
        )
        .map_err(|e| match e {
            TraceError::Tx(e) => replay_failed(hash, e),
            TraceError::Options(message) => QueryError::InvalidArgument(message),
        })?;
        self.db.commit(state);
        Ok(trace)
    }
}

fn parse_options(options: &str) -> Result<GethDebugTracingOptions, QueryError> {
    if options.trim().is_empty() || options.trim() == "null" {
        return Ok(GethDebugTracingOptions::default());
    }
    serde_json::from_str(options)
        .map_err(|e| QueryError::InvalidArgument(format!("invalid tracer options: {e}")))
}

fn tx_env(raw: &[u8], from: alloy_primitives::Address) -> Result<TxEnv, QueryError> {
    let envelope = TxEnvelope::decode_2718(&mut &raw[..])
        .map_err(|e| QueryError::Internal(format!("a stored transaction does not decode: {e}")))?;
    Ok(TxEnv::from_recovered_tx(&envelope, from))
}

fn replay_failed(hash: B256, error: evm_canister_api::TxError) -> QueryError {
    // An included transaction replays as it executed; this is a bug.
    QueryError::Internal(format!("replaying transaction {hash} failed: {error:?}"))
}

fn to_json(trace: &impl serde::Serialize) -> Result<String, QueryError> {
    let json = serde_json::to_string(trace)
        .map_err(|e| QueryError::Internal(format!("the trace does not serialise: {e}")))?;
    if json.len() > MAX_TRACE_BYTES {
        return Err(too_large(json.len()));
    }
    Ok(json)
}

fn too_large(bytes: usize) -> QueryError {
    QueryError::LimitExceeded(format!(
        "the trace is {bytes} bytes, more than a canister reply carries ({MAX_TRACE_BYTES}); \
         trace with {{\"disableStack\": true}}, a \"limit\", or the callTracer"
    ))
}
