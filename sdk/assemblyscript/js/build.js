#!/usr/bin/env node
// imhook-asc: compiles an AssemblyScript plugin into an imhook module (ABI v1).
//
//   imhook-asc assembly/index.ts -o build/plugin.wasm [more asc flags]
//   imhook-asc        (the entry and outFile of asconfig.json, which asc reads)
//
// It runs asc with the flags ABI v1 needs, so that plugin authors never spell
// them (docs/sdk-assemblyscript.md, "Build", says why each is there):
//   --runtime <sdk>/assembly/rt/arena.ts  the SDK's per-callback arena allocator
//   --transform <sdk>/js/transform.js     no shadow stack (the arena never collects)
//   --use abort=<sdk>/assembly/abort/...  abort logs through imhook.log and traps
//                                          (ABI v1 provides no env.abort)
//   --exportStart _initialize             top-level code (handler registration) runs in
//                                          _initialize, under the host's init budget
//   -O3 --shrinkLevel 2 --converge        small first; assertions and bounds checks stay
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import path from "node:path";
import { existsSync, realpathSync } from "node:fs";

const sdk = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/**
 * asc's main, from the plugin project's own assemblyscript when it has one
 * (the version its package-lock.json pins), else from the SDK's: a plugin
 * outside this repository links the SDK by path, and node resolves the
 * SDK's imports from where the SDK really is.
 */
export async function ascMain(cwd = process.cwd()) {
  for (const from of [path.join(cwd, "package.json"), path.join(sdk, "package.json")]) {
    try {
      // asc is an ES module without a require entry: resolve its file.
      const asc = createRequire(from).resolve("assemblyscript/dist/asc.js");
      return (await import(pathToFileURL(asc).href)).main;
    } catch {
      // not installed there: try the next place
    }
  }
  throw new Error("the AssemblyScript compiler is not installed: run npm install (or npm ci) in the plugin's directory");
}

/** Compiles with the SDK's flags; throws asc's error, its diagnostics written to stderr. */
export async function compile(args, stderr = process.stderr) {
  const main = await ascMain();
  const { error } = await main(ascArgs(args), { stdout: process.stdout, stderr });
  if (error) throw error;
}

/** The asc arguments for args (the user's entry files and flags). */
export function ascArgs(args, cwd = process.cwd()) {
  const rel = (p) => path.relative(cwd, path.join(sdk, p)).split(path.sep).join("/");
  const abortFile = rel("assembly/abort.ts");
  return [
    ...args,
    abortFile,
    "--runtime", rel("assembly/rt/arena"),
    // The alias names the function by the file's path as asc sees it, without .ts.
    "--use", "abort=" + abortFile.replace(/\.ts$/, "") + "/imhookAbort",
    "--exportStart", "_initialize",
    "--transform", path.join(sdk, "js", "transform.js"),
    "--optimizeLevel", "3",
    "--shrinkLevel", "2",
    "--converge",
  ];
}

// Run as a command (also through the npm bin link imhook-asc), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  // Without arguments, asc takes the entry and output from asconfig.json.
  if ((args.length === 0 && !existsSync("asconfig.json")) || args.includes("--help")) {
    console.error("usage: imhook-asc <entry.ts> -o <plugin.wasm> [asc flags], or imhook-asc with an asconfig.json naming them");
    process.exit(2);
  }
  try {
    await compile(args);
  } catch (e) {
    console.error("imhook-asc: " + e.message);
    process.exit(1);
  }
}
