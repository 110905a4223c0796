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

use alloy_primitives::{Address, B256, KECCAK256_EMPTY, U256, keccak256};
use evm_canister_api::AccountEdit;
use ic_stable_structures::Memory;
use revm::DatabaseRef;
use revm::database::CacheDB;
use revm::state::AccountInfo;

use super::Chain;
use crate::store::records::{AccountRecord, SnapshotRecord};
use crate::store::state::{self, State};

impl<M: Memory> Chain<M> {
    /// Applies `edit` to the latest state, as part of the next block.
    pub fn edit_account(&mut self, edit: &AccountEdit) {
        let block = self.meta.get().head_number + 1;
        let seq = self.edits.range((block, 0)..=(block, u64::MAX)).count() as u64;
        // As `candid::encode_one` encodes it, without clearing candid's memo
        // of types (see `evm_canister_api::encode`).
        let bytes =
            evm_canister_api::encode::encode(&(edit.clone(),)).expect("an AccountEdit encodes");
        self.edits.insert((block, seq), bytes);
        apply_edit(&mut StateEdit { state: &mut self.state, block }, edit);
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
            apply_edit(&mut StateEdit { state: &mut self.state, block: next }, edit);
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

/// Where an account edit lands: the chain's state, or the cache a trace
/// replays a block on. Both apply an edit by the one rule in [`apply_edit`],
/// so a traced block starts from exactly the state the block did.
pub(super) trait EditTarget {
    /// The account's balance, nonce and code hash, if it exists.
    fn account(&self, address: &Address) -> Option<AccountRecord>;
    /// Stores `code`; returns its hash.
    fn insert_code(&mut self, code: &[u8]) -> B256;
    fn set_account(&mut self, address: &Address, record: AccountRecord);
    fn set_storage(&mut self, address: &Address, slot: U256, value: U256);
}

/// Applies `edit` to `target`: the fields it sets replace the account's,
/// an account it names comes into existence, and its slots are written.
pub(super) fn apply_edit(target: &mut impl EditTarget, edit: &AccountEdit) {
    let address = edit.address.0;
    let existing = target.account(&address);
    let mut record = existing.unwrap_or_default();
    if record.code_hash.is_zero() {
        record.code_hash = KECCAK256_EMPTY;
    }
    if let Some(balance) = &edit.balance {
        record.balance = balance.0;
    }
    if let Some(nonce) = edit.nonce {
        record.nonce = nonce;
    }
    if let Some(code) = &edit.code {
        record.code_hash = target.insert_code(code);
    }
    if existing != Some(record) {
        target.set_account(&address, record);
    }
    for (slot, value) in &edit.storage {
        let (slot, value) = (U256::from_be_bytes(slot.0.0), U256::from_be_bytes(value.0.0));
        target.set_storage(&address, slot, value);
    }
}

/// The latest state, changed as part of block `block`.
pub(super) struct StateEdit<'a, M: Memory> {
    pub state: &'a mut State<M>,
    pub block: u64,
}

impl<M: Memory> EditTarget for StateEdit<'_, M> {
    fn account(&self, address: &Address) -> Option<AccountRecord> {
        self.state.account(address, None)
    }

    fn insert_code(&mut self, code: &[u8]) -> B256 {
        self.state.insert_code(code)
    }

    fn set_account(&mut self, address: &Address, record: AccountRecord) {
        self.state.set_account(self.block, address, Some(record));
    }

    fn set_storage(&mut self, address: &Address, slot: U256, value: U256) {
        self.state.set_storage(self.block, address, &slot, &value);
    }
}

impl<DB: DatabaseRef> EditTarget for CacheDB<DB> {
    fn account(&self, address: &Address) -> Option<AccountRecord> {
        let info = self.basic_ref(*address).ok().flatten()?;
        Some(AccountRecord { balance: info.balance, nonce: info.nonce, code_hash: info.code_hash })
    }

    fn insert_code(&mut self, code: &[u8]) -> B256 {
        if code.is_empty() {
            return KECCAK256_EMPTY;
        }
        let hash = keccak256(code);
        self.cache.contracts.entry(hash).or_insert_with(|| state::bytecode(code.to_vec().into()));
        hash
    }

    fn set_account(&mut self, address: &Address, record: AccountRecord) {
        let code = self.cache.contracts.get(&record.code_hash).cloned();
        let info = AccountInfo {
            balance: record.balance,
            nonce: record.nonce,
            code_hash: record.code_hash,
            code,
            ..Default::default()
        };
        self.insert_account_info(*address, info);
    }

    fn set_storage(&mut self, address: &Address, slot: U256, value: U256) {
        // Reading the account for the cache cannot fail: the state is infallible.
        self.insert_account_storage(*address, slot, value).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::Layout;
    use evm_canister_api::{Hash, Wei};
    use ic_stable_structures::DefaultMemoryImpl;
    use revm::database::EmptyDB;
    use serde_bytes::ByteBuf;

    /// An edit applied to the chain's state and to a replay's cache leaves
    /// the same account behind, field by field.
    #[test]
    fn the_state_and_a_replay_apply_an_edit_alike() {
        let mut state = State::init(&Layout::init(DefaultMemoryImpl::default()));
        let mut cache = CacheDB::new(EmptyDB::default());
        let address = Address::repeat_byte(7);
        let slot = Hash(B256::with_last_byte(1));
        let edits = [
            // Storage alone creates the account.
            AccountEdit { storage: vec![(slot, Hash(B256::with_last_byte(9)))], ..edit(address) },
            AccountEdit { balance: Some(Wei(U256::from(5))), nonce: Some(3), ..edit(address) },
            AccountEdit { code: Some(ByteBuf::from(vec![0x60, 0x00])), ..edit(address) },
            // Malformed delegation code is ordinary legacy code.
            AccountEdit { code: Some(ByteBuf::from(vec![0xef, 0x01, 0x00])), ..edit(address) },
        ];
        for (block, edit) in edits.iter().enumerate() {
            apply_edit(&mut StateEdit { state: &mut state, block: block as u64 }, edit);
            apply_edit(&mut cache, edit);
            let stored = state.account(&address, None).expect("the edit made the account");
            assert_eq!(EditTarget::account(&cache, &address), Some(stored), "after edit {block}");
            let info = cache.basic_ref(address).unwrap().unwrap();
            let code = info.code.map(|code| code.original_bytes()).unwrap_or_default();
            assert_eq!(Some(code), state.code(&stored.code_hash), "after edit {block}");
            let slot = U256::from(1);
            assert_eq!(cache.storage_ref(address, slot).unwrap(), U256::from(9));
            assert_eq!(state.storage(&address, &slot, None), U256::from(9));
        }
    }

    fn edit(address: Address) -> AccountEdit {
        AccountEdit {
            address: address.into(),
            balance: None,
            nonce: None,
            code: None,
            storage: Vec::new(),
        }
    }
}
