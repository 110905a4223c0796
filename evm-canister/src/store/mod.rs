//! Everything the canister persists in stable memory, and how.
//!
//! - [`layout`]: which virtual memory holds what, and the layout version;
//! - [`records`]: how each stored value is encoded (each with golden bytes);
//! - [`state`]: accounts, storage and code with their history, as a revm
//!   database;
//! - [`trie`]: the state and storage Merkle-Patricia tries, updated per block;
//! - [`sparse`]: stable memory for running a chain natively.
//!
//! A change to any encoding here changes what existing data directories
//! hold: it must bump [`layout::LAYOUT_VERSION`], and the golden tests fail
//! until it does.

pub mod layout;
pub mod records;
pub mod sparse;
pub mod state;
pub mod trie;
