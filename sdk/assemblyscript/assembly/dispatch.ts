// The ABI v1 guest side (docs/abi.md): handler registry, input buffer,
// imhook_handle's dispatch. exports.ts exports it to the host.

import { Context } from "./context";
import { Wire, WIRE_FLAG } from "./wire";
import { Writer } from "./writer";

/** Decodes nothing, runs the typed handler on w and writes its reply to out; returns whether there is a reply. */
export type Runner = (c: Context, w: Wire, out: Writer) => bool;

class Entry {
  constructor(
    public name: string,
    public nameUTF8: ArrayBuffer,
    public fields: u32,
    public run: Runner,
  ) {}
}

const entries = new Array<Entry>();
const ctx = new Context();
const out = new Writer(1024);
let inPtr: usize = 0;
let inCap: u32 = 0;
let kept = false;

/**
 * Registers the runner of a command. The generated on<Command> functions call
 * it, from the plugin's top-level code (which runs in _initialize).
 * Registering a command twice aborts: the module then fails to load rather
 * than silently dropping a handler.
 */
export function register(name: string, fields: u32, run: Runner): void {
  for (let i = 0; i < entries.length; i++) {
    if (entries[i].name == name) abort("plugin: a handler for " + name + " is already registered; register each command once", null, 0, 0);
  }
  entries.push(new Entry(name, String.UTF8.encode(name), fields, run));
}

/** The commands the plugin handles, in registration order. */
export function commands(): Array<string> {
  let names = new Array<string>(entries.length);
  for (let i = 0; i < entries.length; i++) names[i] = entries[i].name;
  return names;
}

// commandList is the UTF-8 of the comma-separated list, built once.
let commandList: ArrayBuffer | null = null;

export function commandsPacked(): u64 {
  begin();
  let b = commandList;
  if (b === null) {
    b = String.UTF8.encode(commands().join(","));
    commandList = b;
    __imhook_arena_keep();
  }
  return (<u64>changetype<usize>(b) << 32) | <u64>b.byteLength;
}

/** Starts an export's work: the first time, keeps what _initialize allocated; then drops the previous callback's objects. */
export function begin(): void {
  if (!kept) {
    __imhook_arena_keep();
    kept = true;
  }
  __imhook_arena_reset();
}

/** Where the input buffer is (imhook_buffer's pointer). */
export function inputPtr(): usize {
  return inPtr;
}

export function buffer(size: u32): u64 {
  begin();
  if (size > inCap || inPtr == 0) {
    let cap = max(size, 1024);
    let p = __imhook_arena_alloc_kept(cap);
    if (p == 0) return 0;
    inPtr = p;
    inCap = cap;
  }
  return (<u64>inPtr << 32) | <u64>inCap;
}

export function packError(msg: string): u64 {
  out.reset();
  out.utf8(msg);
  return (1 << 63) | out.packed();
}

function lookup(p: usize, n: u32): Entry | null {
  for (let i = 0; i < entries.length; i++) {
    let e = unchecked(entries[i]);
    if (<u32>e.nameUTF8.byteLength == n && memory.compare(changetype<usize>(e.nameUTF8), p, n) == 0) return e;
  }
  return null;
}

export function handle(cmdLen: u32, bodyLen: u32): u64 {
  begin();
  let isWire = (cmdLen & WIRE_FLAG) != 0;
  cmdLen &= ~WIRE_FLAG;
  let total = <u64>cmdLen + <u64>bodyLen;
  if (total > <u64>inCap) {
    return packError("plugin: input of " + total.toString() + " bytes does not fit the buffer of " + inCap.toString() +
      " bytes; call imhook_buffer with the input size first");
  }
  let e = lookup(inPtr, cmdLen);
  if (e === null) {
    return packError("plugin: no handler for command[" + String.UTF8.decodeUnsafe(inPtr, cmdLen) + "]; this plugin handles [" +
      commands().join(",") + "]");
  }
  if (!isWire) {
    // imhook sends the wire format on every path (webhook, queue, dry run,
    // replay, imhook run) to a module whose imhook_input_formats says so, so
    // a plugin links no JSON decoder; the test harness converts JSON itself.
    return packError("plugin: handler for " + e.name + " failed: the request is JSON, and this plugin takes the wire format only " +
      "(imhook_input_formats); imhook always sends it, and the SDK's harness converts JSON bodies");
  }
  // A copy, so that a request stays readable whatever the host writes next.
  let p = heap.alloc(max(bodyLen, 8));
  memory.copy(p, inPtr + cmdLen, bodyLen);
  let w = new Wire(p, bodyLen);
  w.table(0, e.fields);
  ctx.begin(e.name);
  out.reset();
  let replied = e.run(ctx, w, out);
  let err = ctx.err;
  if (err !== null) return packError("plugin: handler for " + e.name + " failed: " + err);
  return replied ? out.packed() : 0;
}
