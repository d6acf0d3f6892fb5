// The results-and-errors convention of the host functions that can fail
// (docs/abi.md, "Results and errors"): a negative result is a status whose
// message last_error gives; output that does not fit the guest's buffer is
// kept by the host for take_result. A failure is a value the plugin handles
// (a HostError), never a trap.

import { hostLastError, hostTakeResult } from "./host";

/** The statuses of host functions (abi.Status). Later versions may add others: treat any negative value as a failure. */
export namespace Status {
  export const NOT_FOUND: i32 = -1;
  export const DENIED: i32 = -2;
  export const QUOTA: i32 = -3;
  export const INVALID: i32 = -4;
  export const UNAVAILABLE: i32 = -5;
  export const TIMEOUT: i32 = -6;
  export const CONFLICT: i32 = -7;
}

/** The name of a status (abi.Status.String): not_found, denied, ... */
export function statusName(s: i32): string {
  switch (s) {
    case Status.NOT_FOUND: return "not_found";
    case Status.DENIED: return "denied";
    case Status.QUOTA: return "quota";
    case Status.INVALID: return "invalid";
    case Status.UNAVAILABLE: return "unavailable";
    case Status.TIMEOUT: return "timeout";
    case Status.CONFLICT: return "conflict";
  }
  return "status " + s.toString();
}

/**
 * The failure of a host function: its status and the host's message, which
 * says what was denied or exceeded and what to do (it never holds a secret).
 *
 *   let r = c.kv.get("k");
 *   if (r.err !== null && r.err!.status == Status.NOT_FOUND) ...
 */
export class HostError {
  constructor(
    public status: i32,
    public message: string,
  ) {}

  /** Whether the status is s (Status.DENIED, ...). */
  is(s: i32): bool {
    return this.status == s;
  }

  toString(): string {
    return this.message.length > 0 ? this.message : "imhook: " + statusName(this.status);
  }
}

/** The error of a host function that returned status n, with its message (last_error). */
export function hostError(n: i32): HostError {
  let cap = 256;
  let buf = heap.alloc(cap);
  let m = hostLastError(buf, cap);
  if (m > cap) {
    buf = heap.alloc(m);
    m = hostLastError(buf, m);
  }
  return new HostError(n, m > 0 ? String.UTF8.decodeUnsafe(buf, m) : "");
}

/**
 * A host function's output, by the convention: n is what the function
 * returned when given buf (cap bytes). Returns the bytes, or null with the
 * error in failure. Output larger than cap was kept by the host: take_result
 * hands it over, without repeating the operation.
 */
export function takeOutput(n: i32, buf: usize, cap: usize): Uint8Array | null {
  failure = null;
  if (n < 0) {
    failure = hostError(n);
    return null;
  }
  let out = new Uint8Array(n);
  if (<usize>n <= cap) {
    memory.copy(out.dataStart, buf, n);
    return out;
  }
  let m = hostTakeResult(out.dataStart, n);
  if (m != n) {
    failure = m < 0 ? hostError(m) : new HostError(Status.INVALID, "take_result returned " + m.toString() + " bytes, the call " + n.toString());
    return null;
  }
  return out;
}

/** The error of the last takeOutput that returned null. */
export let failure: HostError | null = null;

/** v's bytes: a string's UTF-8, a Uint8Array or an ArrayBuffer as is. */
export function bytesOf<T>(v: T): Uint8Array {
  if (isString<T>()) return Uint8Array.wrap(String.UTF8.encode(changetype<string>(v)));
  if (v instanceof Uint8Array) return changetype<Uint8Array>(v);
  if (v instanceof ArrayBuffer) return Uint8Array.wrap(changetype<ArrayBuffer>(v));
  ERROR("want a string, a Uint8Array or an ArrayBuffer");
  return new Uint8Array(0);
}

/** Reads a little-endian u32 of b at i (the caller checked the length). */
export function u32At(b: Uint8Array, i: i32): u32 {
  return load<u32>(b.dataStart + <usize>i);
}
