// web3.js v4 against canister-evm: contracts, events, errors, transaction
// types, subscriptions and the node's own accounts.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Web3, WebSocketProvider, ContractExecutionError, TransactionRevertedWithoutReasonError } from "web3";
import { ethers } from "ethers";
import { RPC_URL, CHAIN_ID, KEYS, EMPTY_KEY, artifact } from "./common.mjs";

const WS_URL = RPC_URL.replace(/^http/, "ws");
// web3.js polls for receipts once a second by default; the node mines at once.
const config = { transactionPollingInterval: 100, transactionReceiptPollingInterval: 100, transactionPollingTimeout: 60000 };
const web3 = new Web3(RPC_URL);
web3.setConfig(config);
// Local accounts: web3.js signs and sends eth_sendRawTransaction.
const [alice, bob, carol, empty] = [...KEYS, EMPTY_KEY].map((key) => {
  const account = web3.eth.accounts.privateKeyToAccount(key);
  web3.eth.accounts.wallet.add(account);
  return account;
});

const ws = new Web3(new WebSocketProvider(WS_URL));
ws.setConfig(config);
after(async () => {
  await ws.eth.clearSubscriptions?.();
  ws.provider.disconnect();
});

const token = artifact("Token");

/** Deploys artifact `name` from `from` (an address in the wallet). */
async function deploy(name, from, args = []) {
  const { abi, bytecode } = artifact(name);
  const contract = await new web3.eth.Contract(abi).deploy({ data: bytecode, arguments: args }).send({ from });
  assert.ok(contract.options.address, "deployed at an address");
  return contract;
}

/** Runs `attempt`, expects an error whose message matches `pattern`, and
 * checks the sender's nonce and balance did not change and no block was
 * mined. */
async function refusedWithoutTrace(address, pattern, attempt) {
  const nonce = await web3.eth.getTransactionCount(address, "latest");
  const balance = await web3.eth.getBalance(address);
  const block = await web3.eth.getBlockNumber();
  await assert.rejects(attempt(), (err) => {
    // web3.js reports a refusal found by its eth_call pre-check as a revert
    // with a `reason`, and one from the node as an InvalidResponseError with
    // the JSON-RPC error as `cause`.
    const text = [err.message, err.reason, err.cause?.message].join(" | ");
    assert.match(text, pattern);
    return true;
  });
  assert.equal(await web3.eth.getTransactionCount(address, "latest"), nonce, "nonce changed");
  assert.equal(await web3.eth.getBalance(address), balance, "balance changed");
  assert.equal(await web3.eth.getBlockNumber(), block, "a block was produced");
}

test("the network is the dev chain with EIP-1559 fees", async () => {
  assert.equal(await web3.eth.getChainId(), CHAIN_ID);
  assert.equal(await web3.eth.net.getId(), CHAIN_ID);
  const block = await web3.eth.getBlock("latest");
  assert.ok(block.baseFeePerGas > 0n, "latest block has a base fee");
  const fees = await web3.eth.calculateFeeData();
  assert.ok(fees.maxFeePerGas > fees.maxPriorityFeePerGas);
  assert.ok((await web3.eth.getGasPrice()) > 0n);
  assert.equal(await web3.eth.getBalance(alice.address, 0), BigInt(web3.utils.toWei("10000", "ether")));
});

test("deploys the ERC20, transfers, and finds the Transfer event", async () => {
  const erc20 = await deploy("Token", alice.address, ["Token", "TOK", web3.utils.toWei("1000", "ether")]);
  const address = erc20.options.address;
  assert.notEqual(await web3.eth.getCode(address), "0x");
  assert.equal(await erc20.methods.symbol().call(), "TOK");

  const receipt = await erc20.methods.transfer(bob.address, web3.utils.toWei("5", "ether")).send({ from: alice.address });
  assert.equal(receipt.status, 1n);
  assert.equal(receipt.to, address.toLowerCase());
  assert.ok(receipt.gasUsed > 21000n);
  assert.equal(receipt.events.Transfer.returnValues.value, BigInt(web3.utils.toWei("5", "ether")));
  assert.equal(await erc20.methods.balanceOf(bob.address).call(), BigInt(web3.utils.toWei("5", "ether")));
  assert.equal(await erc20.methods.balanceOf(alice.address).call(), BigInt(web3.utils.toWei("995", "ether")));

  const events = await erc20.getPastEvents("Transfer", { filter: { to: bob.address }, fromBlock: 0 });
  assert.equal(events.length, 1);
  assert.equal(events[0].transactionHash, receipt.transactionHash);
  assert.equal(events[0].blockNumber, receipt.blockNumber);
  assert.equal(events[0].returnValues.from, alice.address);

  const tx = await web3.eth.getTransaction(receipt.transactionHash);
  assert.equal(tx.from, alice.address.toLowerCase());
  assert.equal(tx.blockHash, receipt.blockHash);
  const block = await web3.eth.getBlock(receipt.blockNumber);
  assert.deepEqual(block.transactions, [receipt.transactionHash]);
});

test("custom errors are decoded by web3.js", async () => {
  const tester = await deploy("Tester", alice.address);
  await assert.rejects(tester.methods.checkLimit(5, 2).call(), (err) => {
    assert.ok(err instanceof ContractExecutionError, err.message);
    assert.equal(err.cause.code, 3);
    assert.equal(err.cause.errorName, "TooLarge");
    assert.equal(err.cause.errorSignature, "TooLarge(uint256,uint256)");
    assert.equal(err.cause.errorArgs.requested, 5n);
    assert.equal(err.cause.errorArgs.limit, 2n);
    return true;
  });
  await assert.rejects(tester.methods.deny().call({ from: bob.address }), (err) => {
    assert.equal(err.cause.errorName, "Unauthorized");
    assert.equal(err.cause.errorArgs.caller, bob.address);
    return true;
  });
  assert.equal(await tester.methods.checkLimit(2, 5).call(), 2n);
});

test("reason strings are decoded, in calls and in transactions", async () => {
  const tester = await deploy("Tester", alice.address);
  await assert.rejects(tester.methods.onlyOwner().call({ from: bob.address }), (err) => {
    assert.ok(err instanceof ContractExecutionError, err.message);
    assert.equal(err.cause.errorName, "Error");
    assert.equal(err.cause.errorArgs.message, "Tester: caller is not the owner");
    assert.equal(err.cause.message, "execution reverted: Tester: caller is not the owner");
    return true;
  });
  assert.equal(await tester.methods.onlyOwner().call({ from: alice.address }), true);
  // A transaction that would revert fails before it is sent, with the reason.
  const block = await web3.eth.getBlockNumber();
  await assert.rejects(tester.methods.pay(bob.address, 1000).send({ from: alice.address }), (err) => {
    assert.equal(err.cause.errorArgs.message, "Tester: payment failed");
    return true;
  });
  assert.equal(await web3.eth.getBlockNumber(), block);
  // Forced through with a gas limit, it is mined with status 0.
  await assert.rejects(tester.methods.pay(bob.address, 1000).send({ from: alice.address, gas: 100000 }), (err) => {
    assert.ok(err instanceof TransactionRevertedWithoutReasonError, err.message);
    assert.equal(err.receipt.status, 0n);
    assert.equal(err.receipt.blockNumber, block + 1n);
    return true;
  });
});

test("nonce too low is refused and changes nothing", async () => {
  const to = web3.eth.accounts.create().address;
  await web3.eth.sendTransaction({ from: carol.address, to, value: 1 });
  const nonce = await web3.eth.getTransactionCount(carol.address);
  const stale = { from: carol.address, to, value: 1, nonce: nonce - 1n };
  // web3.js first tries the transaction with eth_call...
  await refusedWithoutTrace(carol.address, /nonce too low/, () => web3.eth.sendTransaction(stale));
  // ...and without that check, eth_estimateGas or eth_sendRawTransaction
  // (with a gas limit) refuse it.
  const unchecked = { checkRevertBeforeSending: false };
  await refusedWithoutTrace(carol.address, /nonce too low/, () => web3.eth.sendTransaction(stale, undefined, unchecked));
  await refusedWithoutTrace(carol.address, /nonce too low/, () =>
    web3.eth.sendTransaction({ ...stale, gas: 21000 }, undefined, unchecked),
  );
});

test("insufficient funds is refused and changes nothing", async () => {
  const to = web3.eth.accounts.create().address;
  const unchecked = { checkRevertBeforeSending: false };
  await refusedWithoutTrace(empty.address, /insufficient funds/, () =>
    web3.eth.sendTransaction({ from: empty.address, to, value: 1, gas: 21000 }, undefined, unchecked),
  );
  const tooMuch = { from: carol.address, to, value: web3.utils.toWei("20000", "ether") };
  await refusedWithoutTrace(carol.address, /insufficient funds/, () => web3.eth.sendTransaction(tooMuch));
  await refusedWithoutTrace(carol.address, /insufficient funds/, () =>
    web3.eth.sendTransaction(tooMuch, undefined, unchecked),
  );
  await refusedWithoutTrace(carol.address, /insufficient funds/, () =>
    web3.eth.sendTransaction({ ...tooMuch, gas: 21000 }, undefined, unchecked),
  );
});

test("legacy, EIP-2930 and EIP-1559 transactions are accepted", async () => {
  const to = web3.eth.accounts.create().address;
  assert.equal(await web3.eth.estimateGas({ from: alice.address, to, value: 1 }), 21000n);
  const gasPrice = await web3.eth.getGasPrice();
  const { maxFeePerGas, maxPriorityFeePerGas } = await web3.eth.calculateFeeData();
  const receipts = [
    await web3.eth.sendTransaction({ from: alice.address, to, value: 1, type: "0x0", gasPrice }),
    await web3.eth.sendTransaction({ from: alice.address, to, value: 2, type: "0x1", gasPrice, accessList: [] }),
    await web3.eth.sendTransaction({ from: alice.address, to, value: 4, type: "0x2", maxFeePerGas, maxPriorityFeePerGas }),
  ];
  assert.deepEqual(
    receipts.map((r) => [r.type, r.status, r.gasUsed]),
    [
      [0n, 1n, 21000n],
      [1n, 1n, 21000n],
      [2n, 1n, 21000n],
    ],
  );
  const txs = await Promise.all(receipts.map((r) => web3.eth.getTransaction(r.transactionHash)));
  assert.deepEqual(txs.map((t) => t.type), [0n, 1n, 2n]);
  assert.equal(txs[0].gasPrice, gasPrice);
  assert.equal(txs[2].maxFeePerGas, maxFeePerGas);
  assert.equal(await web3.eth.getBalance(to), 7n);
});

test("a keccak loop runs in a call and in a transaction", async () => {
  const tester = await deploy("Tester", alice.address);
  const seed = "0x" + "00".repeat(32);
  let expected = seed;
  for (let i = 0; i < 100; i++) expected = web3.utils.keccak256(expected);
  assert.equal(await tester.methods.keccakLoop(seed, 100).call(), expected);
  const receipt = await tester.methods.keccakStore(seed, 100).send({ from: alice.address });
  assert.equal(receipt.status, 1n);
  assert.equal(await tester.methods.values(0).call(), BigInt(expected));
});

test("log and block filters report changes", async () => {
  const erc20 = await deploy("Token", alice.address, ["Token", "TOK", 1000]);
  const to = web3.eth.accounts.create().address;
  const send = (method, ...params) => web3.requestManager.send({ method, params });
  const transfer = token.abi.find((e) => e.type === "event" && e.name === "Transfer");
  const topic = web3.eth.abi.encodeEventSignature(transfer);
  const logFilter = await send("eth_newFilter", {
    address: erc20.options.address,
    topics: [topic, null, web3.eth.abi.encodeParameter("address", to)],
  });
  const blockFilter = await send("eth_newBlockFilter");
  const receipt = await erc20.methods.transfer(to, 3).send({ from: alice.address });
  const logs = await send("eth_getFilterChanges", logFilter);
  assert.equal(logs.length, 1);
  assert.equal(logs[0].transactionHash, receipt.transactionHash);
  const decoded = web3.eth.abi.decodeLog(transfer.inputs, logs[0].data, logs[0].topics.slice(1));
  assert.equal(decoded.from, alice.address);
  assert.equal(decoded.to, to);
  assert.equal(decoded.value, 3n);
  assert.deepEqual(await send("eth_getFilterChanges", logFilter), []);
  const blocks = await send("eth_getFilterChanges", blockFilter);
  assert.ok(blocks.includes(receipt.blockHash), "the block filter saw the transfer's block");
  assert.equal(await send("eth_uninstallFilter", logFilter), true);
  assert.equal(await send("eth_uninstallFilter", blockFilter), true);
});

/** Transfers 1 token to `to` every half second until `heard` resolves (a
 * subscription may start after the first transfer); returns the event and
 * the hashes of the transfers sent. */
async function transferUntilHeard(erc20, to, heard) {
  const sent = [];
  let event;
  heard.then((e) => (event = e));
  while (event === undefined) {
    sent.push((await erc20.methods.transfer(to, 1).send({ from: alice.address })).transactionHash);
    await Promise.race([heard, new Promise((resolve) => setTimeout(resolve, 500))]);
  }
  return { event, sent };
}

test("WebSocket subscriptions deliver new blocks and contract events", async () => {
  assert.equal(await ws.eth.getChainId(), CHAIN_ID);
  const erc20 = await deploy("Token", alice.address, ["Token", "TOK", 1000]);
  const to = web3.eth.accounts.create().address;
  const heads = await ws.eth.subscribe("newBlockHeaders");
  const head = new Promise((resolve, reject) => {
    heads.once("data", resolve);
    heads.once("error", reject);
  });
  const watched = new ws.eth.Contract(token.abi, erc20.options.address);
  const events = watched.events.Transfer({ filter: { to } });
  const heard = new Promise((resolve, reject) => {
    events.once("data", resolve);
    events.once("error", reject);
  });
  const { event, sent } = await transferUntilHeard(erc20, to, heard);
  assert.equal(event.returnValues.from, alice.address);
  assert.equal(event.returnValues.to, to);
  assert.equal(event.returnValues.value, 1n);
  assert.ok(sent.includes(event.transactionHash));
  const block = await head;
  assert.ok(block.number > 0n);
  assert.ok(block.baseFeePerGas > 0n);
  await heads.unsubscribe();
  await events.unsubscribe();
});

test("the node signs for its dev accounts: transactions, messages, typed data", async () => {
  // A Web3 without a wallet: the node signs (eth_sendTransaction, eth_sign,
  // personal_sign, eth_signTypedData_v4).
  const node = new Web3(RPC_URL);
  node.setConfig(config);
  const accounts = await node.eth.getAccounts();
  assert.equal(accounts[0], alice.address);
  const from = accounts[1];
  assert.equal(from, bob.address);
  const to = web3.eth.accounts.create().address;
  const receipt = await node.eth.sendTransaction({ from, to, value: 5 });
  assert.equal(receipt.status, 1n);
  assert.equal(receipt.from, from.toLowerCase());
  assert.equal(await web3.eth.getBalance(to), 5n);

  const { abi, bytecode } = artifact("Tester");
  const tester = await new node.eth.Contract(abi).deploy({ data: bytecode }).send({ from });
  const stored = await tester.methods.store(1, 42).send({ from });
  assert.equal(stored.events.Stored.returnValues.by, bob.address);
  assert.equal(await tester.methods.values(1).call(), 42n);

  const message = web3.utils.utf8ToHex("hello canister");
  assert.equal(web3.eth.accounts.recover("hello canister", await node.eth.sign(message, from)), bob.address);
  assert.equal(web3.eth.accounts.recover("hello canister", await node.eth.personal.sign(message, from, "")), bob.address);
  const typedData = {
    domain: { name: "Canister", version: "1", chainId: Number(CHAIN_ID) },
    types: {
      EIP712Domain: [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
        { name: "chainId", type: "uint256" },
      ],
      Mail: [
        { name: "to", type: "address" },
        { name: "contents", type: "string" },
      ],
    },
    primaryType: "Mail",
    message: { to, contents: "hi" },
  };
  const typed = await node.eth.signTypedData(from, typedData);
  const { EIP712Domain, ...types } = typedData.types;
  assert.equal(ethers.verifyTypedData(typedData.domain, types, typedData.message, typed), bob.address);
});
