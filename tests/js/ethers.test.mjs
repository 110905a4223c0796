// ethers v6 against canister-evm, as a dapp developer would use it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ethers } from "ethers";
import { RPC_URL, CHAIN_ID, KEYS, EMPTY_KEY, artifact } from "./common.mjs";

const provider = new ethers.JsonRpcProvider(RPC_URL, undefined, { cacheTimeout: -1 });
const alice = new ethers.Wallet(KEYS[0], provider);
const bob = new ethers.Wallet(KEYS[1], provider);
const carol = new ethers.Wallet(KEYS[2], provider);

async function deploy(name, signer, ...args) {
  const { abi, bytecode } = artifact(name);
  const contract = await new ethers.ContractFactory(abi, bytecode, signer).deploy(...args);
  await contract.waitForDeployment();
  return contract;
}

/** Runs `attempt`, expects it to fail with ethers error `code`, and checks
 * the sender's nonce and balance did not change. */
async function refusedWithoutTrace(wallet, code, attempt) {
  const nonce = await provider.getTransactionCount(wallet.address, "latest");
  const balance = await provider.getBalance(wallet.address);
  const block = await provider.getBlockNumber();
  await assert.rejects(attempt(), (err) => {
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  });
  assert.equal(await provider.getTransactionCount(wallet.address, "latest"), nonce, "nonce changed");
  assert.equal(await provider.getBalance(wallet.address), balance, "balance changed");
  assert.equal(await provider.getBlockNumber(), block, "a block was produced");
}

test("the network is the dev chain with EIP-1559 fees", async () => {
  const network = await provider.getNetwork();
  assert.equal(network.chainId, CHAIN_ID);
  const block = await provider.getBlock("latest");
  assert.ok(block.baseFeePerGas > 0n, "latest block has a base fee");
  const fees = await provider.getFeeData();
  assert.ok(fees.maxFeePerGas > fees.maxPriorityFeePerGas);
  assert.equal(await provider.getBalance(alice.address, 0), ethers.parseEther("10000"));
});

test("deploys the ERC20, transfers, and finds the Transfer event", async () => {
  const token = await deploy("Token", alice, "Token", "TOK", ethers.parseEther("1000"));
  const address = await token.getAddress();
  assert.notEqual(await provider.getCode(address), "0x");

  const tx = await token.transfer(bob.address, ethers.parseEther("5"));
  const receipt = await tx.wait();
  assert.equal(receipt.status, 1);
  assert.equal(receipt.to, address);
  assert.ok(receipt.gasUsed > 21000n);
  assert.equal(await token.balanceOf(bob.address), ethers.parseEther("5"));
  assert.equal(await token.balanceOf(alice.address), ethers.parseEther("995"));

  // The event through eth_getLogs, raw and decoded.
  const topic = token.interface.getEvent("Transfer").topicHash;
  const logs = await provider.getLogs({ address, topics: [topic, null, ethers.zeroPadValue(bob.address, 32)], fromBlock: 0 });
  assert.equal(logs.length, 1);
  assert.equal(logs[0].transactionHash, tx.hash);
  assert.equal(logs[0].blockNumber, receipt.blockNumber);
  const events = await token.queryFilter(token.filters.Transfer(alice.address, bob.address), 0, "latest");
  assert.equal(events.length, 1);
  assert.equal(events[0].args.value, ethers.parseEther("5"));

  // The transaction and its block are retrievable.
  const fetched = await provider.getTransaction(tx.hash);
  assert.equal(fetched.from, alice.address);
  assert.equal(fetched.blockHash, receipt.blockHash);
  const block = await provider.getBlock(receipt.blockNumber);
  assert.deepEqual(block.transactions, [tx.hash]);
});

test("a custom error revert is decoded by ethers", async () => {
  const tester = await deploy("Tester", alice);
  await assert.rejects(tester.checkLimit(5, 2), (err) => {
    assert.equal(err.code, "CALL_EXCEPTION");
    assert.equal(err.revert.name, "TooLarge");
    assert.deepEqual([...err.revert.args], [5n, 2n]);
    return true;
  });
  await assert.rejects(tester.connect(bob).deny(), (err) => {
    assert.equal(err.revert.name, "Unauthorized");
    assert.equal(err.revert.args[0], bob.address);
    return true;
  });
  assert.equal(await tester.checkLimit(2, 5), 2n);
});

test("a reason string revert is decoded, in calls and in transactions", async () => {
  const tester = await deploy("Tester", alice);
  await assert.rejects(tester.connect(bob).onlyOwner(), (err) => {
    assert.equal(err.code, "CALL_EXCEPTION");
    assert.equal(err.reason, "Tester: caller is not the owner");
    return true;
  });
  // A transaction that would revert fails at gas estimation, with the reason.
  await assert.rejects(tester.pay(bob.address, ethers.parseEther("1")), (err) => {
    assert.equal(err.code, "CALL_EXCEPTION");
    assert.equal(err.reason, "Tester: payment failed");
    return true;
  });
  // Forced through with a gas limit, it is mined with status 0.
  const tx = await tester.pay(bob.address, ethers.parseEther("1"), { gasLimit: 100000 });
  await assert.rejects(tx.wait(), (err) => {
    assert.equal(err.code, "CALL_EXCEPTION");
    assert.equal(err.receipt.status, 0);
    return true;
  });
});

test("nonce too low is refused and changes nothing", async () => {
  await (await carol.sendTransaction({ to: bob.address, value: 1 })).wait();
  const nonce = await provider.getTransactionCount(carol.address);
  // Refused by eth_estimateGas, and by eth_sendRawTransaction when the gas
  // limit is given.
  const stale = { to: bob.address, value: 1, nonce: nonce - 1 };
  await refusedWithoutTrace(carol, "NONCE_EXPIRED", () => carol.sendTransaction(stale));
  await refusedWithoutTrace(carol, "NONCE_EXPIRED", () => carol.sendTransaction({ ...stale, gasLimit: 21000 }));
});

test("insufficient funds is refused and changes nothing", async () => {
  const empty = new ethers.Wallet(EMPTY_KEY, provider);
  // With a gas limit given, ethers sends the transaction without estimating.
  await refusedWithoutTrace(empty, "INSUFFICIENT_FUNDS", () =>
    empty.sendTransaction({ to: bob.address, value: 1, gasLimit: 21000 }),
  );
  // More value than the balance: refused at estimation, and when sent.
  const tooMuch = { to: bob.address, value: ethers.parseEther("20000") };
  await refusedWithoutTrace(carol, "INSUFFICIENT_FUNDS", () => carol.sendTransaction(tooMuch));
  await refusedWithoutTrace(carol, "INSUFFICIENT_FUNDS", () => carol.sendTransaction({ ...tooMuch, gasLimit: 21000 }));
});

test("a plain transfer estimates 21000 gas and moves the value", async () => {
  const to = ethers.Wallet.createRandom().address;
  assert.equal(await provider.estimateGas({ from: alice.address, to, value: 1000 }), 21000n);
  const receipt = await (await alice.sendTransaction({ to, value: 1000 })).wait();
  assert.equal(receipt.gasUsed, 21000n);
  assert.equal(await provider.getBalance(to), 1000n);
});

test("legacy and EIP-2930 transactions are accepted", async () => {
  const to = ethers.Wallet.createRandom().address;
  const gasPrice = (await provider.getFeeData()).gasPrice;
  await (await alice.sendTransaction({ to, value: 1, type: 0, gasPrice })).wait();
  await (await alice.sendTransaction({ to, value: 2, type: 1, gasPrice, accessList: [] })).wait();
  assert.equal(await provider.getBalance(to), 3n);
});

test("a keccak loop runs in a call and in a transaction", async () => {
  const tester = await deploy("Tester", alice);
  const seed = ethers.ZeroHash;
  let expected = seed;
  for (let i = 0; i < 100; i++) expected = ethers.keccak256(expected);
  assert.equal(await tester.keccakLoop(seed, 100), expected);
  const receipt = await (await tester.keccakStore(seed, 100)).wait();
  assert.equal(receipt.status, 1);
  assert.equal(await tester.values(0), BigInt(expected));
});

/** Resolves with the first `Transfer` event `contract` reports to `to`. */
function nextTransfer(contract, to) {
  return new Promise((resolve) => {
    const listener = (from, recipient, value, event) => {
      if (recipient !== to) return;
      contract.off("Transfer", listener);
      resolve({ from, value, event });
    };
    contract.on("Transfer", listener);
  });
}

/** Transfers 1 token to `to` every half second until `heard` resolves (a
 * listener may start after the first transfer); returns the event and the
 * hashes of the transfers sent. */
async function transferUntilHeard(token, to, heard) {
  const sent = [];
  let event;
  heard.then((e) => (event = e));
  while (event === undefined) {
    sent.push((await (await token.connect(alice).transfer(to, 1n)).wait()).hash);
    await Promise.race([heard, new Promise((resolve) => setTimeout(resolve, 500))]);
  }
  return { ...event, sent };
}

test("contract events reach listeners through polling filters", async () => {
  // ethers' HTTP provider installs eth_newFilter and polls eth_getFilterChanges.
  const polling = new ethers.JsonRpcProvider(RPC_URL, undefined, { polling: true, pollingInterval: 100 });
  const token = (await deploy("Token", alice, "Token", "TOK", 1000n)).connect(polling);
  const to = ethers.Wallet.createRandom().address;
  const { from, value, event, sent } = await transferUntilHeard(token, to, nextTransfer(token, to));
  assert.equal(from, alice.address);
  assert.equal(value, 1n);
  assert.ok(sent.includes(event.log.transactionHash));
  polling.destroy();
});

test("WebSocket subscriptions deliver new blocks and contract events", async () => {
  const ws = new ethers.WebSocketProvider(RPC_URL.replace(/^http/, "ws"));
  assert.equal((await ws.getNetwork()).chainId, CHAIN_ID);
  const token = (await deploy("Token", alice, "Token", "TOK", 1000n)).connect(ws);
  const to = ethers.Wallet.createRandom().address;
  const block = new Promise((resolve) => ws.once("block", resolve));
  const { value, event, sent } = await transferUntilHeard(token, to, nextTransfer(token, to));
  assert.equal(value, 1n);
  assert.ok(sent.includes(event.log.transactionHash));
  assert.ok((await block) > 0);
  await ws.destroy();
});

test("the node signs for its dev accounts: transactions, messages, typed data", async () => {
  const signer = await provider.getSigner(1);
  assert.equal(signer.address, bob.address);
  const to = ethers.Wallet.createRandom().address;
  // eth_sendTransaction: the node fills nonce, gas and fees and signs.
  const receipt = await (await signer.sendTransaction({ to, value: 5n })).wait();
  assert.equal(receipt.status, 1);
  assert.equal(receipt.from, bob.address);
  assert.equal(await provider.getBalance(to), 5n);

  const signature = await signer.signMessage("hello canister");
  assert.equal(ethers.verifyMessage("hello canister", signature), bob.address);
  const domain = { name: "Canister", version: "1", chainId: CHAIN_ID };
  const types = { Mail: [{ name: "to", type: "address" }, { name: "contents", type: "string" }] };
  const mail = { to, contents: "hi" };
  const typed = await signer.signTypedData(domain, types, mail);
  assert.equal(ethers.verifyTypedData(domain, types, mail, typed), bob.address);
});
