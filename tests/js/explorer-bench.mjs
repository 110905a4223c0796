// Does an open explorer slow the node? Not a test: a benchmark, run by hand
// against a running node (the release build, say):
//
//   cargo run --release -- --ephemeral --port 8545 &
//   (cd tests/js && npm ci && RPC_URL=http://127.0.0.1:8545 node explorer-bench.mjs [rounds] [transfers])
//
// It sends signed ETH transfers one at a time, each followed by its receipt,
// in alternating rounds: with no browser, then with headless Chromium
// showing the explorer's home page (which follows every block live), and
// prints the throughput of each and their ratio, measured in one run. The
// browser shares the machine's cores with the node and this client, so it
// also prints what the node itself spent: its CPU time per transfer (read
// from /proc for the process listening on RPC_URL's port), with and without
// the page, and per HTTP request the page made.
import fs from "node:fs";
import { ethers } from "ethers";
import { chromium } from "playwright-core";
import { KEYS, RPC_URL } from "./common.mjs";

const rounds = Number(process.argv[2] ?? 3);
const transfers = Number(process.argv[3] ?? 300);
const provider = new ethers.JsonRpcProvider(RPC_URL, undefined, { cacheTimeout: -1, batchMaxCount: 1 });
const wallet = new ethers.Wallet(KEYS[2], provider);
let nonce = await provider.getTransactionCount(wallet.address, "pending");

// The pid of the process listening on the node's port, or null.
function nodePid() {
  const port = Number(new URL(RPC_URL).port || 80);
  const inodes = new Set();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local address HEX:PORT, state 0A = LISTEN, inode in column 10.
      if (f.length > 9 && f[3] === "0A" && parseInt(f[1].split(":")[1], 16) === port) inodes.add(f[9]);
    }
  }
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
        if (inode && inodes.has(inode)) return pid;
      }
    } catch {}
  }
  return null;
}
const pid = nodePid();
const ticksPerSecond = 100; // USER_HZ on Linux
// The node's user + system CPU time so far, in milliseconds.
function nodeCpuMs() {
  if (!pid) return NaN;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond;
}

async function sendRound() {
  const started = performance.now();
  const cpu = nodeCpuMs();
  for (let i = 0; i < transfers; i++) {
    const tx = await wallet.sendTransaction({ to: ethers.Wallet.createRandom().address, value: 1n, nonce: nonce++, gasLimit: 21_000n });
    await tx.wait();
  }
  return { rate: (transfers * 1000) / (performance.now() - started), cpu: (nodeCpuMs() - cpu) / transfers };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const results = { without: [], with: [] };
const requestCounts = [];
await sendRound(); // warm-up
for (let round = 0; round < rounds; round++) {
  results.without.push(await sendRound());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(RPC_URL.replace(/\/?$/, "/"));
  await page.locator('#live[data-state="live"]').waitFor();
  let requests = 0;
  page.on("request", () => requests++);
  results.with.push(await sendRound());
  requestCounts.push(requests);
  console.log(`round ${round + 1}: the page made ${requests} HTTP requests during ${transfers} transfers`);
  await page.close();
}
await browser.close();
provider.destroy();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const a = median(results.without.map((r) => r.rate));
const b = median(results.with.map((r) => r.rate));
console.log(`sequential transfer + receipt, ${transfers} per round, ${rounds} rounds, medians:`);
console.log(`  without the explorer open: ${a.toFixed(0)} tx/s`);
console.log(`  with the explorer open:    ${b.toFixed(0)} tx/s`);
console.log(`  ratio (with / without):    ${(b / a).toFixed(3)}`);
if (pid) {
  const ca = median(results.without.map((r) => r.cpu));
  const cb = median(results.with.map((r) => r.cpu));
  const perRequest = ((cb - ca) * transfers) / median(requestCounts);
  console.log(`the node's CPU time (pid ${pid}), per transfer:`);
  console.log(`  without the explorer open: ${ca.toFixed(2)} ms`);
  console.log(`  with the explorer open:    ${cb.toFixed(2)} ms (${(((cb - ca) / ca) * 100).toFixed(1)} % more; ${perRequest.toFixed(2)} ms per page request)`);
} else {
  console.log("(no process found listening on the node's port: its CPU time is not shown)");
}
