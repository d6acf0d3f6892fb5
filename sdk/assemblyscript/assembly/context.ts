// Context: what a handler gets besides its request: the tenant's
// configuration, logging, and failing the call.

import { hostConfig, hostDelivery, hostLog, hostRetry, Level, LOG_ATTR_SEPARATOR } from "./host";
import { takeOutput, u32At } from "./hosterror";
import { HTTP, secret, SecretValue } from "./http";
import { KV } from "./kv";
import { Writer } from "./writer";

/**
 * One delivery of a queued after-callback. imhook answers OpenIM as soon as
 * an after-callback is stored and runs the plugins from its queue, at least
 * once: the same event may be delivered again, always with the same id. Key
 * side effects on id to make them idempotent.
 */
export class Delivery {
  constructor(
    /** The event's ID, the same on every attempt: 32 hex digits. */
    public id: string,
    /** 1 for the first delivery, 2 for the first retry... */
    public attempt: i32,
  ) {}
}

/** Returns whether a log value must be quoted to keep the line parseable (as the Go SDK decides). */
function needsQuote(s: string): bool {
  let n = <usize>s.length;
  if (n == 0) return true;
  let p = changetype<usize>(s);
  for (let i: usize = 0; i < n; i++) {
    let c = <u32>load<u16>(p + (i << 1));
    if (c > 0x20 && c < 0x7f && c != 0x3d && c != 0x22 && c != 0x5c) continue;
    if (c < 0xa0) return true; // space, =, ", \, controls, DEL, C1 controls
    if (c >= 0xd800 && c < 0xe000) {
      // a valid surrogate pair is one printable character; a lone one is not
      if (c >= 0xdc00 || i + 1 >= n) return true;
      let d = <u32>load<u16>(p + ((i + 1) << 1));
      if (d < 0xdc00 || d >= 0xe000) return true;
      i++;
    }
  }
  return false;
}

/** Writes s as a Go-quoted string (strconv.Quote for printable text). */
function quote(w: Writer, s: string): void {
  w.byte(0x22);
  let start = 0;
  let n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c == 0x22) esc = "\\\"";
    else if (c == 0x5c) esc = "\\\\";
    else if (c == 0x0a) esc = "\\n";
    else if (c == 0x0d) esc = "\\r";
    else if (c == 0x09) esc = "\\t";
    else if (c == 0x07) esc = "\\a";
    else if (c == 0x08) esc = "\\b";
    else if (c == 0x0c) esc = "\\f";
    else if (c == 0x0b) esc = "\\v";
    else if (c < 0x20 || c == 0x7f) {
      const H = "0123456789abcdef";
      esc = "\\x" + H.charAt(c >> 4) + H.charAt(c & 15);
    }
    if (esc === null) continue;
    if (i > start) w.utf8(s.substring(start, i));
    w.ascii(esc);
    start = i + 1;
  }
  if (start < n) w.utf8(start == 0 ? s : s.substring(start));
  w.byte(0x22);
}

export class Context {
  /** The command being handled, its wire name (callbackBeforeSendSingleMsgCommand). */
  command: string = "";
  /** The error of the call, once fail was called. */
  err: string | null = null;

  // Scratch for config values and log lines: allocated once, before callbacks.
  private val: Writer = new Writer(256);
  private line: Writer = new Writer(256);

  /** Prepares the Context for a callback. */
  begin(command: string): void {
    this.command = command;
    this.err = null;
    this.val.reset();
    this.line.reset();
  }

  /**
   * Makes the call fail with msg: the host applies the tenant's failure policy
   * (fail open: the neutral reply; fail closed: a stop). The first failure
   * wins. Return null from the handler after failing; a reply returned
   * anyway is ignored.
   */
  fail(msg: string): void {
    if (this.err === null) this.err = msg;
  }

  /**
   * fail, and ask that a queued after-callback be delivered again after at
   * least delayMs milliseconds (0: the queue's backoff), up to the tenant's
   * queue.max_attempts, then kept as a dead letter. For failures that may
   * pass: an out-call that timed out, a service that answered 503. A
   * failure without retry is permanent: the event is dead-lettered at once.
   * Outside a queued delivery it is fail. Nothing is asked when the call
   * had already failed (the first failure wins).
   */
  retry(msg: string, delayMs: i64 = 0): void {
    if (this.err !== null) return;
    hostRetry(delayMs < 0 ? 0 : delayMs);
    this.fail(msg);
  }

  /** The current delivery when the callback runs from imhook's queue; null inline (a before-callback, inline after-callbacks, a dry run). */
  delivery(): Delivery | null {
    let cap: usize = 64;
    let buf = heap.alloc(cap);
    let n = hostDelivery(buf, cap);
    if (n < 4) return null; // not_found, or shorter than its attempt
    let out = takeOutput(n, buf, cap);
    if (out === null) return null;
    return new Delivery(String.UTF8.decodeUnsafe(out.dataStart + 4, out.byteLength - 4), <i32>u32At(out, 0));
  }

  /** The tenant's key-value state (grant "kv"). */
  get kv(): KV {
    return new KV();
  }

  /** The client of the tenant's out-calls (grant "http" and egress_allow). */
  get http(): HTTP {
    return new HTTP();
  }

  /** The tenant's secret named name (grant "http"); err is Status.NOT_FOUND when it is not set. */
  secret(name: string): SecretValue {
    return secret(name);
  }

  /** Whether fail was called (by the handler or a Setting). */
  get failed(): bool {
    return this.err !== null;
  }

  /**
   * Reads the tenant's configuration value of key into the Context's scratch
   * buffer and returns its length, or -1 when key is not set. configPtr()
   * is where the bytes are, until the next read.
   */
  configRaw(key: string): i32 {
    let k = this.line; // the key's UTF-8 goes after any line being built
    let mark = k.len;
    k.utf8(key);
    let keyPtr = k.ptr + mark;
    let keyLen = k.len - mark;
    let n: i32 = -1;
    for (let attempt = 0; attempt < 2; attempt++) {
      n = hostConfig(keyPtr, keyLen, this.val.ptr, this.val.cap);
      if (n < 0 || <usize>n <= this.val.cap) break;
      this.val.grow(<usize>n); // a value larger than any before: grow and ask again
      n = -1;
    }
    k.len = mark;
    this.val.len = n < 0 ? 0 : <usize>n;
    return n;
  }

  /** The bytes of the last configRaw. */
  configPtr(): usize {
    return this.val.ptr;
  }

  /** The tenant's configuration value of key, or null when it is not set. */
  config(key: string): string | null {
    let n = this.configRaw(key);
    if (n < 0) return null;
    return String.UTF8.decodeUnsafe(this.val.ptr, <usize>n);
  }

  /**
   * Logs msg with key-value attributes (keys and values alternating), as one
   * logfmt line: `message blocked send_id=user_a`. imhook attributes it to
   * the tenant, plugin, version and command.
   */
  log(level: i32, msg: string, attrs: Array<string> | null = null): void {
    let w = this.line;
    w.len = 0;
    w.utf8(msg);
    if (attrs !== null && attrs.length > 0) {
      w.byte(LOG_ATTR_SEPARATOR);
      for (let i = 0; i < attrs.length; i += 2) {
        if (i > 0) w.byte(0x20);
        w.utf8(attrs[i]);
        w.byte(0x3d);
        let v = i + 1 < attrs.length ? attrs[i + 1] : "";
        if (needsQuote(v)) quote(w, v);
        else w.utf8(v);
      }
    }
    hostLog(level, w.ptr, w.len);
    w.len = 0;
  }

  debug(msg: string, attrs: Array<string> | null = null): void {
    this.log(Level.DEBUG, msg, attrs);
  }

  info(msg: string, attrs: Array<string> | null = null): void {
    this.log(Level.INFO, msg, attrs);
  }

  warn(msg: string, attrs: Array<string> | null = null): void {
    this.log(Level.WARN, msg, attrs);
  }

  error(msg: string, attrs: Array<string> | null = null): void {
    this.log(Level.ERROR, msg, attrs);
  }
}
