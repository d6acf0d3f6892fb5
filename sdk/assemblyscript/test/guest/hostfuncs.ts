// A test guest of the SDK's host-function bindings (KV, out-calls, secrets,
// deliveries), for the repository's Go tests through a real server
// (examples/assemblyscript_test.go) and the SDK's node tests. The request's
// reqMsg is a script: operations separated by ";", arguments by spaces. The
// reply is a stop whose errMsg holds each operation's outcome, separated by
// ";", so a failure the plugin handled (err=<status> <message>) is a reply,
// never a trap. callbackAfterAddFriendCommand runs its reqMsg too, from
// the queue, and fails with the outcomes.
//
//   get K | set K V [TTL_MS] | big K N (sets N bytes of x) | cas K V REV | del K
//   add K DELTA [TTL_MS] | list PREFIX [CURSOR] [LIMIT] | ops N (N gets)
//   http METHOD URL [BODY] | secret NAME | delivery [URL to POST it to] | retry MS

import {
  Context, HostError, HTTPRequest, statusName, stop,
  onBeforeAddFriend, onAfterAddFriend, BeforeAddFriendReq, BeforeAddFriendResp, AfterAddFriendReq, AfterAddFriendResp,
} from "../../assembly/index";
export * from "../../assembly/exports";

function errText(e: HostError): string {
  return "err=" + statusName(e.status) + " " + e.message;
}

function orOK(e: HostError | null): string {
  return e === null ? "ok" : errText(e);
}

// The current operation's words (AssemblyScript has no closures).
let a: Array<string> = [];

function arg(i: i32): string {
  return i < a.length ? a[i] : "";
}

function num(i: i32): i64 {
  return i < a.length ? I64.parseInt(a[i]) : 0;
}

function run(c: Context, op: string): string {
  a = op.trim().split(" ");
  let name = a[0];
  if (name == "get") {
    let r = c.kv.get(arg(1));
    if (r.err !== null) return errText(r.err!);
    let v = r.text();
    // A long value is summed up: its length and last byte.
    return v.length > 64 ? "len=" + v.length.toString() + " last=" + v.charAt(v.length - 1) + " rev=" + r.rev.toString() : "v=" + v + " rev=" + r.rev.toString();
  }
  if (name == "set") return orOK(c.kv.set(arg(1), arg(2), num(3)));
  if (name == "big") {
    let n = <i32>num(2);
    let b = new Uint8Array(n);
    b.fill(0x78);
    if (n > 0) b[n - 1] = 0x7a; // ends in z
    return orOK(c.kv.set(arg(1), b));
  }
  if (name == "cas") {
    let r = c.kv.compareAndSet(arg(1), arg(2), <u64>num(3));
    return r.err !== null ? errText(r.err!) : "rev=" + r.rev.toString();
  }
  if (name == "del") return orOK(c.kv.delete(arg(1)));
  if (name == "add") {
    let r = c.kv.add(arg(1), num(2), num(3));
    return r.err !== null ? errText(r.err!) : "n=" + r.value.toString();
  }
  if (name == "list") {
    let r = c.kv.list(arg(1), arg(2), a.length > 3 ? <i32>num(3) : 1000);
    return r.err !== null ? errText(r.err!) : "keys=" + r.keys.join(",") + " next=" + r.next;
  }
  if (name == "ops") {
    let last = "";
    for (let i: i64 = 0; i < num(1); i++) {
      let r = c.kv.get("ops");
      last = r.err !== null ? errText(r.err!) : "ok";
    }
    return last;
  }
  if (name == "http") {
    let req = new HTTPRequest(arg(1), arg(2));
    req.header.add("Authorization", "Bearer {{secret:svc}}");
    if (a.length > 3) req.body = Uint8Array.wrap(String.UTF8.encode(arg(3)));
    let r = c.http.do(req);
    if (r.err !== null) return errText(r.err!);
    let t = r.text();
    let body = t.length > 64 ? "len=" + t.length.toString() : t;
    return "status=" + r.status.toString() + " echo=" + r.header.get("x-echo") + " body=" + body;
  }
  if (name == "secret") {
    let r = c.secret(arg(1));
    return r.err !== null ? errText(r.err!) : "len=" + r.value.length.toString();
  }
  if (name == "delivery") {
    let d = c.delivery();
    let out = d === null ? "none" : "id=" + d.id + " attempt=" + d.attempt.toString();
    if (a.length > 1) {
      let r = c.http.post(arg(1), "text/plain", out); // tell the test's service
      if (r.err !== null) return errText(r.err!);
    }
    return out;
  }
  if (name == "retry") {
    c.retry("try again", num(1));
    return "asked";
  }
  return "unknown op " + name;
}

function script(c: Context, s: string): string {
  let ops = s.split(";");
  let out = new Array<string>();
  for (let i = 0; i < ops.length; i++) out.push(run(c, ops[i]));
  return out.join(";");
}

function beforeAddFriend(c: Context, req: BeforeAddFriendReq): BeforeAddFriendResp | null {
  let r = script(c, req.reqMsg);
  if (c.failed) return null;
  return stop<BeforeAddFriendResp>(1, r);
}

function afterAddFriend(c: Context, req: AfterAddFriendReq): AfterAddFriendResp | null {
  let r = script(c, req.reqMsg);
  c.fail(r); // the outcomes, in the failed delivery's error (after retry: its message)
  return null;
}

onBeforeAddFriend(beforeAddFriend);
onAfterAddFriend(afterAddFriend);
