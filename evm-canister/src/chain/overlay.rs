//! State overrides for messages (`eth_call`, `eth_estimateGas`,
//! `eth_createAccessList`): a read-only layer over the state that changes
//! what some accounts read as.

use alloy_primitives::{Address, B256, KECCAK256_EMPTY, U256, keccak256};
use evm_canister_api::{QueryError, StateOverride};
use revm::DatabaseRef;
use revm::bytecode::Bytecode;
use revm::primitives::{StorageKey, StorageValue};
use revm::state::AccountInfo;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

/// Most accounts one message may override.
pub const MAX_OVERRIDES: usize = 256;

/// One account's overrides, decoded.
#[derive(Default)]
struct Account {
    balance: Option<U256>,
    nonce: Option<u64>,
    code_hash: Option<B256>,
    /// `Some` replaces the whole storage.
    state: Option<BTreeMap<U256, U256>>,
    state_diff: BTreeMap<U256, U256>,
}

/// `inner` with some accounts overridden.
pub struct Overlay<DB> {
    inner: DB,
    accounts: HashMap<Address, Account>,
    codes: HashMap<B256, Bytecode>,
}

impl<DB> Overlay<DB> {
    pub fn new(inner: DB, overrides: &[StateOverride]) -> Result<Self, QueryError> {
        if overrides.len() > MAX_OVERRIDES {
            return Err(QueryError::LimitExceeded(format!(
                "at most {MAX_OVERRIDES} accounts may be overridden, not {}",
                overrides.len()
            )));
        }
        let slots = |pairs: &[(evm_canister_api::Hash, evm_canister_api::Hash)]| {
            pairs
                .iter()
                .map(|(slot, value)| {
                    (U256::from_be_bytes(slot.0.0), U256::from_be_bytes(value.0.0))
                })
                .collect::<BTreeMap<_, _>>()
        };
        let mut overlay = Self { inner, accounts: HashMap::new(), codes: HashMap::new() };
        for o in overrides {
            if o.state.is_some() && !o.state_diff.is_empty() {
                return Err(QueryError::InvalidArgument(format!(
                    "account {} has both 'state' and 'stateDiff'",
                    o.address
                )));
            }
            let code_hash = o.code.as_ref().map(|code| {
                if code.is_empty() {
                    return KECCAK256_EMPTY;
                }
                let hash = keccak256(code);
                let bytes = alloy_primitives::Bytes::copy_from_slice(code);
                overlay.codes.insert(hash, crate::store::state::bytecode(bytes));
                hash
            });
            let account = Account {
                balance: o.balance.as_ref().map(|b| b.0),
                nonce: o.nonce,
                code_hash,
                state: o.state.as_deref().map(slots),
                state_diff: slots(&o.state_diff),
            };
            if overlay.accounts.insert(o.address.0, account).is_some() {
                return Err(QueryError::InvalidArgument(format!(
                    "account {} is overridden twice",
                    o.address
                )));
            }
        }
        Ok(overlay)
    }
}

impl<DB: DatabaseRef<Error = Infallible>> DatabaseRef for Overlay<DB> {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let info = self.inner.basic_ref(address)?;
        let Some(o) = self.accounts.get(&address) else { return Ok(info) };
        let mut info = info.unwrap_or_default();
        if let Some(balance) = o.balance {
            info.balance = balance;
        }
        if let Some(nonce) = o.nonce {
            info.nonce = nonce;
        }
        if let Some(code_hash) = o.code_hash {
            info.code_hash = code_hash;
            info.code = self.codes.get(&code_hash).cloned();
        }
        Ok(Some(info))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        match self.codes.get(&code_hash) {
            Some(code) => Ok(code.clone()),
            None => self.inner.code_by_hash_ref(code_hash),
        }
    }

    fn storage_ref(
        &self,
        address: Address,
        index: StorageKey,
    ) -> Result<StorageValue, Self::Error> {
        if let Some(o) = self.accounts.get(&address) {
            if let Some(state) = &o.state {
                return Ok(state.get(&index).copied().unwrap_or_default());
            }
            if let Some(value) = o.state_diff.get(&index) {
                return Ok(*value);
            }
        }
        self.inner.storage_ref(address, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        self.inner.block_hash_ref(number)
    }
}
