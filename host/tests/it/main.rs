//! Integration tests of the host: message semantics of the System API.

mod counter;
mod determinism;
mod fuzz;
mod lifecycle;
mod messages;
mod metering;
mod motoko;
mod replica;
mod replica_metering;
