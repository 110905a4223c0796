//! One case on a fresh chain: a canister installed in the host, or the same
//! canister code natively.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy_consensus::{Header, ReceiptEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use anyhow::Context as _;
use canister_host::{Canister, CanisterModule, CanisterSettings, Host, HostConfig, MessageEnv};
use evm_canister_api::{
    BlockTag, BlockView, FirstBlock, GenesisAccount, Hash, InitArgs, ReceiptView, SubmitResult,
    TxError,
};
use revm_statetest_types::{AccountInfo, Env, SpecName, Test};
use serde_bytes::ByteBuf;

use crate::{Case, CaseResult, Mode, Observed, Unit, Verdict, chain_spec};
/// The chain a case runs on.
pub(crate) enum Runner {
    Wasm { host: Box<Host>, module: Arc<CanisterModule> },
    Native,
}

/// The anonymous principal, which every message comes from.
const CALLER: [u8; 1] = [4];

/// What a chain made of a case's transaction.
struct Outcome {
    genesis_root: B256,
    included: Result<(B256, B256), String>,
    instructions: Option<u64>,
}

impl Runner {
    pub(crate) fn new(mode: Mode) -> anyhow::Result<Self> {
        Ok(match mode {
            Mode::Wasm => {
                let host = Host::new(HostConfig::default())?;
                let module = host.compile(evm_canister_wasm::WASM)?;
                Self::Wasm { host: Box::new(host), module }
            }
            Mode::Native => Self::Native,
        })
    }

    pub(crate) fn run_case(&self, case: &Case) -> CaseResult {
        let (fork, test) = case.fork();
        let (verdict, observed) = match self.judge(fork, &case.unit, test) {
            Ok((verdict, observed)) => (verdict, observed),
            Err(error) => (Verdict::Failed(format!("{error:#}")), None),
        };
        CaseResult {
            file: case.file.to_string(),
            test: case.test.to_string(),
            fork: format!("{fork:?}"),
            index: case.index,
            verdict,
            observed,
        }
    }

    fn judge(
        &self,
        fork: &SpecName,
        unit: &Unit,
        test: &Test,
    ) -> anyhow::Result<(Verdict, Option<Observed>)> {
        let Some(spec) = chain_spec(fork) else {
            return Ok((
                Verdict::Skipped(format!(
                    "{fork:?} predates the Merge; the chain runs Paris and later forks"
                )),
                None,
            ));
        };
        let Some(tx) = &test.txbytes else {
            anyhow::bail!("the case has no txbytes");
        };
        if tx.first() == Some(&3) {
            return Ok((
                Verdict::Skipped(
                    "a blob transaction (EIP-4844, type 3): the chain does not accept them"
                        .to_owned(),
                ),
                None,
            ));
        }
        let genesis = genesis(&unit.env, &unit.pre, spec);
        let outcome = self.execute(&genesis, tx)?;
        let observed = match &outcome.included {
            Ok((state_root, logs_hash)) => Observed {
                rejected: None,
                state_root: *state_root,
                logs_hash: *logs_hash,
                instructions: outcome.instructions,
            },
            Err(reason) => Observed {
                rejected: Some(reason.clone()),
                state_root: outcome.genesis_root,
                logs_hash: keccak256([alloy_rlp::EMPTY_LIST_CODE]),
                instructions: outcome.instructions,
            },
        };
        Ok((verdict(test, &observed), Some(observed)))
    }

    /// Installs a chain with `genesis` and submits `tx`.
    fn execute(&self, genesis: &InitArgs, tx: &Bytes) -> anyhow::Result<Outcome> {
        let first = genesis.first_block.as_ref().expect("state tests pin the first block");
        let now = first.timestamp.saturating_mul(1_000_000_000);
        match self {
            Self::Native => {
                let memory = evm_canister::SparseMemory::default();
                let mut chain = evm_canister::Chain::create(memory, genesis)
                    .map_err(|e| anyhow::anyhow!("invalid genesis: {e}"))?;
                let genesis_root = state_root(chain.block(BlockTag::Earliest, false))?;
                let included = match chain.submit(tx, now) {
                    Ok(result) if result.included().is_none() => Err(POOLED.to_owned()),
                    Ok(result) => {
                        let root = state_root(chain.block(BlockTag::Latest, false))?;
                        Ok((root, logs_hash(chain.receipt(result.tx_hash.0))?))
                    }
                    Err(error) => Err(describe(&error)),
                };
                Ok(Outcome { genesis_root, included, instructions: None })
            }
            Self::Wasm { host, module } => {
                let env = MessageEnv { caller: CALLER.to_vec(), time: now };
                let arg = candid::encode_one(genesis)?;
                // The caller is a controller, as the node is: the state
                // tests check submission, not ingress inspection.
                let settings =
                    CanisterSettings { controllers: vec![CALLER.to_vec()], ..Default::default() };
                let (mut canister, _) =
                    Canister::install(host, module.clone(), settings, &arg, &env)?;
                let block = |canister: &mut Canister, tag: BlockTag| -> anyhow::Result<B256> {
                    let arg = candid::encode_args((tag, false))?;
                    let execution = canister.query("get_block", &arg, &env)?;
                    let reply = execution.reply().context("get_block")?;
                    state_root(candid::decode_one(reply)?)
                };
                let genesis_root = block(&mut canister, BlockTag::Earliest)?;
                let arg = candid::encode_one(ByteBuf::from(tx.to_vec()))?;
                let execution = canister.update("send_raw_transaction", &arg, &env)?;
                let instructions = Some(execution.instructions);
                let reply = execution
                    .reply()
                    .map_err(|error| anyhow::anyhow!("send_raw_transaction: {error}"))?;
                let submitted: Result<SubmitResult, TxError> = candid::decode_one(reply)?;
                let included = match submitted {
                    Ok(result) if result.included().is_none() => Err(POOLED.to_owned()),
                    Ok(result) => {
                        let root = block(&mut canister, BlockTag::Latest)?;
                        let arg = candid::encode_one(result.tx_hash)?;
                        let execution = canister.query("get_receipt", &arg, &env)?;
                        let reply = execution.reply().context("get_receipt")?;
                        Ok((root, logs_hash(candid::decode_one(reply)?)?))
                    }
                    Err(error) => Err(describe(&error)),
                };
                Ok(Outcome { genesis_root, included, instructions })
            }
        }
    }
}

/// Why a transaction a state test expects to fail was not included: its
/// nonce is ahead of the sender's, so the pool keeps it for later.
const POOLED: &str = "nonce too high: the transaction waits in the pool";

/// The verdict on a case given what the chain did.
fn verdict(test: &Test, observed: &Observed) -> Verdict {
    match (&test.expect_exception, &observed.rejected) {
        (Some(expected), None) => {
            Verdict::Failed(format!("the chain accepted a transaction that must fail ({expected})"))
        }
        (None, Some(reason)) => {
            Verdict::Failed(format!("the chain refused the transaction: {reason}"))
        }
        (Some(_), Some(_)) | (None, None) => {
            if observed.state_root != test.hash {
                Verdict::Failed(format!(
                    "state root {} (expected {})",
                    observed.state_root, test.hash
                ))
            } else if observed.logs_hash != test.logs {
                Verdict::Failed(format!(
                    "logs hash {} (expected {})",
                    observed.logs_hash, test.logs
                ))
            } else {
                Verdict::Passed
            }
        }
    }
}

/// A refusal as one line.
fn describe(error: &TxError) -> String {
    format!("{error:?}")
}

fn state_root(block: Option<BlockView>) -> anyhow::Result<B256> {
    let block = block.context("the block is missing")?;
    Ok(Header::decode(&mut block.header.as_ref())?.state_root)
}

/// `keccak256(rlp(logs))` of a receipt's logs, as state tests define it.
fn logs_hash(receipt: Option<ReceiptView>) -> anyhow::Result<B256> {
    let receipt = receipt.context("the receipt is missing")?;
    let envelope = ReceiptEnvelope::decode_2718(&mut receipt.receipt.as_ref())?;
    let mut rlp = Vec::new();
    alloy_rlp::encode_list(envelope.logs(), &mut rlp);
    Ok(keccak256(rlp))
}

/// The genesis of a case's chain: the pre-state, and the fixture's block as
/// the first block after genesis. Chain id 1, as in every state test.
fn genesis(
    env: &Env,
    pre: &BTreeMap<alloy_primitives::Address, AccountInfo>,
    spec: revm::primitives::hardfork::SpecId,
) -> InitArgs {
    let u64_of = |value: U256| value.saturating_to::<u64>();
    let timestamp = u64_of(env.current_timestamp);
    InitArgs {
        chain_id: 1,
        hardfork: Some(<&str>::from(spec).to_owned()),
        block_gas_limit: u64_of(env.current_gas_limit),
        initial_base_fee: env.current_base_fee.map(u64_of).unwrap_or_default(),
        genesis_timestamp: timestamp.saturating_sub(1),
        coinbase: Some(env.current_coinbase.into()),
        accounts: pre
            .iter()
            .map(|(address, account)| {
                let mut storage: Vec<(Hash, Hash)> = account
                    .storage
                    .iter()
                    .map(|(slot, value)| (B256::from(*slot).into(), B256::from(*value).into()))
                    .collect();
                storage.sort_by_key(|(slot, _)| slot.0);
                GenesisAccount {
                    address: (*address).into(),
                    balance: account.balance.into(),
                    nonce: account.nonce,
                    code: account.code.to_vec().into(),
                    storage,
                }
            })
            .collect(),
        first_block: Some(FirstBlock {
            number: u64_of(env.current_number),
            timestamp,
            base_fee: env.current_base_fee.map(u64_of).unwrap_or_default(),
            prevrandao: env.current_random.unwrap_or_default().into(),
            excess_blob_gas: env.current_excess_blob_gas.map(u64_of).unwrap_or_default(),
        }),
    }
}
