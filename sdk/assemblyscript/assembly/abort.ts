// The module's abort (asc --use abort=...): AssemblyScript calls it on a
// failed assertion, an out-of-range index, `throw`, and a null where an object
// is required. ABI v1 provides no env.abort, so the SDK's build script points
// AssemblyScript's abort here: the message goes to the host's log at error
// level, then the call traps, and imhook fails it (kind trap) and drops the
// instance, as it does for a Go plugin's unrecovered fault.

import { hostLog, Level } from "./host";

function imhookAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let s = "plugin aborted: " + (message !== null ? message : "(no message)");
  if (fileName !== null) s += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  let b = String.UTF8.encode(s);
  hostLog(Level.ERROR, changetype<usize>(b), <usize>b.byteLength);
  unreachable();
}
