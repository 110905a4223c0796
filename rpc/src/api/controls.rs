//! The dev-node namespaces anvil and Hardhat have: `evm_`, `anvil_` (also
//! as `hardhat_`) and `txpool_`.

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_rpc_types_eth::Transaction;
use alloy_rpc_types_txpool::{TxpoolContent, TxpoolInspect, TxpoolStatus};
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use serde::Deserialize;

use crate::api::Quantity;

/// The interval of `evm_setIntervalMining`: milliseconds, or a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IntervalMs {
    Fixed(u64),
    Range([u64; 2]),
}

#[rpc(server, namespace = "evm")]
pub trait EvmApi {
    /// Handler for: evm_mine — one block, at `timestamp` if given.
    #[method(name = "mine")]
    async fn mine(&self, timestamp: Option<Quantity>) -> RpcResult<String>;

    /// Handler for: evm_increaseTime — returns the total offset in seconds.
    #[method(name = "increaseTime")]
    async fn increase_time(&self, seconds: Quantity) -> RpcResult<u64>;

    /// Handler for: evm_setNextBlockTimestamp
    #[method(name = "setNextBlockTimestamp")]
    async fn set_next_block_timestamp(&self, timestamp: Quantity) -> RpcResult<()>;

    /// Handler for: evm_snapshot — the id to revert to.
    #[method(name = "snapshot")]
    async fn snapshot(&self) -> RpcResult<U64>;

    /// Handler for: evm_revert — `false` if the snapshot does not exist or
    /// was used; reverting uses it up, with every later snapshot.
    #[method(name = "revert")]
    async fn revert(&self, id: U64) -> RpcResult<bool>;

    /// Handler for: evm_setAutomine
    #[method(name = "setAutomine")]
    async fn set_automine(&self, enabled: bool) -> RpcResult<bool>;

    /// Handler for: evm_setIntervalMining — milliseconds between blocks, as
    /// Hardhat takes them (0 turns it off; a `[min, max]` range uses `min`).
    #[method(name = "setIntervalMining")]
    async fn set_interval_mining(&self, interval: IntervalMs) -> RpcResult<bool>;
}

#[rpc(server, namespace = "txpool")]
pub trait TxpoolApi {
    /// Handler for: txpool_status
    #[method(name = "status")]
    async fn status(&self) -> RpcResult<TxpoolStatus>;

    /// Handler for: txpool_content
    #[method(name = "content")]
    async fn content(&self) -> RpcResult<TxpoolContent<Transaction>>;

    /// Handler for: txpool_inspect
    #[method(name = "inspect")]
    async fn inspect(&self) -> RpcResult<TxpoolInspect>;
}

#[rpc(server, namespace = "anvil")]
pub trait AnvilApi {
    /// Handler for: anvil_mine and hardhat_mine — `blocks` blocks (1 by
    /// default), `interval` seconds apart.
    #[method(name = "mine", aliases = ["hardhat_mine"])]
    async fn mine(&self, blocks: Option<Quantity>, interval: Option<Quantity>) -> RpcResult<()>;

    /// Handler for: anvil_setBalance and hardhat_setBalance
    #[method(name = "setBalance", aliases = ["hardhat_setBalance"])]
    async fn set_balance(&self, address: Address, balance: U256) -> RpcResult<bool>;

    /// Handler for: anvil_setCode and hardhat_setCode
    #[method(name = "setCode", aliases = ["hardhat_setCode"])]
    async fn set_code(&self, address: Address, code: Bytes) -> RpcResult<bool>;

    /// Handler for: anvil_setNonce and hardhat_setNonce
    #[method(name = "setNonce", aliases = ["hardhat_setNonce"])]
    async fn set_nonce(&self, address: Address, nonce: U64) -> RpcResult<bool>;

    /// Handler for: anvil_setStorageAt and hardhat_setStorageAt — `value`
    /// is a 32-byte word.
    #[method(name = "setStorageAt", aliases = ["hardhat_setStorageAt"])]
    async fn set_storage_at(&self, address: Address, slot: U256, value: B256) -> RpcResult<bool>;

    /// Handler for: anvil_impersonateAccount and hardhat_impersonateAccount
    #[method(name = "impersonateAccount", aliases = ["hardhat_impersonateAccount"])]
    async fn impersonate_account(&self, address: Address) -> RpcResult<bool>;

    /// Handler for: anvil_stopImpersonatingAccount and hardhat_stopImpersonatingAccount
    #[method(name = "stopImpersonatingAccount", aliases = ["hardhat_stopImpersonatingAccount"])]
    async fn stop_impersonating_account(&self, address: Address) -> RpcResult<bool>;

    /// Handler for: anvil_getAutomine and hardhat_getAutomine
    #[method(name = "getAutomine", aliases = ["hardhat_getAutomine"])]
    async fn get_automine(&self) -> RpcResult<bool>;

    /// Handler for: anvil_setAutomine (as `evm_setAutomine`)
    #[method(name = "setAutomine")]
    async fn set_automine(&self, enabled: bool) -> RpcResult<bool>;

    /// Handler for: anvil_setIntervalMining — seconds between blocks, as
    /// anvil takes them (0 turns it off).
    #[method(name = "setIntervalMining")]
    async fn set_interval_mining(&self, seconds: u64) -> RpcResult<bool>;
}
