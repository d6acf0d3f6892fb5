// The exports of ABI v1 (docs/abi.md section 2). A plugin's entry file
// re-exports them with one line:
//
//   export * from "@imhook/sdk-assemblyscript/assembly/exports";
//
// _initialize is the module's start function, exported by the SDK's build
// script (asc --exportStart _initialize): it runs the plugin's top-level code,
// which registers its handlers, under the host's init budget.

import { buffer, commandsPacked, handle } from "./dispatch";
import { INPUT_WIRE } from "./wire";

export function imhook_abi_version(): i32 {
  return 1;
}

export function imhook_commands(): u64 {
  return commandsPacked();
}

export function imhook_input_formats(): i32 {
  return INPUT_WIRE;
}

export function imhook_buffer(size: u32): u64 {
  return buffer(size);
}

export function imhook_handle(commandLen: u32, bodyLen: u32): u64 {
  return handle(commandLen, bodyLen);
}
