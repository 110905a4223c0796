// Hardhat 3 as a client of a running canister-evm (RPC_URL). Nothing is
// compiled: the script deploys the prebuilt artifacts in contracts/artifacts.
import { defineConfig } from "hardhat/config";
import hardhatEthers from "@nomicfoundation/hardhat-ethers";

export default defineConfig({
  plugins: [hardhatEthers],
  networks: {
    canister: {
      type: "http",
      url: process.env.RPC_URL ?? "http://127.0.0.1:8545",
      chainId: 31337,
    },
  },
});
