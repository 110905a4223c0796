//! Where everything lives in stable memory.
//!
//! Stable memory is split by `ic-stable-structures`' [`MemoryManager`] into
//! virtual memories, one per structure. This file is the only place that
//! assigns [`MemoryId`]s.
//!
//! ```text
//!  stable memory (64 KiB pages, managed by MemoryManager "MGR" header)
//!  ┌───────┬──────────────────────────────────────────────────────────────┐
//!  │  id   │ structure                                                    │
//!  ├───────┼──────────────────────────────────────────────────────────────┤
//!  │   0   │ Cell<Meta>: magic "CEVM", layout version, genesis config,    │
//!  │       │ head of the chain                                            │
//!  │   1   │ accounts        address            → balance, nonce, code hash │
//!  │   2   │ storage         address ‖ slot     → value (absent = zero)   │
//!  │   3   │ code            code hash          → bytecode                │
//!  │   4   │ blocks          number             → header RLP, tx hashes   │
//!  │   5   │ block numbers   block hash         → number                  │
//!  │   6   │ transactions    tx hash            → raw tx, position        │
//!  │   7   │ receipts        tx hash            → receipt, metadata       │
//!  │   8   │ account history (address, block)   → account before block    │
//!  │   9   │ storage history (address ‖ slot, block) → value before block │
//!  │  10   │ account changes (block, address)   → ()   (index of 8)       │
//!  │  11   │ storage changes (block, address ‖ slot) → () (index of 9)    │
//!  │  12   │ tries           path (nibbles)     → trie node of the    │
//!  │       │                 account trie and every storage trie          │
//!  │  13   │ Cell<DevSettings>: automine, snapshot and pool counters      │
//!  │  14   │ pool            tx hash            → pooled transaction      │
//!  │  15   │ pool nonces     (sender, nonce)    → tx hash (index of 14)   │
//!  │  16   │ account edits   (block, seq)       → Candid AccountEdit      │
//!  │  17   │ snapshots       id                 → block, hash, edits      │
//!  └───────┴──────────────────────────────────────────────────────────────┘
//! ```
//!
//! Maps 1–3 hold the state after the latest block. Maps 8–11 make every
//! earlier state readable (the node is an archive node): the value of a key
//! at block `n` is the value recorded in its history for the first block
//! after `n` that changed it, or the current value if none did. The indexes
//! 10–11 list what each block changed, so blocks can be unwound. Map 12
//! holds the Merkle-Patricia tries of the latest state (see `trie.rs`), kept
//! up to date block by block so a state root costs only what a block touched.
//! Maps 13–17 serve the dev-node controls: the transaction pool, the account
//! edits of the controller (kept so a snapshot can be restored exactly) and
//! the snapshots.
//!
//! Changing any encoding stored here requires bumping [`LAYOUT_VERSION`];
//! a canister refuses to run on memory written with another version.

use ic_stable_structures::Memory;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};

/// First bytes of the [`Meta`](crate::store::records::Meta) cell.
pub const MAGIC: [u8; 4] = *b"CEVM";
/// Version of the encodings in this file and in `records.rs`.
pub const LAYOUT_VERSION: u16 = 2;

pub const META: MemoryId = MemoryId::new(0);
pub const ACCOUNTS: MemoryId = MemoryId::new(1);
pub const STORAGE: MemoryId = MemoryId::new(2);
pub const CODE: MemoryId = MemoryId::new(3);
pub const BLOCKS: MemoryId = MemoryId::new(4);
pub const BLOCK_NUMBERS: MemoryId = MemoryId::new(5);
pub const TRANSACTIONS: MemoryId = MemoryId::new(6);
pub const RECEIPTS: MemoryId = MemoryId::new(7);
pub const ACCOUNT_HISTORY: MemoryId = MemoryId::new(8);
pub const STORAGE_HISTORY: MemoryId = MemoryId::new(9);
pub const ACCOUNT_CHANGES: MemoryId = MemoryId::new(10);
pub const STORAGE_CHANGES: MemoryId = MemoryId::new(11);
pub const TRIES: MemoryId = MemoryId::new(12);
pub const DEV: MemoryId = MemoryId::new(13);
pub const POOL: MemoryId = MemoryId::new(14);
pub const POOL_NONCES: MemoryId = MemoryId::new(15);
pub const EDITS: MemoryId = MemoryId::new(16);
pub const SNAPSHOTS: MemoryId = MemoryId::new(17);

/// A virtual memory of the stable memory `M`.
pub type Vm<M> = VirtualMemory<M>;

/// Hands out the virtual memories of one stable memory.
pub struct Layout<M: Memory> {
    manager: MemoryManager<M>,
}

impl<M: Memory> Layout<M> {
    /// Opens the layout of `memory`, creating the manager header if the
    /// memory is empty.
    pub fn init(memory: M) -> Self {
        Self { manager: MemoryManager::init(memory) }
    }

    pub fn get(&self, id: MemoryId) -> Vm<M> {
        self.manager.get(id)
    }
}
