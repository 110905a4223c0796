// ethers and viem against the canister's own JSON-RPC, through the host's
// HTTP gateway (`--gateway-port`): `http_request` answers reads and
// `http_request_update` sends, as on the Internet Computer. RPC_URL is the
// gateway's URL for the EVM canister; NODE_URL is the node's own JSON-RPC
// server, used only to show that both serve one chain.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ethers } from "ethers";
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  getContract,
  http,
  parseEventLogs,
  BaseError,
  ContractFunctionRevertedError,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { RPC_URL, CHAIN_ID, KEYS, artifact } from "./common.mjs";

const NODE_URL = process.env.NODE_URL;
assert.ok(NODE_URL && NODE_URL !== RPC_URL, "NODE_URL is the node's own server");

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { response, body: await response.json() };
}

test("the gateway answers from the canister, not from the node", async () => {
  // The node knows its dev controls and accounts; the canister does not.
  const mine = { jsonrpc: "2.0", id: 1, method: "evm_mine", params: [] };
  const { response, body } = await post(RPC_URL, mine);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
  assert.equal(body.error.code, -32601, JSON.stringify(body));
  const accounts = { jsonrpc: "2.0", id: 2, method: "eth_accounts", params: [] };
  assert.deepEqual((await post(RPC_URL, accounts)).body.result, []);
  assert.equal((await post(NODE_URL, accounts)).body.result.length, 10);
  // A batch, as ethers sends them.
  const batch = [
    { jsonrpc: "2.0", id: "a", method: "eth_chainId", params: [] },
    { jsonrpc: "2.0", id: "b", method: "net_version", params: [] },
  ];
  const answers = (await post(RPC_URL, batch)).body;
  assert.deepEqual(answers.map((a) => a.result), ["0x7a69", "31337"]);
});

test("ethers deploys, transacts, reads events and decodes reverts through the gateway", async () => {
  const provider = new ethers.JsonRpcProvider(RPC_URL, undefined, { cacheTimeout: -1, pollingInterval: 100 });
  assert.equal((await provider.getNetwork()).chainId, CHAIN_ID);
  const alice = new ethers.Wallet(KEYS[0], provider);
  const bob = new ethers.Wallet(KEYS[1], provider);

  const { abi, bytecode } = artifact("Token");
  const token = await new ethers.ContractFactory(abi, bytecode, alice).deploy("Token", "TOK", 1000n);
  await token.waitForDeployment();
  const receipt = await (await token.transfer(bob.address, 7n)).wait();
  assert.equal(receipt.status, 1);
  assert.equal(await token.balanceOf(bob.address), 7n);

  // Events: in the receipt, and by eth_getLogs.
  const [event] = await token.queryFilter(token.filters.Transfer(alice.address), receipt.blockNumber);
  assert.equal(event.transactionHash, receipt.hash);
  assert.deepEqual([...event.args], [alice.address, bob.address, 7n]);
  assert.equal(token.interface.parseLog(receipt.logs[0]).name, "Transfer");

  // Reverts: a reason string, and a custom error.
  const tester = await new ethers.ContractFactory(
    artifact("Tester").abi,
    artifact("Tester").bytecode,
    alice,
  ).deploy();
  await tester.waitForDeployment();
  await assert.rejects(tester.connect(bob).onlyOwner(), (err) => {
    assert.equal(err.code, "CALL_EXCEPTION");
    assert.equal(err.reason, "Tester: caller is not the owner");
    return true;
  });
  await assert.rejects(tester.checkLimit(5, 2), (err) => {
    assert.equal(err.revert.name, "TooLarge");
    assert.deepEqual([...err.revert.args], [5n, 2n]);
    return true;
  });
  // A stale nonce, refused by the update with geth's error.
  const nonce = await provider.getTransactionCount(alice.address);
  const stale = { to: bob.address, value: 1n, nonce: nonce - 1, gasLimit: 21000 };
  await assert.rejects(alice.sendTransaction(stale), (err) => {
    assert.equal(err.code, "NONCE_EXPIRED", err.message);
    return true;
  });

  // The node's own server sees the same chain.
  const node = new ethers.JsonRpcProvider(NODE_URL, undefined, { cacheTimeout: -1 });
  const [ours, theirs] = await Promise.all([provider.getBlock("latest"), node.getBlock("latest")]);
  assert.equal(ours.hash, theirs.hash);
  provider.destroy();
  node.destroy();
});

test("viem deploys, transacts, reads events and decodes reverts through the gateway", async () => {
  const chain = defineChain({
    id: Number(CHAIN_ID),
    name: "Canister EVM (canister)",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [RPC_URL] } },
  });
  const publicClient = createPublicClient({ chain, transport: http(RPC_URL), pollingInterval: 100 });
  const walletClient = createWalletClient({ chain, transport: http(RPC_URL) });
  const account = privateKeyToAccount(KEYS[2]);
  const bob = privateKeyToAccount(KEYS[1]);

  const deploy = async (name, args = []) => {
    const { abi, bytecode } = artifact(name);
    const hash = await walletClient.deployContract({ abi, bytecode, args, account });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, "success");
    return getContract({ address: receipt.contractAddress, abi, client: { public: publicClient, wallet: walletClient } });
  };
  const token = await deploy("Token", ["Token", "TOK", 1000n]);
  const hash = await token.write.transfer([bob.address, 9n], { account });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, "success");
  assert.equal(await token.read.balanceOf([bob.address]), 9n);
  const [transfer] = parseEventLogs({ abi: token.abi, logs: receipt.logs, eventName: "Transfer" });
  assert.equal(transfer.args.value, 9n);
  const events = await token.getEvents.Transfer({ to: bob.address }, { fromBlock: receipt.blockNumber });
  assert.equal(events.length, 1);
  assert.equal(events[0].transactionHash, hash);

  const tester = await deploy("Tester");
  await assert.rejects(tester.read.checkLimit([5n, 2n]), (err) => {
    assert.ok(err instanceof BaseError, String(err));
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
    assert.equal(revert.data.errorName, "TooLarge");
    assert.deepEqual(revert.data.args, [5n, 2n]);
    return true;
  });
  await assert.rejects(tester.read.onlyOwner({ account: bob.address }), (err) => {
    const revert = err.walk((e) => e instanceof ContractFunctionRevertedError);
    assert.equal(revert.reason, "Tester: caller is not the owner");
    return true;
  });
});
