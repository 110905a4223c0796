//! A development chain with funded accounts and helpers to sign transactions.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use evm_canister::Chain;
use evm_canister_api::{BlockTag, GenesisAccount, Hash, InitArgs, TxError};
use ic_stable_structures::{DefaultMemoryImpl, Memory};
use std::cell::Cell;
use std::rc::Rc;

pub const CHAIN_ID: u64 = 31337;
pub const GWEI: u128 = 1_000_000_000;
pub const GENESIS_TIME: u64 = 1_700_000_000;

pub fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// A transaction included in a block, and how it went.
#[derive(Debug)]
pub struct Sent {
    pub tx_hash: Hash,
    pub block_number: u64,
    pub block_hash: Hash,
    pub success: bool,
    pub gas_used: u64,
}

/// Stable memory (natively, a vector) that counts the writes made to it.
#[derive(Clone, Default)]
pub struct Tracked {
    inner: DefaultMemoryImpl,
    writes: Rc<Cell<u64>>,
}

impl Tracked {
    /// Writes (and growths) so far: unchanged across a message means the
    /// message changed nothing.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }
}

impl Memory for Tracked {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn grow(&self, pages: u64) -> i64 {
        self.writes.set(self.writes.get() + 1);
        self.inner.grow(pages)
    }

    fn read(&self, offset: u64, dst: &mut [u8]) {
        self.inner.read(offset, dst)
    }

    fn write(&self, offset: u64, src: &[u8]) {
        self.writes.set(self.writes.get() + 1);
        self.inner.write(offset, src)
    }
}

pub struct Dev {
    pub chain: Chain<Tracked>,
    /// The chain's stable memory.
    pub memory: Tracked,
    /// The genesis the chain was created with.
    pub args: InitArgs,
    pub keys: Vec<PrivateKeySigner>,
    /// Time of the next transaction, in nanoseconds.
    pub now: u64,
}

impl Dev {
    /// A chain whose first three accounts hold 10,000 ether each.
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    /// Like [`Dev::new`], with the genesis changed by `customize`.
    pub fn with(customize: impl FnOnce(&mut InitArgs)) -> Self {
        let keys: Vec<PrivateKeySigner> =
            (1..=3u8).map(|i| PrivateKeySigner::from_slice(&[i; 32]).unwrap()).collect();
        let accounts = keys
            .iter()
            .map(|k| GenesisAccount {
                address: k.address().into(),
                balance: ether(10_000).into(),
                nonce: 0,
                code: Default::default(),
                storage: vec![],
            })
            .collect();
        let mut args = InitArgs {
            chain_id: CHAIN_ID,
            hardfork: None,
            block_gas_limit: 30_000_000,
            initial_base_fee: GWEI as u64,
            genesis_timestamp: GENESIS_TIME,
            coinbase: None,
            accounts,
            first_block: None,
        };
        customize(&mut args);
        let memory = Tracked::default();
        let chain = Chain::create(memory.clone(), &args).unwrap();
        Self { chain, memory, args, keys, now: (GENESIS_TIME + 12) * 1_000_000_000 }
    }

    pub fn address(&self, i: usize) -> Address {
        self.keys[i].address()
    }

    pub fn balance(&self, address: Address) -> U256 {
        self.chain.account(address, BlockTag::Latest).unwrap().balance.0
    }

    pub fn nonce(&self, address: Address) -> u64 {
        self.chain.account(address, BlockTag::Latest).unwrap().nonce
    }

    pub fn head(&self) -> u64 {
        self.chain.info().latest_block
    }

    /// An EIP-1559 transaction from account `from` with the next nonce.
    pub fn tx(&self, from: usize, to: TxKind, value: U256, input: Vec<u8>) -> TxEip1559 {
        TxEip1559 {
            chain_id: CHAIN_ID,
            nonce: self.nonce(self.address(from)),
            gas_limit: 3_000_000,
            max_fee_per_gas: 10 * GWEI,
            max_priority_fee_per_gas: GWEI,
            to,
            value,
            access_list: Default::default(),
            input: Bytes::from(input),
        }
    }

    pub fn sign<T: SignableTransaction<alloy_primitives::Signature>>(
        &self,
        from: usize,
        tx: T,
    ) -> Vec<u8>
    where
        TxEnvelope: From<alloy_consensus::Signed<T>>,
    {
        let signature = self.keys[from].sign_hash_sync(&tx.signature_hash()).unwrap();
        TxEnvelope::from(tx.into_signed(signature)).encoded_2718()
    }

    /// Submits a transaction that automine includes at once.
    pub fn send_raw(&mut self, raw: &[u8]) -> Result<Sent, TxError> {
        let result = self.chain.submit(raw, self.now);
        self.now += 1_000_000_000;
        result.map(|result| {
            let included = result.included().expect("automine includes the transaction");
            Sent {
                tx_hash: result.tx_hash,
                block_number: included.block_number,
                block_hash: included.block_hash,
                success: included.success,
                gas_used: included.gas_used,
            }
        })
    }

    pub fn send(&mut self, from: usize, tx: TxEip1559) -> Result<Sent, TxError> {
        let raw = self.sign(from, tx);
        self.send_raw(&raw)
    }

    pub fn legacy(&self, from: usize, to: Address, value: U256, chain_id: Option<u64>) -> TxLegacy {
        TxLegacy {
            chain_id,
            nonce: self.nonce(self.address(from)),
            gas_price: 2 * GWEI,
            gas_limit: 21_000,
            to: TxKind::Call(to),
            value,
            input: Bytes::new(),
        }
    }

    /// Deploys a contract from `contracts/artifacts`; returns its address.
    pub fn deploy(&mut self, from: usize, name: &str, constructor_args: &[u8]) -> Address {
        let mut code = artifact_bytecode(name);
        code.extend_from_slice(constructor_args);
        let tx = self.tx(from, TxKind::Create, U256::ZERO, code);
        let result = self.send(from, tx).unwrap();
        assert!(result.success, "deploying {name} failed");
        let receipt = self.chain.receipt(result.tx_hash.0).unwrap();
        receipt.contract_address.expect("a deployment has a contract address").0
    }
}

pub fn artifact_bytecode(name: &str) -> Vec<u8> {
    let path = format!("{}/../contracts/artifacts/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    alloy_primitives::hex::decode(json["bytecode"].as_str().unwrap()).unwrap()
}

alloy_sol_types::sol! {
    function transfer(address to, uint256 amount) returns (bool);
    function balanceOf(address owner) returns (uint256);
    event Transfer(address indexed from, address indexed to, uint256 value);

    function store(uint256 key, uint256 value);
    function values(uint256 key) returns (uint256);
    function checkLimit(uint256 amount, uint256 limit) returns (uint256);
    function onlyOwner() returns (bool);
    function divide(uint256 a, uint256 b) returns (uint256);
    function keccakLoop(bytes32 seed, uint256 rounds) returns (bytes32);
    function pay(address to, uint256 amount);
    error TooLarge(uint256 requested, uint256 limit);
    event Stored(address indexed by, uint256 indexed key, uint256 value);
}
