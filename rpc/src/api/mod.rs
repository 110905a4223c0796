//! The JSON-RPC interface: one `#[rpc(server)]` trait per namespace, with
//! the wire types it adds to alloy's. The implementations are in
//! [`crate::handlers`].

pub mod controls;
pub mod debug;
pub mod eth;
pub mod ic;
pub mod net;
pub mod personal;
pub mod pubsub;
pub mod web3;

pub use evm_jsonrpc::Quantity;
