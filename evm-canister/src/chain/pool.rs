//! The transaction pool: transactions that wait for a block.
//!
//! A transaction waits when automine is off, or when its nonce is ahead of
//! its sender's (a gap must be filled first). Blocks take the pool's
//! executable transactions by nonce within a sender and by priority fee
//! across senders, as geth's miner does. A transaction with the nonce of a
//! pooled one replaces it only if it raises both fees by 10 % (geth's price
//! bump). The pool is in stable memory, so an accepted transaction survives
//! upgrades and restarts like everything else.

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256};
use evm_canister_api::{MiningMode, PooledTx, SubmitResult, TxError, TxPhases};
use ic_stable_structures::Memory;
use revm::context::TxEnv;
use std::collections::{BTreeMap as Map, BTreeSet};

use super::{BlockBuilder, Chain, DecodedTx};
use crate::evm::{self, Mode};
use crate::store::records::PoolEntry;
use alloy_evm::FromRecoveredTx;

/// Most transactions the pool holds (geth's default global slots, rounded).
pub const MAX_POOL: u64 = 4096;
/// Most transactions one sender may have in the pool: geth's global queue
/// (anvil sets none). geth's account queue of 64 refuses a client that has
/// 64 transactions in flight when they arrive out of nonce order.
pub const MAX_POOL_PER_SENDER: u64 = 1024;
/// How much a replacement must raise both fees, in percent (geth's price bump).
pub const PRICE_BUMP: u128 = 10;

impl<M: Memory> Chain<M> {
    /// How blocks are produced.
    pub fn mining_mode(&self) -> MiningMode {
        MiningMode { automine: self.dev.get().automine }
    }

    /// Turns automine on or off (`evm_setAutomine`). Turning it on mines the
    /// pool's executable transactions at once, as anvil does.
    pub fn set_mining_mode(
        &mut self,
        mode: MiningMode,
        now: u64,
    ) -> Vec<evm_canister_api::MinedBlock> {
        let mut dev = self.dev.get().clone();
        dev.automine = mode.automine;
        self.dev.set(dev);
        if mode.automine { self.mine_pool(now) } else { Vec::new() }
    }

    /// Takes a decoded transaction: executes it now or pools it.
    pub(crate) fn accept(&mut self, mut tx: DecodedTx, now: u64) -> Result<SubmitResult, TxError> {
        let start = self.counter();
        let tx_hash = tx.hash;
        let (expected, nonce) = self.check_fresh(&tx)?;
        let pooled = self.pool_nonces.get(&(tx.from.0.0, nonce));
        if self.dev.get().automine && nonce == expected && pooled.is_none() {
            // The common case: straight into a block, without touching the pool.
            tx.phases.validate += self.counter() - start;
            let mut builder = BlockBuilder::new(self.next_block(now));
            builder.add(self, tx)?;
            self.fill_from_pool(&mut builder);
            let mut blocks = vec![builder.seal(self)];
            blocks.extend(self.mine_pool(now));
            return Ok(SubmitResult { tx_hash: tx_hash.into(), blocks });
        }
        self.admit(&tx, now, true)?;
        if let Some(old) = pooled {
            let old = self.pool.get(&old).expect("indexed pool entry exists");
            let old = self.decode_entry(&old);
            if !outbids(&tx, &old) {
                return Err(TxError::ReplacementUnderpriced);
            }
            self.remove_pooled(&old.hash);
        } else {
            if self.pool.len() >= MAX_POOL {
                return Err(TxError::PoolFull);
            }
            let sender = tx.from.0.0;
            let held = self.pool_nonces.keys_range((sender, 0)..=(sender, u64::MAX)).count();
            if held as u64 >= MAX_POOL_PER_SENDER {
                return Err(TxError::PoolFull);
            }
        }
        let mut dev = self.dev.get().clone();
        dev.pool_seq += 1;
        let seq = dev.pool_seq;
        self.dev.set(dev);
        self.pool.insert(
            tx_hash.0,
            PoolEntry {
                raw: tx.raw.clone(),
                from: tx.from,
                nonce,
                impersonated: tx.impersonated,
                seq,
            },
        );
        self.pool_nonces.insert((tx.from.0.0, nonce), tx_hash.0);
        let blocks = if self.dev.get().automine { self.mine_pool(now) } else { Vec::new() };
        Ok(SubmitResult { tx_hash: tx_hash.into(), blocks })
    }

    /// Refuses a transaction already pooled, or whose nonce its sender has
    /// used; returns the sender's next nonce and the transaction's.
    pub(super) fn check_fresh(&self, tx: &DecodedTx) -> Result<(u64, u64), TxError> {
        if self.pool.contains_key(&tx.hash.0) {
            return Err(TxError::AlreadyKnown);
        }
        let expected = self.account_nonce(tx.from.0.0);
        let nonce = tx.envelope.nonce();
        if nonce < expected {
            return Err(TxError::NonceTooLow { expected, got: nonce });
        }
        Ok((expected, nonce))
    }

    /// Checks a transaction against the latest state as if it were
    /// executed next, except for its nonce, which may be a future one:
    /// by executing it (the pool's admission), or with `execute` false only
    /// by revm's validation, whose cost does not depend on what it does
    /// (inspection).
    pub(super) fn admit(&self, tx: &DecodedTx, now: u64, execute: bool) -> Result<(), TxError> {
        let context = self.next_block(now);
        evm::check_block_gas(tx.envelope.gas_limit(), context.gas_limit)?;
        let env = TxEnv::from_recovered_tx(&tx.envelope, tx.from);
        let mode = Mode::Admission { impersonated: tx.impersonated };
        let (state, chain_id, spec) = (self.state_at(None), self.chain_id(), self.spec());
        if execute {
            evm::execute(state, chain_id, spec, &context, env, mode).map(|_| ())
        } else {
            evm::validate(state, chain_id, spec, &context, env, mode)
        }
    }

    /// Mines blocks while the pool has executable transactions (automine).
    fn mine_pool(&mut self, now: u64) -> Vec<evm_canister_api::MinedBlock> {
        let mut blocks = Vec::new();
        // Bounded so one message stays within its instruction limit.
        for _ in 0..16 {
            let mut builder = BlockBuilder::new(self.next_block(now));
            self.fill_from_pool(&mut builder);
            if builder.is_empty() {
                break;
            }
            blocks.push(builder.seal(self));
        }
        blocks
    }

    /// Adds the pool's executable transactions to `builder`: per sender in
    /// nonce order, across senders by priority fee, then arrival. A
    /// transaction that has become invalid is dropped; one that merely
    /// does not fit (gas, base fee) stays for a later block.
    pub(crate) fn fill_from_pool(&mut self, builder: &mut BlockBuilder) {
        // Each sender's next nonce; pooled nonces below it have been used
        // (by a replacement, an edit, a revert) and go.
        let mut next: Map<[u8; 20], u64> = Map::new();
        let mut stale = Vec::new();
        for entry in self.pool_nonces.iter() {
            let ((sender, nonce), hash) = (*entry.key(), entry.value());
            let expected = *next.entry(sender).or_insert_with(|| self.account_nonce(sender));
            if nonce < expected {
                stale.push(B256::from(hash));
            }
        }
        for hash in stale {
            self.remove_pooled(&hash);
        }
        let mut blocked = BTreeSet::new();
        loop {
            let base_fee = builder.context.base_fee;
            let best = next
                .iter()
                .filter(|(sender, _)| !blocked.contains(*sender))
                .filter_map(|(sender, nonce)| {
                    let hash = self.pool_nonces.get(&(*sender, *nonce))?;
                    let entry = self.pool.get(&hash).expect("indexed pool entry exists");
                    let tx = self.decode_entry(&entry);
                    let tip = tx.envelope.effective_tip_per_gas(base_fee).unwrap_or(0);
                    Some((tip, std::cmp::Reverse(entry.seq), *sender, tx))
                })
                .max_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            let Some((_, _, sender, tx)) = best else { break };
            if tx.envelope.gas_limit() > builder.gas_left()
                || tx.envelope.max_fee_per_gas() < u128::from(base_fee)
            {
                blocked.insert(sender);
                continue;
            }
            let hash = tx.hash;
            match builder.add(self, tx) {
                Ok(()) => {
                    self.remove_pooled(&hash);
                    *next.get_mut(&sender).expect("sender is tracked") += 1;
                }
                Err(_) => {
                    // No longer valid (its sender cannot pay, say): gone,
                    // and the sender's later nonces wait for the gap.
                    self.remove_pooled(&hash);
                    blocked.insert(sender);
                }
            }
        }
    }

    fn account_nonce(&self, sender: [u8; 20]) -> u64 {
        self.state.account(&Address::from(sender), None).unwrap_or_default().nonce
    }

    fn remove_pooled(&mut self, hash: &B256) {
        if let Some(entry) = self.pool.remove(&hash.0) {
            self.pool_nonces.remove(&(entry.from.0.0, entry.nonce));
        }
    }

    /// A pooled transaction, decoded. Its sender was recovered when it
    /// entered the pool; recovering it again (millions of instructions)
    /// for every candidate of every block would not fit a message.
    fn decode_entry(&self, entry: &PoolEntry) -> DecodedTx {
        let start = self.counter();
        let envelope = TxEnvelope::decode_2718_exact(&entry.raw)
            .expect("pooled transactions were valid when they entered");
        DecodedTx {
            hash: *envelope.tx_hash(),
            envelope,
            from: entry.from,
            raw: entry.raw.clone(),
            impersonated: entry.impersonated,
            phases: TxPhases { decode: self.counter() - start, ..TxPhases::default() },
        }
    }

    /// The sender's next nonce counting its executable pooled transactions.
    pub(crate) fn pending_nonce(&self, sender: Address, mut nonce: u64) -> u64 {
        while self.pool_nonces.contains_key(&(sender.0.0, nonce)) {
            nonce += 1;
        }
        nonce
    }

    /// The pool's transactions by sender and nonce (`txpool_content`).
    pub fn pool_content(&self) -> Vec<PooledTx> {
        let mut out = Vec::new();
        // The sender at hand and the first nonce its pooled ones do not reach.
        let mut pending: Option<([u8; 20], u64)> = None;
        for entry in self.pool_nonces.iter() {
            let ((sender, nonce), hash) = (*entry.key(), entry.value());
            let limit = match pending {
                Some((s, limit)) if s == sender => limit,
                _ => {
                    let limit = self.pending_nonce(sender.into(), self.account_nonce(sender));
                    pending = Some((sender, limit));
                    limit
                }
            };
            let pooled = self.pool.get(&hash).expect("indexed pool entry exists");
            out.push(pooled_tx(B256::from(hash), &pooled, nonce < limit));
        }
        out
    }

    /// A pooled transaction by hash.
    pub fn pooled_transaction(&self, hash: B256) -> Option<PooledTx> {
        let entry = self.pool.get(&hash.0)?;
        let limit = self.pending_nonce(entry.from, self.account_nonce(entry.from.0.0));
        Some(pooled_tx(hash, &entry, entry.nonce < limit))
    }
}

fn pooled_tx(hash: B256, entry: &PoolEntry, executable: bool) -> PooledTx {
    PooledTx {
        hash: hash.into(),
        raw: entry.raw.to_vec().into(),
        from: entry.from.into(),
        nonce: entry.nonce,
        executable,
    }
}

/// Whether `new` may replace `old` (same sender and nonce): both its fee
/// cap and its priority fee must be at least [`PRICE_BUMP`] percent higher.
fn outbids(new: &DecodedTx, old: &DecodedTx) -> bool {
    let bumped = |fee: u128| fee.saturating_mul(100 + PRICE_BUMP).div_ceil(100);
    let tip = |tx: &DecodedTx| {
        tx.envelope.max_priority_fee_per_gas().unwrap_or_else(|| tx.envelope.max_fee_per_gas())
    };
    new.envelope.max_fee_per_gas() >= bumped(old.envelope.max_fee_per_gas())
        && tip(new) >= bumped(tip(old))
}
