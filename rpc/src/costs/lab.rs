//! A chain in this process to measure on: the canister under the host, as
//! the node runs it, with a fixed genesis and clock so that the same
//! transactions cost the same instructions on every run.

use std::path::PathBuf;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context as _, anyhow, bail};
use canister_host::HostConfig;
use evm_canister_api::{AccountEdit, BlockTag, CallArgs, CallOutcome, Hash};
use serde_bytes::ByteBuf;

use crate::cost::TxCost;
use crate::devchain::DevChain;
use crate::node::Queries as _;
use crate::node::{Clock, Node, NodeConfig};

/// Every measured transaction's gas limit: room for a long loop.
const GAS_LIMIT: u64 = 28_000_000;
const GENESIS_TIME: u64 = 1_700_000_000;

fn lab_chain() -> DevChain {
    DevChain { accounts: 2, timestamp: GENESIS_TIME, ..DevChain::default() }
}

/// The node configuration of a lab chain kept in memory, with a clock that
/// starts at its genesis and moves a second per message.
pub fn config(cache_dir: Option<PathBuf>) -> NodeConfig {
    let chain = lab_chain();
    NodeConfig {
        genesis: chain.genesis(&chain.signers()),
        host: HostConfig { cache_dir, ..HostConfig::default() },
        verify_with: None,
        clock: Clock::Manual { start: GENESIS_TIME * 1_000_000_000, step: 1_000_000_000 },
        data_dir: None,
        checkpoint_interval: u64::MAX,
    }
}

/// The chain, and the development account that signs every transaction.
pub struct Lab {
    node: Node,
    signer: PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
}

/// What one transaction did and cost.
#[derive(Clone, Copy, Debug)]
pub struct Mined {
    pub hash: B256,
    pub success: bool,
    pub cost: TxCost,
    /// The contract it created, if it was a creation.
    pub created: Option<Address>,
}

impl Lab {
    /// A new in-memory chain; compiled modules are cached in `cache_dir`.
    pub fn start(cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let chain = lab_chain();
        let (node, _) = Node::start(crate::CANISTER_WASM, config(cache_dir))?;
        let signer = chain.signers().into_iter().next().context("a development account")?;
        Ok(Self { node, signer, chain_id: chain.chain_id, nonce: 0 })
    }

    /// The account that sends the transactions.
    pub fn sender(&self) -> Address {
        self.signer.address()
    }

    /// The sender's signature of `digest`.
    pub fn sign(&self, digest: &B256) -> anyhow::Result<alloy_primitives::Signature> {
        Ok(self.signer.sign_hash_sync(digest)?)
    }

    /// Sets `address`'s code (as `anvil_setCode`), in the next block.
    pub fn set_code(&mut self, address: Address, code: &[u8]) -> anyhow::Result<()> {
        self.edit(AccountEdit {
            address: address.into(),
            code: Some(ByteBuf::from(code)),
            ..AccountEdit::default()
        })
    }

    /// Sets storage slots of `address`, in the next block.
    pub fn set_storage(&mut self, address: Address, slots: &[(U256, U256)]) -> anyhow::Result<()> {
        let storage = slots
            .iter()
            .map(|(slot, value)| (Hash(B256::from(*slot)), Hash(B256::from(*value))))
            .collect();
        self.edit(AccountEdit { address: address.into(), storage, ..AccountEdit::default() })
    }

    /// Sets `address`'s balance, in the next block.
    pub fn set_balance(&mut self, address: Address, balance: U256) -> anyhow::Result<()> {
        self.edit(AccountEdit {
            address: address.into(),
            balance: Some(balance.into()),
            ..AccountEdit::default()
        })
    }

    /// Mines a block of what is pending (edits included).
    pub fn mine(&mut self) -> anyhow::Result<()> {
        self.node.mine().map(drop).map_err(|e| anyhow!("mining: {e}"))
    }

    fn edit(&mut self, edit: AccountEdit) -> anyhow::Result<()> {
        self.node.edit_account(edit).map_err(|e| anyhow!("editing an account: {e}"))
    }

    /// Signs and sends a transaction, which the chain mines at once.
    pub fn transact(&mut self, to: TxKind, input: Vec<u8>, value: U256) -> anyhow::Result<Mined> {
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit: GAS_LIMIT,
            max_fee_per_gas: 100_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to,
            value,
            input: input.into(),
            access_list: Default::default(),
        };
        let signature = self.signer.sign_hash_sync(&tx.signature_hash())?;
        let raw = TxEnvelope::from(tx.into_signed(signature)).encoded_2718();
        let submitted = self
            .node
            .send_raw_transaction(&raw)
            .map_err(|e| anyhow!("sending a transaction: {e}"))?
            .map_err(|e| anyhow!("the chain refused a transaction: {e:?}"))?;
        self.nonce += 1;
        let hash = submitted.result.tx_hash.0;
        let cost = submitted.cost.context("an automined transaction has a cost")?;
        let receipt = self
            .node
            .receipt(Hash(hash))
            .map_err(|e| anyhow!("reading a receipt: {e}"))?
            .context("a mined transaction has a receipt")?;
        let success = submitted
            .result
            .blocks
            .iter()
            .flat_map(|block| &block.transactions)
            .find(|mined| mined.hash.0 == hash)
            .is_some_and(|mined| mined.success);
        Ok(Mined { hash, success, cost, created: receipt.contract_address.map(|a| a.0) })
    }

    /// Deploys `initcode`; the new contract's address.
    pub fn deploy(&mut self, initcode: Vec<u8>) -> anyhow::Result<Address> {
        let mined = self.transact(TxKind::Create, initcode, U256::ZERO)?;
        match (mined.success, mined.created) {
            (true, Some(address)) => Ok(address),
            _ => bail!("deploying a contract failed (transaction {})", mined.hash),
        }
    }

    /// What calling `to` with `input` returns, on the latest state; an
    /// error if it reverts or halts.
    pub fn call(&mut self, to: Address, input: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let args = CallArgs {
            from: Some(self.sender().into()),
            to: Some(to.into()),
            input: ByteBuf::from(input),
            ..CallArgs::default()
        };
        match self.node.call(args, BlockTag::Latest, Vec::new()) {
            Ok(Ok(CallOutcome::Success { output, .. })) => Ok(output.into_vec()),
            Ok(Ok(outcome)) => bail!("the call to {to} failed: {outcome:?}"),
            Ok(Err(error)) => bail!("the call to {to} failed: {error:?}"),
            Err(error) => bail!("the call to {to} failed: {error}"),
        }
    }
}
