//! The node's log of mined transactions: one line each, as Hardhat's node
//! logs them, with what the transaction cost as gas, Wasm instructions and
//! cycles:
//!
//! ```text
//! 0x1a2b3c4d…9e8f  Token.transfer  gas 51,553  wasm 11.7 M  cycles 18.3 M
//! ```
//!
//! Contract and method names come from the ABIs of the contracts in
//! `contracts/` (built into the binary), and contracts deployed from their
//! bytecode are known by address; a selector no ABI knows is shown as it
//! is.

use std::collections::HashMap;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256, Bytes};
use evm_canister_api::MinedTx;

use crate::cost::TxCost;

/// Names of contracts and methods: by selector, from ABIs, and by address,
/// for contracts seen deployed from known bytecode.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// Each selector's method name, and the contracts that have it.
    methods: HashMap<[u8; 4], (String, Vec<String>)>,
    /// Known contracts' creation bytecode, which their init code starts with.
    bytecodes: Vec<(String, Bytes)>,
    /// Contracts deployed from known bytecode, by address.
    deployed: HashMap<Address, String>,
}

impl Names {
    /// The contracts in `contracts/`.
    pub fn builtin() -> Self {
        let mut names = Self::default();
        for artifact in crate::contracts::artifacts() {
            names.add(&artifact.contract_name, &artifact.abi);
            names.bytecodes.push((artifact.contract_name, artifact.bytecode));
        }
        names
    }

    /// Adds the methods of contract `name`.
    pub fn add(&mut self, name: &str, abi: &JsonAbi) {
        for function in abi.functions() {
            let (_, contracts) = self
                .methods
                .entry(function.selector().0)
                .or_insert_with(|| (function.name.clone(), Vec::new()));
            if !contracts.iter().any(|c| c == name) {
                contracts.push(name.to_owned());
            }
        }
    }

    /// Records that `initcode` created the contract at `address`; the
    /// contract's name if the code is a known contract's.
    pub fn deployed(&mut self, address: Address, initcode: &[u8]) -> Option<String> {
        let (name, _) = self
            .bytecodes
            .iter()
            .filter(|(_, bytecode)| !bytecode.is_empty() && initcode.starts_with(bytecode))
            .max_by_key(|(_, bytecode)| bytecode.len())?;
        self.deployed.insert(address, name.clone());
        Some(name.clone())
    }

    /// What a transaction did, as [`Names::call`] names it.
    pub fn label(&self, tx: &MinedTx) -> String {
        if tx.phases.is_some() && tx.to.is_none() {
            return "contract creation".to_owned();
        }
        let selector = tx.selector.as_deref().and_then(|s| <[u8; 4]>::try_from(&s[..]).ok());
        let (contract, method) = self.call(tx.to.map(|a| a.0), selector);
        match contract {
            Some(contract) => format!("{contract}.{method}"),
            None => method,
        }
    }

    /// The contract and method a call of `selector` on `to` ran: the
    /// contract is known when `to` was deployed from known code, or when
    /// only one known contract has the method; the method is the
    /// selector if no ABI has it, and `plain transfer` without one.
    pub fn call(&self, to: Option<Address>, selector: Option<[u8; 4]>) -> (Option<String>, String) {
        let Some(selector) = selector else { return (None, "plain transfer".to_owned()) };
        let deployed = to.and_then(|to| self.deployed.get(&to));
        match self.methods.get(&selector) {
            Some((method, contracts)) => {
                let contract = match deployed {
                    Some(name) if contracts.contains(name) => Some(name.clone()),
                    _ if contracts.len() == 1 => Some(contracts[0].clone()),
                    _ => None,
                };
                (contract, method.clone())
            }
            None => (deployed.cloned(), alloy_primitives::hex::encode_prefixed(selector)),
        }
    }
}

/// One line of the log.
pub fn line(hash: B256, label: &str, cost: &TxCost) -> String {
    let hash = hash.to_string();
    format!(
        "{}…{}  {label}  gas {}  wasm {}  cycles {}",
        &hash[..10],
        &hash[hash.len() - 4..],
        grouped(cost.gas_used.into()),
        short(cost.instructions.into()),
        short(cost.cycles),
    )
}

/// `51553` as `51,553`.
pub fn grouped(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() * 4 / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `11_716_000` as `11.7 M`: three significant figures with k, M, B or T.
pub fn short(n: u128) -> String {
    const UNITS: [(u128, &str); 4] =
        [(1_000_000_000_000, "T"), (1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")];
    for (scale, unit) in UNITS {
        if n >= scale {
            let value = n as f64 / scale as f64;
            let decimals = if value >= 100.0 {
                0
            } else if value >= 10.0 {
                1
            } else {
                2
            };
            return format!("{value:.decimals$} {unit}");
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, keccak256};
    use evm_canister_api::TxPhases;

    fn tx(to: Option<Address>, input: &[u8]) -> MinedTx {
        MinedTx {
            hash: B256::ZERO.into(),
            success: true,
            gas_used: 0,
            instructions: 0,
            phases: Some(TxPhases::default()),
            to: to.map(Into::into),
            selector: input.get(..4).map(|s| s.to_vec().into()),
        }
    }

    fn selector(signature: &str) -> Vec<u8> {
        keccak256(signature)[..4].to_vec()
    }

    #[test]
    fn labels_name_the_contract_and_method_when_known() {
        let mut names = Names::builtin();
        let address = Address::repeat_byte(1);
        let to = Some(address);
        let transfer = selector("transfer(address,uint256)");
        let mint = selector("mint(address)");
        assert_eq!(names.label(&tx(to, &mint)), "Collectible.mint", "only one contract has it");
        assert_eq!(names.label(&tx(to, &transfer)), "transfer", "Token, WETH and Pair have it");
        assert_eq!(names.label(&tx(to, &[])), "plain transfer");
        assert_eq!(names.label(&tx(None, b"\x60\x80\x60\x40")), "contract creation");
        assert_eq!(names.label(&tx(to, &[0xde, 0xad, 0xbe, 0xef, 1])), "0xdeadbeef");

        // Deployed from a known contract's bytecode (with constructor
        // arguments after it), the address is known.
        let token = crate::contracts::artifact("Token").unwrap();
        let initcode = [token.bytecode.to_vec(), vec![0; 96]].concat();
        assert_eq!(names.deployed(address, &initcode).as_deref(), Some("Token"));
        assert_eq!(names.label(&tx(to, &transfer)), "Token.transfer");
        assert_eq!(names.label(&tx(to, &[0xde, 0xad, 0xbe, 0xef])), "Token.0xdeadbeef");
        assert_eq!(names.deployed(Address::repeat_byte(2), &[0x60, 0x80]), None);
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(51_553), "51,553");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(short(950), "950");
        assert_eq!(short(1_500), "1.50 k");
        assert_eq!(short(11_716_000), "11.7 M");
        assert_eq!(short(18_300_000), "18.3 M");
        assert_eq!(short(345_000_000), "345 M");
        assert_eq!(short(40_000_000_000), "40.0 B");
    }

    #[test]
    fn a_line_has_the_hash_label_and_costs() {
        let cost = TxCost {
            gas_used: 51_553,
            instructions: 11_716_000,
            cycles: 18_300_000,
            stable_bytes_written: 0,
            breakdown: None,
        };
        let hash = B256::repeat_byte(0x1a);
        assert_eq!(
            line(hash, "Token.transfer", &cost),
            "0x1a1a1a1a…1a1a  Token.transfer  gas 51,553  wasm 11.7 M  cycles 18.3 M"
        );
    }
}
