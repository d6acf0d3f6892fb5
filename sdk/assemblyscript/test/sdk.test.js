// The SDK's own tests under node: the generated protocol on every catalog
// command (test/guest/zall.ts) and the hand-written parts (test/guest/unit.ts),
// through the harness plugin authors use. `npm test` builds the guests first.
// The repository's Go tests (examples/assemblyscript_test.go) add what needs
// Go: the wire format and exact comparison with the Go SDK.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Harness, stopped } from "../js/harness.js";

const build = (name) => new URL(`../build/${name}.wasm`, import.meta.url).pathname;
const catalog = JSON.parse(readFileSync(new URL("../../openim/internal/gen/catalog.json", import.meta.url), "utf8"));
const ADD = "callbackBeforeAddFriendCommand";
const add = (reqMsg, extra = {}) => ({ fromUserID: "a", toUserID: "b", reqMsg, ex: "", ...extra });

test("every command: the request decodes, the continue reply encodes", async () => {
  const h = await Harness.load(build("zall"));
  assert.equal(h.commands.length, 52);
  assert.equal(catalog.length, 52);
  for (const c of catalog) {
    const r = h.call(c.command, JSON.stringify(c.example));
    assert.equal(r.error, null, `${c.command}: ${r.error}`);
    assert.equal(r.logs.length, 1, c.command);
    const seen = JSON.parse(r.logs[0].message);
    for (const [k, v] of Object.entries(c.example)) assert.deepEqual(seen[k], v, `${c.command}.${k}`);
    assert.ok(r.reply !== null && !stopped(r.reply), `${c.command}: ${r.replyText}`);
    for (const k of ["actionCode", "errCode", "errMsg", "errDlt", "nextCode"]) assert.ok(k in r.reply, `${c.command} reply lacks ${k}`);
  }
});

test("JSON input is checked as Go's decoder checks it", async () => {
  const h = await Harness.load(build("zall"));
  const cmd = "callbackBeforeSendSingleMsgCommand";
  const bad = [
    ['{"contentType":"x"}', "want an integer for contentType"],
    ['{"contentType":1.5}', "want an integer for contentType"],
    ['{"contentType":2147483648}', "number out of range for contentType"],
    ['{"sendID":1}', "want a string"],
    ['{"sendID":"a"', "want '}'"],
    ['{"sendID":"a"} x', "data after the object"],
    ['{"sendID":"\\q"}', "invalid escape"],
  ];
  for (const [body, want] of bad) {
    const r = h.call(cmd, body);
    assert.ok(r.error !== null && r.error.startsWith(`plugin: handler for ${cmd} failed: json: `) && r.error.includes(want), `${body}: ${r.error}`);
  }
  // Unknown keys are skipped, keys match ignoring case, the last duplicate wins, null leaves a value zero.
  const r = h.call(cmd, '{"SENDID":"x","unknown":[1,{"a":null}],"sendID":"y","recvID":null,"contentType":null,"content":"\\u00e9\\ud83d\\ude00\\ud800","atUserList":["a",null]}');
  assert.equal(r.error, null);
  const seen = JSON.parse(r.logs[0].message);
  assert.equal(seen.sendID, "y");
  assert.equal(seen.recvID, "");
  assert.equal(seen.contentType, 0);
  assert.equal(seen.content, "é😀\ufffd");
  assert.deepEqual(seen.atUserList, ["a", ""]);
});

test("a command the plugin does not handle is refused with the list it does", async () => {
  const h = await Harness.load(build("unit"));
  const r = h.call("callbackAfterGroupMsgReadCommand", {});
  assert.equal(r.error, "plugin: no handler for command[callbackAfterGroupMsgReadCommand]; this plugin handles [callbackBeforeAddFriendCommand,callbackAfterAddFriendCommand]");
});

test("log lines: levels, attributes quoted as the Go SDK quotes them", async () => {
  const h = await Harness.load(build("unit"));
  const r = h.call(ADD, add("log"));
  assert.deepEqual(r.logs.map((l) => l.level), ["info", "debug", "warn", "error"]);
  assert.deepEqual(r.logs[0].attrs, { k: "v", empty: "", space: "a b", quote: 'say "hi"', eq: "a=b", ctl: "x\ny", uni: "é😀" });
  assert.equal(r.logs[0].message, "hello world");
});

test("config: set, unset, and changed between calls", async () => {
  const h = await Harness.load(build("unit"), { k: "v1" });
  assert.equal(h.call(ADD, add("config")).reply.errMsg, "v1");
  h.config.k = "a longer value than the first buffer holds: ".repeat(20);
  assert.equal(h.call(ADD, add("config")).reply.errMsg, h.config.k);
  delete h.config.k;
  assert.equal(h.call(ADD, add("config")).reply.errMsg, "<unset>");
});

test("Setting parses once per change and reports a bad value", async () => {
  const h = await Harness.load(build("unit"), { limit: "5" });
  let r = h.call(ADD, add("setting"));
  assert.deepEqual([r.reply.errCode, r.reply.errMsg], [1, "5"]);
  r = h.call(ADD, add("setting"));
  assert.deepEqual([r.reply.errCode, r.reply.errMsg], [1, "5"], "parsed again without a change");
  h.config.limit = "7";
  r = h.call(ADD, add("setting"));
  assert.deepEqual([r.reply.errCode, r.reply.errMsg], [2, "7"]);
  h.config.limit = "-1";
  r = h.call(ADD, add("setting"));
  assert.equal(r.error, 'plugin: handler for callbackBeforeAddFriendCommand failed: plugin: config[limit]: want a positive number, got "-1"');
  r = h.call(ADD, add("setting"));
  assert.ok(r.error !== null, "the error stays while the value does");
  delete h.config.limit;
  r = h.call(ADD, add("setting"));
  assert.deepEqual([r.reply.errCode, r.reply.errMsg], [4, "10"]);
});

test("failing, aborting, and the instance after an abort", async () => {
  const h = await Harness.load(build("unit"));
  assert.equal(h.call(ADD, add("fail")).error, "plugin: handler for callbackBeforeAddFriendCommand failed: backend down");
  const r = h.call(ADD, add("throw"));
  assert.equal(r.trap, true);
  assert.match(r.error, /^plugin aborted: boom at /);
  assert.equal(h.call(ADD, add("fields")).reply.errMsg, "a|b||callbackBeforeAddFriendCommand");
});

test("reply helpers and JSON encoding as encoding/json writes it", async () => {
  const h = await Harness.load(build("unit"));
  assert.equal(h.call(ADD, add("detail")).replyText, '{"actionCode":0,"errCode":7,"errMsg":"no","errDlt":"the detail","nextCode":1}');
  assert.equal(h.call(ADD, add("continue")).replyText, '{"actionCode":1,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}');
  assert.equal(h.call(ADD, add("escapes")).replyText,
    '{"actionCode":0,"errCode":2,"errMsg":"\\"\\u003ca\\u0026b\\u003e\\"\\\\\\u2028\\u2029\\u0001\\t\ufffdx😀","errDlt":"","nextCode":1}');
  assert.equal(h.call(ADD, add("other")).reply, null);
});

test("splitList, textmsg and Go's case mapping", async () => {
  const h = await Harness.load(build("unit"));
  assert.equal(h.call(ADD, add("split", { ex: " a, b ,,\tc ,  " })).reply.errMsg, "a|b|c");
  assert.equal(h.call(ADD, add("textmsg", { ex: '{"x":[1,{"y":null}],"Content":"hi <b>"}' })).reply.errMsg, '{"content":"HI \\u003cB\\u003e"}');
  assert.equal(h.call(ADD, add("textmsg", { ex: '{"content":1}' })).error,
    'plugin: handler for callbackBeforeAddFriendCommand failed: textmsg: invalid content at offset 11: "content" is not a string');
  assert.equal(h.call(ADD, add("textmsg", { ex: "{}" })).error, 'plugin: handler for callbackBeforeAddFriendCommand failed: textmsg: content has no "content" member');
  // Go's unicode.ToLower: İ -> i (simple mapping), K (Kelvin) -> k, Σ -> σ, ǅ -> ǆ.
  assert.equal(h.call(ADD, add("lower", { ex: "AÄİ\u212aΣǅЖ😀Ꭰ" })).reply.errMsg, "aäik\u03c3ǆж😀ꭰ");
});
