// Setting: a configuration value parsed once per change.

import { Context } from "./context";

/** Where a Setting's parse function reports that the value is invalid. */
export class ParseError {
  message: string | null = null;

  /** Marks the value invalid; the message says what is wanted, e.g. `want "block" or "rewrite", got "x"`. */
  fail(msg: string): void {
    if (this.message === null) this.message = msg;
  }
}

/**
 * A configuration value parsed once per change: get() makes one host call and
 * compares the raw bytes with the ones last parsed, and parses (and allocates)
 * only when the tenant changed the value. Declare Settings at the top level
 * of the plugin, like its handlers.
 *
 * The parse function gets the raw value ("" when unset) and whether the key
 * is set, and chooses the default; to refuse a value it calls e.fail(msg)
 * and returns anything. get() then fails the call with
 * `plugin: config[<key>]: <msg>` (Context.failed is true) and returns that
 * value: check c.failed before using it.
 */
export class Setting<T> {
  private parsed: bool = false;
  private wasSet: bool = false;
  private raw: ArrayBuffer = new ArrayBuffer(0);
  private value: T;
  private err: string | null = null;

  constructor(public key: string, private parse: (raw: string, set: bool, e: ParseError) => T) {
    // The zero value until the first get (a compile-time branch per T).
    if (isReference<T>()) this.value = changetype<T>(0);
    else this.value = <T>0;
  }

  get(c: Context): T {
    let n = c.configRaw(this.key);
    let set = n >= 0;
    let len = set ? n : 0;
    if (!this.parsed || set != this.wasSet || len != this.raw.byteLength ||
      memory.compare(c.configPtr(), changetype<usize>(this.raw), <usize>len) != 0) {
      let rawStr = String.UTF8.decodeUnsafe(c.configPtr(), <usize>len);
      let raw = new ArrayBuffer(len);
      memory.copy(changetype<usize>(raw), c.configPtr(), <usize>len);
      let e = new ParseError();
      this.value = this.parse(rawStr, set, e);
      let msg = e.message;
      this.err = msg === null ? null : "plugin: config[" + this.key + "]: " + msg;
      this.raw = raw;
      this.wasSet = set;
      this.parsed = true;
      // Keep what the parse allocated past this callback (rt/arena.ts).
      __imhook_arena_keep();
    }
    let err = this.err;
    if (err !== null) c.fail(err);
    return this.value;
  }
}

/** Splits a comma-separated value into its items, spaces around them removed and empty items dropped. */
export function splitList(s: string): Array<string> {
  let out = new Array<string>();
  let start = 0;
  for (let i = 0; i <= s.length; i++) {
    if (i < s.length && s.charCodeAt(i) != 0x2c) continue;
    let item = trimSpace(s.substring(start, i));
    if (item.length > 0) out.push(item);
    start = i + 1;
  }
  return out;
}

/** Removes leading and trailing white space as Go's strings.TrimSpace does for ASCII and common Unicode spaces. */
export function trimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s.charCodeAt(a))) a++;
  while (b > a && isSpace(s.charCodeAt(b - 1))) b--;
  return a == 0 && b == s.length ? s : s.substring(a, b);
}

function isSpace(c: i32): bool {
  return c == 0x20 || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}
