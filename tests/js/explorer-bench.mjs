// Does an open explorer slow the node? Not a test: a benchmark, run by hand
// against a running node (the release build, say):
//
//   cargo run --release -- --ephemeral --port 8545 &
//   (cd tests/js && npm ci && RPC_URL=http://127.0.0.1:8545 node explorer-bench.mjs [rounds] [transfers])
//
// It sends signed ETH transfers one at a time, each followed by its receipt,
// in alternating rounds: with no browser, then with headless Chromium
// showing the explorer's home page (which follows every block live), and
// prints the throughput of each and their ratio, measured in one run.
import { ethers } from "ethers";
import { chromium } from "playwright-core";
import { KEYS, RPC_URL } from "./common.mjs";

const rounds = Number(process.argv[2] ?? 3);
const transfers = Number(process.argv[3] ?? 300);
const provider = new ethers.JsonRpcProvider(RPC_URL, undefined, { cacheTimeout: -1, batchMaxCount: 1 });
const wallet = new ethers.Wallet(KEYS[2], provider);
let nonce = await provider.getTransactionCount(wallet.address, "pending");

async function sendRound() {
  const started = performance.now();
  for (let i = 0; i < transfers; i++) {
    const tx = await wallet.sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n, nonce: nonce++, gasLimit: 21_000n });
    await tx.wait();
  }
  return (transfers * 1000) / (performance.now() - started);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const results = { without: [], with: [] };
await sendRound(); // warm-up
for (let round = 0; round < rounds; round++) {
  results.without.push(await sendRound());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(RPC_URL.replace(/\/?$/, "/"));
  await page.locator('#live[data-state="live"]').waitFor();
  let requests = 0;
  page.on("request", () => requests++);
  results.with.push(await sendRound());
  console.log(`round ${round + 1}: the page made ${requests} HTTP requests during ${transfers} transfers`);
  await page.close();
}
await browser.close();
provider.destroy();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const a = median(results.without);
const b = median(results.with);
console.log(`sequential transfer + receipt, ${transfers} per round, ${rounds} rounds, medians:`);
console.log(`  without the explorer open: ${a.toFixed(0)} tx/s`);
console.log(`  with the explorer open:    ${b.toFixed(0)} tx/s`);
console.log(`  ratio (with / without):    ${(b / a).toFixed(3)}`);
