// The SDK's bindings of the host functions that can fail (KV, out-calls,
// secrets, deliveries) under the harness's in-memory host, through the test
// guest test/guest/hostfuncs.ts: its request's reqMsg is a script of
// operations, its reply's errMsg their outcomes. The repository's Go tests
// run the same guest in a real server.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Harness, HostFailure, Status } from "../js/harness.js";

const WASM = new URL("../build/hostfuncs.wasm", import.meta.url).pathname;
const ADD = "callbackBeforeAddFriendCommand";

/** Runs a script; returns its outcomes. */
function run(h, ops) {
  const r = h.call(ADD, { fromUserID: "a", toUserID: "b", reqMsg: ops });
  assert.equal(r.error, null, `${ops}: ${r.error}`);
  return r.reply.errMsg.split(";");
}

test("kv: each operation, its statuses, and a value larger than the first buffer", async () => {
  const h = await Harness.load(WASM);
  assert.deepEqual(run(h, "get a;set a hello;get a"), ["err=not_found kv_get: key not found", "ok", "v=hello rev=1"]);
  assert.match(run(h, "cas a x 9")[0], /^err=conflict kv_cas: /);
  assert.deepEqual(run(h, "cas a x 1;cas new v 0"), ["rev=2", "rev=3"]);
  assert.deepEqual(run(h, "add n 5;add n -7;get n"), ["n=5", "n=-2", "v=-2 rev=5"]);
  assert.match(run(h, "add a 1")[0], /^err=invalid kv_add: /);
  assert.deepEqual(run(h, "set p2 x;set p1 x;list p;list p  1;list p p1"), ["ok", "ok", "keys=p1,p2 next=", "keys=p1 next=p1", "keys=p2 next="]);
  assert.deepEqual(run(h, "del a;del a"), ["ok", "err=not_found kv_delete: key not found"]);
  assert.deepEqual(run(h, "big b 3000;get b"), ["ok", "len=3000 last=z rev=8"]);
  assert.equal(new TextDecoder().decode(h.kv.get("b").value).length, 3000);
});

test("kv: TTLs expire on the store's clock", async () => {
  const h = await Harness.load(WASM);
  let now = 1000;
  h.kv.now = () => now;
  run(h, "set t v 50;add c 1 50");
  now += 49;
  assert.deepEqual(run(h, "get t;add c 1 50"), ["v=v rev=1", "n=2"]);
  now += 1; // add did not move the counter's expiry
  assert.deepEqual(run(h, "get t;get c"), ["err=not_found kv_get: key not found", "err=not_found kv_get: key not found"]);
});

test("kv: operations over max_kv_ops are a quota error, not a trap", async () => {
  const h = await Harness.load(WASM);
  h.maxKVOps = 3;
  assert.deepEqual(run(h, "ops 3"), ["err=not_found kv_get: key not found"]);
  assert.match(run(h, "ops 4")[0], /^err=quota kv_get: 4 state operations in one call > max_kv_ops\[3\]/);
});

test("http: the request as the service sees it, secrets substituted, large responses", async () => {
  const h = await Harness.load(WASM);
  h.secrets.svc = "tok";
  const seen = [];
  h.http = (req) => {
    seen.push(req);
    if (req.url.endsWith("/big")) return { status: 200, body: "y".repeat(10000) };
    return { status: 201, headers: { "X-Echo": req.method }, body: req.text() };
  };
  assert.deepEqual(run(h, "http POST https://svc.example/a hello"), ["status=201 echo=POST body=hello"]);
  assert.deepEqual(seen[0].headers, [["Authorization", "Bearer tok"]]);
  assert.equal(seen[0].url, "https://svc.example/a");
  assert.deepEqual(run(h, "http GET https://svc.example/big"), ["status=200 echo= body=len=10000"]);
  assert.match(run(h, "http TRACE https://svc.example/")[0], /^err=invalid http: method TRACE/);
  h.http = () => new HostFailure(Status.DENIED, "destination https://svc.example:443 is not in the tenant's egress_allow");
  assert.match(run(h, "http GET https://svc.example/")[0], /^err=denied http: destination/);
  h.http = () => ({ status: 200 });
  assert.match(run(h, "http GET https://x/;http GET https://x/;http GET https://x/;http GET https://x/;http GET https://x/")[4], /^err=quota http: 5 out-calls/);
  delete h.secrets.svc;
  assert.match(run(h, "http GET https://x/")[0], /^err=invalid http: header Authorization names secret svc/);
});

test("secrets, deliveries and retries", async () => {
  const h = await Harness.load(WASM);
  h.secrets.svc = "0123456789";
  assert.deepEqual(run(h, "secret svc;secret nope;delivery"), ["len=10", "err=not_found secret: no secret named nope", "none"]);
  h.delivery = { id: "0123456789abcdef0123456789abcdef", attempt: 2 };
  const r = h.call("callbackAfterAddFriendCommand", { fromUserID: "a", toUserID: "b", reqMsg: "delivery;retry 250" });
  assert.equal(r.error, "plugin: handler for callbackAfterAddFriendCommand failed: try again");
  assert.equal(r.retry, 250);
  const plain = h.call("callbackAfterAddFriendCommand", { fromUserID: "a", toUserID: "b", reqMsg: "delivery" });
  assert.equal(plain.error, "plugin: handler for callbackAfterAddFriendCommand failed: id=0123456789abcdef0123456789abcdef attempt=2");
  assert.equal(plain.retry, null);
});
