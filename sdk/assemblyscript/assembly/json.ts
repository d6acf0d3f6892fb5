// JSON to wire: a request body that arrives as JSON (a dry run: `imhook run`,
// the admin API's test call, the node test harness) is turned into the wire
// format the host sends otherwise (docs/abi.md section 8), so that one request
// class, a view over the wire format, serves both. The fields of each request
// type come from its generated Schema (openim/zopenim.ts); this file is the
// generic part: a strict JSON scanner that writes slots.
//
// It accepts what Go's encoding/json accepts into the same Go type (the
// host's own decoder, sdk/openim, follows encoding/json too): unknown keys
// are skipped, null leaves a value zero, numbers must be integers in the
// field's range, keys match exactly first and then ignoring ASCII case, the
// last of duplicate keys wins, invalid UTF-8 becomes U+FFFD. The first error
// stops decoding; the call then fails with a message naming the field.

/** Field kinds of a Schema. */
export namespace K {
  export const STRING: u8 = 1;
  export const BOOL: u8 = 2;
  export const INT: u8 = 3; // int, int64
  export const INT32: u8 = 4;
  export const UINT32: u8 = 5;
  // 6 and 7 are kept for []byte and map[string]bool, which no request has
  // (the generator refuses them in a request schema until this file decodes them).
  export const PSTRING: u8 = 8;
  export const PBOOL: u8 = 9;
  export const PINT32: u8 = 10;
  export const PINT64: u8 = 11;
  export const PSTRUCT: u8 = 12; // *Struct: subs[i]
  export const STRINGS: u8 = 13;
  export const INT64S: u8 = 14;
  export const STRUCTS: u8 = 15; // []Struct: subs[i]
  export const EMBED: u8 = 16; // embedded *Struct whose keys are the parent's: subs[i]
}

/** The fields of one request or nested type, in wire slot order. */
export class Schema {
  constructor(
    public keys: StaticArray<string>,
    public kinds: StaticArray<u8>,
    public subs: Array<Schema | null> | null = null,
  ) {}
}

/** Growable output, the wire buffer being built. */
class Out {
  ptr: usize = 0;
  len: u32 = 0;
  cap: u32 = 0;

  reserve(n: u32): u32 {
    let at = this.len;
    if (this.len + n > this.cap) {
      let cap = max(this.cap << 1, this.len + n);
      cap = max(cap, 256);
      let p = heap.alloc(cap);
      if (this.len > 0) memory.copy(p, this.ptr, this.len);
      this.ptr = p;
      this.cap = cap;
    }
    memory.fill(this.ptr + at, 0, n);
    this.len += n;
    return at;
  }

  @inline put(at: u32, v: u64): void {
    store<u64>(this.ptr + at, v);
  }
}

export class JSONError {
  constructor(public message: string) {}
}

class Parser {
  p: usize;
  end: usize;
  start: usize;
  out: Out = new Out();
  err: string | null = null;
  depth: i32 = 0;

  constructor(ptr: usize, len: u32) {
    this.p = ptr;
    this.start = ptr;
    this.end = ptr + len;
  }

  fail(msg: string): void {
    if (this.err === null) this.err = "json: " + msg + " at offset " + (<i32>(this.p - this.start)).toString();
  }

  @inline peek(): u32 {
    return this.p < this.end ? <u32>load<u8>(this.p) : 0;
  }

  ws(): void {
    while (this.p < this.end) {
      let c = load<u8>(this.p);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) return;
      this.p++;
    }
  }

  expect(c: u32): bool {
    this.ws();
    if (this.peek() == c) {
      this.p++;
      return true;
    }
    this.fail("want '" + String.fromCharCode(c) + "'");
    return false;
  }

  literal(s: string): bool {
    let n = <usize>s.length;
    if (this.p + n > this.end) {
      this.fail("invalid literal");
      return false;
    }
    for (let i: usize = 0; i < n; i++) {
      if (<u32>load<u8>(this.p + i) != <u32>s.charCodeAt(<i32>i)) {
        this.fail("invalid literal");
        return false;
      }
    }
    this.p += n;
    return true;
  }

  /** Consumes null if it is next. */
  isNull(): bool {
    this.ws();
    if (this.peek() == 0x6e) return this.literal("null");
    return false;
  }

  /** Scans a string (at '"') and appends its UTF-8 bytes to out; returns off<<32|len with off > 0. */
  str(): u64 {
    if (this.peek() != 0x22) {
      this.fail("want a string");
      return 0;
    }
    this.p++;
    let o = this.out;
    let off = o.len;
    while (true) {
      // Copy a run of plain bytes at once.
      let q = this.p;
      while (q < this.end) {
        let c = load<u8>(q);
        if (c == 0x22 || c == 0x5c || c < 0x20 || c >= 0x80) break;
        q++;
      }
      if (q > this.p) {
        let n = <u32>(q - this.p);
        let at = o.reserve(n);
        memory.copy(o.ptr + at, this.p, n);
        this.p = q;
      }
      if (this.p >= this.end) {
        this.fail("unterminated string");
        return 0;
      }
      let c = <u32>load<u8>(this.p);
      if (c == 0x22) {
        this.p++;
        return (<u64>off << 32) | <u64>(o.len - off);
      }
      if (c < 0x20) {
        this.fail("control character in string");
        return 0;
      }
      if (c == 0x5c) {
        if (!this.escape()) return 0;
        continue;
      }
      this.utf8();
    }
    return 0;
  }

  private rune(r: u32): void {
    let o = this.out;
    if (r < 0x80) {
      store<u8>(o.ptr + o.reserve(1), <u8>r);
    } else if (r < 0x800) {
      let at = o.reserve(2);
      store<u8>(o.ptr + at, <u8>(0xc0 | (r >> 6)));
      store<u8>(o.ptr + at + 1, <u8>(0x80 | (r & 0x3f)));
    } else if (r < 0x10000) {
      let at = o.reserve(3);
      store<u8>(o.ptr + at, <u8>(0xe0 | (r >> 12)));
      store<u8>(o.ptr + at + 1, <u8>(0x80 | ((r >> 6) & 0x3f)));
      store<u8>(o.ptr + at + 2, <u8>(0x80 | (r & 0x3f)));
    } else {
      let at = o.reserve(4);
      store<u8>(o.ptr + at, <u8>(0xf0 | (r >> 18)));
      store<u8>(o.ptr + at + 1, <u8>(0x80 | ((r >> 12) & 0x3f)));
      store<u8>(o.ptr + at + 2, <u8>(0x80 | ((r >> 6) & 0x3f)));
      store<u8>(o.ptr + at + 3, <u8>(0x80 | (r & 0x3f)));
    }
  }

  /** Copies one multi-byte UTF-8 sequence, or U+FFFD for an invalid byte. */
  private utf8(): void {
    let c = <u32>load<u8>(this.p);
    let avail = <u32>(this.end - this.p);
    let n: u32 = 0;
    let r: u32 = 0;
    let min: u32 = 0;
    if (c >= 0xc2 && c < 0xe0) {
      n = 2;
      r = c & 0x1f;
      min = 0x80;
    } else if (c >= 0xe0 && c < 0xf0) {
      n = 3;
      r = c & 0x0f;
      min = 0x800;
    } else if (c >= 0xf0 && c < 0xf5) {
      n = 4;
      r = c & 0x07;
      min = 0x10000;
    }
    if (n == 0 || avail < n) {
      this.rune(0xfffd);
      this.p++;
      return;
    }
    for (let i: u32 = 1; i < n; i++) {
      let d = <u32>load<u8>(this.p + i);
      if ((d & 0xc0) != 0x80) {
        this.rune(0xfffd);
        this.p++;
        return;
      }
      r = (r << 6) | (d & 0x3f);
    }
    if (r < min || r > 0x10ffff || (r >= 0xd800 && r < 0xe000)) {
      this.rune(0xfffd);
      this.p++;
      return;
    }
    this.rune(r);
    this.p += n;
  }

  private hex4(): i32 {
    if (this.p + 4 > this.end) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      let c = <i32>load<u8>(this.p + i);
      let d: i32;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      else return -1;
      v = (v << 4) | d;
    }
    this.p += 4;
    return v;
  }

  private escape(): bool {
    if (this.p + 1 >= this.end) {
      this.fail("unterminated escape");
      return false;
    }
    let c = <u32>load<u8>(this.p + 1);
    this.p += 2;
    let r: i32;
    switch (c) {
      case 0x22: case 0x5c: case 0x2f: r = c; break;
      case 0x62: r = 0x08; break;
      case 0x66: r = 0x0c; break;
      case 0x6e: r = 0x0a; break;
      case 0x72: r = 0x0d; break;
      case 0x74: r = 0x09; break;
      case 0x75: {
        r = this.hex4();
        if (r < 0) {
          this.fail("invalid \\u escape");
          return false;
        }
        if (r >= 0xd800 && r < 0xe000) {
          let lo = -1;
          if (r < 0xdc00 && this.p + 1 < this.end && load<u8>(this.p) == 0x5c && load<u8>(this.p + 1) == 0x75) {
            let save = this.p;
            this.p += 2;
            lo = this.hex4();
            if (lo < 0) {
              this.fail("invalid \\u escape");
              return false;
            }
            if (lo >= 0xdc00 && lo < 0xe000) {
              r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
              break;
            }
            this.p = save;
          }
          r = 0xfffd;
        }
        break;
      }
      default:
        this.fail("invalid escape");
        return false;
    }
    this.rune(<u32>r);
    return true;
  }

  /** Scans an integer in [lo, hi]. */
  int(lo: i64, hi: i64, what: string): i64 {
    this.ws();
    let s = this.p;
    let neg = false;
    if (this.peek() == 0x2d) {
      neg = true;
      this.p++;
    }
    let v: u64 = 0;
    let digits = 0;
    let over = false;
    while (this.p < this.end) {
      let c = <u32>load<u8>(this.p);
      if (c < 0x30 || c > 0x39) break;
      if (v > 922337203685477580 || (v == 922337203685477580 && c > 0x38)) over = true;
      v = v * 10 + <u64>(c - 0x30);
      this.p++;
      digits++;
    }
    let c = this.peek();
    if (digits == 0 || c == 0x2e || c == 0x65 || c == 0x45 || (digits > 1 && load<u8>(neg ? s + 1 : s) == 0x30)) {
      this.p = s;
      this.fail("want an integer for " + what);
      return 0;
    }
    let x: i64 = neg ? -(<i64>v) : <i64>v;
    if (over || (!neg && <i64>v < 0 && hi >= 0) || x < lo || x > hi) {
      this.p = s;
      this.fail("number out of range for " + what);
      return 0;
    }
    return x;
  }

  bool(): u64 {
    this.ws();
    let c = this.peek();
    if (c == 0x74) return this.literal("true") ? 1 : 0;
    if (c == 0x66) {
      this.literal("false");
      return 0;
    }
    this.fail("want true or false");
    return 0;
  }

  /** Skips any JSON value. */
  skip(): void {
    this.ws();
    let c = this.peek();
    if (c == 0x22) {
      let o = this.out;
      let len = o.len;
      this.str();
      o.len = len; // drop the bytes
      return;
    }
    if (c == 0x7b || c == 0x5b) {
      if (++this.depth > 10000) {
        this.fail("nested too deeply");
        return;
      }
      let close: u32 = c == 0x7b ? 0x7d : 0x5d;
      this.p++;
      this.ws();
      if (this.peek() == close) {
        this.p++;
        this.depth--;
        return;
      }
      while (this.err === null) {
        if (close == 0x7d) {
          this.ws();
          let o = this.out;
          let len = o.len;
          this.str();
          o.len = len;
          if (!this.expect(0x3a)) return;
        }
        this.skip();
        this.ws();
        if (this.peek() == 0x2c) {
          this.p++;
          continue;
        }
        if (!this.expect(close)) return;
        break;
      }
      this.depth--;
      return;
    }
    if (c == 0x74) {
      this.literal("true");
      return;
    }
    if (c == 0x66) {
      this.literal("false");
      return;
    }
    if (c == 0x6e) {
      this.literal("null");
      return;
    }
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) {
      this.p++;
      while (this.p < this.end) {
        let d = <u32>load<u8>(this.p);
        if ((d >= 0x30 && d <= 0x39) || d == 0x2e || d == 0x65 || d == 0x45 || d == 0x2b || d == 0x2d) this.p++;
        else break;
      }
      return;
    }
    this.fail("want a value");
  }

  /** Finds the field of schema s named by the key at [k, k+n): exactly, then ignoring ASCII case. Returns index, or -1. */
  field(s: Schema, k: usize, n: u32, fold: bool): i32 {
    let keys = s.keys;
    for (let i = 0; i < keys.length; i++) {
      let name = unchecked(keys[i]);
      if (<u32>name.length != n) continue;
      let src = changetype<usize>(name);
      let j: u32 = 0;
      for (; j < n; j++) {
        let a = <u32>load<u8>(k + j);
        let b = <u32>load<u16>(src + (j << 1));
        if (a != b) {
          if (!fold) break;
          if (a - 0x41 < 26) a += 0x20;
          if (b - 0x41 < 26) b += 0x20;
          if (a != b) break;
        }
      }
      if (j == n) return i;
    }
    return -1;
  }

  /** Parses an object of schema s into a fresh slot array. */
  object(s: Schema): StaticArray<u64> {
    let slots = new StaticArray<u64>(s.kinds.length);
    this.objectInto(s, slots);
    return slots;
  }

  private objectInto(s: Schema, slots: StaticArray<u64>): void {
    if (!this.expect(0x7b)) return;
    if (++this.depth > 10000) {
      this.fail("nested too deeply");
      return;
    }
    // An embedded struct's keys are the parent's; its slots are built on the side.
    let embedAt = -1;
    let embed: StaticArray<u64> | null = null;
    let kinds = s.kinds;
    for (let i = 0; i < kinds.length; i++) if (unchecked(kinds[i]) == K.EMBED) embedAt = i;
    this.ws();
    if (this.peek() == 0x7d) {
      this.p++;
    } else {
      while (this.err === null) {
        this.ws();
        // The key, compared in place: keys of OpenIM's types are ASCII without escapes.
        if (this.peek() != 0x22) {
          this.fail("want a key");
          return;
        }
        let k = this.p + 1;
        let q = k;
        while (q < this.end && load<u8>(q) != 0x22 && load<u8>(q) != 0x5c) q++;
        let i = -1;
        let sub: Schema | null = null;
        let into = slots;
        if (q < this.end && load<u8>(q) == 0x22) {
          let n = <u32>(q - k);
          this.p = q + 1;
          i = this.field(s, k, n, false);
          if (i < 0 && embedAt >= 0) {
            let es = changetype<Schema>(unchecked(s.subs![embedAt]));
            let j = this.field(es, k, n, false);
            if (j < 0) j = this.field(es, k, n, true);
            if (j >= 0) {
              if (embed === null) embed = new StaticArray<u64>(es.kinds.length);
              into = changetype<StaticArray<u64>>(embed);
              sub = es;
              i = j;
            }
          }
          if (i < 0) i = this.field(s, k, n, true);
        } else {
          let o = this.out;
          let len = o.len;
          this.str(); // an escaped key: no field of ours, skipped
          o.len = len;
        }
        if (!this.expect(0x3a)) return;
        if (i < 0) this.skip();
        else this.value(sub !== null ? changetype<Schema>(sub) : s, i, into);
        this.ws();
        if (this.peek() == 0x2c) {
          this.p++;
          continue;
        }
        if (!this.expect(0x7d)) return;
        break;
      }
    }
    if (embed !== null) unchecked((slots[embedAt] = this.table(embed)));
    this.depth--;
  }

  /** Appends a slot table; returns its slot (off << 32). */
  table(slots: StaticArray<u64>): u64 {
    let n = <u32>slots.length;
    let at = this.out.reserve(n << 3);
    memory.copy(this.out.ptr + at, changetype<usize>(slots), n << 3);
    return <u64>at << 32;
  }

  /** Appends one 8-byte value; returns its slot. */
  valueSlot(v: u64): u64 {
    let at = this.out.reserve(8);
    this.out.put(at, v);
    return <u64>at << 32;
  }

  /** Parses the value of field i of s into slots[i]. */
  value(s: Schema, i: i32, slots: StaticArray<u64>): void {
    let kind = unchecked(s.kinds[i]);
    let name = unchecked(s.keys[i]);
    if (this.isNull()) {
      // null leaves a value as it is and makes a pointer, list or map nil
      if (kind >= K.PSTRING) unchecked((slots[i] = 0));
      return;
    }
    if (this.err !== null) return;
    let v: u64 = 0;
    switch (kind) {
      case K.STRING: {
        this.ws();
        v = this.str();
        if (<u32>v == 0) v = 0; // an empty string is a zero slot
        break;
      }
      case K.PSTRING: {
        this.ws();
        v = this.str();
        if (v == 0 && this.err === null) v = <u64>this.out.reserve(0) << 32;
        break;
      }
      case K.BOOL: v = this.bool(); break;
      case K.INT: v = <u64>this.int(i64.MIN_VALUE, i64.MAX_VALUE, name); break;
      case K.INT32: v = <u64>this.int(i32.MIN_VALUE, i32.MAX_VALUE, name); break;
      case K.UINT32: v = <u64>this.int(0, u32.MAX_VALUE, name); break;
      case K.PBOOL: v = this.valueSlot(this.bool()); break;
      case K.PINT32: v = this.valueSlot(<u64>this.int(i32.MIN_VALUE, i32.MAX_VALUE, name)); break;
      case K.PINT64: v = this.valueSlot(<u64>this.int(i64.MIN_VALUE, i64.MAX_VALUE, name)); break;
      case K.PSTRUCT: v = this.table(this.object(changetype<Schema>(unchecked(s.subs![i])))); break;
      case K.STRINGS: case K.INT64S: case K.STRUCTS: v = this.list(s, i, kind); break;
      default: this.skip();
    }
    if (this.err === null) unchecked((slots[i] = v));
  }

  private list(s: Schema, i: i32, kind: u8): u64 {
    if (!this.expect(0x5b)) return 0;
    let vals = new Array<u64>();
    let tables = new Array<StaticArray<u64>>();
    this.ws();
    if (this.peek() == 0x5d) {
      this.p++;
    } else {
      while (this.err === null) {
        this.ws();
        if (kind == K.STRINGS) {
          if (this.isNull()) vals.push(0);
          else {
            let v = this.str();
            vals.push(<u32>v == 0 ? 0 : v);
          }
        } else if (kind == K.INT64S) {
          if (this.isNull()) vals.push(0);
          else vals.push(<u64>this.int(i64.MIN_VALUE, i64.MAX_VALUE, unchecked(s.keys[i])));
        } else {
          let sub = changetype<Schema>(unchecked(s.subs![i]));
          if (this.isNull()) tables.push(new StaticArray<u64>(sub.kinds.length));
          else tables.push(this.object(sub));
        }
        this.ws();
        if (this.peek() == 0x2c) {
          this.p++;
          continue;
        }
        if (!this.expect(0x5d)) return 0;
        break;
      }
    }
    let o = this.out;
    if (kind == K.STRUCTS) {
      let n = <u32>tables.length;
      let sub = changetype<Schema>(unchecked(s.subs![i]));
      let size = <u32>sub.kinds.length << 3;
      let at = o.reserve(max(n * size, 1)); // nonzero offset even when empty
      for (let j: u32 = 0; j < n; j++) memory.copy(o.ptr + at + j * size, changetype<usize>(tables[j]), size);
      return (<u64>at << 32) | <u64>n;
    }
    let n = <u32>vals.length;
    let at = o.reserve(max(n << 3, 1));
    for (let j: u32 = 0; j < n; j++) o.put(at + (j << 3), vals[j]);
    return (<u64>at << 32) | <u64>n;
  }
}

/**
 * Converts a JSON request of schema s to the wire format. Returns the wire
 * body (its root table first) as [ptr, len] packed, or sets err.
 */
export function jsonToWire(s: Schema, ptr: usize, len: u32, err: JSONError): u64 {
  let p = new Parser(ptr, len);
  let root = p.out.reserve(<u32>s.kinds.length << 3);
  let slots = p.object(s);
  p.ws();
  if (p.err === null && p.p != p.end) p.fail("data after the object");
  if (p.err !== null) {
    err.message = p.err!;
    return 0;
  }
  memory.copy(p.out.ptr + root, changetype<usize>(slots), <usize>slots.length << 3);
  return (<u64>p.out.ptr << 32) | <u64>p.out.len;
}
