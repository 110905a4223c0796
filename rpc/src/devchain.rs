//! The development chain's genesis: accounts from the standard test mnemonic.

use alloy_primitives::U256;
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};
use evm_canister_api::{GenesisAccount, InitArgs};

/// The mnemonic anvil and Hardhat derive their development accounts from.
pub const TEST_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// BIP-44 path of Ethereum accounts; the account index is appended.
pub const DERIVATION_PATH: &str = "m/44'/60'/0'/0/";

/// Genesis settings of a development chain.
#[derive(Clone, Debug)]
pub struct DevChain {
    pub chain_id: u64,
    pub accounts: u32,
    /// Balance of each account, in ether.
    pub balance_ether: u64,
    pub gas_limit: u64,
    pub base_fee: u64,
    pub timestamp: u64,
}

impl Default for DevChain {
    fn default() -> Self {
        Self {
            chain_id: 31337,
            accounts: 10,
            balance_ether: 10_000,
            gas_limit: 30_000_000,
            base_fee: 1_000_000_000,
            timestamp: 0,
        }
    }
}

impl DevChain {
    /// The development accounts' keys, in derivation order.
    pub fn signers(&self) -> Vec<PrivateKeySigner> {
        (0..self.accounts)
            .map(|index| {
                MnemonicBuilder::<English>::default()
                    .phrase(TEST_MNEMONIC)
                    .derivation_path(format!("{DERIVATION_PATH}{index}"))
                    .and_then(|builder| builder.build())
                    .expect("the test mnemonic derives keys")
            })
            .collect()
    }

    /// The canister's genesis argument.
    pub fn genesis(&self, signers: &[PrivateKeySigner]) -> InitArgs {
        let balance = U256::from(self.balance_ether) * U256::from(10u64).pow(U256::from(18));
        InitArgs {
            chain_id: self.chain_id,
            hardfork: None,
            block_gas_limit: self.gas_limit,
            initial_base_fee: self.base_fee,
            genesis_timestamp: self.timestamp,
            coinbase: None,
            first_block: None,
            accounts: signers
                .iter()
                .map(|signer| GenesisAccount {
                    address: signer.address().into(),
                    balance: balance.into(),
                    nonce: 0,
                    code: Default::default(),
                    storage: Vec::new(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn derives_the_well_known_accounts() {
        let signers = DevChain::default().signers();
        assert_eq!(signers.len(), 10);
        assert_eq!(signers[0].address(), address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
        assert_eq!(signers[9].address(), address!("0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"));
    }
}
