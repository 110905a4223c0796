//! `canister-evm`: an Ethereum JSON-RPC node whose EVM runs inside a wasm
//! Internet Computer canister.
//!
//! The node installs the EVM canister (`evm-canister`, built for
//! `wasm32-unknown-unknown`) in the deterministic replica of `canister-host`,
//! and translates Ethereum JSON-RPC into the canister's Candid methods:
//!
//! ```text
//!  ethers / viem / MetaMask ──JSON-RPC──▶ server (jsonrpsee)
//!                                           │  api: the methods; handlers: what they do
//!                                           ▼
//!                                         Node ──Candid──▶ Canister (wasmtime)
//!                                                            └─ revm + stable memory
//! ```
//!
//! - [`api`]: the JSON-RPC interface, one `#[rpc(server)]` trait per
//!   namespace with its wire types; [`handlers`]: their implementations;
//! - [`handle`]: the node as connections share it (lock, dev accounts,
//!   impersonation, interval mining, chain events);
//! - [`node`]: the installed canister — lifecycle and replay, the dev clock,
//!   journaling and verification, typed access to its methods;
//! - [`cost`]: what each transaction cost, apportioned from its message, and
//!   where its instructions went; [`txlog`]: the log line per transaction;
//! - [`costs`]: the gas-vs-cycles instrument (`canister-evm costs`):
//!   opcode calibration, the cost report and its plots, the baseline;
//! - [`contracts`]: the artifacts of `contracts/`, built in;
//! - [`filters`]: polling filters; [`limits`]: what a public endpoint bounds;
//! - [`server`], [`transport`], [`websocket`]: HTTP and WebSocket serving;
//! - [`convert`]: JSON-RPC types ⇄ the canister's types;
//! - [`error`]: every JSON-RPC error code and message, in one place;
//! - [`devchain`]: the development chain and accounts of the standard test mnemonic;
//! - [`storage`]: the data directory that keeps the chain across restarts.

pub mod api;
pub mod contracts;
pub mod convert;
pub mod cost;
pub mod costs;
pub mod devchain;
pub mod error;
pub mod explorer;
pub mod filters;
pub mod gateway;
pub mod handle;
pub mod handlers;
pub mod limits;
pub mod node;
pub mod server;
pub mod storage;
pub mod transport;
pub mod txlog;
pub mod verify;
pub mod websocket;

/// The EVM canister's wasm module, built from `evm-canister`.
pub const CANISTER_WASM: &[u8] = evm_canister_wasm::WASM;
