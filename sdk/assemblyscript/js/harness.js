// The test harness of imhook's AssemblyScript SDK: runs a plugin's .wasm in
// node's WebAssembly engine (compiled to machine code, as in imhook) through
// the same ABI v1 calls imhook makes, with the tenant's configuration and the
// plugin's log lines in memory. Plugin tests use it with node's test runner:
//
//   import { test } from "node:test";
//   import assert from "node:assert/strict";
//   import { Harness } from "@imhook/sdk-assemblyscript/harness";
//
//   test("blocks spam", async () => {
//     const h = await Harness.load("build/moderation-as.wasm", { banned_words: "spam" });
//     const r = h.call("callbackBeforeSendSingleMsgCommand", { contentType: 101, content: '{"content":"spam"}' });
//     assert.equal(r.reply.errCode, 20001);
//   });
//
// Requests go in as JSON and reach the plugin in the wire format, as imhook
// sends every request (docs/abi.md section 8): the harness converts them with
// the SDK's JSON converter (assembly/jsonwire.ts, built once into
// build/jsonwire.wasm), so the plugin itself links no JSON decoder. The
// repository's Go tests check that the converter and Go's decoder give the
// same request for every command.

import { readFile, readdir, stat, rename, mkdir, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { compile } from "./build.js";
import { hostFunctions, MemoryKV } from "./hostfuncs.js";

export { MemoryKV, Status, HostFailure } from "./hostfuncs.js";

const SDK = fileURLToPath(new URL("..", import.meta.url));
const CONVERTER = path.join(SDK, "build", "jsonwire.wasm");
const WIRE_FLAG = 0x80000000;

/** The newest modification time of the files under dir. */
async function newest(dir) {
  let t = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? await newest(p) : (await stat(p)).mtimeMs);
  }
  return t;
}

let converterModule = null;

/**
 * The compiled JSON converter, built from the SDK's sources when
 * build/jsonwire.wasm is missing or older than them. Test files run in
 * parallel processes: each builds into a file of its own and renames it into
 * place, so none reads a half-written module.
 */
async function converter() {
  if (converterModule === null) {
    converterModule = (async () => {
      const built = await stat(CONVERTER).then((s) => s.mtimeMs, () => 0);
      if (built < (await newest(path.join(SDK, "assembly")))) {
        await mkdir(path.dirname(CONVERTER), { recursive: true });
        const tmp = `${CONVERTER}.${process.pid}.tmp`;
        const entry = path.relative(process.cwd(), path.join(SDK, "assembly", "jsonwire.ts")).split(path.sep).join("/");
        try {
          await compile([entry, "-o", tmp]);
          await rename(tmp, CONVERTER);
        } finally {
          await rm(tmp, { force: true });
        }
      }
      return WebAssembly.compile(await readFile(CONVERTER));
    })();
  }
  return converterModule;
}

/** A packed pointer's bytes in memory. */
function bytesAt(memory, packed) {
  const p = BigInt.asUintN(64, packed);
  const ptr = Number((p >> 32n) & 0x7fffffffn);
  const len = Number(p & 0xffffffffn);
  return new Uint8Array(memory.buffer, ptr, len);
}

/** Writes command then body into an instance's input buffer (imhook_buffer), as imhook does. */
function writeInput(exports, cmd, body) {
  const buf = BigInt.asUintN(64, exports.imhook_buffer(cmd.length + body.length));
  if (buf === 0n) throw new Error("imhook_buffer returned 0: the module could not allocate its input buffer");
  const ptr = Number(buf >> 32n);
  const mem = new Uint8Array(exports.memory.buffer);
  mem.set(cmd, ptr);
  mem.set(body, ptr + cmd.length);
}

/** What the host functions keep during one call. */
function newHostState() {
  return { lastError: new Uint8Array(0), kept: null, kvOps: 0, outCalls: 0, retry: null };
}

const LEVELS = new Map([[-4, "debug"], [0, "info"], [4, "warn"], [8, "error"]]);
const WIRE_ABI_VERSION = 1;

/** One log line: level name, message and attributes (key=value pairs after 0x1f). */
function parseLine(level, text) {
  const sep = text.indexOf("\x1f");
  const line = { level: LEVELS.get(level) ?? String(level), message: sep < 0 ? text : text.slice(0, sep), attrs: {} };
  if (sep >= 0) {
    const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
    let m;
    while ((m = re.exec(text.slice(sep + 1))) !== null) {
      let v = m[2];
      if (v.startsWith('"')) {
        try {
          v = JSON.parse(v);
        } catch {
          // a Go-quoted value JSON does not read (\x..): keep it quoted
        }
      }
      line.attrs[m[1]] = v;
    }
  }
  return line;
}

export class Harness {
  /**
   * Loads a plugin module (a path or its bytes) with the tenant's
   * configuration values, runs _initialize and checks the ABI version and
   * the command list, as imhook does at upload.
   */
  static async load(wasm, config = {}) {
    const bytes = typeof wasm === "string" ? await readFile(wasm) : wasm;
    const module = await WebAssembly.compile(bytes);
    const h = new Harness(module, config);
    const conv = new WebAssembly.Instance(await converter(), { imhook: { log: () => {}, config: () => -1 } });
    conv.exports._initialize();
    h.converter = conv.exports;
    return h;
  }

  /** The request body (JSON text) in the wire format, or {error} when it does not decode. */
  toWire(cmd, json) {
    const c = this.converter;
    writeInput(c, cmd, json);
    const res = c.jsonwire_convert(cmd.length, json.length);
    const out = bytesAt(c.memory, res).slice();
    if (BigInt.asUintN(64, res) >> 63n) return { error: new TextDecoder().decode(out) };
    return { wire: out };
  }

  constructor(module, config = {}) {
    this.module = module;
    this.config = { ...config };
    this.logs = [];
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    // The tenant's side of the host functions: state, out-calls, secrets,
    // the current delivery, and the limits imhook applies by default.
    this.kv = new MemoryKV();
    this.http = null;
    this.secrets = {};
    this.delivery = null;
    this.maxKVOps = 100;
    this.maxOutCalls = 4;
    this.hostState = newHostState();
    const mem = () => new Uint8Array(this.exports.memory.buffer);
    const imhook = {
      log: (level, ptr, len) => {
        this.logs.push(parseLine(level, dec.decode(mem().subarray(ptr, ptr + len))));
      },
      config: (kp, kl, bp, bc) => {
        const key = dec.decode(mem().subarray(kp, kp + kl));
        if (!Object.prototype.hasOwnProperty.call(this.config, key)) return -1;
        const v = enc.encode(String(this.config[key]));
        if (v.length <= bc) mem().set(v, bp);
        return v.length;
      },
      ...hostFunctions(this, mem),
    };
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.module !== "imhook" || !(imp.name in imhook)) {
        throw new Error(`the plugin imports ${imp.module}.${imp.name}, which imhook does not provide (it provides imhook.${Object.keys(imhook).join(", imhook.")}, and WASI)`);
      }
    }
    this.imports = { imhook };
    this.#start();
  }

  // Instantiates the module and runs the checks imhook runs at upload.
  #start() {
    this.instance = new WebAssembly.Instance(this.module, this.imports);
    this.exports = this.instance.exports;
    for (const name of ["memory", "imhook_abi_version", "imhook_commands", "imhook_buffer", "imhook_handle"]) {
      if (!(name in this.exports)) throw new Error(`the plugin does not export ${name}: re-export the SDK's exports from its entry file`);
    }
    if (this.exports._initialize) this.exports._initialize();
    const v = this.exports.imhook_abi_version();
    if (v !== WIRE_ABI_VERSION) throw new Error(`imhook_abi_version returned ${v}, imhook supports 1`);
    const packed = this.exports.imhook_commands();
    this.commands = this.#read(packed).split(",").map((s) => s.trim()).filter(Boolean);
    if (this.commands.length === 0) throw new Error("the plugin registers no handler: imhook would refuse it");
    this.logs = [];
  }

  #read(packed) {
    return new TextDecoder().decode(bytesAt(this.exports.memory, packed));
  }

  /**
   * Runs one callback. body is the request: an object (callbackCommand is
   * filled in) or a JSON string sent as is. Returns
   *   { reply, replyText, error, trap, retry, logs }
   * reply: the parsed JSON reply, or null for no reply (imhook then sends the
   * neutral reply); error: the message of a failed call (handler failure,
   * decoding error) or of a trap (trap is then true: an abort, whose message
   * is the last log line); retry: the delay in ms a failed queued delivery
   * (h.delivery set) asked to be retried after, else null; logs: this
   * call's log lines.
   */
  call(command, body = {}) {
    this.logs = [];
    const text = typeof body === "string" ? body : JSON.stringify({ callbackCommand: command, ...body });
    const enc = new TextEncoder();
    const cmd = enc.encode(command);
    const b = enc.encode(text);
    this.hostState = newHostState();
    const result = { reply: null, replyText: null, error: null, trap: false, retry: null, logs: this.logs };
    // A command the plugin does not handle goes in as is: the plugin names the ones it does.
    let wire = new Uint8Array(0);
    if (this.commands.includes(command)) {
      const w = this.toWire(cmd, b);
      if (w.error !== undefined) {
        result.error = `plugin: handler for ${command} failed: ${w.error}`;
        return result;
      }
      wire = w.wire;
    }
    try {
      writeInput(this.exports, cmd, wire);
      const res = BigInt.asUintN(64, this.exports.imhook_handle((cmd.length | WIRE_FLAG) >>> 0, wire.length));
      if ((res & 0xffffffffn) === 0n) return result;
      const out = this.#read(res);
      if (res >> 63n) {
        result.error = out;
        result.retry = this.hostState.retry;
      }
      else {
        result.replyText = out;
        result.reply = JSON.parse(out);
      }
    } catch (e) {
      if (!(e instanceof WebAssembly.RuntimeError)) throw e;
      result.trap = true;
      this.#start(); // imhook drops an instance that trapped; so does the harness
      const last = result.logs.at(-1);
      result.error = last && last.level === "error" && last.message.startsWith("plugin aborted") ? last.message : String(e.message);
    }
    return result;
  }
}

/** OpenIM's rule: a reply stops the operation when actionCode is 0 and nextCode is 1. */
export function stopped(reply) {
  return reply != null && reply.actionCode === 0 && reply.nextCode === 1;
}
