//! `canister-evm`: an Ethereum JSON-RPC node whose EVM runs inside a wasm
//! Internet Computer canister.
//!
//! The node installs the EVM canister (`evm-canister`, built for
//! `wasm32-unknown-unknown`) in the deterministic replica of `canister-host`,
//! and translates Ethereum JSON-RPC into the canister's Candid methods:
//!
//! ```text
//!  ethers / viem / MetaMask ──JSON-RPC──▶ server (jsonrpsee)
//!                                           │  eth.rs: handlers
//!                                           ▼
//!                                         Node ──Candid──▶ Canister (wasmtime)
//!                                                            └─ revm + stable memory
//! ```
//!
//! - [`node`]: the installed canister and typed access to its methods;
//! - [`eth`]: the `eth_`/`net_`/`web3_`/`personal_` handlers;
//! - [`pubsub`]: `eth_subscribe` over WebSocket; [`filters`]: polling filters;
//! - [`controls`]: `evm_mine`, `evm_increaseTime` and other dev-node controls;
//! - [`convert`]: JSON-RPC types ⇄ the canister's types;
//! - [`error`]: every JSON-RPC error code and message, in one place;
//! - [`dev`]: the development accounts of the standard test mnemonic;
//! - [`storage`]: the data directory that keeps the chain across restarts;
//! - [`statetest`]: Ethereum's state tests, run through the canister.

pub mod controls;
pub mod convert;
pub mod debug;
pub mod dev;
pub mod error;
pub mod eth;
pub mod filters;
pub mod limits;
pub mod node;
pub mod pubsub;
pub mod server;
pub mod statetest;
pub mod storage;
pub mod transport;
pub mod websocket;

/// The EVM canister's wasm module, built from `evm-canister`.
pub const CANISTER_WASM: &[u8] = evm_canister_wasm::WASM;
