// JSON encoders of the optional and list types, as encoding/json writes them
// (used by the generated encode methods).

import { BoolPtr, Int32Ptr, Int64Ptr } from "./wire";
import { Writer } from "./writer";

export function encodeBoolPtr(j: Writer, v: BoolPtr | null): void {
  if (v === null) j.ascii("null");
  else j.bool(v.value);
}

export function encodeInt32Ptr(j: Writer, v: Int32Ptr | null): void {
  if (v === null) j.ascii("null");
  else j.int(<i64>v.value);
}

export function encodeInt64Ptr(j: Writer, v: Int64Ptr | null): void {
  if (v === null) j.ascii("null");
  else j.int(v.value);
}

export function encodeStrings(j: Writer, v: Array<string> | null): void {
  if (v === null) {
    j.ascii("null");
    return;
  }
  j.byte(0x5b);
  for (let i = 0; i < v.length; i++) {
    if (i > 0) j.byte(0x2c);
    j.str(v[i]);
  }
  j.byte(0x5d);
}

export function encodeInt64s(j: Writer, v: Array<i64> | null): void {
  if (v === null) {
    j.ascii("null");
    return;
  }
  j.byte(0x5b);
  for (let i = 0; i < v.length; i++) {
    if (i > 0) j.byte(0x2c);
    j.int(v[i]);
  }
  j.byte(0x5d);
}

/** A map with its keys sorted, as encoding/json writes maps. */
export function encodeBoolMap(j: Writer, v: Map<string, bool> | null): void {
  if (v === null) {
    j.ascii("null");
    return;
  }
  let keys = v.keys();
  // Insertion sort: maps in replies are small, and Array#sort would link a
  // general sort into every plugin that encodes such a reply.
  for (let i = 1; i < keys.length; i++) {
    let k = keys[i];
    let j = i - 1;
    for (; j >= 0 && keys[j] > k; j--) keys[j + 1] = keys[j];
    keys[j + 1] = k;
  }
  j.byte(0x7b);
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) j.byte(0x2c);
    j.str(keys[i]);
    j.byte(0x3a);
    j.bool(v.get(keys[i]));
  }
  j.byte(0x7d);
}

/** Optional value helpers for reply fields, like the Go SDK's openim.String, openim.Int32... */
export function boolPtr(v: bool): BoolPtr {
  return new BoolPtr(v);
}

export function int32Ptr(v: i32): Int32Ptr {
  return new Int32Ptr(v);
}

export function int64Ptr(v: i64): Int64Ptr {
  return new Int64Ptr(v);
}
