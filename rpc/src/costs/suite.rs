//! The built-in workload suite: the contracts of `contracts/` doing what
//! dapps do (tokens, wrapped ether, a constant-product pair, an NFT) and
//! what stresses the machine (hashing, storage, precompiles), each sent as
//! real transactions to a [`Lab`] chain.

use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_sol_types::{SolCall, SolConstructor, sol};
use anyhow::{Context as _, ensure};

use super::Sample;
use super::lab::Lab;

sol! {
    contract Token {
        constructor(string name_, string symbol_, uint256 supply);
        function transfer(address to, uint256 amount) returns (bool);
        function approve(address spender, uint256 amount) returns (bool);
        function transferFrom(address from, address to, uint256 amount) returns (bool);
    }
    contract WETH {
        function deposit() payable;
        function withdraw(uint256 amount);
    }
    contract Pair {
        constructor(address token0, address token1);
        function addLiquidity(uint256 amount0, uint256 amount1, address to) returns (uint256);
        function swap(address tokenIn, uint256 amountIn, uint256 amountOutMin, address to) returns (uint256);
    }
    contract Collectible {
        function mint(address to) returns (uint256);
    }
    contract Workloads {
        function storageLoop(uint256 count);
        function storageRewrite(uint256 count);
        function hashLoop(uint256 rounds) returns (bytes32);
        function ecrecoverCall(bytes32 hash, uint8 v, bytes32 r, bytes32 s) returns (address);
        function sha256Call(bytes data) returns (bytes32);
        function modexpCall(bytes base, bytes exponent, bytes modulus) returns (bytes);
        function bn254AddCall(uint256[4] input) returns (uint256[2]);
        function bn254MulCall(uint256[3] input) returns (uint256[2]);
        function bn254PairingCall(bytes input) returns (bool);
    }
}

/// Calls of each method in the suite, so that its spread shows.
const REPEAT: usize = 5;

/// The creation bytecode of contract `name` of `contracts/`.
fn bytecode(name: &str) -> Vec<u8> {
    crate::contracts::artifact(name).expect("a built-in contract").bytecode.to_vec()
}

/// Runs the suite; one sample per transaction.
pub fn run(lab: &mut Lab) -> anyhow::Result<Vec<Sample>> {
    let mut suite = Suite { lab, samples: Vec::new() };
    suite.run()?;
    Ok(suite.samples)
}

struct Suite<'a> {
    lab: &'a mut Lab,
    samples: Vec<Sample>,
}

impl Suite<'_> {
    fn run(&mut self) -> anyhow::Result<()> {
        let me = self.lab.sender();
        let ether = U256::from(10).pow(U256::from(18));
        let recipients: Vec<Address> = (1..=REPEAT as u8).map(Address::repeat_byte).collect();

        for to in &recipients {
            self.send("(ether)", "transfer", TxKind::Call(*to), Vec::new(), ether)?;
        }

        // An ERC20: deploy, then transfers, approvals and transferFroms.
        let supply = U256::from(1_000_000u64) * ether;
        let token = self.deploy(
            "Token",
            Token::constructorCall::new(("Token".into(), "TOK".into(), supply)).abi_encode(),
        )?;
        for to in &recipients {
            self.call(
                "Token",
                "transfer",
                token,
                Token::transferCall::new((*to, ether)).abi_encode(),
            )?;
        }
        for _ in 0..REPEAT {
            self.call(
                "Token",
                "approve",
                token,
                Token::approveCall::new((me, supply)).abi_encode(),
            )?;
            let call = Token::transferFromCall::new((me, recipients[0], ether));
            self.call("Token", "transferFrom", token, call.abi_encode())?;
        }

        // Wrapped ether.
        let weth = self.deploy("WETH", Vec::new())?;
        for _ in 0..REPEAT {
            self.send(
                "WETH",
                "deposit",
                TxKind::Call(weth),
                WETH::depositCall {}.abi_encode(),
                ether,
            )?;
            self.call(
                "WETH",
                "withdraw",
                weth,
                WETH::withdrawCall::new((ether / U256::from(2),)).abi_encode(),
            )?;
        }

        // A constant-product pair over two tokens.
        let a = self.deploy(
            "Token",
            Token::constructorCall::new(("A".into(), "A".into(), supply)).abi_encode(),
        )?;
        let b = self.deploy(
            "Token",
            Token::constructorCall::new(("B".into(), "B".into(), supply)).abi_encode(),
        )?;
        let pair = self.deploy("Pair", Pair::constructorCall::new((a, b)).abi_encode())?;
        self.call("Token", "approve", a, Token::approveCall::new((pair, supply)).abi_encode())?;
        self.call("Token", "approve", b, Token::approveCall::new((pair, supply)).abi_encode())?;
        let liquidity = U256::from(1000) * ether;
        for _ in 0..REPEAT {
            let call = Pair::addLiquidityCall::new((liquidity, liquidity, me));
            self.call("Pair", "addLiquidity", pair, call.abi_encode())?;
        }
        for i in 0..REPEAT {
            let token_in = if i % 2 == 0 { a } else { b };
            let call = Pair::swapCall::new((token_in, ether, U256::from(1), me));
            self.call("Pair", "swap", pair, call.abi_encode())?;
        }

        // An NFT.
        let nft = self.deploy("Collectible", Vec::new())?;
        for to in &recipients {
            self.call("Collectible", "mint", nft, Collectible::mintCall::new((*to,)).abi_encode())?;
        }

        // Hashing, storage and precompiles.
        let work = self.deploy("Workloads", Vec::new())?;
        for _ in 0..REPEAT {
            self.call(
                "Workloads",
                "hashLoop",
                work,
                Workloads::hashLoopCall::new((U256::from(1000),)).abi_encode(),
            )?;
            self.call(
                "Workloads",
                "storageLoop",
                work,
                Workloads::storageLoopCall::new((U256::from(50),)).abi_encode(),
            )?;
            self.call(
                "Workloads",
                "storageRewrite",
                work,
                Workloads::storageRewriteCall::new((U256::from(50),)).abi_encode(),
            )?;
        }
        let digest = keccak256(b"a message to recover");
        let signature = self.lab.sign(&digest)?;
        let ecrecover = Workloads::ecrecoverCallCall::new((
            digest,
            27 + signature.v() as u8,
            B256::from(signature.r()),
            B256::from(signature.s()),
        ));
        let g1 = [U256::from(1), U256::from(2)];
        let pairing = alloy_primitives::hex::decode(super::calibrate::BN254_PAIRING)?;
        let precompiles: [(&str, Vec<u8>); 6] = [
            ("ecrecoverCall", ecrecover.abi_encode()),
            (
                "sha256Call",
                Workloads::sha256CallCall::new((Bytes::from(vec![7u8; 1024]),)).abi_encode(),
            ),
            (
                "modexpCall",
                Workloads::modexpCallCall::new((
                    Bytes::from(vec![0xab; 32]),
                    Bytes::from(vec![0xff; 32]),
                    Bytes::from((U256::MAX - U256::from(188)).to_be_bytes::<32>().to_vec()),
                ))
                .abi_encode(),
            ),
            (
                "bn254AddCall",
                Workloads::bn254AddCallCall::new(([g1[0], g1[1], g1[0], g1[1]],)).abi_encode(),
            ),
            (
                "bn254MulCall",
                Workloads::bn254MulCallCall::new(([g1[0], g1[1], U256::MAX >> 4],)).abi_encode(),
            ),
            (
                "bn254PairingCall",
                Workloads::bn254PairingCallCall::new((Bytes::from(pairing),)).abi_encode(),
            ),
        ];
        for (method, input) in precompiles {
            for _ in 0..REPEAT {
                self.call("Workloads", method, work, input.clone())?;
            }
        }
        Ok(())
    }

    fn deploy(&mut self, contract: &str, constructor_args: Vec<u8>) -> anyhow::Result<Address> {
        let mut initcode = bytecode(contract);
        initcode.extend(constructor_args);
        let mined = self.send(contract, "deploy", TxKind::Create, initcode, U256::ZERO)?;
        mined.context("a deployment creates a contract")
    }

    fn call(
        &mut self,
        contract: &str,
        method: &str,
        to: Address,
        input: Vec<u8>,
    ) -> anyhow::Result<()> {
        self.send(contract, method, TxKind::Call(to), input, U256::ZERO).map(drop)
    }

    /// Sends a transaction that must succeed, and records it; returns the
    /// contract it created.
    fn send(
        &mut self,
        contract: &str,
        method: &str,
        to: TxKind,
        input: Vec<u8>,
        value: U256,
    ) -> anyhow::Result<Option<Address>> {
        let mined = self.lab.transact(to, input, value)?;
        ensure!(
            mined.success,
            "{contract}.{method} failed in the workload suite (tx {})",
            mined.hash
        );
        self.samples.push(Sample::new(contract, method, mined.hash, &mined.cost));
        Ok(mined.created)
    }
}
