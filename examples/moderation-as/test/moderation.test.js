// The moderation-as plugin's tests: the cases of the Go example's tests
// (examples/moderation/main_test.go), run on the built module in node's
// WebAssembly engine through the SDK's harness. `npm test` builds first.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Harness, stopped } from "@imhook/sdk-assemblyscript/harness";

const WASM = new URL("../build/moderation-as.wasm", import.meta.url).pathname;
const SINGLE = "callbackBeforeSendSingleMsgCommand";
const GROUP = "callbackBeforeSendGroupMsgCommand";
const MODIFY = "callbackBeforeMsgModifyCommand";

const text = (s) => JSON.stringify({ content: s });
const single = (contentType, content) => [SINGLE, { sendID: "user_a", recvID: "user_b", clientMsgID: "m1", sessionType: 1, contentType, content }];
const group = (contentType, content) => [GROUP, { sendID: "user_a", groupID: "3917201845", clientMsgID: "m1", sessionType: 3, contentType, content }];
const modify = (contentType, content) => [MODIFY, { sendID: "user_a", clientMsgID: "m1", sessionType: 1, contentType, content }];

/** What a callback came to, in a form to compare. */
async function run(config, [command, body]) {
  const h = await Harness.load(WASM, config);
  const r = h.call(command, body);
  if (r.error !== null) return { err: r.error };
  if (r.reply === null) return {};
  const o = { stopped: stopped(r.reply), code: r.reply.errCode, msg: r.reply.errMsg };
  if (r.reply.content != null) o.content = r.reply.content;
  return o;
}

const blocked = { stopped: true, code: 20001, msg: "message blocked by moderation" };
const words = { banned_words: "spam, Scam ,," };
const rewriting = { banned_words: "spam,scam,sc", mode: "rewrite" };
const continued = (content) => ({ stopped: false, code: 0, msg: "", content });

const cases = [
  ["single blocked", words, single(101, text("buy SPAM now")), blocked],
  ["group blocked", words, group(101, text("a scam!")), blocked],
  ["single clean", words, single(101, text("hello")), {}],
  ["group clean", words, group(101, text("hello")), {}],
  ["only text is checked", words, single(102, '{"sourcePicture":{"url":"spam.png"}}'), {}],
  ["no banned words configured", {}, single(101, text("spam")), {}],
  ["unicode case folding", { banned_words: "ÄRGER" }, group(101, text("kein ärger")), blocked],
  ["custom error", { banned_words: "spam", err_code: "30001", err_msg: "no spam here" }, single(101, text("spam")),
    { stopped: true, code: 30001, msg: "no spam here" }],
  ["empty err_msg means default", { banned_words: "spam", err_msg: "" }, single(101, text("spam")), blocked],
  ["block mode leaves modify alone", words, modify(101, text("spam")), {}],
  ["rewrite mode lets sends through", rewriting, single(101, text("spam")), {}],
  ["rewrite masks words", rewriting, modify(101, text("Spam and scams")), continued(text("**** and ****s"))],
  ["rewrite longest and overlapping", { banned_words: "ab,bcd", mode: "rewrite" }, modify(101, text("xabcdx")), continued(text("x****x"))],
  ["rewrite keeps escapes", rewriting, modify(101, text('"spam" <b>\n')), continued('{"content":"\\"****\\" \\u003cb\\u003e\\n"}')],
  ["rewrite custom mask", { banned_words: "spam", mode: "rewrite", mask: "♥" }, modify(101, text("spam!")), continued(text("♥♥♥♥!"))],
  ["rewrite clean", rewriting, modify(101, text("hello")), {}],
  ["invalid text content", words, single(101, "hello"),
    { err: "plugin: handler for callbackBeforeSendSingleMsgCommand failed: textmsg: invalid content at offset 0: found 'h', want '{'" }],
  ["invalid mode", { banned_words: "spam", mode: "delete" }, single(101, text("spam")),
    { err: 'plugin: handler for callbackBeforeSendSingleMsgCommand failed: plugin: config[mode]: want "block" or "rewrite", got "delete"' }],
  ["invalid err_code", { banned_words: "spam", err_code: "x" }, group(101, text("spam")),
    { err: 'plugin: handler for callbackBeforeSendGroupMsgCommand failed: plugin: config[err_code]: want a non-zero 32-bit integer, got "x"' }],
  ["zero err_code", { banned_words: "spam", err_code: "0" }, group(101, text("spam")),
    { err: 'plugin: handler for callbackBeforeSendGroupMsgCommand failed: plugin: config[err_code]: want a non-zero 32-bit integer, got "0"' }],
  ["err_code not read for clean messages", { banned_words: "spam", err_code: "x" }, group(101, text("ok")), {}],
  ["invalid mask", { banned_words: "spam", mode: "rewrite", mask: "**" }, modify(101, text("spam")),
    { err: 'plugin: handler for callbackBeforeMsgModifyCommand failed: plugin: config[mask]: want one character, got "**"' }],
];

for (const [name, config, callback, want] of cases) {
  test(name, async () => {
    assert.deepEqual(await run(config, callback), want);
  });
}

test("catalog example: the reply and the log line", async () => {
  // The body exactly as OpenIM's encoder writes it, trailing newline included.
  const body = '{"sendID":"user_a","callbackCommand":"callbackBeforeSendSingleMsgCommand","serverMsgID":"a3f1","clientMsgID":"5e8a","operationID":"op","senderPlatformID":1,"senderNickname":"Alice","sessionType":1,"msgFrom":100,"contentType":101,"status":1,"sendTime":1719812345678,"createTime":1719812345600,"content":"{\\"content\\":\\"free spam\\"}","seq":0,"atUserList":null,"faceURL":"https://example.com/a.png","ex":"","recvID":"user_b"}\n';
  const h = await Harness.load(WASM, { banned_words: "spam" });
  const r = h.call(SINGLE, body);
  assert.equal(r.replyText, '{"actionCode":0,"errCode":20001,"errMsg":"message blocked by moderation","errDlt":"","nextCode":1}');
  assert.deepEqual(r.logs, [{ level: "info", message: "message blocked", attrs: { send_id: "user_a", recv_id: "user_b", client_msg_id: "5e8a" } }]);
});

test("the plugin declares its three commands", async () => {
  const h = await Harness.load(WASM, {});
  assert.deepEqual(h.commands, [SINGLE, GROUP, MODIFY]);
});

test("a configuration change is seen by the next call", async () => {
  const h = await Harness.load(WASM, { banned_words: "spam" });
  assert.deepEqual(h.call(...single(101, text("ham"))), { reply: null, replyText: null, error: null, trap: false, retry: null, logs: [] });
  h.config.banned_words = "ham";
  assert.ok(stopped(h.call(...single(101, text("ham"))).reply));
  assert.equal(h.call(...single(101, text("spam"))).reply, null);
});

test("many calls on one instance stay correct (the arena is reset per call)", async () => {
  const h = await Harness.load(WASM, { banned_words: "spam", mode: "rewrite" });
  for (let i = 0; i < 2000; i++) {
    const r = h.call(...modify(101, text(`message ${i} with spam`)));
    assert.equal(r.reply.content, text(`message ${i} with ****`));
  }
  // Memory stays flat: the arena hands each call's memory back.
  assert.ok(h.exports.memory.buffer.byteLength <= 4 * 65536, `memory grew to ${h.exports.memory.buffer.byteLength} bytes`);
});
