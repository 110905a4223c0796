// Shared by the client tests: where the node is, its accounts, the artifacts.
import fs from "node:fs";

export const RPC_URL = process.env.RPC_URL;
if (!RPC_URL) throw new Error("RPC_URL is not set: run these tests through `cargo test`");

export const CHAIN_ID = 31337n;

// The first development accounts of the standard test mnemonic.
export const KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];
// An account that holds nothing.
export const EMPTY_KEY = "0x0101010101010101010101010101010101010101010101010101010101010101";

export function artifact(name) {
  const url = new URL(`../../contracts/artifacts/${name}.json`, import.meta.url);
  return JSON.parse(fs.readFileSync(url, "utf8"));
}
