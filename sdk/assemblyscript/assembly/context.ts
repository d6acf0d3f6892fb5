// Context: what a handler gets besides its request: the tenant's
// configuration, logging, and failing the call.

import { hostConfig, hostLog, Level, LOG_ATTR_SEPARATOR } from "./host";
import { Writer } from "./writer";

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
