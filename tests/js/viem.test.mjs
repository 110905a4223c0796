// viem against canister-evm: public and wallet clients over HTTP, a
// WebSocket client for subscriptions, local accounts and the node's own
// (JSON-RPC) accounts.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  getContract,
  http,
  webSocket,
  parseEther,
  parseEventLogs,
  keccak256,
  zeroHash,
  verifyMessage,
  verifyTypedData,
  BaseError,
  ContractFunctionRevertedError,
  InsufficientFundsError,
  NonceTooLowError,
} from "viem";
import { privateKeyToAccount, generatePrivateKey } from "viem/accounts";
import { RPC_URL, CHAIN_ID, KEYS, EMPTY_KEY, artifact } from "./common.mjs";

const WS_URL = RPC_URL.replace(/^http/, "ws");
const chain = defineChain({
  id: Number(CHAIN_ID),
  name: "Canister EVM",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [RPC_URL], webSocket: [WS_URL] } },
});

// viem polls every 4 s by default; the node mines at once.
const publicClient = createPublicClient({ chain, transport: http(RPC_URL), pollingInterval: 100 });
const walletClient = createWalletClient({ chain, transport: http(RPC_URL), pollingInterval: 100 });
const alice = privateKeyToAccount(KEYS[0]);
const bob = privateKeyToAccount(KEYS[1]);
const carol = privateKeyToAccount(KEYS[2]);

const wsClient = createPublicClient({ chain, transport: webSocket(WS_URL) });
after(async () => {
  (await wsClient.transport.getRpcClient()).close();
});

const token = artifact("Token");
const tester = artifact("Tester");

/** Deploys artifact `name` from `account`; returns the contract instance. */
async function deploy(name, account, args = []) {
  const { abi, bytecode } = artifact(name);
  const hash = await walletClient.deployContract({ abi, bytecode, args, account });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, "success");
  assert.ok(receipt.contractAddress, "the receipt names the new contract");
  return getContract({ address: receipt.contractAddress, abi, client: { public: publicClient, wallet: walletClient } });
}

/** Sends and waits for a transaction; returns its receipt. */
async function mined(request) {
  const hash = await walletClient.sendTransaction(request);
  return publicClient.waitForTransactionReceipt({ hash });
}

/** The first error of class `type` in `err`'s cause chain. */
function find(err, type) {
  assert.ok(err instanceof BaseError, `not a viem error: ${err}`);
  return err.walk((e) => e instanceof type);
}

/** Runs `attempt`, expects viem's `type` in its error chain, and checks the
 * sender's nonce and balance did not change and no block was mined. */
async function refusedWithoutTrace(address, type, attempt) {
  const nonce = await publicClient.getTransactionCount({ address });
  const balance = await publicClient.getBalance({ address });
  const block = await publicClient.getBlockNumber({ cacheTime: 0 });
  await assert.rejects(attempt(), (err) => {
    assert.ok(find(err, type), `expected ${type.name} in: ${err.message}`);
    return true;
  });
  assert.equal(await publicClient.getTransactionCount({ address }), nonce, "nonce changed");
  assert.equal(await publicClient.getBalance({ address }), balance, "balance changed");
  assert.equal(await publicClient.getBlockNumber({ cacheTime: 0 }), block, "a block was produced");
}

test("the chain is the dev chain with EIP-1559 fees", async () => {
  assert.equal(await publicClient.getChainId(), Number(CHAIN_ID));
  const block = await publicClient.getBlock({ blockTag: "latest" });
  assert.ok(block.baseFeePerGas > 0n, "latest block has a base fee");
  assert.equal(typeof block.hash, "string");
  const fees = await publicClient.estimateFeesPerGas();
  assert.ok(fees.maxFeePerGas > fees.maxPriorityFeePerGas);
  assert.ok((await publicClient.getGasPrice()) > 0n);
  const legacy = await publicClient.estimateFeesPerGas({ type: "legacy" });
  assert.ok(legacy.gasPrice > 0n);
  assert.equal(await publicClient.getBalance({ address: alice.address, blockNumber: 0n }), parseEther("10000"));
  const history = await publicClient.getFeeHistory({ blockCount: 4, rewardPercentiles: [25, 75] });
  assert.ok(history.baseFeePerGas.length >= 2);
});

test("deploys the ERC20, transfers, and finds the Transfer event", async () => {
  const erc20 = await deploy("Token", alice, ["Token", "TOK", parseEther("1000")]);
  assert.notEqual(await publicClient.getCode({ address: erc20.address }), undefined);
  assert.equal(await erc20.read.symbol(), "TOK");

  const hash = await erc20.write.transfer([bob.address, parseEther("5")], { account: alice });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, "success");
  assert.equal(receipt.to, erc20.address.toLowerCase());
  assert.ok(receipt.gasUsed > 21000n);
  assert.ok(receipt.effectiveGasPrice > 0n);
  assert.equal(receipt.type, "eip1559");
  assert.equal(await erc20.read.balanceOf([bob.address]), parseEther("5"));
  assert.equal(await erc20.read.balanceOf([alice.address]), parseEther("995"));

  // The event decoded from the receipt.
  const [fromReceipt] = parseEventLogs({ abi: token.abi, eventName: "Transfer", logs: receipt.logs });
  assert.equal(fromReceipt.args.value, parseEther("5"));

  // eth_getLogs with an indexed argument.
  const logs = await erc20.getEvents.Transfer({ to: bob.address }, { fromBlock: 0n });
  assert.equal(logs.length, 1);
  assert.equal(logs[0].transactionHash, hash);
  assert.equal(logs[0].blockNumber, receipt.blockNumber);
  assert.equal(logs[0].args.from, alice.address);

  // An event filter (eth_newFilter) sees the next transfer.
  const filter = await erc20.createEventFilter.Transfer({ from: alice.address });
  const second = await erc20.write.transfer([carol.address, 7n], { account: alice });
  await publicClient.waitForTransactionReceipt({ hash: second });
  const changes = await publicClient.getFilterChanges({ filter });
  assert.equal(changes.length, 1);
  assert.equal(changes[0].transactionHash, second);
  assert.equal(changes[0].args.to, carol.address);
  assert.equal(changes[0].args.value, 7n);
  assert.equal((await publicClient.getFilterLogs({ filter })).length, 1);
  assert.ok(await publicClient.uninstallFilter({ filter }));

  // The transaction and its block.
  const tx = await publicClient.getTransaction({ hash });
  assert.equal(tx.from, alice.address.toLowerCase());
  assert.equal(tx.blockHash, receipt.blockHash);
  const block = await publicClient.getBlock({ blockNumber: receipt.blockNumber });
  assert.deepEqual(block.transactions, [hash]);
});

test("custom errors are decoded by viem", async () => {
  const contract = await deploy("Tester", alice);
  await assert.rejects(contract.read.checkLimit([5n, 2n]), (err) => {
    const revert = find(err, ContractFunctionRevertedError);
    assert.ok(revert, err.message);
    assert.equal(revert.data.errorName, "TooLarge");
    assert.deepEqual(revert.data.args, [5n, 2n]);
    return true;
  });
  await assert.rejects(contract.read.deny({ account: bob.address }), (err) => {
    const revert = find(err, ContractFunctionRevertedError);
    assert.equal(revert.data.errorName, "Unauthorized");
    assert.equal(revert.data.args[0], bob.address);
    return true;
  });
  await assert.rejects(contract.read.divide([1n, 0n]), (err) => {
    const revert = find(err, ContractFunctionRevertedError);
    assert.equal(revert.data.errorName, "Panic");
    assert.deepEqual(revert.data.args, [0x12n]);
    return true;
  });
  assert.equal(await contract.read.checkLimit([2n, 5n]), 2n);
});

test("reason strings are decoded, in calls, simulations and transactions", async () => {
  const contract = await deploy("Tester", alice);
  await assert.rejects(contract.read.onlyOwner({ account: bob.address }), (err) => {
    assert.equal(find(err, ContractFunctionRevertedError).reason, "Tester: caller is not the owner");
    return true;
  });
  assert.equal(await contract.read.onlyOwner({ account: alice.address }), true);
  await assert.rejects(contract.simulate.pay([bob.address, parseEther("1")], { account: alice }), (err) => {
    assert.equal(find(err, ContractFunctionRevertedError).reason, "Tester: payment failed");
    return true;
  });
  // Sent without a gas limit, it fails at estimation, with the reason.
  await assert.rejects(contract.write.pay([bob.address, parseEther("1")], { account: alice }), (err) => {
    assert.match(err.message, /Tester: payment failed/);
    return true;
  });
  // Forced through with a gas limit, it is mined with status "reverted".
  const hash = await contract.write.pay([bob.address, parseEther("1")], { account: alice, gas: 100000n });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, "reverted");
});

test("nonce too low is refused and changes nothing", async () => {
  await mined({ account: carol, to: bob.address, value: 1n });
  const nonce = await publicClient.getTransactionCount({ address: carol.address });
  const stale = { account: carol, to: bob.address, value: 1n, nonce: nonce - 1 };
  await refusedWithoutTrace(carol.address, NonceTooLowError, () => walletClient.sendTransaction(stale));
  await refusedWithoutTrace(carol.address, NonceTooLowError, () =>
    walletClient.sendTransaction({ ...stale, gas: 21000n }),
  );
});

test("insufficient funds is refused and changes nothing", async () => {
  const empty = privateKeyToAccount(EMPTY_KEY);
  await refusedWithoutTrace(empty.address, InsufficientFundsError, () =>
    walletClient.sendTransaction({ account: empty, to: bob.address, value: 1n, gas: 21000n }),
  );
  const tooMuch = { account: carol, to: bob.address, value: parseEther("20000") };
  await refusedWithoutTrace(carol.address, InsufficientFundsError, () => walletClient.sendTransaction(tooMuch));
  await refusedWithoutTrace(carol.address, InsufficientFundsError, () =>
    walletClient.sendTransaction({ ...tooMuch, gas: 21000n }),
  );
});

test("legacy, EIP-2930 and EIP-1559 transactions are accepted", async () => {
  const to = privateKeyToAccount(generatePrivateKey()).address;
  assert.equal(await publicClient.estimateGas({ account: alice.address, to, value: 1n }), 21000n);
  const gasPrice = await publicClient.getGasPrice();
  const { maxFeePerGas, maxPriorityFeePerGas } = await publicClient.estimateFeesPerGas();
  const sent = [
    await mined({ account: alice, to, value: 1n, type: "legacy", gasPrice }),
    await mined({ account: alice, to, value: 2n, type: "eip2930", gasPrice, accessList: [] }),
    await mined({ account: alice, to, value: 4n, type: "eip1559", maxFeePerGas, maxPriorityFeePerGas }),
  ];
  assert.deepEqual(
    sent.map((r) => [r.type, r.status, r.gasUsed]),
    [
      ["legacy", "success", 21000n],
      ["eip2930", "success", 21000n],
      ["eip1559", "success", 21000n],
    ],
  );
  const types = await Promise.all(sent.map((r) => publicClient.getTransaction({ hash: r.transactionHash })));
  assert.deepEqual(types.map((t) => t.type), ["legacy", "eip2930", "eip1559"]);
  assert.equal(types[0].gasPrice, gasPrice);
  assert.equal(types[2].maxFeePerGas, maxFeePerGas);
  assert.equal(await publicClient.getBalance({ address: to }), 7n);
});

test("a keccak loop runs in a call and in a transaction", async () => {
  const contract = await deploy("Tester", alice);
  let expected = zeroHash;
  for (let i = 0; i < 100; i++) expected = keccak256(expected);
  assert.equal(await contract.read.keccakLoop([zeroHash, 100n]), expected);
  const hash = await contract.write.keccakStore([zeroHash, 100n], { account: alice });
  assert.equal((await publicClient.waitForTransactionReceipt({ hash })).status, "success");
  assert.equal(await contract.read.values([0n]), BigInt(expected));
});

/** Transfers 1 token to `to` every half second until `heard` resolves (a
 * watcher may start after the first transfer); returns the logs heard and
 * the hashes sent. */
async function transferUntilHeard(erc20, to, heard) {
  const sent = [];
  let logs;
  heard.then((l) => (logs = l));
  while (logs === undefined) {
    const hash = await erc20.write.transfer([to, 1n], { account: alice });
    await publicClient.waitForTransactionReceipt({ hash });
    sent.push(hash);
    await Promise.race([heard, new Promise((resolve) => setTimeout(resolve, 500))]);
  }
  return { logs, sent };
}

/** Watches `Transfer`s to `to` through `client`; resolves with the first
 * batch and stops watching. */
function nextTransfers(client, address, to, options = {}) {
  return new Promise((resolve, reject) => {
    const unwatch = client.watchContractEvent({
      address,
      abi: token.abi,
      eventName: "Transfer",
      args: { to },
      ...options,
      onLogs: (logs) => {
        unwatch();
        resolve(logs);
      },
      onError: (err) => {
        unwatch();
        reject(err);
      },
    });
  });
}

test("contract events reach watchers through polling filters over HTTP", async () => {
  // Over HTTP, viem installs eth_newFilter and polls eth_getFilterChanges.
  const erc20 = await deploy("Token", alice, ["Token", "TOK", 1000n]);
  const to = privateKeyToAccount(generatePrivateKey()).address;
  const heard = nextTransfers(publicClient, erc20.address, to, { poll: true, pollingInterval: 100 });
  const { logs, sent } = await transferUntilHeard(erc20, to, heard);
  assert.equal(logs[0].args.from, alice.address);
  assert.equal(logs[0].args.value, 1n);
  assert.ok(sent.includes(logs[0].transactionHash));
});

test("requests go over WebSocket too", async () => {
  assert.equal(await wsClient.getChainId(), Number(CHAIN_ID));
  const erc20 = await deploy("Token", alice, ["Token", "TOK", 1000n]);
  const contract = getContract({ address: erc20.address, abi: token.abi, client: wsClient });
  assert.equal(await contract.read.balanceOf([alice.address]), 1000n);
  const block = await wsClient.getBlock({ blockTag: "latest" });
  assert.ok(block.baseFeePerGas > 0n);
});

// viem (utils/rpc/socket.js) registers a subscription only when the id is a
// string, as geth, anvil and Hardhat send it; with any other id every
// eth_subscription notification is dropped and watchers never fire.
test("subscription ids are strings, as viem requires", async () => {
  const client = await wsClient.transport.getRpcClient();
  const { result } = await client.requestAsync({ body: { method: "eth_subscribe", params: ["newHeads"] } });
  await client.requestAsync({ body: { method: "eth_unsubscribe", params: [result] } });
  assert.equal(typeof result, "string", `subscription id ${JSON.stringify(result)}`);
  assert.match(result, /^0x[0-9a-f]+$/);
});

test("WebSocket subscriptions deliver new blocks and contract events", async () => {
  const erc20 = await deploy("Token", alice, ["Token", "TOK", 1000n]);
  const to = privateKeyToAccount(generatePrivateKey()).address;
  // eth_subscribe("newHeads"), formatted by viem as a block.
  const block = new Promise((resolve, reject) => {
    const unwatch = wsClient.watchBlocks({
      onBlock: (b) => {
        unwatch();
        resolve(b);
      },
      onError: reject,
    });
  });
  // eth_subscribe("logs", { address, topics }).
  const heard = nextTransfers(wsClient, erc20.address, to);
  const { logs, sent } = await transferUntilHeard(erc20, to, heard);
  assert.equal(logs[0].args.value, 1n);
  assert.ok(sent.includes(logs[0].transactionHash));
  const head = await block;
  assert.ok(head.number > 0n);
  assert.ok(head.baseFeePerGas > 0n);
  assert.equal(typeof head.hash, "string");
});

test("the node signs for its dev accounts: transactions, messages, typed data", async () => {
  // A JSON-RPC account: viem sends eth_sendTransaction, personal_sign and
  // eth_signTypedData_v4 and the node signs.
  const [first, second] = await walletClient.getAddresses();
  assert.equal(first, alice.address);
  assert.equal(second, bob.address);
  const node = createWalletClient({ chain, transport: http(RPC_URL), account: bob.address });
  const to = privateKeyToAccount(generatePrivateKey()).address;
  const hash = await node.sendTransaction({ to, value: 5n });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, "success");
  assert.equal(receipt.from, bob.address.toLowerCase());
  assert.equal(await publicClient.getBalance({ address: to }), 5n);

  // A contract deployed and called by the node's account.
  const { abi, bytecode } = tester;
  const deployed = await publicClient.waitForTransactionReceipt({ hash: await node.deployContract({ abi, bytecode }) });
  const stored = await node.writeContract({ address: deployed.contractAddress, abi, functionName: "store", args: [1n, 42n] });
  const storeReceipt = await publicClient.waitForTransactionReceipt({ hash: stored });
  const [event] = parseEventLogs({ abi, eventName: "Stored", logs: storeReceipt.logs });
  assert.equal(event.args.by, bob.address);
  assert.equal(event.args.value, 42n);

  const signature = await node.signMessage({ message: "hello canister" });
  assert.ok(await verifyMessage({ address: bob.address, message: "hello canister", signature }));
  const typedData = {
    domain: { name: "Canister", version: "1", chainId: Number(CHAIN_ID) },
    types: { Mail: [{ name: "to", type: "address" }, { name: "contents", type: "string" }] },
    primaryType: "Mail",
    message: { to, contents: "hi" },
  };
  const typed = await node.signTypedData(typedData);
  assert.ok(await verifyTypedData({ address: bob.address, ...typedData, signature: typed }));
});
