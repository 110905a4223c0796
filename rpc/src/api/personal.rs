//! The `personal_` namespace.

use alloy_primitives::{Address, Bytes};
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

#[rpc(server, namespace = "personal")]
pub trait PersonalApi {
    /// Handler for: personal_sign (EIP-191, by a dev account)
    #[method(name = "sign")]
    async fn personal_sign(&self, message: Bytes, address: Address) -> RpcResult<Bytes>;
}
