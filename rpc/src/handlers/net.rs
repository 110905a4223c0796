//! `net_` and `web3_` handlers.

use alloy_primitives::{B256, Bytes, U64, keccak256};
use jsonrpsee::core::{RpcResult, async_trait};

use super::Handlers;
use crate::api::net::NetApiServer;
use crate::api::web3::Web3ApiServer;
use crate::node::Queries as _;

#[async_trait]
impl NetApiServer for Handlers {
    async fn version(&self) -> RpcResult<String> {
        let info = self.node.read(|node| node.chain_info()).await?;
        Ok(info.chain_id.to_string())
    }

    fn listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn peer_count(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }
}

impl Web3ApiServer for Handlers {
    fn client_version(&self) -> RpcResult<String> {
        Ok(format!("canister-evm/v{}/wasm32-icp/revm", env!("CARGO_PKG_VERSION")))
    }

    fn sha3(&self, data: Bytes) -> RpcResult<B256> {
        Ok(keccak256(data))
    }
}
