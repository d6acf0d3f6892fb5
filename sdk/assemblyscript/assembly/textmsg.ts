// Text messages: a message's content is a string holding JSON; for a text
// message (contentType 101) it is {"content":"hello"}. parse and encode read
// and write it as the Go SDK's sdk/plugin/textmsg does, with the same error
// messages (offsets in bytes of the content's UTF-8).

import { Writer } from "./writer";

/** The contentType of a text message. */
export const CONTENT_TYPE: i32 = 101;

const MAX_DEPTH = 10000;

/** The result of parse: the text, or the error. */
export class Parsed {
  text: string = "";
  error: string | null = null;
}

/** Go's strconv.QuoteRune for the character at s[i] (ASCII and BMP characters). */
function quoteChar(c: i32): string {
  if (c == 0x27) return "'\\''";
  if (c == 0x5c) return "'\\\\'";
  if (c == 0x0a) return "'\\n'";
  if (c == 0x0d) return "'\\r'";
  if (c == 0x09) return "'\\t'";
  if (c < 0x20 || c == 0x7f) {
    const H = "0123456789abcdef";
    return "'\\x" + H.charAt(c >> 4) + H.charAt(c & 15) + "'";
  }
  return "'" + String.fromCharCode(c) + "'";
}

/** Go's strconv.Quote of a backslash followed by the character c. */
function goQuote2(c: i32): string {
  let q = quoteChar(c); // 'c' with Go's escapes for a rune literal
  let inner = q.substring(1, q.length - 1);
  if (c == 0x27) inner = "'";
  else if (c == 0x22) inner = "\\\"";
  return "\"\\\\" + inner + "\"";
}

/** The UTF-8 length of s[0:i]. */
function byteOffset(s: string, i: i32): i32 {
  let n = 0;
  for (let k = 0; k < i; k++) {
    let c = s.charCodeAt(k);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && k + 1 < i) {
      n += 4;
      k++;
    } else n += 3;
  }
  return n;
}

class Parser {
  pos: i32 = 0;
  err: string | null = null;
  constructor(public s: string) {}

  fail(msg: string): void {
    if (this.err === null) this.err = "textmsg: invalid content at offset " + byteOffset(this.s, this.pos).toString() + ": " + msg;
  }

  space(): void {
    let s = this.s;
    while (this.pos < s.length) {
      let c = s.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
      this.pos++;
    }
  }

  @inline at(c: i32): bool {
    return this.pos < this.s.length && this.s.charCodeAt(this.pos) == c;
  }

  expect(c: i32): bool {
    this.space();
    if (this.at(c)) {
      this.pos++;
      return true;
    }
    if (this.pos >= this.s.length) this.fail("unexpected end, want " + quoteChar(c));
    else this.fail("found " + quoteChar(this.s.charCodeAt(this.pos)) + ", want " + quoteChar(c));
    return false;
  }

  literal(lit: string): bool {
    if (this.s.length - this.pos >= lit.length && this.s.substr(this.pos, lit.length) == lit) {
      this.pos += lit.length;
      return true;
    }
    this.fail("want " + lit);
    return false;
  }

  hex4(): i32 {
    if (this.pos + 4 > this.s.length) {
      this.fail("short \\u escape");
      return -1;
    }
    let v = 0;
    for (let k = 0; k < 4; k++) {
      let c = this.s.charCodeAt(this.pos + k);
      let d: i32;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      else {
        this.fail("invalid \\u escape");
        return -1;
      }
      v = (v << 4) | d;
    }
    this.pos += 4;
    return v;
  }

  /** A string at pos ('"' expected); null on error. */
  str(): string | null {
    let s = this.s;
    if (!this.at(0x22)) {
      this.fail("want a string");
      return null;
    }
    this.pos++;
    let start = this.pos;
    let w: Writer | null = null; // only for a string with escapes
    while (this.pos < s.length) {
      let c = s.charCodeAt(this.pos);
      if (c == 0x22) {
        let end = this.pos++;
        if (w === null) return s.substring(start, end);
        w.utf8Range(changetype<usize>(s) + (<usize>start << 1), <usize>(end - start));
        return String.UTF8.decodeUnsafe(w.ptr, w.len);
      }
      if (c < 0x20) {
        this.fail("control character in string");
        return null;
      }
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      if (w === null) w = new Writer(s.length * 3);
      w.utf8Range(changetype<usize>(s) + (<usize>start << 1), <usize>(this.pos - start));
      if (this.pos + 1 >= s.length) {
        this.fail("unterminated escape");
        return null;
      }
      let e = s.charCodeAt(this.pos + 1);
      this.pos += 2;
      let r: i32 = -1;
      if (e == 0x22 || e == 0x5c || e == 0x2f) r = e;
      else if (e == 0x62) r = 0x08;
      else if (e == 0x66) r = 0x0c;
      else if (e == 0x6e) r = 0x0a;
      else if (e == 0x72) r = 0x0d;
      else if (e == 0x74) r = 0x09;
      else if (e == 0x75) {
        r = this.hex4();
        if (r < 0) return null;
        if (r >= 0xd800 && r < 0xe000) {
          let pair = -1;
          if (r < 0xdc00 && this.pos + 1 < s.length && s.charCodeAt(this.pos) == 0x5c && s.charCodeAt(this.pos + 1) == 0x75) {
            let save = this.pos;
            this.pos += 2;
            let lo = this.hex4();
            if (lo < 0) return null;
            if (lo >= 0xdc00 && lo < 0xe000) pair = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
            else this.pos = save;
          }
          r = pair >= 0 ? pair : 0xfffd;
        }
      } else {
        this.pos -= 2;
        this.fail("invalid escape " + goQuote2(e)); // Go's strconv.Quote of the two bytes
        return null;
      }
      w.rune(r);
      start = this.pos;
    }
    this.fail("unterminated string");
    return null;
  }

  number(): bool {
    let s = this.s;
    let start = this.pos;
    if (this.at(0x2d)) this.pos++;
    let intStart = this.pos;
    let n = this.digits();
    if (n == 0 || (n > 1 && s.charCodeAt(intStart) == 0x30)) {
      this.pos = start;
      this.fail("invalid number");
      return false;
    }
    if (this.at(0x2e)) {
      this.pos++;
      if (this.digits() == 0) {
        this.fail("invalid number");
        return false;
      }
    }
    if (this.at(0x65) || this.at(0x45)) {
      this.pos++;
      if (this.at(0x2b) || this.at(0x2d)) this.pos++;
      if (this.digits() == 0) {
        this.fail("invalid number");
        return false;
      }
    }
    return true;
  }

  digits(): i32 {
    let n = 0;
    while (this.pos < this.s.length) {
      let c = this.s.charCodeAt(this.pos);
      if (c < 0x30 || c > 0x39) break;
      this.pos++;
      n++;
    }
    return n;
  }

  skip(depth: i32): bool {
    if (depth > MAX_DEPTH) {
      this.fail("nested too deeply");
      return false;
    }
    this.space();
    if (this.pos >= this.s.length) {
      this.fail("unexpected end, want a value");
      return false;
    }
    let c = this.s.charCodeAt(this.pos);
    if (c == 0x22) return this.str() !== null;
    if (c == 0x7b || c == 0x5b) {
      let end = c == 0x7b ? 0x7d : 0x5d;
      this.pos++;
      this.space();
      if (this.at(end)) {
        this.pos++;
        return true;
      }
      while (true) {
        if (c == 0x7b) {
          this.space();
          if (this.str() === null || !this.expect(0x3a)) return false;
        }
        if (!this.skip(depth + 1)) return false;
        this.space();
        if (this.at(0x2c)) {
          this.pos++;
          continue;
        }
        return this.expect(end);
      }
    }
    if (c == 0x74) return this.literal("true");
    if (c == 0x66) return this.literal("false");
    if (c == 0x6e) return this.literal("null");
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    this.fail("want a value");
    return false;
  }
}

function isContentKey(k: string): bool {
  if (k.length != 7) return false;
  const name = "content";
  for (let i = 0; i < 7; i++) {
    let c = k.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c != name.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Returns the text of a text message's content ({"content":"hello"} gives
 * hello), or an error such as `textmsg: invalid content at offset 0: found
 * 'h', want '{'`. Keys match "content" ignoring ASCII case; other members
 * are skipped; the last "content" wins.
 */
export function parse(content: string): Parsed {
  let r = new Parsed();
  // The shape OpenIM's clients send, {"content":"text"} with a text free of
  // escapes, read in one pass; anything else takes the general parser below,
  // which gives the same result for this shape.
  const PREFIX = '{"content":"';
  let n = content.length;
  let p0 = changetype<usize>(content);
  if (n >= 14 && memory.compare(p0, changetype<usize>(PREFIX), 24) == 0 &&
    load<u16>(p0 + (<usize>(n - 2) << 1)) == 0x22 && load<u16>(p0 + (<usize>(n - 1) << 1)) == 0x7d) {
    let end = p0 + (<usize>(n - 2) << 1);
    let q = p0 + 24;
    while (q < end) {
      let c = load<u16>(q);
      if (c == 0x22 || c == 0x5c || c < 0x20) break;
      q += 2;
    }
    if (q == end) {
      r.text = content.substring(12, n - 2);
      return r;
    }
  }
  let p = new Parser(content);
  let found = false;
  let text = "";
  if (p.expect(0x7b)) {
    p.space();
    if (p.at(0x7d)) p.pos++;
    else {
      while (true) {
        p.space();
        let key = p.str();
        if (key === null || !p.expect(0x3a)) break;
        if (isContentKey(key)) {
          p.space();
          if (p.at(0x6e)) {
            if (!p.literal("null")) break;
          } else if (p.at(0x22)) {
            let t = p.str();
            if (t === null) break;
            text = t;
            found = true;
          } else {
            p.fail("\"content\" is not a string");
            break;
          }
        } else if (!p.skip(1)) break;
        p.space();
        if (p.at(0x2c)) {
          p.pos++;
          continue;
        }
        p.expect(0x7d);
        break;
      }
    }
    if (p.err === null) {
      p.space();
      if (p.pos != content.length) p.fail("data after the object");
    }
  }
  if (p.err !== null) {
    r.error = p.err;
    return r;
  }
  if (!found) {
    r.error = "textmsg: content has no \"content\" member";
    return r;
  }
  r.text = text;
  return r;
}

/** The content of a text message with text: {"content":"..."}, escaped as the Go SDK's textmsg.Encode does. */
export function encode(text: string): string {
  let w = new Writer(text.length + 16);
  w.ascii('{"content":"');
  const H = "0123456789abcdef";
  let start = 0;
  let n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    let esc: string | null = null;
    if (c == 0x22) esc = "\\\"";
    else if (c == 0x5c) esc = "\\\\";
    else if (c == 0x0a) esc = "\\n";
    else if (c == 0x0d) esc = "\\r";
    else if (c == 0x09) esc = "\\t";
    else if (c < 0x20 || c == 0x3c || c == 0x3e || c == 0x26) esc = "\\u00" + H.charAt(c >> 4) + H.charAt(c & 15);
    else if (c == 0x2028 || c == 0x2029) esc = "\\u202" + H.charAt(c & 15);
    if (esc === null) continue;
    if (i > start) w.utf8(text.substring(start, i));
    w.ascii(esc);
    start = i + 1;
  }
  if (start < n) w.utf8(start == 0 ? text : text.substring(start));
  w.ascii('"}');
  return String.UTF8.decodeUnsafe(w.ptr, w.len);
}
