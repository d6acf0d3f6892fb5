// The moderation logic without the SDK's plumbing: parsing the configuration
// values and finding or masking banned words. It does what the Go example's
// package rules (examples/moderation/rules) does, value for value and error
// message for error message, so that both plugins answer every callback
// alike (examples/moderation_as_test.go checks it through a real server).

import { ParseError, unicode } from "@imhook/sdk-assemblyscript";

// Defaults of the configuration values.
export const DEFAULT_ERR_CODE: i32 = 20001;
export const DEFAULT_ERR_MSG = "message blocked by moderation";
export const DEFAULT_MASK: i32 = 0x2a; // '*'

// Configuration keys.
export const KEY_BANNED_WORDS = "banned_words";
export const KEY_MODE = "mode";
export const KEY_ERR_CODE = "err_code";
export const KEY_ERR_MSG = "err_msg";
export const KEY_MASK = "mask";

/** mode: "block" (false) or "rewrite" (true); unset means block. */
export function parseMode(raw: string, set: bool, e: ParseError): bool {
  if (raw == "block") return false;
  if (raw == "rewrite") return true;
  if (raw == "" && !set) return false;
  e.fail('want "block" or "rewrite", got "' + raw + '"');
  return false;
}

/** err_code: a non-zero 32-bit integer (Go's strconv.ParseInt(raw, 10, 32)); unset means DEFAULT_ERR_CODE. */
export function parseErrCode(raw: string, set: bool, e: ParseError): i32 {
  if (!set) return DEFAULT_ERR_CODE;
  let n = raw.length;
  let i = 0;
  let neg = false;
  if (n > 0 && (raw.charCodeAt(0) == 0x2b || raw.charCodeAt(0) == 0x2d)) {
    neg = raw.charCodeAt(0) == 0x2d;
    i = 1;
  }
  let v: i64 = 0;
  let ok = i < n;
  for (; i < n && ok; i++) {
    let c = raw.charCodeAt(i);
    if (c < 0x30 || c > 0x39) ok = false;
    else {
      v = v * 10 + <i64>(c - 0x30);
      if (v > 0x80000000) ok = false;
    }
  }
  if (neg) v = -v;
  if (!ok || v == 0 || v > i32.MAX_VALUE || v < i32.MIN_VALUE) {
    e.fail('want a non-zero 32-bit integer, got "' + raw + '"');
    return 0;
  }
  return <i32>v;
}

/** err_msg: unset or empty means DEFAULT_ERR_MSG. */
export function parseErrMsg(raw: string, set: bool, e: ParseError): string {
  if (!set || raw == "") return DEFAULT_ERR_MSG;
  return raw;
}

/** mask: exactly one character; unset means DEFAULT_MASK. Returns the code point. */
export function parseMask(raw: string, set: bool, e: ParseError): i32 {
  if (!set) return DEFAULT_MASK;
  let cp = raw.length > 0 ? raw.codePointAt(0) : -1;
  let size = cp > 0xffff ? 2 : 1;
  if (raw.length == 0 || size != raw.length || cp == 0xfffd || (cp >= 0xd800 && cp < 0xe000)) {
    e.fail('want one character, got "' + raw + '"');
    return 0;
  }
  return cp;
}

/** The code points of s. */
function codePoints(s: string): Array<i32> {
  let out = new Array<i32>();
  for (let i = 0; i < s.length; i++) {
    let c = s.codePointAt(i);
    if (c > 0xffff) i++;
    out.push(c);
  }
  return out;
}

/** The code points lower-cased one by one with Go's unicode.ToLower, so indexes stay aligned with the text. */
function lowerAll(cs: Array<i32>): Array<i32> {
  let out = new Array<i32>(cs.length);
  for (let i = 0; i < cs.length; i++) unchecked((out[i] = unicode.toLower(unchecked(cs[i]))));
  return out;
}

/** An ASCII string lower-cased. */
function lowerASCII(s: string): string {
  let cs = new Array<i32>(s.length);
  for (let i = 0; i < s.length; i++) cs[i] = unicode.toLower(s.charCodeAt(i));
  return String.fromCharCodes(cs);
}

/** Finds banned words in a text, ignoring case. */
export class Matcher {
  /** Lower-cased, non-empty words as code points. */
  words: Array<Array<i32>> = [];
  /** The words lower-cased when all are ASCII (for contains' fast path), else null. */
  ascii: Array<string> | null = null;

  constructor(words: Array<string>) {
    let allASCII = true;
    for (let i = 0; i < words.length; i++) {
      this.words.push(lowerAll(codePoints(words[i])));
      allASCII = allASCII && isASCII(words[i]);
    }
    if (allASCII) {
      let a = new Array<string>();
      for (let i = 0; i < words.length; i++) a.push(lowerASCII(words[i]));
      this.ascii = a;
    }
  }

  /** Whether there is no word to find. */
  get empty(): bool {
    return this.words.length == 0;
  }

  /** Whether text contains a banned word. */
  contains(text: string): bool {
    let a = this.ascii;
    if (a !== null && isASCII(text)) return containsASCII(text, a);
    // A text that is not ASCII takes the code point path even for ASCII
    // words: U+212A KELVIN SIGN lower-cases to 'k'.
    let low = lowerAll(codePoints(text));
    for (let i = 0; i < low.length; i++) if (this.matchAt(low, i) > 0) return true;
    return false;
  }

  /** The length of the longest banned word at low[i:], or 0. */
  private matchAt(low: Array<i32>, i: i32): i32 {
    let longest = 0;
    for (let k = 0; k < this.words.length; k++) {
      let w = unchecked(this.words[k]);
      let n = w.length;
      if (n <= longest || low.length - i < n) continue;
      let j = 0;
      while (j < n && unchecked(low[i + j]) == unchecked(w[j])) j++;
      if (j == n) longest = n;
    }
    return longest;
  }

  /** text with every character of every banned word replaced by mask; null when nothing changed. */
  mask(text: string, mask: i32): string | null {
    let orig = codePoints(text);
    let low = lowerAll(orig);
    let changed = false;
    let end = 0;
    for (let i = 0; i < low.length; i++) {
      let n = this.matchAt(low, i);
      if (n > 0) end = max(end, i + n);
      if (i < end && orig[i] != mask) {
        orig[i] = mask;
        changed = true;
      }
    }
    if (!changed) return null;
    let s = new Array<string>(orig.length);
    for (let i = 0; i < orig.length; i++) s[i] = String.fromCodePoint(orig[i]);
    return s.join("");
  }
}

function isASCII(s: string): bool {
  let p = changetype<usize>(s);
  let end = p + (<usize>s.length << 1);
  for (; p < end; p += 2) if (load<u16>(p) >= 0x80) return false;
  return true;
}

/** Whether ASCII text holds one of the lower-case ASCII words, ignoring case, without allocating. */
function containsASCII(text: string, words: Array<string>): bool {
  let t = changetype<usize>(text);
  let n = text.length;
  for (let k = 0; k < words.length; k++) {
    let w = unchecked(words[k]);
    let m = w.length;
    let wp = changetype<usize>(w);
    let first = <u32>load<u16>(wp);
    for (let i = 0; i + m <= n; i++) {
      let c = <u32>load<u16>(t + (<usize>i << 1));
      if (c - 0x41 < 26) c += 0x20;
      if (c != first) continue;
      let j = 1;
      for (; j < m; j++) {
        let d = <u32>load<u16>(t + (<usize>(i + j) << 1));
        if (d - 0x41 < 26) d += 0x20;
        if (d != <u32>load<u16>(wp + (<usize>j << 1))) break;
      }
      if (j == m) return true;
    }
  }
  return false;
}
