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
// Requests go in as JSON, as `imhook run` and the admin API's dry run send
// them; imhook's webhook path sends the wire format instead, which the
// repository's Go tests check decodes to the same request for every command.

import { readFile } from "node:fs/promises";

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
    return new Harness(module, config);
  }

  constructor(module, config = {}) {
    this.module = module;
    this.config = { ...config };
    this.logs = [];
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.module !== "imhook" || (imp.name !== "log" && imp.name !== "config")) {
        throw new Error(`the plugin imports ${imp.module}.${imp.name}, which imhook does not provide (it provides imhook.log and imhook.config, and WASI)`);
      }
    }
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
    };
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
    const p = BigInt.asUintN(64, packed);
    const ptr = Number((p >> 32n) & 0x7fffffffn);
    const len = Number(p & 0xffffffffn);
    return new TextDecoder().decode(new Uint8Array(this.exports.memory.buffer, ptr, len));
  }

  /**
   * Runs one callback. body is the request: an object (callbackCommand is
   * filled in) or a JSON string sent as is. Returns
   *   { reply, replyText, error, trap, logs }
   * reply: the parsed JSON reply, or null for no reply (imhook then sends the
   * neutral reply); error: the message of a failed call (handler failure,
   * decoding error) or of a trap (trap is then true: an abort, whose message
   * is the last log line); logs: this call's log lines.
   */
  call(command, body = {}) {
    this.logs = [];
    const text = typeof body === "string" ? body : JSON.stringify({ callbackCommand: command, ...body });
    const enc = new TextEncoder();
    const cmd = enc.encode(command);
    const b = enc.encode(text);
    const result = { reply: null, replyText: null, error: null, trap: false, logs: this.logs };
    try {
      const buf = BigInt.asUintN(64, this.exports.imhook_buffer(cmd.length + b.length));
      if (buf === 0n) throw new Error("imhook_buffer returned 0: the plugin could not allocate its input buffer");
      const ptr = Number(buf >> 32n);
      const mem = new Uint8Array(this.exports.memory.buffer);
      mem.set(cmd, ptr);
      mem.set(b, ptr + cmd.length);
      const res = BigInt.asUintN(64, this.exports.imhook_handle(cmd.length, b.length));
      if ((res & 0xffffffffn) === 0n) return result;
      const out = this.#read(res);
      if (res >> 63n) result.error = out;
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
