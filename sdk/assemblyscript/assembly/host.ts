// The host functions of ABI v1 (docs/abi.md section 3), module "imhook".
// KV and HTTP host functions will be declared here when the host provides
// them (issues 16 and later); a module importing a function the host does not
// have is refused at upload, so declare them only once they exist.

// @ts-ignore: decorator
@external("imhook", "log")
export declare function hostLog(level: i32, ptr: usize, len: usize): void;

// @ts-ignore: decorator
@external("imhook", "config")
export declare function hostConfig(keyPtr: usize, keyLen: usize, bufPtr: usize, bufCap: usize): i32;

/** Log levels of imhook.log, as log/slog's. */
export namespace Level {
  export const DEBUG: i32 = -4;
  export const INFO: i32 = 0;
  export const WARN: i32 = 4;
  export const ERROR: i32 = 8;
}

/** Separates a log line's message from its key=value attributes (abi.LogAttrSeparator). */
export const LOG_ATTR_SEPARATOR: u8 = 0x1f;
