// Writer: the bytes of a reply, an error message or a log line, in UTF-8,
// with JSON encoding exactly as Go's encoding/json (and sdk/openim's codec)
// writes it, so that a reply from an AssemblyScript plugin is byte for byte
// what the Go SDK would send for the same values.

export class Writer {
  /** Start of the bytes written so far. */
  ptr: usize = 0;
  /** Bytes written. */
  len: usize = 0;
  /** Capacity at ptr. */
  cap: usize = 0;
  // The buffer allocated when the Writer was made, before any callback:
  // callbacks start from it again (reset), since what a callback allocates
  // is dropped when the next one starts (rt/arena.ts).
  private base: usize = 0;
  private baseCap: usize = 0;

  constructor(capacity: usize) {
    this.base = heap.alloc(capacity);
    this.baseCap = capacity;
    this.reset();
  }

  /** Empties the writer, back on its first buffer. */
  reset(): void {
    this.ptr = this.base;
    this.cap = this.baseCap;
    this.len = 0;
  }

  /** Makes room for n more bytes. */
  @inline grow(n: usize): void {
    if (this.len + n > this.cap) this.realloc(n);
  }

  private realloc(n: usize): void {
    let cap = max(this.cap * 2, this.len + n);
    let p = heap.alloc(cap);
    memory.copy(p, this.ptr, this.len);
    this.ptr = p;
    this.cap = cap;
  }

  byte(c: u32): void {
    this.grow(1);
    store<u8>(this.ptr + this.len, <u8>c);
    this.len++;
  }

  bytes(p: usize, n: usize): void {
    this.grow(n);
    memory.copy(this.ptr + this.len, p, n);
    this.len += n;
  }

  /** Writes code point r as UTF-8. */
  rune(r: i32): void {
    this.grow(4);
    let d = this.ptr + this.len;
    if (r < 0x80) {
      store<u8>(d, <u8>r);
      this.len += 1;
    } else if (r < 0x800) {
      store<u8>(d, <u8>(0xc0 | (r >> 6)));
      store<u8>(d + 1, <u8>(0x80 | (r & 0x3f)));
      this.len += 2;
    } else if (r < 0x10000) {
      store<u8>(d, <u8>(0xe0 | (r >> 12)));
      store<u8>(d + 1, <u8>(0x80 | ((r >> 6) & 0x3f)));
      store<u8>(d + 2, <u8>(0x80 | (r & 0x3f)));
      this.len += 3;
    } else {
      store<u8>(d, <u8>(0xf0 | (r >> 18)));
      store<u8>(d + 1, <u8>(0x80 | ((r >> 12) & 0x3f)));
      store<u8>(d + 2, <u8>(0x80 | ((r >> 6) & 0x3f)));
      store<u8>(d + 3, <u8>(0x80 | (r & 0x3f)));
      this.len += 4;
    }
  }

  /** Writes an ASCII string (keys, literals) byte by byte. */
  ascii(s: string): void {
    let n = <usize>s.length;
    this.grow(n);
    let src = changetype<usize>(s);
    let dst = this.ptr + this.len;
    for (let i: usize = 0; i < n; i++) store<u8>(dst + i, <u8>load<u16>(src + (i << 1)));
    this.len += n;
  }

  /** Writes s as UTF-8; a lone surrogate becomes U+FFFD. */
  utf8(s: string): void {
    this.utf8Range(changetype<usize>(s), <usize>s.length);
  }

  /** Writes n UTF-16 units at src as UTF-8. */
  utf8Range(src: usize, n: usize): void {
    this.grow(n * 3);
    let dst = this.ptr + this.len;
    let o: usize = 0;
    for (let i: usize = 0; i < n; i++) {
      let c = <u32>load<u16>(src + (i << 1));
      if (c < 0x80) {
        store<u8>(dst + o++, <u8>c);
        continue;
      }
      if (c < 0x800) {
        store<u8>(dst + o++, <u8>(0xc0 | (c >> 6)));
        store<u8>(dst + o++, <u8>(0x80 | (c & 0x3f)));
        continue;
      }
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
        let d = <u32>load<u16>(src + ((i + 1) << 1));
        if (d >= 0xdc00 && d < 0xe000) {
          let cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          store<u8>(dst + o++, <u8>(0xf0 | (cp >> 18)));
          store<u8>(dst + o++, <u8>(0x80 | ((cp >> 12) & 0x3f)));
          store<u8>(dst + o++, <u8>(0x80 | ((cp >> 6) & 0x3f)));
          store<u8>(dst + o++, <u8>(0x80 | (cp & 0x3f)));
          i++;
          continue;
        }
      }
      if (c >= 0xd800 && c < 0xe000) c = 0xfffd; // lone surrogate
      store<u8>(dst + o++, <u8>(0xe0 | (c >> 12)));
      store<u8>(dst + o++, <u8>(0x80 | ((c >> 6) & 0x3f)));
      store<u8>(dst + o++, <u8>(0x80 | (c & 0x3f)));
    }
    this.len += o;
  }

  /** Writes a JSON string as encoding/json does: <, > and & escaped, U+2028 and U+2029 escaped. */
  str(s: string): void {
    let n = <usize>s.length;
    let src = changetype<usize>(s);
    this.byte(0x22);
    let start: usize = 0;
    for (let i: usize = 0; i < n; i++) {
      let c = <u32>load<u16>(src + (i << 1));
      if (c >= 0x20 && c < 0x80 && c != 0x22 && c != 0x5c && c != 0x3c && c != 0x3e && c != 0x26) continue;
      if (c >= 0x80 && c != 0x2028 && c != 0x2029) continue; // utf8 handles surrogates
      if (i > start) this.utf8Range(src + (start << 1), i - start);
      start = i + 1;
      this.escape(c);
    }
    if (n > start) this.utf8Range(src + (start << 1), n - start);
    this.byte(0x22);
  }

  /** Writes the JSON escape of UTF-16 unit c. */
  private escape(c: u32): void {
    const HEX = "0123456789abcdef";
    let e: u32 = 0;
    if (c == 0x22 || c == 0x5c) e = c;
    else if (c == 0x08) e = 0x62;
    else if (c == 0x0c) e = 0x66;
    else if (c == 0x0a) e = 0x6e;
    else if (c == 0x0d) e = 0x72;
    else if (c == 0x09) e = 0x74;
    this.grow(6);
    let d = this.ptr + this.len;
    store<u8>(d, 0x5c);
    if (e != 0) {
      store<u8>(d + 1, <u8>e);
      this.len += 2;
      return;
    }
    store<u8>(d + 1, 0x75);
    store<u8>(d + 2, <u8>HEX.charCodeAt((c >> 12) & 0xf));
    store<u8>(d + 3, <u8>HEX.charCodeAt((c >> 8) & 0xf));
    store<u8>(d + 4, <u8>HEX.charCodeAt((c >> 4) & 0xf));
    store<u8>(d + 5, <u8>HEX.charCodeAt(c & 0xf));
    this.len += 6;
  }

  strOrNull(s: string | null): void {
    if (s === null) this.ascii("null");
    else this.str(s);
  }

  int(v: i64): void {
    if (v < 0) {
      this.byte(0x2d);
      if (v == i64.MIN_VALUE) {
        this.ascii("9223372036854775808");
        return;
      }
      v = -v;
    }
    this.uint(<u64>v);
  }

  uint(v: u64): void {
    let digits = 1;
    for (let x = v; x >= 10; x /= 10) digits++;
    this.grow(digits);
    let end = this.ptr + this.len + digits;
    for (let i = 1; i <= digits; i++) {
      store<u8>(end - i, <u8>(0x30 + <u32>(v % 10)));
      v /= 10;
    }
    this.len += digits;
  }

  bool(v: bool): void {
    this.ascii(v ? "true" : "false");
  }

  /** Writes bytes as a JSON string in standard base64 with padding, as encoding/json writes []byte. */
  base64(b: Uint8Array | null): void {
    if (b === null) {
      this.ascii("null");
      return;
    }
    const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let n = b.length;
    let out = ((n + 2) / 3) * 4;
    this.grow(<usize>out + 2);
    let d = this.ptr + this.len;
    store<u8>(d, 0x22);
    let o = d + 1;
    let src = b.dataStart;
    for (let i = 0; i < n; i += 3) {
      let left = n - i;
      let v = <u32>load<u8>(src + i) << 16;
      if (left > 1) v |= <u32>load<u8>(src + i + 1) << 8;
      if (left > 2) v |= <u32>load<u8>(src + i + 2);
      store<u8>(o, <u8>A.charCodeAt(v >> 18));
      store<u8>(o + 1, <u8>A.charCodeAt((v >> 12) & 63));
      store<u8>(o + 2, left > 1 ? <u8>A.charCodeAt((v >> 6) & 63) : 0x3d);
      store<u8>(o + 3, left > 2 ? <u8>A.charCodeAt(v & 63) : 0x3d);
      o += 4;
    }
    store<u8>(o, 0x22);
    this.len += <usize>out + 2;
  }

  /** The bytes written, as a packed pointer (docs/abi.md): ptr << 32 | len. */
  packed(): u64 {
    return (<u64>this.ptr << 32) | <u64>this.len;
  }
}
