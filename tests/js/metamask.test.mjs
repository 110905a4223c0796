// MetaMask's network stack against canister-evm: the JSON-RPC engine and
// middleware that MetaMask's NetworkController builds for a custom network,
// its polling block tracker, and the requests its controllers send (network
// checks, EIP-1559 detection, fee-history gas estimates, raw transactions
// and receipt polling). MetaMask signs in the wallet; here ethers signs.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { ethers } from "ethers";
import { PollingBlockTracker } from "@metamask/eth-block-tracker";
import {
  createBlockCacheMiddleware,
  createBlockRefRewriteMiddleware,
  createBlockTrackerInspectorMiddleware,
  createFetchMiddleware,
  createInflightCacheMiddleware,
} from "@metamask/eth-json-rpc-middleware";
import { providerFromEngine, providerFromMiddleware } from "@metamask/eth-json-rpc-provider";
import { JsonRpcEngine, mergeMiddleware } from "@metamask/json-rpc-engine";
import { RPC_URL, CHAIN_ID, KEYS, EMPTY_KEY, artifact } from "./common.mjs";

const CHAIN_ID_HEX = `0x${CHAIN_ID.toString(16)}`;
const GWEI = 10n ** 9n;

/** What @metamask/network-controller's RpcService does with one request
 * (without its retries and circuit breaker): POST the JSON-RPC request with
 * these headers, treat any non-2xx HTTP status as a failure, parse JSON. */
class RpcService {
  constructor(endpointUrl) {
    this.endpointUrl = new URL(endpointUrl);
  }

  async request({ id, jsonrpc, method, params }, fetchOptions = {}) {
    const response = await fetch(this.endpointUrl, {
      ...fetchOptions,
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json", ...fetchOptions.headers },
      body: JSON.stringify({ id, jsonrpc, method, params }),
    });
    if (!response.ok) throw new Error(`${method}: HTTP ${response.status} (MetaMask would report the endpoint as unavailable)`);
    return await response.json();
  }
}

/** A network client as network-controller 25's createNetworkClient builds it
 * for a custom (non-Infura) network. */
function createNetworkClient({ rpcUrl, chainId }) {
  const rpcApiMiddleware = createFetchMiddleware({ rpcService: new RpcService(rpcUrl) });
  const rpcProvider = providerFromMiddleware(rpcApiMiddleware);
  // MetaMask's tests poll every second, the wallet every 20 s; the node mines
  // at once.
  const blockTracker = new PollingBlockTracker({ provider: rpcProvider, pollingInterval: 100 });
  const chainIdMiddleware = (req, res, next, end) => {
    if (req.method !== "eth_chainId") return next();
    res.result = chainId;
    return end();
  };
  const engine = new JsonRpcEngine();
  engine.push(
    mergeMiddleware([
      chainIdMiddleware,
      createBlockRefRewriteMiddleware({ blockTracker }),
      createBlockCacheMiddleware({ blockTracker }),
      createInflightCacheMiddleware(),
      createBlockTrackerInspectorMiddleware({ blockTracker }),
      rpcApiMiddleware,
    ]),
  );
  return { provider: providerFromEngine(engine), rpcProvider, blockTracker };
}

const client = createNetworkClient({ rpcUrl: RPC_URL, chainId: CHAIN_ID_HEX });
after(() => client.blockTracker.destroy());

/** A request through MetaMask's engine. */
const request = (method, ...params) => client.provider.request({ method, params });

const alice = new ethers.Wallet(KEYS[0]);
const bob = new ethers.Wallet(KEYS[1]);
const carol = new ethers.Wallet(KEYS[2]);

/** The median of a list of bigints, as gas-fee-controller computes it. */
function median(values) {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted[Math.floor(sorted.length / 2)];
}

/** The "medium" fee estimate as gas-fee-controller's fee-history fallback
 * (used for networks its API does not know) derives it: the median 20th
 * percentile tip of the last 5 blocks, at least 1.5 gwei, on top of 120 % of
 * the next base fee. */
async function mediumFees() {
  const history = await request("eth_feeHistory", "0x5", "latest", [10, 20, 30]);
  const tip = ethers.getBigInt(median(history.reward.map((r) => ethers.getBigInt(r[1]))));
  const maxPriorityFeePerGas = tip > (3n * GWEI) / 2n ? tip : (3n * GWEI) / 2n;
  const nextBaseFee = ethers.getBigInt(history.baseFeePerGas.at(-1));
  return { maxPriorityFeePerGas, maxFeePerGas: (nextBaseFee * 12n) / 10n + maxPriorityFeePerGas };
}

/** Builds a transaction as TransactionController does (pending nonce,
 * eth_estimateGas under 95 % of the block gas limit, the estimate with a
 * 50 % buffer), signs it with `wallet` and sends it raw through the engine.
 * Returns the hash the node answered. */
async function sendRaw(wallet, tx) {
  const latest = await request("eth_getBlockByNumber", "latest", false);
  const blockGasLimit = ethers.getBigInt(latest.gasLimit);
  const params = { from: wallet.address, to: tx.to, value: ethers.toQuantity(tx.value ?? 0n), data: tx.data ?? "0x" };
  if (tx.to === undefined) delete params.to;
  const estimate =
    tx.gasLimit ??
    ethers.getBigInt(await request("eth_estimateGas", { ...params, gas: ethers.toQuantity((blockGasLimit * 95n) / 100n) }));
  const buffered = (estimate * 3n) / 2n;
  const cap = (blockGasLimit * 9n) / 10n;
  const legacyFees = tx.type === 0 || tx.type === 1;
  const fees = legacyFees ? { gasPrice: ethers.getBigInt(await request("eth_gasPrice")) } : await mediumFees();
  const nonce = tx.nonce ?? Number(await request("eth_getTransactionCount", wallet.address, "pending"));
  const raw = await wallet.signTransaction({
    type: 2,
    chainId: CHAIN_ID,
    nonce,
    gasLimit: buffered < cap ? buffered : cap,
    ...fees,
    ...tx,
  });
  const hash = await request("eth_sendRawTransaction", raw);
  assert.equal(hash, ethers.keccak256(raw), "the node answers with the transaction's hash");
  return hash;
}

/** Polls eth_getTransactionReceipt through the engine on every new block, as
 * the PendingTransactionTracker does, until there is a receipt. */
async function receipt(hash) {
  for (let i = 0; i < 600; i++) {
    const found = await request("eth_getTransactionReceipt", hash);
    if (found) {
      // Later reads go through the block-ref rewrite: let the tracker catch up.
      while (ethers.getBigInt(await client.blockTracker.checkForLatestBlock()) < ethers.getBigInt(found.blockNumber));
      return found;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no receipt for ${hash}`);
}

/** Sends `tx` and returns its receipt, which must report success. */
async function mined(wallet, tx) {
  const result = await receipt(await sendRaw(wallet, tx));
  assert.equal(result.status, "0x1", `transaction ${result.transactionHash} failed`);
  return result;
}

/** The JSON-RPC error the node sent, as the fetch middleware wraps it
 * (rpcErrors.internal with the node's error as `data`). */
function nodeError(err) {
  assert.equal(err.code, -32603, `not wrapped by the fetch middleware: ${err.message}`);
  assert.ok(err.data && typeof err.data.message === "string", `no node error in ${JSON.stringify(err)}`);
  return err.data;
}

test("adding the network: eth_chainId and net_version agree", async () => {
  // The add-network form asks the endpoint itself; the engine then answers
  // eth_chainId from the configuration.
  assert.equal(await client.rpcProvider.request({ method: "eth_chainId" }), CHAIN_ID_HEX);
  assert.equal(await request("eth_chainId"), CHAIN_ID_HEX);
  assert.equal(await request("net_version"), CHAIN_ID.toString());
  assert.match(await request("web3_clientVersion"), /\S/);
});

test("EIP-1559 is detected from the latest block's baseFeePerGas", async () => {
  const block = await request("eth_getBlockByNumber", "latest", false);
  assert.match(block.baseFeePerGas, /^0x[0-9a-f]+$/);
  assert.ok(ethers.getBigInt(block.baseFeePerGas) > 0n);
  assert.match(block.gasLimit, /^0x[0-9a-f]+$/);
  assert.match(block.number, /^0x[0-9a-f]+$/);
  assert.ok(Array.isArray(block.transactions));
  // The block tracker knows the same block; the balance of the first account
  // at "latest" is read at that block (the block-ref rewrite).
  const tracked = await client.blockTracker.getLatestBlock();
  assert.ok(ethers.getBigInt(tracked) >= ethers.getBigInt(block.number));
  assert.ok(ethers.getBigInt(await request("eth_getBalance", alice.address, "latest")) > 0n);
});

test("gas fee estimates from eth_feeHistory and eth_gasPrice", async () => {
  const latest = ethers.getBigInt(await request("eth_blockNumber"));
  const history = await request("eth_feeHistory", "0x5", "latest", [10, 20, 30]);
  const count = latest + 1n < 5n ? Number(latest + 1n) : 5;
  assert.equal(ethers.getBigInt(history.oldestBlock), latest + 1n - BigInt(count));
  assert.equal(history.baseFeePerGas.length, count + 1, "base fees of the blocks and the next one");
  assert.equal(history.gasUsedRatio.length, count);
  assert.equal(history.reward.length, count);
  for (const rewards of history.reward) assert.equal(rewards.length, 3);
  for (const fee of history.baseFeePerGas) assert.ok(ethers.getBigInt(fee) > 0n);
  // gas-fee-controller asks for an explicit end block, in hex.
  const byNumber = await request("eth_feeHistory", "0x5", ethers.toQuantity(latest), [10, 20, 30]);
  assert.deepEqual(byNumber, history);
  // The legacy fallback.
  assert.ok(ethers.getBigInt(await request("eth_gasPrice")) > 0n);
  const fees = await mediumFees();
  assert.ok(fees.maxFeePerGas > fees.maxPriorityFeePerGas);
});

test("the block tracker sees new blocks", async () => {
  const before = ethers.getBigInt(await client.blockTracker.checkForLatestBlock());
  const seen = new Promise((resolve) => {
    const listener = (block) => {
      if (ethers.getBigInt(block) <= before) return;
      client.blockTracker.removeListener("latest", listener);
      resolve(ethers.getBigInt(block));
    };
    client.blockTracker.on("latest", listener);
  });
  const sent = await mined(alice, { to: ethers.Wallet.createRandom().address, value: 1n });
  assert.ok((await seen) > before);
  assert.ok(ethers.getBigInt(sent.blockNumber) > before);
});

test("deploys the ERC20 with raw transactions and reads it through the engine", async () => {
  const { abi, bytecode } = artifact("Token");
  const iface = new ethers.Interface(abi);
  const data = bytecode + iface.encodeDeploy(["Token", "TOK", ethers.parseEther("1000")]).slice(2);
  const deployed = await mined(alice, { data });
  const address = deployed.contractAddress;
  assert.ok(ethers.isAddress(address), "the receipt names the new contract");
  assert.equal(deployed.to, null);
  assert.notEqual(await request("eth_getCode", address, "latest"), "0x");

  const transfer = iface.encodeFunctionData("transfer", [bob.address, ethers.parseEther("5")]);
  const sent = await mined(alice, { to: address, data: transfer });
  for (const field of ["cumulativeGasUsed", "effectiveGasPrice", "gasUsed", "logsBloom", "type", "blockHash"])
    assert.ok(field in sent, `receipt has ${field}`);
  assert.equal(sent.type, "0x2");
  assert.equal(sent.logs.length, 1);
  const log = iface.parseLog(sent.logs[0]);
  assert.equal(log.name, "Transfer");
  assert.equal(log.args.to, bob.address);

  const balanceOf = (who) =>
    request("eth_call", { to: address, data: iface.encodeFunctionData("balanceOf", [who]) }, "latest");
  assert.equal(ethers.getBigInt(await balanceOf(bob.address)), ethers.parseEther("5"));
  assert.equal(ethers.getBigInt(await balanceOf(alice.address)), ethers.parseEther("995"));
  // Identical concurrent requests share one round trip (the in-flight cache).
  const [a, b] = await Promise.all([balanceOf(bob.address), balanceOf(bob.address)]);
  assert.equal(a, b);

  const logs = await request("eth_getLogs", {
    address,
    fromBlock: sent.blockNumber,
    toBlock: sent.blockNumber,
    topics: [iface.getEvent("Transfer").topicHash],
  });
  assert.equal(logs.length, 1);
  assert.equal(logs[0].transactionHash, sent.transactionHash);

  const tx = await request("eth_getTransactionByHash", sent.transactionHash);
  assert.equal(tx.from, alice.address.toLowerCase());
  assert.equal(tx.blockHash, sent.blockHash);
});

test("legacy, EIP-2930 and EIP-1559 raw transactions are accepted", async () => {
  const to = ethers.Wallet.createRandom().address;
  const gasPrice = ethers.getBigInt(await request("eth_gasPrice"));
  const legacy = await mined(alice, { to, value: 1n, type: 0, gasPrice });
  const eip2930 = await mined(alice, { to, value: 2n, type: 1, gasPrice, accessList: [] });
  const eip1559 = await mined(alice, { to, value: 4n, type: 2 });
  assert.deepEqual([legacy.type, eip2930.type, eip1559.type], ["0x0", "0x1", "0x2"]);
  assert.equal(ethers.getBigInt(await request("eth_getBalance", to, "latest")), 7n);
});

test("reverts reach MetaMask with the node's error and revert data", async () => {
  const { abi, bytecode } = artifact("Tester");
  const iface = new ethers.Interface(abi);
  const { contractAddress: to } = await mined(alice, { data: bytecode });
  await assert.rejects(
    request("eth_call", { to, data: iface.encodeFunctionData("checkLimit", [5, 2]) }, "latest"),
    (err) => {
      const node = nodeError(err);
      assert.equal(node.code, 3);
      assert.match(node.message, /execution reverted/);
      const decoded = iface.parseError(node.data);
      assert.equal(decoded.name, "TooLarge");
      assert.deepEqual([...decoded.args], [5n, 2n]);
      return true;
    },
  );
  // TransactionController estimates gas first; the reason is in the message.
  const pay = iface.encodeFunctionData("pay", [bob.address, 1n]);
  await assert.rejects(sendRaw(alice, { to, data: pay }), (err) => {
    assert.equal(nodeError(err).message, "execution reverted: Tester: payment failed");
    return true;
  });
  // Forced through with a gas limit, it is mined with status 0.
  const failed = await receipt(await sendRaw(alice, { to, data: pay, gasLimit: 100000n }));
  assert.equal(failed.status, "0x0");
});

/** Runs `attempt`, expects the node's error message to match `pattern`, and
 * checks the sender's nonce and balance did not change. */
async function refusedWithoutTrace(address, pattern, attempt) {
  const nonce = await client.rpcProvider.request({ method: "eth_getTransactionCount", params: [address, "latest"] });
  const balance = await client.rpcProvider.request({ method: "eth_getBalance", params: [address, "latest"] });
  const block = await client.rpcProvider.request({ method: "eth_blockNumber" });
  await assert.rejects(attempt(), (err) => {
    const node = nodeError(err);
    assert.match(node.message, pattern);
    assert.equal(node.code, -32000);
    return true;
  });
  const now = (method, ...params) => client.rpcProvider.request({ method, params });
  assert.equal(await now("eth_getTransactionCount", address, "latest"), nonce, "nonce changed");
  assert.equal(await now("eth_getBalance", address, "latest"), balance, "balance changed");
  assert.equal(await now("eth_blockNumber"), block, "a block was produced");
}

test("nonce too low and insufficient funds are refused and change nothing", async () => {
  const to = ethers.Wallet.createRandom().address;
  await mined(carol, { to, value: 1n });
  const nonce = Number(await request("eth_getTransactionCount", carol.address, "pending"));
  await refusedWithoutTrace(carol.address, /nonce too low/, () =>
    sendRaw(carol, { to, value: 1n, nonce: nonce - 1, gasLimit: 21000n }),
  );
  const empty = new ethers.Wallet(EMPTY_KEY);
  await refusedWithoutTrace(empty.address, /insufficient funds/, () =>
    sendRaw(empty, { to, value: 1n, gasLimit: 21000n }),
  );
  await refusedWithoutTrace(carol.address, /insufficient funds/, () =>
    sendRaw(carol, { to, value: ethers.parseEther("20000"), gasLimit: 21000n }),
  );
});
