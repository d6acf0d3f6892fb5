// The host functions of ABI v1 (docs/abi.md section 3), module "imhook".
// asc imports a declared function only when the plugin's code reaches it, so
// a plugin that never uses KV or out-calls imports none of them and needs no
// grant (a module importing kv_* or http is refused for a tenant without
// the grant "kv" or "http").

// @ts-ignore: decorator
@external("imhook", "log")
export declare function hostLog(level: i32, ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("imhook", "config")
export declare function hostConfig(keyPtr: usize, keyLen: usize, bufPtr: usize, bufCap: usize): i32;

// Results and errors (docs/abi.md, "Results and errors").

// @ts-ignore: decorator
@external("imhook", "last_error")
export declare function hostLastError(bufPtr: usize, bufCap: usize): i32;

// @ts-ignore: decorator
@external("imhook", "take_result")
export declare function hostTakeResult(bufPtr: usize, bufCap: usize): i32;

// Out-calls and secrets (grant "http").

// @ts-ignore: decorator
@external("imhook", "http")
export declare function hostHTTP(reqPtr: usize, reqLen: usize, bufPtr: usize, bufCap: usize): i32;

// @ts-ignore: decorator
@external("imhook", "secret")
export declare function hostSecret(namePtr: usize, nameLen: usize, bufPtr: usize, bufCap: usize): i32;

// Queued after-callbacks.

// @ts-ignore: decorator
@external("imhook", "delivery")
export declare function hostDelivery(bufPtr: usize, bufCap: usize): i32;

// @ts-ignore: decorator
@external("imhook", "retry")
export declare function hostRetry(delayMs: i64): i32;

// The tenant's key-value state (grant "kv").

// @ts-ignore: decorator
@external("imhook", "kv_get")
export declare function hostKVGet(keyPtr: usize, keyLen: usize, bufPtr: usize, bufCap: usize, revPtr: usize): i32;

// @ts-ignore: decorator
@external("imhook", "kv_set")
export declare function hostKVSet(keyPtr: usize, keyLen: usize, valPtr: usize, valLen: usize, ttlMs: i64): i32;

// @ts-ignore: decorator
@external("imhook", "kv_cas")
export declare function hostKVCAS(keyPtr: usize, keyLen: usize, valPtr: usize, valLen: usize, ttlMs: i64, rev: u64, revPtr: usize): i32;

// @ts-ignore: decorator
@external("imhook", "kv_delete")
export declare function hostKVDelete(keyPtr: usize, keyLen: usize): i32;

// @ts-ignore: decorator
@external("imhook", "kv_add")
export declare function hostKVAdd(keyPtr: usize, keyLen: usize, delta: i64, ttlMs: i64, resultPtr: usize): i32;

// @ts-ignore: decorator
@external("imhook", "kv_list")
export declare function hostKVList(prefixPtr: usize, prefixLen: usize, cursorPtr: usize, cursorLen: usize, limit: i32, bufPtr: usize, bufCap: usize): i32;

/** Log levels of imhook.log, as log/slog's. */
export namespace Level {
  export const DEBUG: i32 = -4;
  export const INFO: i32 = 0;
  export const WARN: i32 = 4;
  export const ERROR: i32 = 8;
}

/** Separates a log line's message from its key=value attributes (abi.LogAttrSeparator). */
export const LOG_ATTR_SEPARATOR: u8 = 0x1f;
