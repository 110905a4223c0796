//! Accounts, storage and code in stable memory, with their history.
//!
//! [`State`] holds the world state after the latest block plus enough history
//! to read the state after any earlier block. [`StateAt`] is a read-only view
//! at one block that revm reads through [`DatabaseRef`]; [`BlockCommit`]
//! writes a transaction's changes through [`DatabaseCommit`], recording the
//! value each key had before the block.
//!
//! The Merkle-Patricia tries of the latest state ([`Tries`]) are brought up
//! to date once per block, from the block's change index, by
//! [`State::state_root`].

use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_trie::TrieAccount;
use ic_stable_structures::{BTreeMap, Memory};
use revm::bytecode::Bytecode;
use revm::primitives::hardfork::SpecId;
use revm::primitives::{AddressMap, StorageKey, StorageValue};
use revm::state::{Account, AccountInfo};
use revm::{DatabaseCommit, DatabaseRef};
use std::collections::BTreeSet;
use std::convert::Infallible;

use crate::store::layout::{self, Layout, Vm};
use crate::store::records::{AccountRecord, PriorAccount, SlotKey, slot_key, split_slot_key};
use crate::store::trie::{TrieId, Tries};

/// The world state and its history.
pub struct State<M: Memory> {
    accounts: BTreeMap<[u8; 20], AccountRecord, Vm<M>>,
    storage: BTreeMap<SlotKey, [u8; 32], Vm<M>>,
    code: BTreeMap<[u8; 32], Vec<u8>, Vm<M>>,
    account_history: BTreeMap<([u8; 20], u64), PriorAccount, Vm<M>>,
    storage_history: BTreeMap<(SlotKey, u64), [u8; 32], Vm<M>>,
    account_changes: BTreeMap<(u64, [u8; 20]), (), Vm<M>>,
    storage_changes: BTreeMap<(u64, SlotKey), (), Vm<M>>,
    tries: Tries<M>,
}

impl<M: Memory> State<M> {
    pub fn init(layout: &Layout<M>) -> Self {
        Self {
            accounts: BTreeMap::init(layout.get(layout::ACCOUNTS)),
            storage: BTreeMap::init(layout.get(layout::STORAGE)),
            code: BTreeMap::init(layout.get(layout::CODE)),
            account_history: BTreeMap::init(layout.get(layout::ACCOUNT_HISTORY)),
            storage_history: BTreeMap::init(layout.get(layout::STORAGE_HISTORY)),
            account_changes: BTreeMap::init(layout.get(layout::ACCOUNT_CHANGES)),
            storage_changes: BTreeMap::init(layout.get(layout::STORAGE_CHANGES)),
            tries: Tries::init(layout.get(layout::TRIES)),
        }
    }

    /// The account after block `at`, or after the latest block if `at` is `None`.
    pub fn account(&self, address: &Address, at: Option<u64>) -> Option<AccountRecord> {
        let key: [u8; 20] = address.0.0;
        if let Some(block) = at
            && let Some(entry) =
                self.account_history.range((key, block + 1)..=(key, u64::MAX)).next()
        {
            return entry.value().0;
        }
        self.accounts.get(&key)
    }

    /// The storage slot after block `at`, or after the latest block if `at` is `None`.
    pub fn storage(&self, address: &Address, slot: &U256, at: Option<u64>) -> U256 {
        let key = slot_key(address, slot);
        if let Some(block) = at
            && let Some(entry) =
                self.storage_history.range((key, block + 1)..=(key, u64::MAX)).next()
        {
            return U256::from_be_bytes(entry.value());
        }
        self.storage.get(&key).map_or(U256::ZERO, U256::from_be_bytes)
    }

    pub fn code(&self, code_hash: &B256) -> Option<Bytes> {
        if *code_hash == KECCAK256_EMPTY || code_hash.is_zero() {
            return Some(Bytes::new());
        }
        self.code.get(&code_hash.0).map(Bytes::from)
    }

    /// Stores `code` and returns its hash.
    pub fn insert_code(&mut self, code: &[u8]) -> B256 {
        if code.is_empty() {
            return KECCAK256_EMPTY;
        }
        let hash = keccak256(code);
        if !self.code.contains_key(&hash.0) {
            self.code.insert(hash.0, code.to_vec());
        }
        hash
    }

    /// Sets an account in block `block`, recording its previous value.
    pub fn set_account(&mut self, block: u64, address: &Address, record: Option<AccountRecord>) {
        let key = address.0.0;
        let old = self.accounts.get(&key);
        if old == record {
            return;
        }
        if self.account_changes.insert((block, key), ()).is_none() {
            self.account_history.insert((key, block), PriorAccount(old));
        }
        match record {
            Some(record) => self.accounts.insert(key, record),
            None => self.accounts.remove(&key),
        };
    }

    /// Sets a storage slot in block `block`, recording its previous value.
    pub fn set_storage(&mut self, block: u64, address: &Address, slot: &U256, value: &U256) {
        let key = slot_key(address, slot);
        let old = self.storage.get(&key).unwrap_or_default();
        let new = value.to_be_bytes::<32>();
        if old == new {
            return;
        }
        if self.storage_changes.insert((block, key), ()).is_none() {
            self.storage_history.insert((key, block), old);
        }
        if value.is_zero() {
            self.storage.remove(&key);
        } else {
            self.storage.insert(key, new);
        }
    }

    /// Clears every storage slot of `address` in block `block`.
    fn wipe_storage(&mut self, block: u64, address: &Address) {
        let first = slot_key(address, &U256::ZERO);
        let last = slot_key(address, &U256::MAX);
        let slots: Vec<SlotKey> = self.storage.keys_range(first..=last).collect();
        for key in slots {
            let (address, slot) = split_slot_key(&key);
            self.set_storage(block, &address, &slot, &U256::ZERO);
        }
    }

    /// Applies the changes of one transaction executed in block `block`.
    pub fn commit(&mut self, block: u64, spec: SpecId, changes: AddressMap<Account>) {
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            // A destroyed account, or (since Spurious Dragon) a touched empty
            // one, ceases to exist (EIP-161).
            if account.is_selfdestructed() || account.state_clear_aware_is_empty(spec) {
                self.wipe_storage(block, &address);
                self.set_account(block, &address, None);
                continue;
            }
            if account.is_created() {
                // A new contract starts with empty storage, whatever an
                // earlier occupant of the address left.
                self.wipe_storage(block, &address);
            }
            let mut code_hash = account.info.code_hash;
            if code_hash.is_zero() {
                code_hash = KECCAK256_EMPTY;
            }
            // revm sets `code` and its hash together when it deploys code or
            // installs an EIP-7702 delegation; store code not seen before.
            if let Some(code) = &account.info.code
                && code_hash != KECCAK256_EMPTY
                && !self.code.contains_key(&code_hash.0)
            {
                self.code.insert(code_hash.0, code.original_byte_slice().to_vec());
            }
            let record = AccountRecord {
                balance: account.info.balance,
                nonce: account.info.nonce,
                code_hash,
            };
            self.set_account(block, &address, Some(record));
            for (slot, value) in account.changed_storage_slots() {
                self.set_storage(block, &address, slot, &value.present_value());
            }
        }
    }

    /// Brings the tries up to date with what block `block` changed and
    /// returns the state root after it. Call once, when the block is sealed.
    pub fn state_root(&mut self, block: u64) -> B256 {
        let accounts: Vec<[u8; 20]> = self
            .account_changes
            .keys_range((block, [0u8; 20])..=(block, [0xff; 20]))
            .map(|(_, address)| address)
            .collect();
        let slots: Vec<SlotKey> = self
            .storage_changes
            .keys_range((block, [0u8; 52])..=(block, [0xff; 52]))
            .map(|(_, key)| key)
            .collect();
        self.update_tries(accounts, slots)
    }

    /// The root of the state trie (as of the last [`State::state_root`]).
    pub fn root(&self) -> B256 {
        self.tries.root(TrieId::Accounts)
    }

    /// Rewrites the trie leaves of `accounts` and `slots` from their current
    /// values; returns the new state root.
    fn update_tries(&mut self, accounts: Vec<[u8; 20]>, slots: Vec<SlotKey>) -> B256 {
        let mut touched: BTreeSet<[u8; 20]> = accounts.into_iter().collect();
        for key in slots {
            let (address, slot) = split_slot_key(&key);
            let value = self.storage.get(&key).map(|v| alloy_rlp::encode(U256::from_be_bytes(v)));
            let trie = TrieId::Storage(keccak256(address));
            self.tries.set(trie, &keccak256(slot.to_be_bytes::<32>()), value.as_deref());
            touched.insert(address.0.0);
        }
        for address in touched {
            let hashed = keccak256(address);
            match self.accounts.get(&address) {
                Some(record) => {
                    let storage_root = self.tries.root(TrieId::Storage(hashed));
                    let account = TrieAccount::new(
                        record.nonce,
                        record.balance,
                        storage_root,
                        record.code_hash,
                    );
                    self.tries.set(TrieId::Accounts, &hashed, Some(&alloy_rlp::encode(account)));
                }
                None => {
                    // Its slots were all zeroed when it went, but be sure.
                    self.tries.clear(TrieId::Storage(hashed));
                    self.tries.set(TrieId::Accounts, &hashed, None);
                }
            }
        }
        self.root()
    }

    /// The proof of `address`'s account and of its `slots`, against the
    /// latest state root: the account trie nodes on the path to the
    /// account, and for each slot its value and the storage trie nodes.
    pub fn proof(&self, address: &Address, slots: &[B256]) -> StateProof {
        let hashed = keccak256(address);
        let storage = TrieId::Storage(hashed);
        StateProof {
            account: self.tries.proof(TrieId::Accounts, &hashed),
            storage_root: self.tries.root(storage),
            slots: slots
                .iter()
                .map(|slot| {
                    let value = self.storage(address, &U256::from_be_bytes(slot.0), None);
                    (value, self.tries.proof(storage, &keccak256(slot)))
                })
                .collect(),
        }
    }

    /// Undoes every change made in blocks after `block`; returns how many
    /// accounts and slots were restored. The tries follow.
    pub fn unwind_to(&mut self, block: u64) -> usize {
        let mut restored = 0;
        let accounts: Vec<(u64, [u8; 20])> =
            self.account_changes.keys_range((block + 1, [0u8; 20])..).collect();
        let touched_accounts: Vec<[u8; 20]> = accounts.iter().map(|(_, a)| *a).collect();
        for (changed_in, key) in accounts.into_iter().rev() {
            let old = self.account_history.remove(&(key, changed_in)).and_then(|prior| prior.0);
            match old {
                Some(record) => self.accounts.insert(key, record),
                None => self.accounts.remove(&key),
            };
            self.account_changes.remove(&(changed_in, key));
            restored += 1;
        }
        let slots: Vec<(u64, SlotKey)> =
            self.storage_changes.keys_range((block + 1, [0u8; 52])..).collect();
        let touched_slots: Vec<SlotKey> = slots.iter().map(|(_, k)| *k).collect();
        for (changed_in, key) in slots.into_iter().rev() {
            let old = self.storage_history.remove(&(key, changed_in)).unwrap_or_default();
            if old == [0u8; 32] {
                self.storage.remove(&key);
            } else {
                self.storage.insert(key, old);
            }
            self.storage_changes.remove(&(changed_in, key));
            restored += 1;
        }
        self.update_tries(touched_accounts, touched_slots);
        restored
    }
}

/// Stored code as revm runs it. Code that merely starts like an EIP-7702
/// delegation (`0xef01…`) but is not one is ordinary legacy code: it can be
/// set by a genesis, an edit or an override, and `Bytecode::new_raw` would
/// panic on it.
pub fn bytecode(bytes: Bytes) -> Bytecode {
    Bytecode::new_raw_checked(bytes.clone()).unwrap_or_else(|_| Bytecode::new_legacy(bytes))
}

/// Merkle proofs of one account and some of its storage slots.
#[derive(Clone, Debug, PartialEq)]
pub struct StateProof {
    /// Account trie nodes, root first.
    pub account: Vec<Bytes>,
    pub storage_root: B256,
    /// Each slot's value and its storage trie nodes, root first.
    pub slots: Vec<(U256, Vec<Bytes>)>,
}

/// Looks up block hashes for the `BLOCKHASH` opcode.
pub trait BlockHashes {
    fn block_hash(&self, number: u64) -> Option<B256>;
}

/// The state after one block, as revm reads it.
pub struct StateAt<'a, M: Memory, H> {
    pub state: &'a State<M>,
    pub hashes: &'a H,
    /// `None` reads the latest state.
    pub block: Option<u64>,
}

impl<M: Memory, H: BlockHashes> DatabaseRef for StateAt<'_, M, H> {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.state.account(&address, self.block).map(|record| AccountInfo {
            balance: record.balance,
            nonce: record.nonce,
            code_hash: record.code_hash,
            code: None,
            ..Default::default()
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(bytecode(self.state.code(&code_hash).unwrap_or_default()))
    }

    fn storage_ref(
        &self,
        address: Address,
        index: StorageKey,
    ) -> Result<StorageValue, Self::Error> {
        Ok(self.state.storage(&address, &index, self.block))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.hashes.block_hash(number).unwrap_or_default())
    }
}

/// Writes a transaction's changes into block `block`.
pub struct BlockCommit<'a, M: Memory> {
    pub state: &'a mut State<M>,
    pub block: u64,
    pub spec: SpecId,
}

impl<M: Memory> DatabaseCommit for BlockCommit<'_, M> {
    fn commit(&mut self, changes: AddressMap<Account>) {
        self.state.commit(self.block, self.spec, changes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ic_stable_structures::DefaultMemoryImpl;

    fn state() -> State<DefaultMemoryImpl> {
        State::init(&Layout::init(DefaultMemoryImpl::default()))
    }

    fn record(balance: u64, nonce: u64) -> AccountRecord {
        AccountRecord { balance: U256::from(balance), nonce, code_hash: KECCAK256_EMPTY }
    }

    #[test]
    fn reads_every_earlier_state() {
        let mut s = state();
        let a = Address::repeat_byte(1);
        s.set_account(0, &a, Some(record(100, 0)));
        s.set_account(3, &a, Some(record(70, 1)));
        s.set_account(3, &a, Some(record(60, 2))); // second change in block 3
        s.set_account(7, &a, None);

        assert_eq!(s.account(&a, Some(0)), Some(record(100, 0)));
        assert_eq!(s.account(&a, Some(2)), Some(record(100, 0)));
        assert_eq!(s.account(&a, Some(3)), Some(record(60, 2)));
        assert_eq!(s.account(&a, Some(6)), Some(record(60, 2)));
        assert_eq!(s.account(&a, Some(7)), None);
        assert_eq!(s.account(&a, None), None);
        assert_eq!(s.account(&Address::repeat_byte(2), Some(3)), None);
    }

    #[test]
    fn storage_history_and_zero_slots() {
        let mut s = state();
        let a = Address::repeat_byte(1);
        let slot = U256::from(9);
        s.set_storage(1, &a, &slot, &U256::from(5));
        s.set_storage(4, &a, &slot, &U256::ZERO);
        assert_eq!(s.storage(&a, &slot, Some(0)), U256::ZERO);
        assert_eq!(s.storage(&a, &slot, Some(1)), U256::from(5));
        assert_eq!(s.storage(&a, &slot, Some(3)), U256::from(5));
        assert_eq!(s.storage(&a, &slot, None), U256::ZERO);
        // A zero slot takes no space.
        assert!(s.storage.is_empty());
    }

    #[test]
    fn unwinding_restores_the_earlier_state() {
        let mut s = state();
        let a = Address::repeat_byte(1);
        let b = Address::repeat_byte(2);
        s.set_account(0, &a, Some(record(100, 0)));
        s.set_storage(0, &a, &U256::from(1), &U256::from(11));
        s.set_account(1, &a, Some(record(90, 1)));
        s.set_account(1, &b, Some(record(10, 0)));
        s.set_storage(1, &a, &U256::from(1), &U256::from(12));
        s.set_storage(2, &a, &U256::from(2), &U256::from(13));

        s.unwind_to(0);
        assert_eq!(s.account(&a, None), Some(record(100, 0)));
        assert_eq!(s.account(&b, None), None);
        assert_eq!(s.storage(&a, &U256::from(1), None), U256::from(11));
        assert_eq!(s.storage(&a, &U256::from(2), None), U256::ZERO);
        // The history of unwound blocks is gone too.
        assert!(s.account_history.range(([1u8; 20], 1)..).next().is_none());
        assert_eq!(s.storage_changes.len(), 1);
    }

    #[test]
    fn code_is_stored_once_by_hash() {
        let mut s = state();
        let h1 = s.insert_code(&[0x60, 0x00]);
        let h2 = s.insert_code(&[0x60, 0x00]);
        assert_eq!(h1, h2);
        assert_eq!(s.code.len(), 1);
        assert_eq!(s.code(&h1).unwrap().as_ref(), &[0x60, 0x00]);
        assert_eq!(s.insert_code(&[]), KECCAK256_EMPTY);
    }

    /// The state root of the current state, computed from scratch by alloy-trie.
    fn root_from_scratch(s: &State<DefaultMemoryImpl>) -> B256 {
        let accounts = s.accounts.iter().map(|entry| {
            let (address, record) = (Address::from(*entry.key()), entry.value());
            let first = slot_key(&address, &U256::ZERO);
            let last = slot_key(&address, &U256::MAX);
            let slots = s.storage.range(first..=last).map(|e| {
                let (_, slot) = split_slot_key(e.key());
                (B256::from(slot), U256::from_be_bytes(e.value()))
            });
            let storage_root = alloy_trie::root::storage_root_unhashed(slots);
            (
                address,
                TrieAccount::new(record.nonce, record.balance, storage_root, record.code_hash),
            )
        });
        alloy_trie::root::state_root_unhashed(accounts.collect::<Vec<_>>())
    }

    #[test]
    fn state_roots_follow_blocks_and_unwinding() {
        let mut s = state();
        assert_eq!(s.state_root(0), alloy_trie::EMPTY_ROOT_HASH);
        let mut roots = vec![];
        for block in 1..=12u64 {
            for i in 0..8u64 {
                let address = Address::with_last_byte(((block * 7 + i * 3) % 20) as u8);
                if (block + i) % 11 == 0 {
                    s.wipe_storage(block, &address);
                    s.set_account(block, &address, None);
                    continue;
                }
                s.set_account(block, &address, Some(record(block * 100 + i, block)));
                for k in 0..3u64 {
                    let slot = U256::from((block + k * i) % 5);
                    let value = U256::from((block * i + k) % 4); // zero now and then
                    s.set_storage(block, &address, &slot, &value);
                }
            }
            let root = s.state_root(block);
            assert_eq!(root, root_from_scratch(&s), "block {block}");
            roots.push(root);
        }
        s.unwind_to(5);
        assert_eq!(s.root(), roots[4]);
        assert_eq!(s.root(), root_from_scratch(&s));
        s.unwind_to(0);
        assert_eq!(s.root(), alloy_trie::EMPTY_ROOT_HASH);
    }

    #[test]
    fn proofs_of_accounts_and_slots_verify() {
        use alloy_trie::Nibbles;
        use alloy_trie::proof::verify_proof;
        let mut s = state();
        let a = Address::repeat_byte(0xaa);
        for i in 0..10u64 {
            s.set_account(1, &Address::with_last_byte(i as u8), Some(record(i, i)));
        }
        s.set_account(1, &a, Some(record(5, 1)));
        s.set_storage(1, &a, &U256::from(1), &U256::from(0xbeef));
        s.set_storage(1, &a, &U256::from(2), &U256::from(7));
        let root = s.state_root(1);

        let slots = [B256::with_last_byte(1), B256::with_last_byte(3)];
        let proof = s.proof(&a, &slots);
        let account = TrieAccount::new(1, U256::from(5), proof.storage_root, KECCAK256_EMPTY);
        let key = Nibbles::unpack(keccak256(a));
        verify_proof(root, key, Some(alloy_rlp::encode(account)), &proof.account).unwrap();
        let (value, nodes) = &proof.slots[0];
        assert_eq!(*value, U256::from(0xbeef));
        let key = Nibbles::unpack(keccak256(slots[0]));
        verify_proof(proof.storage_root, key, Some(alloy_rlp::encode(value)), nodes).unwrap();
        // Slot 3 is empty: a proof of absence.
        let (value, nodes) = &proof.slots[1];
        assert_eq!(*value, U256::ZERO);
        verify_proof(proof.storage_root, Nibbles::unpack(keccak256(slots[1])), None, nodes)
            .unwrap();
        // An account that does not exist has a proof of absence too.
        let nobody = Address::repeat_byte(0x77);
        let proof = s.proof(&nobody, &[]);
        assert_eq!(proof.storage_root, alloy_trie::EMPTY_ROOT_HASH);
        verify_proof(root, Nibbles::unpack(keccak256(nobody)), None, &proof.account).unwrap();
    }
}
