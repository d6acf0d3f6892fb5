// KV: the tenant's key-value state (docs/abi.md, kv_*; the Go SDK's
// plugin.KV). Every key is the tenant's own: imhook keeps each tenant's keys
// apart. It needs the grant "kv": a plugin that uses it is refused at upload
// for a tenant without it. Quotas (keys, bytes, key and value size,
// operations per call) are the tenant's limits; going over one is an error
// with Status.QUOTA, never a trap, so a plugin can go on without its state.
//
// Keys are strings (their UTF-8 goes to the host); values are bytes: a
// string (stored as UTF-8), a Uint8Array or an ArrayBuffer. TTLs are in
// milliseconds, 0 for none.

import { hostKVAdd, hostKVCAS, hostKVDelete, hostKVGet, hostKVList, hostKVSet } from "./host";
import { bytesOf, failure, HostError, hostError, Status, takeOutput, u32At } from "./hosterror";

/** What get returns: the value and its revision, or the error (Status.NOT_FOUND when the key is not set). */
export class KVValue {
  value: Uint8Array | null = null;
  rev: u64 = 0;
  err: HostError | null = null;

  /** The value as UTF-8 text ("" on an error). */
  text(): string {
    let v = this.value;
    return v === null ? "" : String.UTF8.decodeUnsafe(v.dataStart, v.byteLength);
  }
}

/** What compareAndSet returns: the new revision, or the error (Status.CONFLICT when another write came first). */
export class KVRev {
  rev: u64 = 0;
  err: HostError | null = null;
}

/** What add returns: the counter's new value, or the error. */
export class KVCount {
  value: i64 = 0;
  err: HostError | null = null;
}

/** What list returns: a page of keys and the cursor of the next ("" after the last page), or the error. */
export class KVList {
  keys: Array<string> = [];
  next: string = "";
  err: HostError | null = null;
}

// SMALL is the buffer an output is first asked into; larger output goes
// through take_result.
const SMALL: usize = 512;

/** A key's UTF-8 bytes. */
function keyOf(key: string): ArrayBuffer {
  return String.UTF8.encode(key);
}

export class KV {
  /** The value of key and its revision (for compareAndSet); err is Status.NOT_FOUND when it is not set or expired. */
  get(key: string): KVValue {
    let k = keyOf(key);
    let r = new KVValue();
    let buf = heap.alloc(SMALL);
    let word = heap.alloc(8);
    store<u64>(word, 0);
    let n = hostKVGet(changetype<usize>(k), k.byteLength, buf, SMALL, word);
    r.rev = load<u64>(word);
    r.value = takeOutput(n, buf, SMALL);
    r.err = failure;
    return r;
  }

  /** Writes value at key; ttlMs > 0 makes the key expire after it. Returns null, or the error. */
  set<T>(key: string, value: T, ttlMs: i64 = 0): HostError | null {
    let k = keyOf(key);
    let v = bytesOf<T>(value);
    let n = hostKVSet(changetype<usize>(k), k.byteLength, v.dataStart, v.byteLength, ttlMs);
    return n < 0 ? hostError(n) : null;
  }

  /**
   * Writes value at key only when the key's revision is rev (0: only when
   * it does not exist), and returns the new revision; err is
   * Status.CONFLICT when another write came first. Read with get, change,
   * then compareAndSet with the revision read, in a loop.
   */
  compareAndSet<T>(key: string, value: T, rev: u64, ttlMs: i64 = 0): KVRev {
    let k = keyOf(key);
    let v = bytesOf<T>(value);
    let word = heap.alloc(8);
    let r = new KVRev();
    let n = hostKVCAS(changetype<usize>(k), k.byteLength, v.dataStart, v.byteLength, ttlMs, rev, word);
    if (n < 0) r.err = hostError(n);
    else r.rev = load<u64>(word);
    return r;
  }

  /** Removes key. Returns null, or the error (Status.NOT_FOUND when it was not set). */
  delete(key: string): HostError | null {
    let k = keyOf(key);
    let n = hostKVDelete(changetype<usize>(k), k.byteLength);
    return n < 0 ? hostError(n) : null;
  }

  /**
   * Adds delta to the counter at key and returns the sum, atomically across
   * concurrent calls and replicas. A missing key counts from 0 and is
   * created with ttlMs; the TTL does not move an existing key's expiry, so a
   * counter with a TTL counts in a fixed window (a rate limit). The value is
   * the sum in decimal text; add on another value is Status.INVALID.
   */
  add(key: string, delta: i64, ttlMs: i64 = 0): KVCount {
    let k = keyOf(key);
    let word = heap.alloc(8);
    let r = new KVCount();
    let n = hostKVAdd(changetype<usize>(k), k.byteLength, delta, ttlMs, word);
    if (n < 0) r.err = hostError(n);
    else r.value = load<i64>(word);
    return r;
  }

  /** Up to limit (1 to 1000) keys starting with prefix, in byte order, after cursor ("" for the first page). */
  list(prefix: string, cursor: string = "", limit: i32 = 1000): KVList {
    if (limit < 1 || limit > 1000) limit = 1000;
    let p = keyOf(prefix);
    let c = keyOf(cursor);
    let buf = heap.alloc(SMALL);
    let r = new KVList();
    let n = hostKVList(changetype<usize>(p), p.byteLength, changetype<usize>(c), c.byteLength, limit, buf, SMALL);
    let out = takeOutput(n, buf, SMALL);
    if (out === null) {
      r.err = failure;
      return r;
    }
    // Length-prefixed items: the next cursor, then the keys.
    let i = 0;
    let first = true;
    while (i < out.length) {
      let m = i + 4 <= out.length ? <i32>u32At(out, i) : -1;
      if (m < 0 || <i64>m > <i64>(out.length - i - 4)) {
        r.err = new HostError(Status.INVALID, "kv_list: truncated output");
        return r;
      }
      let s = String.UTF8.decodeUnsafe(out.dataStart + <usize>(i + 4), m);
      if (first) r.next = s;
      else r.keys.push(s);
      first = false;
      i += 4 + m;
    }
    if (first) r.err = new HostError(Status.INVALID, "kv_list: output without a cursor");
    return r;
  }
}
