// The explorer: pages routed by the URL's hash (#/block/12, #/tx/0x…,
// #/address/0x…, #/chain, #/search/…), rendered from the node's JSON-RPC.
// Every figure of what a transaction cost (gas, Wasm instructions, cycles,
// the phases, the call frames) is the node's own: receipts carry
// `wasmInstructions`, `cycles` and `costBreakdown`, `debug_traceTransaction`
// with `costTracer` the frames and opcodes.

import { batch, call, subscribeHeads } from "./rpc.js";
import { ago, big, count, el, ether, exact, figure, fullHash, gwei, hashLink, utc } from "./format.js";
import { CONSOLE_ADDRESS, addAbi, decodeConsole, decodeInput, decodeLog, decodeRevert, known, show } from "./abi.js";
import { CostChart } from "./chart.js";

const view = document.getElementById("view");
const liveBadge = document.getElementById("live");
const hex = (n) => `0x${BigInt(n).toString(16)}`;

// ---- navigation ------------------------------------------------------

let rendering = 0;
let headListener = null;

/** Calls `listener(header)` for new blocks while the current page is shown. */
function onHead(listener) {
  headListener = listener;
}

subscribeHeads(
  (head) => headListener?.(head),
  (state) => {
    liveBadge.textContent = state;
    liveBadge.dataset.state = state;
  },
);

const pages = {
  "": home,
  block: blockPage,
  tx: txPage,
  address: addressPage,
  chain: chainPage,
  search: searchPage,
};

async function render() {
  const token = ++rendering;
  headListener = null;
  const [, name = "", ...rest] = decodeURIComponent(location.hash.slice(1)).split("/");
  const page = pages[name] ?? notFound;
  const stale = () => token !== rendering;
  try {
    const content = await page(rest.join("/"), stale);
    if (stale()) return;
    view.replaceChildren(...[content].flat());
  } catch (error) {
    if (stale()) return;
    view.replaceChildren(el("h1", {}, "Something went wrong"), el("p", { class: "error", role: "alert" }, error.message));
  }
  view.dataset.route = location.hash || "#/";
  document.title = `${view.querySelector("h1")?.textContent ?? "Explorer"} · Canister EVM`;
  if (document.activeElement !== document.getElementById("q")) view.focus({ preventScroll: true });
}

window.addEventListener("hashchange", render);
document.addEventListener("keydown", (event) => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName ?? "");
  if (event.key === "/" && !typing) {
    event.preventDefault();
    document.getElementById("q").focus();
  }
});
document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = new FormData(event.target).get("q").trim();
  if (query) location.hash = `#/search/${query}`;
});

// ---- dropped ABIs -----------------------------------------------------

function showAbiCount() {
  const { bundled, dropped } = known();
  document.getElementById("abi-count").textContent =
    `${bundled} contracts from contracts/${dropped ? `, ${dropped} dropped` : ""} decode calls and events`;
}
showAbiCount();

async function takeAbiFiles(files) {
  const notes = [];
  for (const file of files) {
    try {
      notes.push(`added ${addAbi(await file.text(), file.name)}`);
    } catch (error) {
      notes.push(`${file.name}: ${error.message}`);
    }
  }
  document.getElementById("abi-count").textContent = notes.join("; ");
  setTimeout(showAbiCount, 4000);
  render();
}
document.getElementById("abi-file").addEventListener("change", (event) => takeAbiFiles(event.target.files));
document.getElementById("abi-drop").addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    document.getElementById("abi-file").click();
  }
});
document.addEventListener("dragover", (event) => {
  event.preventDefault();
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
document.addEventListener("drop", (event) => {
  event.preventDefault();
  document.body.classList.remove("dragging");
  takeAbiFiles(event.dataTransfer.files);
});

// ---- building blocks ----------------------------------------------------

/** A definition list row; `key` and `value` let tests find exact figures. */
function field(label, content, key, value) {
  return [
    el("dt", {}, label),
    el("dd", { "data-field": key, "data-value": value === undefined ? undefined : String(value) }, content),
  ];
}

function fields(rows) {
  return el("dl", { class: "fields" }, rows.filter(Boolean).flat());
}

function section(title, ...content) {
  return el("section", { class: "card" }, el("h2", {}, title), ...content);
}

/** A table that scrolls sideways on narrow screens (and by keyboard). */
function table(caption, headers, rows, attributes = {}) {
  return el(
    "div",
    { class: "scroll", tabindex: "0", role: "region", "aria-label": caption },
    el(
      "table",
      attributes,
      el("caption", { class: "sr-only" }, caption),
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", class: h.num ? "num" : undefined }, h.label ?? h)))),
      el("tbody", {}, rows),
    ),
  );
}

function status(receipt) {
  if (!receipt) return el("span", { class: "badge pending" }, "pending");
  return big(receipt.status) === 1n
    ? el("span", { class: "badge ok" }, "success")
    : el("span", { class: "badge fail" }, "reverted");
}

/** What a transaction calls, as a short label: `transfer`, `deploy`, … */
function method(tx) {
  if (!tx.to) return "deploy";
  if (!tx.input || tx.input === "0x") return "transfer";
  return decodeInput(tx.input)?.name ?? tx.input.slice(0, 10);
}

async function blocksWithReceipts(numbers) {
  const answers = await batch(numbers.flatMap((n) => [["eth_getBlockByNumber", [hex(n), true]], ["eth_getBlockReceipts", [hex(n)]]]));
  const out = [];
  for (let i = 0; i < numbers.length; i++) {
    const block = answers[2 * i];
    const receipts = answers[2 * i + 1];
    if (block && !(block instanceof Error)) out.push({ block, receipts: Array.isArray(receipts) ? receipts : [] });
  }
  return out;
}

function totals(receipts) {
  let instructions = 0n;
  let cycles = 0n;
  for (const r of receipts) {
    instructions += big(r.wasmInstructions);
    cycles += big(r.cycles);
  }
  return { instructions, cycles };
}

function blockRow({ block, receipts }) {
  const { instructions, cycles } = totals(receipts);
  return el(
    "tr",
    { "data-block": Number(block.number) },
    el("td", {}, el("a", { href: `#/block/${Number(block.number)}` }, `#${Number(block.number)}`)),
    el("td", { class: "muted" }, el("time", { datetime: utc(block.timestamp), title: utc(block.timestamp) }, ago(block.timestamp))),
    el("td", { class: "num" }, block.transactions.length),
    el("td", { class: "num" }, figure(block.gasUsed)),
    el("td", { class: "num" }, figure(instructions)),
    el("td", { class: "num" }, figure(cycles)),
  );
}

const BLOCK_HEADERS = ["block", "age", { label: "txs", num: true }, { label: "gas", num: true }, { label: "instructions", num: true }, { label: "cycles", num: true }];
const TX_HEADERS = ["transaction", "method", "from → to", { label: "gas", num: true }, { label: "instructions", num: true }, { label: "cycles", num: true }, "status"];

function txRow(tx, receipt) {
  return el(
    "tr",
    { "data-tx": tx.hash },
    el("td", {}, hashLink("tx", tx.hash)),
    el("td", {}, el("span", { class: "method" }, method(tx))),
    el("td", { class: "nowrap" }, hashLink("address", tx.from), " → ", tx.to ? hashLink("address", tx.to) : receipt?.contractAddress ? hashLink("address", receipt.contractAddress, "new contract") : "create"),
    el("td", { class: "num" }, receipt ? figure(receipt.gasUsed) : "—"),
    el("td", { class: "num" }, receipt ? figure(receipt.wasmInstructions) : "—"),
    el("td", { class: "num" }, receipt ? figure(receipt.cycles) : "—"),
    el("td", {}, status(receipt)),
  );
}

function chartPoints(items) {
  return items
    .filter(({ receipt }) => receipt)
    .map(({ tx, receipt }) => ({
      label: `#${Number(tx.blockNumber)} ${method(tx)}`,
      gas: Number(big(receipt.gasUsed)),
      instructions: Number(big(receipt.wasmInstructions)),
      cycles: Number(big(receipt.cycles)),
    }));
}

function txsOf(entries) {
  return entries.flatMap(({ block, receipts }) => {
    const byHash = new Map(receipts.map((r) => [r.transactionHash, r]));
    return block.transactions.map((tx) => ({ tx, receipt: byHash.get(tx.hash) })).reverse();
  });
}

// ---- pages ----------------------------------------------------------

async function home(_, stale) {
  const head = Number(await call("eth_blockNumber"));
  const latest = [];
  for (let n = head; n >= 0 && latest.length < 10; n--) latest.push(n);
  let entries = await blocksWithReceipts(latest);
  // The chart wants up to 50 transactions: look further back for them.
  let recent = txsOf(entries);
  for (let n = head - latest.length; n >= 0 && recent.length < 50 && head - n < 300; n -= 50) {
    const older = [];
    for (let m = n; m > n - 50 && m >= 0; m--) older.push(m);
    recent = recent.concat(txsOf(await blocksWithReceipts(older)));
  }
  if (stale()) return [];

  const blockBody = el("tbody");
  const txBody = el("tbody");
  const chartBox = el("div", { class: "chart", id: "cost-chart", role: "img", "aria-label": "Gas, Wasm instructions and cycles of recent transactions" });
  const empty = el("p", { class: "muted" }, "No transactions yet: send one and it appears here.");
  const blocksTable = table("Latest blocks", BLOCK_HEADERS, []);
  blocksTable.querySelector("tbody").replaceWith(blockBody);
  blockBody.id = "latest-blocks";
  const txTable = table("Latest transactions", TX_HEADERS, []);
  txTable.querySelector("tbody").replaceWith(txBody);
  txBody.id = "latest-txs";
  for (const entry of entries) blockBody.append(blockRow(entry));
  for (const { tx, receipt } of recent.slice(0, 20)) txBody.append(txRow(tx, receipt));

  const page = [
    el("h1", {}, "Latest activity"),
    section(
      "Gas next to Wasm instructions and cycles",
      el("p", { class: "muted" }, "The latest 50 transactions, oldest on the left. Gas is what the EVM charged; instructions are what the canister executed to include the transaction; cycles are what that cost the canister on ICP."),
      recent.length ? null : empty,
      chartBox,
    ),
    el("div", { class: "columns" }, section("Latest blocks", blocksTable), section("Latest transactions", txTable)),
  ];
  let chart = null;
  // Draw once the box is on the page (uPlot measures its width).
  requestAnimationFrame(() => {
    if (!stale()) chart = new CostChart(chartBox, chartPoints([...recent.slice(0, 50)].reverse()));
  });

  // New heads are fetched at most every 500 ms, several blocks in one
  // batch, so that a fast chain is not slowed by the page following it.
  let lastSeen = head;
  let newest = head;
  let fetching = false;
  const follow = async () => {
    if (fetching || newest <= lastSeen || stale()) return;
    fetching = true;
    const numbers = [];
    for (let n = lastSeen + 1; n <= newest && numbers.length < 20; n++) numbers.push(n);
    lastSeen = numbers[numbers.length - 1];
    const fresh = await blocksWithReceipts(numbers);
    setTimeout(() => {
      fetching = false;
      follow();
    }, 500);
    if (stale()) return;
    for (const entry of fresh) {
      blockBody.prepend(blockRow(entry));
      const items = txsOf([entry]);
      for (const { tx, receipt } of [...items].reverse()) txBody.prepend(txRow(tx, receipt));
      chart?.push(chartPoints([...items].reverse()));
      empty.remove();
    }
    while (blockBody.children.length > 10) blockBody.lastChild.remove();
    while (txBody.children.length > 20) txBody.lastChild.remove();
  };
  onHead((header) => {
    newest = Math.max(newest, Number(header.number));
    follow();
  });
  return page;
}

async function blockPage(id) {
  const byHash = /^0x[0-9a-fA-F]{64}$/.test(id);
  const block = byHash ? await call("eth_getBlockByHash", [id, true]) : await call("eth_getBlockByNumber", [/^\d+$/.test(id) ? hex(id) : id, true]);
  if (!block) return [el("h1", {}, "Block not found"), el("p", {}, `No block ${id} on this chain.`)];
  const number = Number(block.number);
  const receipts = (await call("eth_getBlockReceipts", [block.number])) ?? [];
  const byTx = new Map(receipts.map((r) => [r.transactionHash, r]));
  const { instructions, cycles } = totals(receipts);
  const head = Number(await call("eth_blockNumber"));
  return [
    el("h1", {}, `Block #${number}`),
    el(
      "nav",
      { class: "pager", "aria-label": "Neighbouring blocks" },
      number > 0 ? el("a", { href: `#/block/${number - 1}`, rel: "prev" }, `← #${number - 1}`) : null,
      number < head ? el("a", { href: `#/block/${number + 1}`, rel: "next" }, `#${number + 1} →`) : null,
    ),
    section(
      "Header",
      fields([
        field("Hash", fullHash(block.hash, "block hash"), "hash", block.hash),
        field("Parent", hashLink("block", block.parentHash), "parentHash", block.parentHash),
        field("Timestamp", `${utc(block.timestamp)} (${ago(block.timestamp)})`, "timestamp", Number(block.timestamp)),
        field("Transactions", block.transactions.length, "transactions", block.transactions.length),
        field("Gas used", `${exact(block.gasUsed)} of ${exact(block.gasLimit)} (${((Number(block.gasUsed) * 100) / Number(block.gasLimit)).toFixed(2)} %)`, "gasUsed", big(block.gasUsed)),
        field("Wasm instructions", figure(instructions), "wasmInstructions", instructions),
        field("Cycles", figure(cycles), "cycles", cycles),
        block.baseFeePerGas && field("Base fee", gwei(block.baseFeePerGas), "baseFeePerGas", big(block.baseFeePerGas)),
        field("Fee recipient", hashLink("address", block.miner), "miner", block.miner),
        field("State root", fullHash(block.stateRoot, "state root"), "stateRoot", block.stateRoot),
        field("Transactions root", fullHash(block.transactionsRoot, "transactions root"), "transactionsRoot", block.transactionsRoot),
        field("Receipts root", fullHash(block.receiptsRoot, "receipts root"), "receiptsRoot", block.receiptsRoot),
        field("Size", `${exact(block.size)} bytes`, "size", big(block.size)),
      ]),
    ),
    section(
      "Transactions",
      block.transactions.length
        ? table("Transactions of the block", TX_HEADERS, block.transactions.map((tx) => txRow(tx, byTx.get(tx.hash))))
        : el("p", { class: "muted" }, "No transactions in this block."),
    ),
  ];
}

const PHASES = [
  ["decoding", "Decoding"],
  ["senderRecovery", "Sender recovery"],
  ["validation", "Validation"],
  ["evmExecution", "EVM execution"],
  ["stateWrite", "State write"],
  ["blockSeal", "Block seal"],
  ["other", "Other"],
];

function argsTable(args, caption) {
  return table(
    caption,
    ["name", "type", "value"],
    args.map((a) => el("tr", {}, el("td", {}, a.name), el("td", { class: "muted" }, a.type), el("td", { class: "mono break" }, show(a.value)))),
  );
}

function costSection(receipt, trace) {
  const gas = big(receipt.gasUsed);
  const instructions = big(receipt.wasmInstructions);
  const cycles = big(receipt.cycles);
  const perGas = gas > 0n ? Number(instructions) / Number(gas) : 0;
  const content = [
    el(
      "div",
      { class: "figures" },
      el("div", { class: "figure", "data-field": "gasUsed", "data-value": gas.toString() }, el("span", { class: "label" }, "gas"), figure(gas, "big gas")),
      el("div", { class: "figure", "data-field": "wasmInstructions", "data-value": instructions.toString() }, el("span", { class: "label" }, "Wasm instructions"), figure(instructions, "big instructions")),
      el("div", { class: "figure", "data-field": "cycles", "data-value": cycles.toString() }, el("span", { class: "label" }, "cycles"), figure(cycles, "big cycles")),
      el("div", { class: "figure" }, el("span", { class: "label" }, "instructions per gas"), el("span", { class: "big" }, perGas.toFixed(1))),
    ),
  ];
  const breakdown = receipt.costBreakdown;
  if (breakdown) {
    const parts = PHASES.map(([key, label]) => ({ key, label, n: big(breakdown[key]) }));
    const total = parts.reduce((sum, p) => sum + p.n, 0n) || 1n;
    content.push(
      el("h3", {}, "Where the instructions went"),
      el(
        "div",
        { class: "phasebar", role: "img", "aria-label": parts.map((p) => `${p.label} ${count(p.n)}`).join(", ") },
        parts.filter((p) => p.n > 0n).map((p) => el("span", { class: `phase ${p.key}`, style: `flex-grow:${Number((p.n * 10000n) / total)}`, title: `${p.label}: ${exact(p.n)}` })),
      ),
      table(
        "Phases",
        ["phase", { label: "instructions", num: true }, { label: "share", num: true }],
        parts.map((p) =>
          el(
            "tr",
            { "data-phase": p.key, "data-value": p.n.toString() },
            el("td", {}, el("span", { class: `swatch ${p.key}` }), p.label),
            el("td", { class: "num" }, figure(p.n)),
            el("td", { class: "num" }, `${((Number(p.n) * 100) / Number(total)).toFixed(1)} %`),
          ),
        ),
      ),
    );
  }
  if (trace?.calls) {
    content.push(el("h3", {}, "Call frames"), el("ul", { class: "frames", id: "call-frames" }, frameItem(trace.calls)));
  }
  if (trace?.opcodes?.length) {
    content.push(
      el("h3", {}, "Opcodes by instructions"),
      table(
        "Opcodes",
        ["opcode", { label: "count", num: true }, { label: "gas", num: true }, { label: "instructions", num: true }, { label: "cycles", num: true }, { label: "instructions per gas", num: true }],
        trace.opcodes.slice(0, 15).map((row) =>
          el(
            "tr",
            {},
            el("td", { class: "mono" }, row.op),
            el("td", { class: "num" }, count(row.count)),
            el("td", { class: "num" }, count(row.gas)),
            el("td", { class: "num" }, figure(row.instructions)),
            el("td", { class: "num" }, figure(row.cycles ?? row.instructions)),
            el("td", { class: "num" }, row.gas ? (row.instructions / row.gas).toFixed(1) : "—"),
          ),
        ),
      ),
    );
  }
  if (trace?.precompiles?.length) {
    content.push(
      el("h3", {}, "Precompiles"),
      table(
        "Precompiles",
        ["precompile", { label: "count", num: true }, { label: "gas", num: true }, { label: "instructions", num: true }],
        trace.precompiles.map((row) => el("tr", {}, el("td", {}, row.name), el("td", { class: "num" }, count(row.count)), el("td", { class: "num" }, count(row.gas)), el("td", { class: "num" }, figure(row.instructions)))),
      ),
    );
  }
  return section("Cost: gas, instructions, cycles", ...content);
}

function frameItem(frame) {
  const decoded = frame.input ? decodeInput(frame.input) : null;
  const target = frame.to?.toLowerCase() === CONSOLE_ADDRESS ? "console.log" : null;
  return el(
    "li",
    {},
    el(
      "div",
      { class: "frame" },
      el("span", { class: "badge" }, frame.type),
      " ",
      target ?? (frame.to ? hashLink("address", frame.to) : "—"),
      decoded ? el("span", { class: "method" }, ` ${decoded.contract}.${decoded.name}`) : null,
      el("span", { class: "muted" }, ` gas ${count(big(frame.gasUsed))} · instructions ${count(frame.instructions)} (self ${count(frame.selfInstructions)}) · cycles ${count(frame.cycles ?? frame.instructions)}`),
      frame.error ? el("span", { class: "badge fail" }, frame.error) : null,
    ),
    frame.calls?.length ? el("ul", {}, frame.calls.map(frameItem)) : null,
  );
}

function consoleLines(frame, out = []) {
  if (!frame) return out;
  if (frame.to?.toLowerCase() === CONSOLE_ADDRESS) {
    const text = decodeConsole(frame.input);
    if (text !== null) out.push(text);
  }
  for (const child of frame.calls ?? []) consoleLines(child, out);
  return out;
}

async function txPage(hash) {
  const [tx, receipt] = await batch([["eth_getTransactionByHash", [hash]], ["eth_getTransactionReceipt", [hash]]]);
  if (!tx || tx instanceof Error) return [el("h1", {}, "Transaction not found"), el("p", {}, `No transaction ${hash} on this chain or in its pool.`)];
  const trace = receipt ? await call("debug_traceTransaction", [hash, { tracer: "costTracer" }]).catch(() => null) : null;
  const decoded = tx.input && tx.input !== "0x" && tx.to ? decodeInput(tx.input) : null;
  const failed = receipt && big(receipt.status) === 0n;
  const revert = failed ? decodeRevert(trace?.calls?.output) : null;
  const logs = receipt?.logs ?? [];
  const lines = consoleLines(trace?.calls);
  const fee = receipt ? big(receipt.gasUsed) * big(receipt.effectiveGasPrice) : null;

  return [
    el("h1", {}, "Transaction"),
    section(
      "Overview",
      fields([
        field("Hash", fullHash(tx.hash, "transaction hash"), "hash", tx.hash),
        field("Status", status(receipt), "status", receipt ? Number(receipt.status) : "pending"),
        field("Block", tx.blockNumber ? el("a", { href: `#/block/${Number(tx.blockNumber)}` }, `#${Number(tx.blockNumber)}`) : "waiting in the pool", "block", tx.blockNumber ? Number(tx.blockNumber) : undefined),
        field("From", hashLink("address", tx.from), "from", tx.from),
        field(tx.to ? "To" : "Created", tx.to ? hashLink("address", tx.to) : receipt?.contractAddress ? hashLink("address", receipt.contractAddress) : "—", "to", tx.to ?? receipt?.contractAddress),
        field("Value", ether(tx.value), "value", big(tx.value)),
        field("Nonce", Number(tx.nonce), "nonce", Number(tx.nonce)),
        field("Type", `${Number(tx.type)} (${["legacy", "EIP-2930", "EIP-1559", "EIP-4844", "EIP-7702"][Number(tx.type)] ?? "other"})`, "type", Number(tx.type)),
        field("Gas limit", exact(tx.gas), "gas", big(tx.gas)),
        receipt && field("Gas price paid", gwei(receipt.effectiveGasPrice), "effectiveGasPrice", big(receipt.effectiveGasPrice)),
        fee !== null && field("Fee", ether(fee), "fee", fee),
      ]),
    ),
    failed
      ? section(
          "Revert reason",
          el(
            "p",
            { class: "error", id: "revert-reason", "data-kind": revert?.kind ?? "none" },
            !revert ? "Reverted without data." : revert.kind === "error" ? `${revert.contract}.${revert.name}(${revert.args.map((a) => show(a.value)).join(", ")})` : revert.text,
          ),
          revert?.kind === "error" ? argsTable(revert.args, "Error arguments") : null,
        )
      : null,
    receipt ? costSection(receipt, trace) : null,
    section(
      "Input",
      decoded
        ? [el("p", { id: "decoded-method" }, el("span", { class: "method" }, `${decoded.contract}.${decoded.name}`)), argsTable(decoded.args, "Arguments")]
        : el("p", { class: "muted" }, tx.to ? (tx.input === "0x" ? "No input: a plain transfer." : "Not decoded: no known ABI has this selector (drop one on the page).") : "Contract creation code."),
      tx.input && tx.input !== "0x" ? el("details", {}, el("summary", {}, `Raw input (${(tx.input.length - 2) / 2} bytes)`), el("pre", { class: "mono break" }, tx.input)) : null,
    ),
    receipt
      ? section(
          `Logs (${logs.length})`,
          logs.length
            ? el("ol", { class: "logs", id: "logs" }, logs.map(logItem))
            : el("p", { class: "muted" }, "No logs."),
        )
      : null,
    lines.length ? section("console.log", el("pre", { class: "console", id: "console-output" }, lines.join("\n"))) : null,
  ];
}

function logItem(log) {
  const decoded = decodeLog(log);
  return el(
    "li",
    { "data-event": decoded?.name },
    el("div", {}, hashLink("address", log.address), decoded ? el("span", { class: "method" }, ` ${decoded.contract}.${decoded.name}`) : el("span", { class: "muted" }, " not decoded")),
    decoded
      ? argsTable(decoded.args, `${decoded.name} arguments`)
      : el("pre", { class: "mono break" }, [...log.topics.map((t, i) => `topic ${i}: ${t}`), `data: ${log.data}`].join("\n")),
  );
}

async function addressPage(address) {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) return [el("h1", {}, "Not an address"), el("p", {}, address)];
  const [balance, nonce, code] = await batch([
    ["eth_getBalance", [address, "latest"]],
    ["eth_getTransactionCount", [address, "latest"]],
    ["eth_getCode", [address, "latest"]],
  ]);
  const isContract = typeof code === "string" && code !== "0x";
  const slotInput = el("input", { id: "slot", name: "slot", class: "mono", placeholder: "slot: 0, 1, 0x…", autocomplete: "off", required: true });
  const slotOut = el("output", { id: "slot-value", for: "slot", class: "mono break" });
  const storage = el(
    "form",
    {
      class: "inline",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const slot = hex(slotInput.value.trim());
          slotOut.textContent = await call("eth_getStorageAt", [address, slot, "latest"]);
        } catch (error) {
          slotOut.textContent = error.message;
        }
      },
    },
    el("label", { for: "slot" }, "Storage slot "),
    slotInput,
    el("button", { type: "submit" }, "Read"),
    " ",
    slotOut,
  );

  const body = el("tbody", { id: "address-txs" });
  const note = el("p", { class: "muted", role: "status" });
  const more = el("button", { type: "button" }, "Scan 1,000 older blocks");
  let next = Number(await call("eth_blockNumber"));
  const wanted = address.toLowerCase();
  let found = 0;
  const scan = async (blocks) => {
    more.disabled = true;
    const stop = Math.max(-1, next - blocks);
    for (let top = next; top > stop; top -= 100) {
      const numbers = [];
      for (let n = top; n > Math.max(stop, top - 100); n--) numbers.push(n);
      const entries = await blocksWithReceipts(numbers);
      for (const { tx, receipt } of txsOf(entries)) {
        const touches = tx.from?.toLowerCase() === wanted || tx.to?.toLowerCase() === wanted || receipt?.contractAddress?.toLowerCase() === wanted;
        if (touches) {
          body.append(txRow(tx, receipt));
          found++;
        }
      }
    }
    next = stop;
    note.textContent = `${found} transactions from or to this address ${next < 0 ? "in the whole chain" : `in blocks ${next + 1} and later`}.`;
    more.disabled = false;
    more.hidden = next < 0;
  };
  more.addEventListener("click", () => scan(1000));
  const txs = table("Transactions from and to the address", TX_HEADERS, []);
  txs.querySelector("tbody").replaceWith(body);
  await scan(1000);

  return [
    el("h1", {}, isContract ? "Contract" : "Account"),
    section(
      "Overview",
      fields([
        field("Address", [fullHash(address, "address"), isContract ? el("span", { class: "badge contract", id: "contract-badge" }, "contract") : null], "address", address),
        field("Balance", ether(balance), "balance", big(balance)),
        field("Nonce", Number(nonce), "nonce", Number(nonce)),
        isContract && field("Code", el("details", {}, el("summary", {}, `${exact((code.length - 2) / 2)} bytes`), el("pre", { class: "mono break" }, code)), "codeSize", (code.length - 2) / 2),
      ]),
      storage,
    ),
    section("Transactions", txs, note, more),
  ];
}

async function chainPage() {
  const [chainId, block, gasPrice, summary, info] = await batch([
    ["eth_chainId", []],
    ["eth_getBlockByNumber", ["latest", false]],
    ["eth_gasPrice", []],
    ["ic_costSummary", []],
    ["ic_canisterInfo", []],
  ]);
  const fees = summary.fees;
  const t = summary.totals;
  const perGas = big(t.gasUsed) > 0n ? Number(big(t.wasmInstructions)) / Number(big(t.gasUsed)) : 0;
  const fee = (label, key, value, unit = "cycles") => field(label, `${exact(value)} ${unit}`, key, big(value));
  return [
    el("h1", {}, "Chain settings and costs"),
    section(
      "Chain",
      fields([
        field("Chain id", `${Number(chainId)}`, "chainId", Number(chainId)),
        field("Latest block", el("a", { href: `#/block/${Number(block.number)}` }, `#${Number(block.number)}`), "blockNumber", Number(block.number)),
        field("Block gas limit", exact(block.gasLimit), "gasLimit", big(block.gasLimit)),
        field("Base fee", gwei(block.baseFeePerGas ?? 0), "baseFeePerGas", big(block.baseFeePerGas ?? 0)),
        field("Gas price", gwei(gasPrice), "gasPrice", big(gasPrice)),
      ]),
    ),
    section(
      "What it has cost",
      el("p", { class: "muted" }, "Every transaction this node executed, blocks since reverted included: the canister paid for them."),
      fields([
        field("Transactions", exact(t.transactions), "totalTransactions", big(t.transactions)),
        field("Gas used", figure(t.gasUsed), "totalGas", big(t.gasUsed)),
        field("Wasm instructions", figure(t.wasmInstructions), "totalInstructions", big(t.wasmInstructions)),
        field("Cycles", figure(t.cycles), "totalCycles", big(t.cycles)),
        field("Instructions per gas", perGas.toFixed(1), "instructionsPerGas", perGas.toFixed(1)),
        field("Stable memory written", `${exact(t.stableBytesWritten)} bytes`, "stableBytesWritten", big(t.stableBytesWritten)),
      ]),
    ),
    section(
      "Fee table",
      el("p", { class: "muted" }, `${summary.feeTableVersion}. Queries (eth_call and every read) are free, as on ICP.`),
      fields([
        field("Cycles per instruction", String(summary.cyclesPerInstruction), "cyclesPerInstruction", summary.cyclesPerInstruction),
        fee("Update message execution", "updateMessageExecution", fees.updateMessageExecution),
        fee("Ten instructions (wasm32)", "tenUpdateInstructionsExecution", fees.tenUpdateInstructionsExecution),
        fee("Ten instructions (wasm64)", "tenUpdateInstructionsExecutionWasm64", fees.tenUpdateInstructionsExecutionWasm64),
        fee("Ingress message reception", "ingressMessageReception", fees.ingressMessageReception),
        fee("Ingress byte reception", "ingressByteReception", fees.ingressByteReception),
        fee("Call to another canister", "xnetCall", fees.xnetCall),
        fee("Byte to another canister", "xnetByteTransmission", fees.xnetByteTransmission),
        fee("Canister creation", "canisterCreation", fees.canisterCreation),
      ]),
    ),
    section(
      "The EVM canister",
      fields([
        field("Module hash", fullHash(info.moduleHash, "module hash"), "moduleHash", info.moduleHash),
        field("Canister version", exact(info.canisterVersion), "canisterVersion", big(info.canisterVersion)),
        field("Cycles balance", figure(info.cycles), "canisterCycles", big(info.cycles)),
        field("Heap", `${count(info.heapBytes)} bytes`, "heapBytes", big(info.heapBytes)),
        field("Stable memory", `${count(info.stableMemoryBytes)} bytes`, "stableMemoryBytes", big(info.stableMemoryBytes)),
        field("Durable", info.durable ? "yes: kept in a data directory" : "no: in memory (--ephemeral)", "durable", info.durable),
        field("Cross-checked on Winch", info.verifying ? "yes" : "no", "verifying", info.verifying),
      ]),
    ),
  ];
}

async function searchPage(query) {
  const q = query.trim();
  if (/^\d+$/.test(q) || q === "latest") return redirect(`#/block/${q}`);
  if (/^0x[0-9a-fA-F]{40}$/.test(q)) return redirect(`#/address/${q}`);
  if (/^0x[0-9a-fA-F]{64}$/.test(q)) {
    const [tx, block] = await batch([["eth_getTransactionByHash", [q]], ["eth_getBlockByHash", [q, false]]]);
    if (tx && !(tx instanceof Error)) return redirect(`#/tx/${q}`);
    if (block && !(block instanceof Error)) return redirect(`#/block/${q}`);
  }
  return [el("h1", {}, "Nothing found"), el("p", {}, `No block, transaction or address matches “${q}”. Search by a block number, a transaction or block hash (0x + 64 hex digits) or an address (0x + 40).`)];
}

function redirect(hash) {
  history.replaceState(null, "", hash);
  return render().then(() => [...view.childNodes]);
}

async function notFound() {
  return [el("h1", {}, "No such page"), el("p", {}, el("a", { href: "#/" }, "Back to the latest activity"))];
}

render();
