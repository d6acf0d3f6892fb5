// Reading a request in the wire format (docs/abi.md section 8): a table of
// 8-byte slots per struct, strings and lists out of line, all offsets from
// the start of the body. Request classes (openim/zopenim.ts, generated) are
// views that read a field's slot when the field is read, so a handler pays
// only for the fields it uses: reading `content` decodes one string, and the
// other eighteen fields of a message callback cost nothing.
//
// Every offset is checked against the body's length; a request that points
// outside itself (which the host never sends) aborts the call.

/** Whether the host may send the wire format (imhook_input_formats). */
export const INPUT_WIRE: i32 = 1;

/** Bit 31 of imhook_handle's command length: the body is in the wire format. */
export const WIRE_FLAG: u32 = 0x80000000;

/**
 * The UTF-16 string of n UTF-8 bytes at p: ASCII widened in one loop, other
 * text through the standard decoder (which makes invalid bytes U+FFFD, as Go
 * does; the host sends valid UTF-8).
 */
export function decodeUTF8(p: usize, n: u32): string {
  let s = changetype<usize>(__new(<usize>n << 1, idof<String>()));
  for (let i: usize = 0; i < <usize>n; i++) {
    let c = load<u8>(p + i);
    if (c >= 0x80) return String.UTF8.decodeUnsafe(p, n);
    store<u16>(s + (i << 1), <u16>c);
  }
  return changetype<string>(s);
}

function bad(what: string): void {
  abort("wire: " + what + " outside the request", null, 0, 0);
}

/** Optional bool (Go *bool): null when absent. */
export class BoolPtr {
  constructor(public value: bool) {}
}

/** Optional int32 (Go *int32): null when absent. */
export class Int32Ptr {
  constructor(public value: i32) {}
}

/** Optional int64 (Go *int64): null when absent. */
export class Int64Ptr {
  constructor(public value: i64) {}
}

/** A request body in the wire format, owned by the request (a copy of the host's input). */
export class Wire {
  constructor(public ptr: usize, public len: u32) {}

  /** Checks that n slots from t lie inside the body. */
  table(t: u32, n: u64): void {
    if (<u64>t + (n << 3) > <u64>this.len) bad("table");
  }

  @inline slot(at: u32): u64 {
    return load<u64>(this.ptr + at);
  }

  /** Checks [off, off+n) and returns its address. */
  @inline span(off: u32, n: u32, what: string): usize {
    if (<u64>off + <u64>n > <u64>this.len) bad(what);
    return this.ptr + off;
  }

  str(at: u32): string {
    let s = this.slot(at);
    if (s == 0) return "";
    let n = <u32>s;
    return decodeUTF8(this.span(<u32>(s >> 32), n, "string"), n);
  }

  strPtr(at: u32): string | null {
    let s = this.slot(at);
    if (s == 0) return null;
    let n = <u32>s;
    return decodeUTF8(this.span(<u32>(s >> 32), n, "string"), n);
  }

  bool(at: u32): bool {
    return this.slot(at) != 0;
  }

  i64(at: u32): i64 {
    return <i64>this.slot(at);
  }

  i32(at: u32): i32 {
    return <i32>this.slot(at);
  }

  u32(at: u32): u32 {
    return <u32>this.slot(at);
  }

  private value(at: u32): u64 {
    return load<u64>(this.span(<u32>(this.slot(at) >> 32), 8, "value"));
  }

  boolPtr(at: u32): BoolPtr | null {
    return this.slot(at) == 0 ? null : new BoolPtr(this.value(at) != 0);
  }

  int32Ptr(at: u32): Int32Ptr | null {
    return this.slot(at) == 0 ? null : new Int32Ptr(<i32>this.value(at));
  }

  int64Ptr(at: u32): Int64Ptr | null {
    return this.slot(at) == 0 ? null : new Int64Ptr(<i64>this.value(at));
  }

  bytes(at: u32): Uint8Array | null {
    let s = this.slot(at);
    if (s == 0) return null;
    let n = <u32>s;
    let p = this.span(<u32>(s >> 32), n, "bytes");
    let b = new Uint8Array(n);
    memory.copy(b.dataStart, p, n);
    return b;
  }

  strs(at: u32): Array<string> | null {
    let s = this.slot(at);
    if (s == 0) return null;
    let off = <u32>(s >> 32);
    let n = <u32>s;
    this.table(off, n);
    let a = new Array<string>(n);
    for (let i: u32 = 0; i < n; i++) a[i] = this.str(off + (i << 3));
    return a;
  }

  int64s(at: u32): Array<i64> | null {
    let s = this.slot(at);
    if (s == 0) return null;
    let off = <u32>(s >> 32);
    let n = <u32>s;
    this.table(off, n);
    let a = new Array<i64>(n);
    for (let i: u32 = 0; i < n; i++) a[i] = this.i64(off + (i << 3));
    return a;
  }

  boolMap(at: u32): Map<string, bool> | null {
    let s = this.slot(at);
    if (s == 0) return null;
    let off = <u32>(s >> 32);
    let n = <u32>s;
    this.table(off, <u64>n << 1);
    let m = new Map<string, bool>();
    for (let i: u32 = 0; i < n; i++) m.set(this.str(off + (i << 4)), this.bool(off + (i << 4) + 8));
    return m;
  }

  /** The table of a *Struct slot with n fields, or 0 for nil. */
  ptrTable(at: u32, n: u32): u32 {
    let s = this.slot(at);
    if (s == 0) return 0;
    let off = <u32>(s >> 32);
    this.table(off, n);
    return off;
  }

  /** The first table and the count of a []Struct slot with n fields per element. */
  listTables(at: u32, n: u32): u64 {
    let s = this.slot(at);
    if (s == 0) return 0;
    let off = <u32>(s >> 32);
    let count = <u32>s;
    this.table(off, <u64>count * <u64>n);
    return s;
  }
}
