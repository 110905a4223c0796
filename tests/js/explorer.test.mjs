// The block explorer in a real browser: headless Chromium (Debian's
// package; CHROMIUM names the binary) driven by playwright-core. ethers
// sends a deployment, transfers, an event with console.log, a revert and a
// call no bundled ABI knows; the home page must show them live, and the
// transaction, block, address and chain pages must agree with JSON-RPC.
// Screenshots go to SCREENSHOTS.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import { chromium } from "playwright-core";
import { KEYS, RPC_URL, artifact } from "./common.mjs";

const SCREENSHOTS = process.env.SCREENSHOTS ?? "explorer-screenshots";
const PAGE_URL = RPC_URL.replace(/\/?$/, "/");
fs.mkdirSync(SCREENSHOTS, { recursive: true });

const provider = new ethers.JsonRpcProvider(RPC_URL, undefined, { cacheTimeout: -1 });
const owner = new ethers.Wallet(KEYS[0], provider);
const stranger = new ethers.Wallet(KEYS[1], provider);

let browser;
let page;
const pageErrors = [];
const sent = {};

async function rpc(method, params = []) {
  return provider.send(method, params);
}

/** The exact figure a `[data-field]` shows. */
async function fieldValue(name) {
  return page.locator(`[data-field="${name}"]`).first().getAttribute("data-value");
}

async function open(hash) {
  await page.evaluate((h) => (location.hash = h), hash);
  await page.locator(`main[data-route="${hash}"] h1`).first().waitFor();
}

async function shot(name) {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => message.type() === "error" && pageErrors.push(message.text()));
  await page.goto(PAGE_URL);
  await page.locator("#latest-blocks").waitFor();
  await page.locator('#live[data-state="live"]').waitFor();
});

after(async () => {
  await browser?.close();
  provider.destroy();
});

test("the home page shows transactions live, with a chart of gas against instructions and cycles", async () => {
  const token = await new ethers.ContractFactory(artifact("Token").abi, artifact("Token").bytecode, owner).deploy("Token", "TKN", 1_000_000n);
  await token.waitForDeployment();
  sent.tokenDeploy = token.deploymentTransaction().hash;
  sent.token = await token.getAddress();
  const greeter = await new ethers.ContractFactory(artifact("Greeter").abi, artifact("Greeter").bytecode, owner).deploy();
  await greeter.waitForDeployment();
  const tester = await new ethers.ContractFactory(artifact("Tester").abi, artifact("Tester").bytecode, owner).deploy();
  await tester.waitForDeployment();

  sent.transfer = (await (await token.transfer(stranger.address, 1234n)).wait()).hash;
  sent.greet = (await (await greeter.greet("hello explorer")).wait()).hash;
  // Mined and reverted: the gas limit is given, so nothing estimates first.
  const reverting = await tester.connect(stranger).onlyOwner.populateTransaction();
  const revertTx = await stranger.sendTransaction({ ...reverting, gasLimit: 100_000n });
  sent.revert = revertTx.hash;
  await assert.rejects(revertTx.wait());
  // A call no bundled ABI knows: ping(uint256) to an account.
  const ping = new ethers.Interface(["function ping(uint256 n)"]);
  const pingTx = await owner.sendTransaction({ to: stranger.address, data: ping.encodeFunctionData("ping", [7n]) });
  sent.ping = (await pingTx.wait()).hash;

  // The page was open all along: every transaction arrived over eth_subscribe.
  for (const hash of [sent.tokenDeploy, sent.transfer, sent.greet, sent.revert, sent.ping]) {
    await page.locator(`#latest-txs tr[data-tx="${hash}"]`).waitFor();
  }
  const greetRow = page.locator(`#latest-txs tr[data-tx="${sent.greet}"]`);
  assert.match(await greetRow.textContent(), /greet/);
  assert.match(await page.locator(`#latest-txs tr[data-tx="${sent.revert}"]`).textContent(), /reverted/);
  const head = Number(await rpc("eth_blockNumber"));
  await page.locator(`#latest-blocks tr[data-block="${head}"]`).waitFor();

  await page.locator("#cost-chart canvas").waitFor();
  await page.waitForFunction(() => Number(document.querySelector("#cost-chart").dataset.points) >= 1);
  const points = await page.evaluate(() => {
    const canvas = document.querySelector("#cost-chart canvas");
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let drawn = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn++;
    return { drawn, series: [...document.querySelectorAll("#cost-chart .u-legend .u-series")].map((s) => s.textContent) };
  });
  assert.ok(points.drawn > 1000, `the chart draws (${points.drawn} pixels)`);
  assert.ok(points.series.some((s) => s.includes("instructions")) && points.series.some((s) => s.includes("cycles")), points.series.join(" | "));
  await shot("home");
});

test("the transaction page shows the node's gas, instructions and cycles, decoded input, events and console.log", async () => {
  const receipt = await rpc("eth_getTransactionReceipt", [sent.greet]);
  await open(`#/tx/${sent.greet}`);
  await page.locator("#call-frames").waitFor();
  assert.equal(await fieldValue("gasUsed"), BigInt(receipt.gasUsed).toString());
  assert.equal(await fieldValue("wasmInstructions"), BigInt(receipt.wasmInstructions).toString());
  assert.equal(await fieldValue("cycles"), BigInt(receipt.cycles).toString());
  assert.equal(await fieldValue("from"), receipt.from);
  for (const [phase, value] of Object.entries(receipt.costBreakdown)) {
    assert.equal(await page.locator(`tr[data-phase="${phase}"]`).getAttribute("data-value"), BigInt(value).toString(), phase);
  }
  assert.equal(await page.locator("#decoded-method").textContent(), "Greeter.greet");
  assert.match(await page.locator('#logs li[data-event="Greeted"]').textContent(), /hello explorer/);
  assert.equal(await page.locator("#console-output").textContent(), "hello explorer 1");
  // The frames are the costTracer's: the console.log call is one of them.
  assert.match(await page.locator("#call-frames").textContent(), /console\.log/);
  await shot("transaction");

  await open(`#/tx/${sent.transfer}`);
  // Every ERC20 of contracts/ has transfer(address,uint256): all are named.
  assert.match(await page.locator("#decoded-method").textContent(), /^(\w+ \| )*Token( \| \w+)*\.transfer$/);
  assert.match(await page.locator('#logs li[data-event="Transfer"]').textContent(), /1234/);

  await open(`#/tx/${sent.revert}`);
  assert.equal(await fieldValue("status"), "0");
  assert.equal(await page.locator("#revert-reason").textContent(), "Tester: caller is not the owner");
  await shot("transaction-reverted");
});

test("an ABI dropped on the page decodes calls no bundled ABI knows", async () => {
  await open(`#/tx/${sent.ping}`);
  assert.equal(await page.locator("#decoded-method").count(), 0);
  await page.setInputFiles("#abi-file", {
    name: "Pinger.json",
    mimeType: "application/json",
    buffer: Buffer.from(JSON.stringify([{ type: "function", name: "ping", stateMutability: "nonpayable", inputs: [{ name: "n", type: "uint256" }], outputs: [] }])),
  });
  await page.locator("#decoded-method").waitFor();
  assert.equal(await page.locator("#decoded-method").textContent(), "Pinger.ping");
});

test("the block page agrees with the block and its receipts", async () => {
  const receipt = await rpc("eth_getTransactionReceipt", [sent.greet]);
  const block = await rpc("eth_getBlockByNumber", [receipt.blockNumber, false]);
  const receipts = await rpc("eth_getBlockReceipts", [receipt.blockNumber]);
  await open(`#/block/${Number(block.number)}`);
  assert.equal(await fieldValue("hash"), block.hash);
  assert.equal(await fieldValue("gasUsed"), BigInt(block.gasUsed).toString());
  const sum = (key) => receipts.reduce((total, r) => total + BigInt(r[key]), 0n).toString();
  assert.equal(await fieldValue("wasmInstructions"), sum("wasmInstructions"));
  assert.equal(await fieldValue("cycles"), sum("cycles"));
  await page.locator(`tr[data-tx="${sent.greet}"]`).waitFor();
  await shot("block");
});

test("the address page shows a contract's balance, nonce, code, transactions and storage", async () => {
  await open(`#/address/${sent.token}`);
  await page.locator("#contract-badge").waitFor();
  assert.equal(await fieldValue("balance"), BigInt(await rpc("eth_getBalance", [sent.token, "latest"])).toString());
  assert.equal(await fieldValue("nonce"), String(Number(await rpc("eth_getTransactionCount", [sent.token, "latest"]))));
  const code = await rpc("eth_getCode", [sent.token, "latest"]);
  assert.equal(await fieldValue("codeSize"), String((code.length - 2) / 2));
  await page.locator(`#address-txs tr[data-tx="${sent.tokenDeploy}"]`).waitFor();
  await page.locator(`#address-txs tr[data-tx="${sent.transfer}"]`).waitFor();
  // OpenZeppelin's ERC20 keeps the total supply in slot 2.
  await page.fill("#slot", "2");
  await page.press("#slot", "Enter");
  const expected = await rpc("eth_getStorageAt", [sent.token, "0x2", "latest"]);
  await page.waitForFunction((value) => document.querySelector("#slot-value").textContent === value, expected);
  await shot("address");

  await open(`#/address/${owner.address}`);
  assert.equal(await page.locator("#contract-badge").count(), 0);
  await page.locator(`#address-txs tr[data-tx="${sent.greet}"]`).waitFor();
});

test("search finds blocks, transactions and addresses, from the keyboard", async () => {
  await open("#/");
  await page.keyboard.press("/");
  assert.equal(await page.evaluate(() => document.activeElement.id), "q");
  await page.keyboard.type(sent.transfer);
  await page.keyboard.press("Enter");
  await page.waitForFunction((hash) => location.hash === `#/tx/${hash}`, sent.transfer);
  await page.fill("#q", "1");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => location.hash === "#/block/1");
  await page.fill("#q", sent.token);
  await page.press("#q", "Enter");
  await page.waitForFunction((address) => location.hash === `#/address/${address}`, sent.token);
  await page.fill("#q", "not a thing");
  await page.press("#q", "Enter");
  await page.locator("main h1", { hasText: "Nothing found" }).waitFor();
  // Every control is reachable by Tab, with a visible focus ring.
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(focused, "none");
});

test("the chain page shows the settings, the fee table and the cost totals", async () => {
  const summary = await rpc("ic_costSummary");
  await open("#/chain");
  assert.equal(await fieldValue("chainId"), "31337");
  assert.equal(await fieldValue("cyclesPerInstruction"), String(summary.cyclesPerInstruction));
  assert.equal(await fieldValue("totalTransactions"), BigInt(summary.totals.transactions).toString());
  assert.equal(await fieldValue("totalCycles"), BigInt(summary.totals.cycles).toString());
  const block = await rpc("eth_getBlockByNumber", ["latest", false]);
  assert.equal(await fieldValue("gasLimit"), BigInt(block.gasLimit).toString());
  await shot("chain");
});

test("the pages are readable on a phone and in the dark theme", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await open(`#/tx/${sent.greet}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page fits a phone's width (${overflow} px too wide)`);
  await shot("phone-transaction");
  await open("#/");
  await shot("phone-home");
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: "dark" });
  await open("#/");
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, "rgb(17, 20, 24)");
  await shot("home-dark");
  await page.emulateMedia({ colorScheme: "light" });
  assert.deepEqual(pageErrors, []);
});
