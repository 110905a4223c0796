// The dev-node controls a Hardhat or Foundry test suite leans on, driven
// through ethers v6 the way hardhat-network-helpers and viem's test actions
// send them: snapshots, balance/code/storage edits, impersonation, manual
// mining with a pool, tracing and access lists.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ethers } from "ethers";
import { RPC_URL, KEYS, artifact } from "./common.mjs";

const provider = new ethers.JsonRpcProvider(RPC_URL, undefined, { cacheTimeout: -1 });
const alice = new ethers.Wallet(KEYS[0], provider);
const bob = new ethers.Wallet(KEYS[1], provider);
const WHALE = "0x00000000000000000000000000000000000000ff";

async function deploy(name, signer, ...args) {
  const { abi, bytecode } = artifact(name);
  const contract = await new ethers.ContractFactory(abi, bytecode, signer).deploy(...args);
  await contract.waitForDeployment();
  return contract;
}

test("a snapshot restores balances, contracts and the block number", async () => {
  const token = await deploy("Token", alice, "Token", "TOK", ethers.parseEther("1000"));
  const snapshot = await provider.send("evm_snapshot", []);
  const block = await provider.getBlockNumber();

  await (await token.transfer(bob.address, ethers.parseEther("5"))).wait();
  await provider.send("hardhat_setBalance", [WHALE, ethers.toQuantity(ethers.parseEther("77"))]);
  assert.equal(await token.balanceOf(bob.address), ethers.parseEther("5"));
  assert.equal(await provider.getBalance(WHALE), ethers.parseEther("77"));

  assert.equal(await provider.send("evm_revert", [snapshot]), true);
  assert.equal(await provider.getBlockNumber(), block);
  assert.equal(await token.balanceOf(bob.address), 0n);
  assert.equal(await provider.getBalance(WHALE), 0n);
  assert.equal(await provider.send("evm_revert", [snapshot]), false, "used up");
  // The chain carries on from the snapshot.
  await (await token.transfer(bob.address, 1n)).wait();
  assert.equal(await provider.getBlockNumber(), block + 1);
});

test("an impersonated account sends without its key", async () => {
  const token = await deploy("Token", alice, "Token", "TOK", ethers.parseEther("10"));
  await (await token.transfer(WHALE, ethers.parseEther("3"))).wait();
  await provider.send("anvil_setBalance", [WHALE, ethers.toQuantity(ethers.parseEther("1"))]);
  await provider.send("anvil_impersonateAccount", [WHALE]);
  const whale = await provider.getSigner(WHALE);
  const receipt = await (await token.connect(whale).transfer(bob.address, ethers.parseEther("2"))).wait();
  assert.equal(receipt.status, 1);
  assert.equal(receipt.from.toLowerCase(), WHALE);
  assert.equal(await token.balanceOf(bob.address), ethers.parseEther("2"));
  await provider.send("anvil_stopImpersonatingAccount", [WHALE]);
  await assert.rejects(token.connect(whale).transfer(bob.address, 1n));
});

test("code, nonce and storage edits are read back", async () => {
  const runtime = "0x60005460005260206000f3"; // returns storage slot 0
  await provider.send("hardhat_setCode", [WHALE, runtime]);
  await provider.send("hardhat_setStorageAt", [WHALE, "0x0", ethers.toBeHex(42n, 32)]);
  await provider.send("hardhat_setNonce", [WHALE, "0x9"]);
  assert.equal(await provider.getCode(WHALE), runtime);
  assert.equal(BigInt(await provider.call({ to: WHALE })), 42n);
  assert.equal(await provider.getTransactionCount(WHALE), 9);
});

test("without automine transactions pool until evm_mine", async () => {
  await provider.send("evm_setAutomine", [false]);
  try {
    const nonce = await provider.getTransactionCount(alice.address, "latest");
    const first = await alice.sendTransaction({ to: bob.address, value: 1n, nonce });
    const second = await alice.sendTransaction({ to: bob.address, value: 2n, nonce: nonce + 1 });
    assert.equal(await provider.getTransactionCount(alice.address, "pending"), nonce + 2);
    const status = await provider.send("txpool_status", []);
    assert.equal(BigInt(status.pending), 2n);
    assert.equal(await provider.getTransactionReceipt(first.hash), null);
    const pooled = await provider.getTransaction(second.hash);
    assert.equal(pooled.blockNumber, null);

    // A cheaper replacement is refused with geth's words, which ethers maps.
    await assert.rejects(
      alice.sendTransaction({ to: bob.address, value: 3n, nonce: nonce + 1,
        maxFeePerGas: second.maxFeePerGas, maxPriorityFeePerGas: second.maxPriorityFeePerGas }),
      (err) => err.code === "REPLACEMENT_UNDERPRICED" || /underpriced/.test(err.message));

    await provider.send("evm_mine", []);
    const [a, b] = await Promise.all([first.wait(), second.wait()]);
    assert.equal(a.blockNumber, b.blockNumber, "one block for both");
  } finally {
    await provider.send("evm_setAutomine", [true]);
  }
});

test("debug_traceTransaction and eth_createAccessList", async () => {
  const tester = await deploy("Tester", alice);
  await (await alice.sendTransaction({ to: await tester.getAddress(), value: 100n })).wait();
  const tx = await tester.pay(WHALE, 7n);
  const receipt = await tx.wait();
  const frame = await provider.send("debug_traceTransaction", [tx.hash, { tracer: "callTracer" }]);
  assert.equal(frame.to.toLowerCase(), (await tester.getAddress()).toLowerCase());
  assert.equal(frame.calls[0].to.toLowerCase(), WHALE);
  assert.equal(BigInt(frame.calls[0].value), 7n);
  const logs = await provider.send("debug_traceTransaction", [tx.hash, {}]);
  assert.equal(BigInt(logs.gas), receipt.gasUsed);
  assert.ok(logs.structLogs.some((step) => step.op === "CALL"));

  const call = await tester.store.populateTransaction(1, 2);
  const list = await provider.send("eth_createAccessList", [{ ...call, from: alice.address }, "latest"]);
  assert.equal(list.accessList.length, 1);
  assert.ok(BigInt(list.gasUsed) > 21000n);
});
