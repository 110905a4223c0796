//! Integration tests of the chain, run natively (the same code the canister
//! runs in wasm), with stable memory backed by a `Vec`.

mod dev;

mod calls;
mod commitments;
mod controls;
mod errors;
mod fuzz;
mod http;
mod pool;
mod trace;
mod transactions;
