//! Dev-node controls with the names anvil and Hardhat use: `evm_mine`,
//! `anvil_mine` (alias `hardhat_mine`), `evm_increaseTime`,
//! `evm_setNextBlockTimestamp`.
//!
//! Blocks are produced by the canister's `mine` update, like any other
//! message (journaled, metered, verified). Time is what the host tells the
//! canister through `ic0.time`, so moving the chain's clock is the node's
//! business, exactly as an ICP replica decides the time of a round.

use jsonrpsee::core::{RpcResult, async_trait};
use jsonrpsee::proc_macros::rpc;

use crate::error::{self, invalid_params};
use crate::eth::{BlockCount, ChainEvent, EthRpc};

/// Most blocks one `anvil_mine` may produce: each is a real block.
pub const MAX_MINE: u64 = 10_000;

#[rpc(server, namespace = "evm")]
pub trait EvmApi {
    /// Handler for: evm_mine — one block, at `timestamp` if given.
    #[method(name = "mine")]
    async fn mine(&self, timestamp: Option<BlockCount>) -> RpcResult<String>;

    /// Handler for: evm_increaseTime — returns the total offset in seconds.
    #[method(name = "increaseTime")]
    async fn increase_time(&self, seconds: BlockCount) -> RpcResult<u64>;

    /// Handler for: evm_setNextBlockTimestamp
    #[method(name = "setNextBlockTimestamp")]
    async fn set_next_block_timestamp(&self, timestamp: BlockCount) -> RpcResult<()>;
}

#[rpc(server, namespace = "anvil")]
pub trait AnvilApi {
    /// Handler for: anvil_mine and hardhat_mine — `blocks` blocks (1 by
    /// default), `interval` seconds apart.
    #[method(name = "mine", aliases = ["hardhat_mine"])]
    async fn mine(&self, blocks: Option<BlockCount>, interval: Option<BlockCount>)
    -> RpcResult<()>;
}

impl EthRpc {
    async fn set_next_time(&self, seconds: u64) -> RpcResult<()> {
        self.node()
            .run(move |node| Ok(node.set_next_block_time(seconds)))
            .await?
            .map_err(error::server_error)
    }

    /// Mines `blocks` blocks, `interval` seconds apart (the first one now).
    async fn mine_blocks(&self, blocks: u64, interval: Option<u64>) -> RpcResult<()> {
        if blocks > MAX_MINE {
            return Err(invalid_params(format!(
                "at most {MAX_MINE} blocks at once (each is a real block), not {blocks}"
            )));
        }
        for i in 0..blocks {
            let block = self
                .node()
                .run(move |node| {
                    if let Some(seconds) = interval.filter(|_| i > 0) {
                        node.increase_time(seconds);
                    }
                    node.mine()
                })
                .await?;
            self.node().publish(ChainEvent::Block(block.number));
        }
        Ok(())
    }
}

#[async_trait]
impl EvmApiServer for EthRpc {
    async fn mine(&self, timestamp: Option<BlockCount>) -> RpcResult<String> {
        if let Some(BlockCount(seconds)) = timestamp {
            self.set_next_time(seconds).await?;
        }
        self.mine_blocks(1, None).await?;
        Ok("0x0".to_owned())
    }

    async fn increase_time(&self, seconds: BlockCount) -> RpcResult<u64> {
        self.node().run(move |node| Ok(node.increase_time(seconds.0))).await
    }

    async fn set_next_block_timestamp(&self, timestamp: BlockCount) -> RpcResult<()> {
        self.set_next_time(timestamp.0).await
    }
}

#[async_trait]
impl AnvilApiServer for EthRpc {
    async fn mine(
        &self,
        blocks: Option<BlockCount>,
        interval: Option<BlockCount>,
    ) -> RpcResult<()> {
        self.mine_blocks(blocks.map_or(1, |b| b.0), interval.map(|i| i.0)).await
    }
}
