//! End-to-end tests: the real `canister-evm` binary, driven by real clients.
//!
//! Each test starts the node on a free loopback port and runs a client test
//! suite from `tests/js` against it. npm packages are installed from the
//! lockfiles on first use. The node dies with the test process.

mod harness;

mod clients;
mod contracts;
mod costs;
mod durability;
mod explorer;
mod node;
