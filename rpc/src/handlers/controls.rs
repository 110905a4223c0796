//! Dev-node controls with the names anvil and Hardhat use (`anvil_` methods
//! answer to `hardhat_` too): mining (`evm_mine`, `anvil_mine`,
//! `evm_setAutomine`, `evm_setIntervalMining`), time
//! (`evm_increaseTime`, `evm_setNextBlockTimestamp`), snapshots
//! (`evm_snapshot`, `evm_revert`), state edits (`anvil_setBalance`,
//! `setCode`, `setNonce`, `setStorageAt`), impersonation, and the pool
//! (`txpool_status`, `txpool_content`, `txpool_inspect`).
//!
//! Everything that changes the chain is an update of the canister, callable
//! by its controller only, like any other message (journaled, metered,
//! verified): there is no back door into its memory. Time is what the host
//! tells the canister through `ic0.time`, so moving the chain's clock is the
//! node's business, exactly as an ICP replica decides the time of a round;
//! so is which accounts the node sends as without their keys.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::Transaction;
use alloy_rpc_types_txpool::{TxpoolContent, TxpoolInspect, TxpoolInspectSummary, TxpoolStatus};
use evm_canister_api::{AccountEdit, Hash, PooledTx};
use jsonrpsee::core::{RpcResult, async_trait};

use super::Handlers;
use crate::api::Quantity;
use crate::api::controls::{AnvilApiServer, EvmApiServer, IntervalMs, TxpoolApiServer};
use crate::convert;
use crate::error::{self, invalid_params};
use crate::handle::ChainEvent;
use crate::node::Queries as _;

/// Most blocks one `anvil_mine` may produce: each is a real block.
pub const MAX_MINE: u64 = 10_000;

impl Handlers {
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
        if let Some(seconds) = interval {
            // All or nothing: refused before the first block if the last
            // would be past the clock's end.
            let total = seconds.saturating_mul(blocks.saturating_sub(1));
            self.node()
                .run(move |node| Ok(node.time_increase(total)))
                .await?
                .map_err(error::server_error)?;
        }
        for i in 0..blocks {
            let block = self
                .node()
                .run(move |node| {
                    if let Some(seconds) = interval.filter(|_| i > 0)
                        && let Err(refused) = node.increase_time(seconds)
                    {
                        return Ok(Err(refused));
                    }
                    node.mine().map(Ok)
                })
                .await?
                .map_err(error::server_error)?;
            self.node().publish(ChainEvent::Block(block.number));
        }
        Ok(())
    }
}

impl Handlers {
    async fn edit(&self, edit: AccountEdit) -> RpcResult<bool> {
        self.node().run(move |node| node.edit_account(edit)).await?;
        Ok(true)
    }

    async fn automine(&self, enabled: bool) -> RpcResult<bool> {
        let blocks = self.node().run(move |node| node.set_automine(enabled)).await?;
        if let Some(block) = blocks.last() {
            self.node().publish(ChainEvent::Block(block.number));
        }
        Ok(true)
    }

    fn interval(&self, period: Option<Duration>) -> RpcResult<bool> {
        self.node().set_interval_mining(period);
        Ok(true)
    }

    async fn pool(&self) -> RpcResult<Vec<PooledTx>> {
        self.node().run(|node| node.pool_content()).await
    }
}

/// Pooled transactions by sender and nonce, split as geth's txpool does.
fn by_sender<T>(
    pool: Vec<PooledTx>,
    mut f: impl FnMut(PooledTx) -> Result<T, evm_jsonrpc::RpcError>,
) -> RpcResult<[BTreeMap<Address, BTreeMap<String, T>>; 2]> {
    let mut out = [BTreeMap::new(), BTreeMap::new()];
    for tx in pool {
        let (sender, nonce, index) = (tx.from.0, tx.nonce.to_string(), usize::from(!tx.executable));
        out[index].entry(sender).or_insert_with(BTreeMap::new).insert(nonce, f(tx)?);
    }
    Ok(out)
}

#[async_trait]
impl TxpoolApiServer for Handlers {
    async fn status(&self) -> RpcResult<TxpoolStatus> {
        let pool = self.pool().await?;
        let pending = pool.iter().filter(|tx| tx.executable).count() as u64;
        Ok(TxpoolStatus { pending, queued: pool.len() as u64 - pending })
    }

    async fn content(&self) -> RpcResult<TxpoolContent<Transaction>> {
        let [pending, queued] = by_sender(self.pool().await?, convert::pooled_transaction)?;
        Ok(TxpoolContent { pending, queued })
    }

    async fn inspect(&self) -> RpcResult<TxpoolInspect> {
        let [pending, queued] = by_sender(self.pool().await?, |tx| {
            convert::pooled_transaction(tx)
                .map(|tx| TxpoolInspectSummary::from_tx(tx.inner.into_inner()))
        })?;
        Ok(TxpoolInspect { pending, queued })
    }
}

#[async_trait]
impl EvmApiServer for Handlers {
    async fn mine(&self, timestamp: Option<Quantity>) -> RpcResult<String> {
        if let Some(Quantity(seconds)) = timestamp {
            self.set_next_time(seconds).await?;
        }
        self.mine_blocks(1, None).await?;
        Ok("0x0".to_owned())
    }

    async fn increase_time(&self, seconds: Quantity) -> RpcResult<u64> {
        self.node()
            .run(move |node| Ok(node.increase_time(seconds.0)))
            .await?
            .map_err(error::server_error)
    }

    async fn set_next_block_timestamp(&self, timestamp: Quantity) -> RpcResult<()> {
        self.set_next_time(timestamp.0).await
    }

    async fn snapshot(&self) -> RpcResult<U64> {
        Ok(U64::from(self.node().run(|node| node.snapshot()).await?))
    }

    async fn revert(&self, id: U64) -> RpcResult<bool> {
        let id = id.to::<u64>();
        let reverted = self.node().run(move |node| node.revert(id)).await?;
        if reverted {
            let head = self.node().run(|node| node.chain_info()).await?.latest_block;
            self.node().publish(ChainEvent::Reverted(head));
        }
        Ok(reverted)
    }

    async fn set_automine(&self, enabled: bool) -> RpcResult<bool> {
        self.automine(enabled).await
    }

    async fn set_interval_mining(&self, interval: IntervalMs) -> RpcResult<bool> {
        let ms = match interval {
            IntervalMs::Fixed(ms) => ms,
            IntervalMs::Range([min, max]) if min <= max => min,
            IntervalMs::Range(_) => {
                return Err(invalid_params("the interval range's minimum exceeds its maximum"));
            }
        };
        self.interval((ms > 0).then(|| Duration::from_millis(ms)))
    }
}

#[async_trait]
impl AnvilApiServer for Handlers {
    async fn mine(&self, blocks: Option<Quantity>, interval: Option<Quantity>) -> RpcResult<()> {
        self.mine_blocks(blocks.map_or(1, |b| b.0), interval.map(|i| i.0)).await
    }

    async fn set_balance(&self, address: Address, balance: U256) -> RpcResult<bool> {
        self.edit(AccountEdit { balance: Some(balance.into()), ..edit(address) }).await
    }

    async fn set_code(&self, address: Address, code: Bytes) -> RpcResult<bool> {
        self.edit(AccountEdit { code: Some(code.to_vec().into()), ..edit(address) }).await
    }

    async fn set_nonce(&self, address: Address, nonce: U64) -> RpcResult<bool> {
        self.edit(AccountEdit { nonce: Some(nonce.to()), ..edit(address) }).await
    }

    async fn set_storage_at(&self, address: Address, slot: U256, value: B256) -> RpcResult<bool> {
        let storage = vec![(Hash(B256::from(slot)), Hash(value))];
        self.edit(AccountEdit { storage, ..edit(address) }).await
    }

    async fn impersonate_account(&self, address: Address) -> RpcResult<bool> {
        self.node().impersonate(address, true);
        Ok(true)
    }

    async fn stop_impersonating_account(&self, address: Address) -> RpcResult<bool> {
        self.node().impersonate(address, false);
        Ok(true)
    }

    async fn get_automine(&self) -> RpcResult<bool> {
        Ok(self.node().run(|node| node.mining_mode()).await?.automine)
    }

    async fn set_automine(&self, enabled: bool) -> RpcResult<bool> {
        self.automine(enabled).await
    }

    async fn set_interval_mining(&self, seconds: u64) -> RpcResult<bool> {
        self.interval((seconds > 0).then(|| Duration::from_secs(seconds)))
    }
}

fn edit(address: Address) -> AccountEdit {
    AccountEdit { address: address.into(), ..Default::default() }
}
