// Decoding by ABI: the contracts of contracts/ (bundled), and ABIs the user
// drops on the page (kept in localStorage). Calls, events and errors are
// matched by selector across every known ABI, as explorers without verified
// sources do; Hardhat's console.log calls are decoded too.

import {
  decodeAbiParameters,
  decodeErrorResult,
  decodeEventLog,
  decodeFunctionData,
  toEventSelector,
  toFunctionSelector,
} from "viem";
import bundled from "known-abis";

const STORAGE_KEY = "canister-evm-explorer.abis";

/** Hardhat's console.log address (`console.log` in ASCII). */
export const CONSOLE_ADDRESS = "0x000000000000000000636f6e736f6c652e6c6f67";

let contracts = [];
let functions = new Map(); // selector -> [{ contract, item }]
let events = new Map(); // topic0 -> [{ contract, item }]
let errors = new Map(); // selector -> [{ contract, item }]

function signature(item) {
  const types = (inputs) =>
    inputs
      .map((input) => (input.type.startsWith("tuple") ? `(${types(input.components)})${input.type.slice(5)}` : input.type))
      .join(",");
  return `${item.name}(${types(item.inputs ?? [])})`;
}

function index() {
  functions = new Map();
  events = new Map();
  errors = new Map();
  const add = (map, key, entry) => map.set(key, [...(map.get(key) ?? []), entry]);
  for (const contract of contracts) {
    for (const item of contract.abi) {
      try {
        if (item.type === "function") add(functions, toFunctionSelector(signature(item)), { contract, item });
        else if (item.type === "event") add(events, toEventSelector(signature(item)), { contract, item });
        else if (item.type === "error") add(errors, toFunctionSelector(signature(item)), { contract, item });
      } catch {
        // An item viem cannot read: leave it out.
      }
    }
  }
}

function stored() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "[]");
  } catch {
    return [];
  }
}

function load() {
  contracts = [...bundled.map((c) => ({ ...c, source: "contracts/" })), ...stored().map((c) => ({ ...c, source: "dropped" }))];
  index();
}
load();

/** How many ABIs the page knows, bundled and dropped. */
export function known() {
  return { bundled: bundled.length, dropped: stored().length };
}

/**
 * Adds an ABI from a dropped file: an ABI array, or an artifact (Hardhat,
 * Foundry, solc) with an `abi` field. Returns the name it is kept under.
 */
export function addAbi(text, fileName) {
  const json = JSON.parse(text);
  const abi = Array.isArray(json) ? json : json.abi;
  if (!Array.isArray(abi)) throw new Error("no ABI in the file (expected an array or an object with `abi`)");
  const name = json.contractName ?? fileName.replace(/\.json$/, "");
  const kept = stored().filter((c) => c.name !== name);
  kept.push({ name, abi });
  localStorage.setItem(STORAGE_KEY, JSON.stringify(kept));
  load();
  return name;
}

function first(map, key, decode) {
  for (const entry of map.get(key) ?? []) {
    try {
      return decode(entry);
    } catch {
      // Same selector, other parameters: try the next.
    }
  }
  return null;
}

/** `{ contract, name, args: [{ name, type, value }] }` for call data, or null. */
export function decodeInput(data) {
  if (!data || data.length < 10) return null;
  const selector = data.slice(0, 10).toLowerCase();
  const decoded = first(functions, selector, ({ contract, item }) => {
    const { args = [] } = decodeFunctionData({ abi: [item], data });
    return { contract: contract.name, name: item.name, args: named(item.inputs, args) };
  });
  // A selector alone cannot tell ERC20s apart: name every contract that has
  // this very function.
  if (decoded) {
    const same = (functions.get(selector) ?? []).filter((e) => e.item.name === decoded.name).map((e) => e.contract.name);
    decoded.contract = [...new Set(same)].join(" | ");
  }
  return decoded;
}

/** The decoded event of a log, or null. */
export function decodeLog(log) {
  const topic = log.topics?.[0];
  if (!topic) return null;
  return first(events, topic.toLowerCase(), ({ contract, item }) => {
    const { args } = decodeEventLog({ abi: [item], data: log.data, topics: log.topics, strict: true });
    const values = Array.isArray(args) ? args : item.inputs.map((input) => args[input.name]);
    return { contract: contract.name, name: item.name, args: named(item.inputs, values) };
  });
}

const PANICS = {
  0x01: "assertion failed",
  0x11: "arithmetic overflow or underflow",
  0x12: "division or modulo by zero",
  0x21: "invalid enum value",
  0x22: "invalid storage byte array",
  0x31: "pop on an empty array",
  0x32: "array index out of bounds",
  0x41: "out of memory",
  0x51: "call to an uninitialized function",
};

/** What revert data says: a reason string, a panic or a custom error. */
export function decodeRevert(data) {
  if (!data || data === "0x") return null;
  const selector = data.slice(0, 10).toLowerCase();
  try {
    if (selector === "0x08c379a0") {
      const [reason] = decodeAbiParameters([{ type: "string" }], `0x${data.slice(10)}`);
      return { kind: "reason", text: reason };
    }
    if (selector === "0x4e487b71") {
      const [code] = decodeAbiParameters([{ type: "uint256" }], `0x${data.slice(10)}`);
      const text = PANICS[Number(code)] ?? "unknown panic";
      return { kind: "panic", text: `Panic(0x${code.toString(16).padStart(2, "0")}): ${text}` };
    }
  } catch {
    return { kind: "raw", text: data };
  }
  const custom = first(errors, selector, ({ contract, item }) => {
    const { args = [] } = decodeErrorResult({ abi: [item], data });
    return { kind: "error", contract: contract.name, name: item.name, args: named(item.inputs, args) };
  });
  return custom ?? { kind: "raw", text: data };
}

function named(inputs, values) {
  return inputs.map((input, i) => ({ name: input.name || `#${i}`, type: input.type, value: values[i] }));
}

// console.sol's `log` overloads: one argument of the basic types, and up to
// four of uint256, string, bool, address. Old versions of console.sol
// hashed `uint` and `int` into the selectors; they decode the same.
const consoleSelectors = new Map();
{
  const basic = ["uint256", "int256", "string", "bool", "address", "bytes"];
  for (let n = 1; n <= 32; n++) basic.push(`bytes${n}`);
  const add = (types) => {
    consoleSelectors.set(toFunctionSelector(`log(${types.join(",")})`), types);
    const old = types.map((t) => (t === "uint256" ? "uint" : t === "int256" ? "int" : t));
    consoleSelectors.set(toFunctionSelector(`log(${old.join(",")})`), types);
  };
  consoleSelectors.set(toFunctionSelector("log()"), []);
  for (const t of basic) add([t]);
  const four = ["uint256", "string", "bool", "address"];
  const combine = (prefix, depth) => {
    if (prefix.length >= 2) add(prefix);
    if (depth === 0) return;
    for (const t of four) combine([...prefix, t], depth - 1);
  };
  for (const t of four) combine([t], 3);
}

/** The text of a console.log call's input, or null if it is not one. */
export function decodeConsole(input) {
  const types = consoleSelectors.get(input?.slice(0, 10).toLowerCase());
  if (!types) return null;
  try {
    const values = decodeAbiParameters(types.map((type) => ({ type })), `0x${input.slice(10)}`);
    return values.map(show).join(" ");
  } catch {
    return null;
  }
}

/** An ABI value as text. */
export function show(value) {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  if (value && typeof value === "object") return `{${Object.entries(value).map(([k, v]) => `${k}: ${show(v)}`).join(", ")}}`;
  return String(value);
}
