//! The `web3_` namespace.

use alloy_primitives::{B256, Bytes};
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

#[rpc(server, namespace = "web3")]
pub trait Web3Api {
    /// Handler for: web3_clientVersion
    #[method(name = "clientVersion")]
    fn client_version(&self) -> RpcResult<String>;

    /// Handler for: web3_sha3, keccak-256 of the data
    #[method(name = "sha3")]
    fn sha3(&self, data: Bytes) -> RpcResult<B256>;
}
