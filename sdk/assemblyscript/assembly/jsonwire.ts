// The JSON converter of the test harness (js/harness.js), built as a module
// of its own (build/jsonwire.wasm), never linked into a plugin: imhook hands
// plugins every request in the wire format, so they carry no JSON decoder.
// The harness takes requests as JSON (objects, bodies copied from OpenIM's
// logs) and turns them into the wire format here, with the generated schemas
// and json.ts's encoding/json rules, before calling the plugin.
//
// Exports: imhook_buffer (as a plugin's), and
//   jsonwire_convert(command_len, body_len) -> packed wire request, or a packed error
// over the buffer holding command then JSON body.

import { begin, buffer, inputPtr, packError } from "./dispatch";
import { jsonToWire, JSONError } from "./json";
import { requestSchema } from "./openim/zopenim";

export function imhook_buffer(size: u32): u64 {
  return buffer(size);
}

export function jsonwire_convert(cmdLen: u32, bodyLen: u32): u64 {
  begin();
  let p = inputPtr();
  let command = String.UTF8.decodeUnsafe(p, cmdLen);
  // A schema is built on its command's first call and cached in a global:
  // keep it (with this call's command string) past the arena's reset.
  let used = __imhook_arena_used();
  let s = requestSchema(command);
  if (__imhook_arena_used() != used) __imhook_arena_keep();
  if (s === null) return packError("command[" + command + "] is not an OpenIM callback command");
  let err = new JSONError("");
  let r = jsonToWire(s, p + cmdLen, bodyLen, err);
  return r == 0 ? packError(err.message) : r;
}
