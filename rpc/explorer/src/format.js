// How figures and hashes are shown: `11.7 M`, `51,553`, `0x12ab…cdef` with a
// copy button.

import { formatEther, formatGwei } from "viem";

const grouped = new Intl.NumberFormat("en-US");
const oneDecimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 });

/** A JSON-RPC quantity (hex string), number or bigint as a bigint. */
export function big(value) {
  if (value === undefined || value === null) return 0n;
  return typeof value === "bigint" ? value : BigInt(value);
}

/**
 * A count for people: grouped below a million (`51,553`), then with one
 * decimal and M, B or T (`11.7 M`, `2.4 B`).
 */
export function count(value) {
  const n = big(value);
  const abs = n < 0n ? -n : n;
  if (abs < 1_000_000n) return grouped.format(n);
  for (const [unit, size] of [["T", 1e12], ["B", 1e9], ["M", 1e6]]) {
    if (Number(abs) >= size) return `${oneDecimal.format(Number(n) / size)} ${unit}`;
  }
  return grouped.format(n);
}

/** The exact figure, grouped (`11,702,315`), for titles. */
export function exact(value) {
  return grouped.format(big(value));
}

export function ether(wei) {
  const text = formatEther(big(wei));
  const [whole, fraction = ""] = text.split(".");
  const trimmed = fraction.slice(0, 6).replace(/0+$/, "");
  return `${grouped.format(BigInt(whole))}${trimmed ? "." + trimmed : ""} ETH`;
}

export function gwei(wei) {
  const text = formatGwei(big(wei));
  const [whole, fraction = ""] = text.split(".");
  const trimmed = fraction.slice(0, 3).replace(/0+$/, "");
  return `${grouped.format(BigInt(whole))}${trimmed ? "." + trimmed : ""} gwei`;
}

export function shortHash(hash) {
  if (!hash || hash.length <= 14) return hash ?? "";
  return `${hash.slice(0, 8)}…${hash.slice(-6)}`;
}

/** How long ago a block's timestamp (seconds) was, as the chain tells time. */
export function ago(timestamp, now = Date.now() / 1000) {
  const seconds = Math.max(0, Math.round(now - Number(big(timestamp))));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

export function utc(timestamp) {
  return new Date(Number(big(timestamp)) * 1000).toISOString().replace("T", " ").replace(".000Z", " UTC");
}

/** Builds an element: `el("a", { href }, "text", child…)`. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A button that copies `text`. */
export function copyButton(text, what = "value") {
  const button = el("button", { class: "copy", type: "button", title: `Copy ${what}`, "aria-label": `Copy ${what}` }, "copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "copied";
    } catch {
      // Without clipboard access (an insecure origin), select the text.
      const range = document.createRange();
      range.selectNodeContents(button.previousSibling ?? button);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "selected";
    }
    setTimeout(() => (button.textContent = "copy"), 1200);
  });
  return button;
}

/** A shortened hash or address linking to its page, with a copy button. */
export function hashLink(kind, value, label) {
  if (!value) return el("span", { class: "muted" }, "—");
  return el(
    "span",
    { class: "hash" },
    el("a", { href: `#/${kind}/${value}`, title: value, class: "mono" }, label ?? shortHash(value)),
    copyButton(value, kind === "tx" ? "transaction hash" : kind),
  );
}

/** A full value in monospace with a copy button. */
export function fullHash(value, what) {
  return el("span", { class: "hash" }, el("span", { class: "mono break" }, value), copyButton(value, what));
}

/** A figure with its exact value as the tooltip. */
export function figure(value, cls = "num") {
  return el("span", { class: cls, title: exact(value) }, count(value));
}
