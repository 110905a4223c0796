// Bundles the explorer's scripts and styles (src/) into dist/, which the
// node embeds (rpc/src/explorer.rs) with src/index.html and serves at GET /. dist/ is committed, so that
// `cargo build` needs no npm.
//
//   node build.mjs           write dist/
//   node build.mjs --check   exit 1 if the committed dist/ differs from what
//                            the sources build to
//
// The ABIs of the contracts in contracts/artifacts are bundled as the
// virtual module `known-abis` (ABIs only: the bytecode stays out).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");
const artifacts = path.join(here, "../../contracts/artifacts");

const knownAbis = {
  name: "known-abis",
  setup(build) {
    build.onResolve({ filter: /^known-abis$/ }, () => ({ path: "known-abis", namespace: "abis" }));
    build.onLoad({ filter: /.*/, namespace: "abis" }, () => {
      const contracts = fs
        .readdirSync(artifacts)
        .filter((f) => f.endsWith(".json"))
        .sort()
        .map((f) => JSON.parse(fs.readFileSync(path.join(artifacts, f), "utf8")))
        .map(({ contractName, abi }) => ({ name: contractName, abi }));
      return { contents: JSON.stringify(contracts), loader: "json", watchFiles: [artifacts] };
    });
  },
};

const js = await esbuild.build({
  entryPoints: [path.join(here, "src/main.js")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  charset: "utf8",
  write: false,
  plugins: [knownAbis],
  logLevel: "error",
});
const css = await esbuild.build({
  entryPoints: [path.join(here, "src/style.css")],
  bundle: true,
  minify: true,
  write: false,
  logLevel: "error",
});

// index.html needs no build: the node embeds src/index.html itself.
const outputs = {
  "explorer.js": js.outputFiles[0].text,
  "explorer.css": css.outputFiles[0].text,
};

const dist = path.join(here, "dist");
const stale = [];
for (const [name, text] of Object.entries(outputs)) {
  const target = path.join(dist, name);
  if (check) {
    if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) stale.push(target);
  } else {
    fs.mkdirSync(dist, { recursive: true });
    fs.writeFileSync(target, text);
    console.log(`wrote ${path.relative(here, target)} (${(text.length / 1024).toFixed(1)} KiB)`);
  }
}
if (stale.length > 0) {
  console.error(`explorer bundle out of date (run \`node rpc/explorer/build.mjs\`):\n  ${stale.join("\n  ")}`);
  process.exit(1);
}
if (check) console.log("the bundle matches the sources");
