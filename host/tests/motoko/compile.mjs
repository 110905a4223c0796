// Compiles a Motoko file to an IC canister module with the `motoko` package.
//   node compile.mjs <source.mo> <out.wasm>
import fs from "node:fs";
import path from "node:path";
import mo from "motoko";

const [source, out] = process.argv.slice(2);
mo.write("Main.mo", fs.readFileSync(source, "utf8"));
const { wasm } = mo.wasm("Main.mo", "ic");
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, wasm);
console.log(`compiled ${source} to ${out} (${wasm.length} bytes)`);
