//! A counter canister written the way most ICP canisters are: `ic-cdk`
//! methods, a heap variable, a stable-memory map and upgrade hooks.
//!
//! The count lives on the heap and survives upgrades by being saved to a
//! stable cell in `pre_upgrade`; the names live in a stable map directly.

use std::cell::{Cell, RefCell};

use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{DefaultMemoryImpl, StableBTreeMap, StableCell};

type Memory = VirtualMemory<DefaultMemoryImpl>;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
    static UPGRADES: Cell<u64> = const { Cell::new(0) };
    static MEMORY: MemoryManager<DefaultMemoryImpl> = MemoryManager::init(DefaultMemoryImpl::default());
    static SAVED: RefCell<StableCell<(u64, u64), Memory>> =
        RefCell::new(MEMORY.with(|m| StableCell::init(m.get(MemoryId::new(0)), (0, 0))));
    static NAMES: RefCell<StableBTreeMap<u64, String, Memory>> =
        RefCell::new(MEMORY.with(|m| StableBTreeMap::init(m.get(MemoryId::new(1)))));
}

#[ic_cdk::init]
fn init(start: u64) {
    COUNT.set(start);
}

/// Adds one and returns the new count.
#[ic_cdk::update]
fn increment() -> u64 {
    COUNT.set(COUNT.get() + 1);
    COUNT.get()
}

#[ic_cdk::query]
fn get() -> u64 {
    COUNT.get()
}

/// Remembers `name` under the current count.
#[ic_cdk::update]
fn remember(name: String) -> u64 {
    let key = COUNT.get();
    NAMES.with_borrow_mut(|names| names.insert(key, name));
    key
}

#[ic_cdk::query]
fn names() -> Vec<(u64, String)> {
    NAMES.with_borrow(|names| names.iter().map(|entry| entry.into_pair()).collect())
}

/// How many upgrades the canister went through.
#[ic_cdk::query]
fn upgrades() -> u64 {
    UPGRADES.get()
}

/// Who is calling, and whether it controls the canister.
#[ic_cdk::query]
fn whoami() -> (candid::Principal, bool) {
    let caller = ic_cdk::api::msg_caller();
    (caller, ic_cdk::api::is_controller(&caller))
}

#[ic_cdk::update]
fn fail() {
    COUNT.set(COUNT.get() + 1_000);
    ic_cdk::trap("failing on purpose");
}

#[ic_cdk::pre_upgrade]
fn pre_upgrade() {
    SAVED.with_borrow_mut(|saved| saved.set((COUNT.get(), UPGRADES.get())));
}

#[ic_cdk::post_upgrade]
fn post_upgrade() {
    let (count, upgrades) = SAVED.with_borrow(|saved| *saved.get());
    COUNT.set(count);
    UPGRADES.set(upgrades + 1);
}
