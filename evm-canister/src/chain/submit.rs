//! Accepting transactions: decoding, authenticating and handing them to
//! the block builder or the pool.

use alloy_consensus::{Transaction, TxEnvelope, Typed2718};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Bytes};
use evm_canister_api::{MinedBlock, SubmitResult, TxError, TxPhases};
use ic_stable_structures::Memory;

use super::{BlockBuilder, Chain};

/// The largest encoded transaction accepted: geth's `txMaxSize` (four 32 KiB
/// slots), which leaves room for the largest init code EIP-3860 allows.
pub const MAX_TX_BYTES: usize = 128 * 1024;

impl<M: Memory> Chain<M> {
    /// Accepts a signed transaction: with automine and the sender's next
    /// nonce it is executed and included in a new block at once, with any
    /// pooled transactions it makes executable; otherwise it waits in the
    /// pool.
    ///
    /// On error nothing has been written.
    pub fn submit(&mut self, raw: &[u8], now: u64) -> Result<SubmitResult, TxError> {
        let tx = self.decode_transaction(raw)?;
        self.accept(tx, now)
    }

    /// Accepts a transaction sent as `from` without its signature
    /// (impersonation, for the controller only). `raw` is the EIP-2718
    /// encoding with any signature, which is not checked; the hash is that
    /// of `raw` as usual, so callers give each sender its own placeholder
    /// signature (as anvil does) to keep two senders' transactions apart.
    pub fn submit_as(
        &mut self,
        raw: &[u8],
        from: Address,
        now: u64,
    ) -> Result<SubmitResult, TxError> {
        let tx = self.decode_impersonated(raw, from)?;
        self.accept(tx, now)
    }

    /// Checks a signed transaction as [`Chain::submit`] would, without
    /// executing, pooling or writing anything (`canister_inspect_message`):
    /// it must decode, be of this chain, recover to a sender, not reuse a
    /// nonce or a pooled hash, and be payable and valid against the latest
    /// state (revm's validation, which does not execute it: its cost does
    /// not depend on what the transaction does). A future nonce passes,
    /// since the pool takes it.
    pub fn inspect(&self, raw: &[u8], now: u64) -> Result<(), TxError> {
        let tx = self.decode_transaction(raw)?;
        self.check_fresh(&tx)?;
        self.admit(&tx, now, false)
    }

    /// Seals a block with the pool's executable transactions (`evm_mine`);
    /// with none, the block is empty and the base fee falls as for any
    /// empty block.
    pub fn mine(&mut self, now: u64) -> MinedBlock {
        let mut builder = BlockBuilder::new(self.next_block(now));
        self.fill_from_pool(&mut builder);
        builder.seal(self)
    }

    /// Decodes and authenticates a signed transaction.
    pub(super) fn decode_transaction(&self, raw: &[u8]) -> Result<DecodedTx, TxError> {
        let start = self.counter();
        let envelope = self.decode_envelope(raw)?;
        // A transaction already included is refused by the nonce check, as
        // geth refuses it.
        let hash = *envelope.tx_hash();
        let raw = Bytes::copy_from_slice(raw);
        let decoded = self.counter();
        let from = crate::secp256k1::sender(&envelope).map_err(|_| TxError::InvalidSignature)?;
        let phases = TxPhases {
            decode: decoded - start,
            recover: self.counter() - decoded,
            ..TxPhases::default()
        };
        Ok(DecodedTx { envelope, hash, from, raw, impersonated: false, phases })
    }

    /// Decodes a transaction sent as `from`, whatever its signature.
    pub(super) fn decode_impersonated(
        &self,
        raw: &[u8],
        from: Address,
    ) -> Result<DecodedTx, TxError> {
        let start = self.counter();
        let envelope = self.decode_envelope(raw)?;
        let hash = *envelope.tx_hash();
        let raw = Bytes::copy_from_slice(raw);
        let phases = TxPhases { decode: self.counter() - start, ..TxPhases::default() };
        Ok(DecodedTx { envelope, hash, from, raw, impersonated: true, phases })
    }

    /// Decodes an EIP-2718 transaction and checks what needs no state.
    pub(super) fn decode_envelope(&self, raw: &[u8]) -> Result<TxEnvelope, TxError> {
        if raw.len() > MAX_TX_BYTES {
            return Err(TxError::Oversized { size: raw.len() as u64, limit: MAX_TX_BYTES as u64 });
        }
        let envelope = TxEnvelope::decode_2718_exact(raw)
            .map_err(|err| TxError::Malformed(format!("rlp: {err}")))?;
        if envelope.is_eip4844() {
            return Err(TxError::TypeNotSupported(envelope.ty()));
        }
        if let Some(id) = envelope.chain_id()
            && id != self.chain_id()
        {
            return Err(TxError::InvalidChainId { expected: self.chain_id(), got: Some(id) });
        }
        Ok(envelope)
    }
}

/// A signed transaction, decoded and authenticated.
pub(crate) struct DecodedTx {
    pub(crate) envelope: TxEnvelope,
    pub(crate) hash: B256,
    pub(crate) from: Address,
    pub(crate) raw: Bytes,
    /// Sent as an impersonated account: `from` was given, not recovered.
    pub(crate) impersonated: bool,
    /// Instructions spent on it so far in this message.
    pub(crate) phases: TxPhases,
}
