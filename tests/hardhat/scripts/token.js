// Run with `hardhat run --no-compile --network canister scripts/token.js`:
// deploys the prebuilt Token and Tester through Hardhat's ethers, transfers,
// and checks balances, the Transfer event and a custom error. Any mismatch
// throws, and Hardhat exits non-zero.
import assert from "node:assert/strict";
import fs from "node:fs";
import { network } from "hardhat";

const artifact = (name) =>
  JSON.parse(fs.readFileSync(new URL(`../../../contracts/artifacts/${name}.json`, import.meta.url), "utf8"));

// The network chosen with --network; its signers are the node's accounts
// (eth_accounts, eth_sendTransaction), Hardhat filling gas and fees.
const { ethers, networkName } = await network.create();
assert.equal(networkName, "canister");
assert.equal((await ethers.provider.getNetwork()).chainId, 31337n);
const [alice, bob] = await ethers.getSigners();
assert.equal(alice.address, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

const token = artifact("Token");
const factory = await ethers.getContractFactory(token.abi, token.bytecode, alice);
const erc20 = await factory.deploy("Token", "TOK", ethers.parseEther("1000"));
await erc20.waitForDeployment();
const address = await erc20.getAddress();
assert.notEqual(await ethers.provider.getCode(address), "0x");
console.log(`Token deployed at ${address}`);

const tx = await erc20.transfer(bob.address, ethers.parseEther("5"));
const receipt = await tx.wait();
assert.equal(receipt.status, 1);
assert.equal(await erc20.balanceOf(bob.address), ethers.parseEther("5"));
assert.equal(await erc20.balanceOf(alice.address), ethers.parseEther("995"));
const events = await erc20.queryFilter(erc20.filters.Transfer(alice.address, bob.address), receipt.blockNumber);
assert.equal(events.length, 1);
assert.equal(events[0].transactionHash, tx.hash);
assert.equal(events[0].args.value, ethers.parseEther("5"));
console.log(`transfer ${tx.hash} mined in block ${receipt.blockNumber}`);

// A key the script holds: ethers signs, eth_sendRawTransaction.
const carol = new ethers.Wallet("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a", ethers.provider);
const local = await (await erc20.connect(bob).transfer(carol.address, 2n)).wait();
assert.equal(local.status, 1);
const back = await (await erc20.connect(carol).transfer(bob.address, 1n)).wait();
assert.equal(back.from, carol.address);
assert.equal(await erc20.balanceOf(carol.address), 1n);

// A custom error: Hardhat's provider raises the node's JSON-RPC error
// (code 3, revert data in `data`) as is; the contract's ABI decodes it.
const tester = artifact("Tester");
const checker = await (await ethers.getContractFactory(tester.abi, tester.bytecode, alice)).deploy();
await checker.waitForDeployment();
await assert.rejects(checker.checkLimit(5, 2), (err) => {
  assert.equal(err.code, 3, err.message);
  assert.match(err.message, /execution reverted/);
  const decoded = checker.interface.parseError(err.data);
  assert.equal(decoded?.name, "TooLarge");
  assert.deepEqual([...decoded.args], [5n, 2n]);
  return true;
});
assert.equal(await checker.checkLimit(2, 5), 2n);
console.log("all checks passed");
