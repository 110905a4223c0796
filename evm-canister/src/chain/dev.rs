//! Dev-node controls: account edits, snapshots and reverts.
//!
//! An edit (`anvil_setBalance` & co) changes the latest state at once and is
//! recorded as a change of the next block, so that block's state root covers
//! it and every earlier block still reads as it was. Edits are also logged,
//! which lets a revert to a snapshot taken between edits and the next block
//! restore exactly the edits made before the snapshot.
//!
//! A revert unwinds whole blocks: their transactions, receipts and logs are
//! removed and their state changes undone from the history (`State::unwind_to`),
//! tries included. Reverting deletes the snapshot and every later one, as in
//! Hardhat and anvil.

use alloy_primitives::U256;
use evm_canister_api::AccountEdit;
use ic_stable_structures::Memory;

use super::Chain;
use crate::store::records::SnapshotRecord;

impl<M: Memory> Chain<M> {
    /// Applies `edit` to the latest state, as part of the next block.
    pub fn edit_account(&mut self, edit: &AccountEdit) {
        let block = self.meta.get().head_number + 1;
        let seq = self.edits.range((block, 0)..=(block, u64::MAX)).count() as u64;
        let bytes = candid::encode_one(edit).expect("an AccountEdit encodes");
        self.edits.insert((block, seq), bytes);
        self.apply_edit(block, edit);
    }

    fn apply_edit(&mut self, block: u64, edit: &AccountEdit) {
        let address = edit.address.0;
        let existing = self.state.account(&address, None);
        let mut record = existing.unwrap_or_default();
        if record.code_hash.is_zero() {
            record.code_hash = alloy_primitives::KECCAK256_EMPTY;
        }
        let old = record;
        if let Some(balance) = &edit.balance {
            record.balance = balance.0;
        }
        if let Some(nonce) = edit.nonce {
            record.nonce = nonce;
        }
        if let Some(code) = &edit.code {
            record.code_hash = self.state.insert_code(code);
        }
        if record != old || existing.is_none() {
            self.state.set_account(block, &address, Some(record));
        }
        for (slot, value) in &edit.storage {
            let (slot, value) = (U256::from_be_bytes(slot.0.0), U256::from_be_bytes(value.0.0));
            self.state.set_storage(block, &address, &slot, &value);
        }
    }

    /// Records the chain as it is now (`evm_snapshot`); returns the id.
    pub fn snapshot(&mut self) -> u64 {
        let meta = self.meta.get().clone();
        let next = meta.head_number + 1;
        let edits = self.edits.range((next, 0)..=(next, u64::MAX)).count() as u64;
        let mut dev = self.dev.get().clone();
        let id = dev.next_snapshot;
        dev.next_snapshot += 1;
        self.dev.set(dev);
        self.snapshots
            .insert(id, SnapshotRecord { block: meta.head_number, hash: meta.head_hash, edits });
        id
    }

    /// Returns the chain to snapshot `id` (`evm_revert`): blocks after it
    /// are removed, with their transactions, and edits made after it are
    /// undone. `false` if there is no such snapshot (or it was used).
    pub fn revert(&mut self, id: u64) -> bool {
        let Some(snapshot) = self.snapshots.get(&id) else { return false };
        let later: Vec<u64> = self.snapshots.keys_range(id..).collect();
        for later in later {
            self.snapshots.remove(&later);
        }
        if self.blocks.get(&snapshot.block).map(|b| b.hash) != Some(snapshot.hash) {
            return false;
        }
        self.unwind_blocks(snapshot.block);
        // The edits made before the snapshot, in the block after it, again.
        let next = snapshot.block + 1;
        let kept: Vec<AccountEdit> = self
            .edits
            .range((next, 0)..(next, snapshot.edits))
            .map(|entry| candid::decode_one(&entry.value()).expect("a logged edit decodes"))
            .collect();
        let dropped: Vec<(u64, u64)> = self.edits.keys_range((next, snapshot.edits)..).collect();
        for key in dropped {
            self.edits.remove(&key);
        }
        for edit in &kept {
            self.apply_edit(next, edit);
        }
        true
    }

    /// Removes every block after `block` and undoes its changes.
    fn unwind_blocks(&mut self, block: u64) {
        let head = self.meta.get().head_number;
        for number in (block + 1..=head).rev() {
            let Some(stored) = self.blocks.remove(&number) else { continue };
            self.block_numbers.remove(&stored.hash.0);
            for tx in &stored.transactions {
                self.transactions.remove(&tx.0);
                self.receipts.remove(&tx.0);
            }
        }
        self.state.unwind_to(block);
        let mut meta = self.meta.get().clone();
        meta.head_number = block;
        meta.head_hash = self.blocks.get(&block).expect("the snapshot's block exists").hash;
        self.meta.set(meta);
        self.head = self.header(block);
    }
}
