// A test guest for the SDK's own tests (test/sdk.test.js): one handler whose
// behaviour the request's reqMsg selects, to exercise the SDK's parts.

import {
  Context, Setting, ParseError, stop, stopDetail, continueReply, splitList, textmsg, unicode,
  onBeforeAddFriend, onAfterAddFriend, BeforeAddFriendReq, BeforeAddFriendResp, AfterAddFriendReq, AfterAddFriendResp,
} from "../../assembly/index";
export * from "../../assembly/exports";

let parses = 0;
function parseLimit(raw: string, set: bool, e: ParseError): i32 {
  parses++;
  if (!set) return 10;
  let v = I32.parseInt(raw);
  if (v <= 0) e.fail("want a positive number, got \"" + raw + "\"");
  return v;
}
const limit = new Setting<i32>("limit", parseLimit);

function beforeAddFriend(c: Context, req: BeforeAddFriendReq): BeforeAddFriendResp | null {
  let m = req.reqMsg;
  if (m == "log") {
    c.info("hello world", ["k", "v", "empty", "", "space", "a b", "quote", 'say "hi"', "eq", "a=b", "ctl", "x\ny", "uni", "é😀"]);
    c.debug("d");
    c.warn("w");
    c.error("e");
    return null;
  }
  if (m == "config") {
    let v = c.config("k");
    return stop<BeforeAddFriendResp>(1, v === null ? "<unset>" : v);
  }
  if (m == "setting") {
    let v = limit.get(c);
    if (c.failed) return null;
    return stop<BeforeAddFriendResp>(parses, v.toString());
  }
  if (m == "fail") {
    c.fail("backend down");
    return null;
  }
  if (m == "throw") throw new Error("boom");
  if (m == "detail") return stopDetail<BeforeAddFriendResp>(7, "no", "the detail");
  if (m == "escapes") return stop<BeforeAddFriendResp>(2, "\"<a&b>\"\\\u2028\u2029\u0001\t\ud800x😀");
  if (m == "continue") {
    let r = continueReply<BeforeAddFriendResp>(req);
    r.actionCode = 1;
    return r;
  }
  if (m == "split") return stop<BeforeAddFriendResp>(3, splitList(req.ex).join("|"));
  if (m == "textmsg") {
    let p = textmsg.parse(req.ex);
    let err = p.error;
    if (err !== null) {
      c.fail(err);
      return null;
    }
    return stop<BeforeAddFriendResp>(4, textmsg.encode(p.text.toUpperCase()));
  }
  if (m == "lower") {
    let s = req.ex;
    let out = new Array<i32>();
    for (let i = 0; i < s.length; i++) {
      let cp = s.codePointAt(i);
      if (cp > 0xffff) i++;
      out.push(unicode.toLower(cp));
    }
    let parts = new Array<string>();
    for (let i = 0; i < out.length; i++) parts.push(String.fromCodePoint(out[i]));
    return stop<BeforeAddFriendResp>(5, parts.join(""));
  }
  if (m == "fields") return stop<BeforeAddFriendResp>(6, req.fromUserID + "|" + req.toUserID + "|" + req.ex + "|" + req.callbackCommand);
  return null;
}

function afterAddFriend(c: Context, req: AfterAddFriendReq): AfterAddFriendResp | null {
  return null;
}

onBeforeAddFriend(beforeAddFriend);
onAfterAddFriend(afterAddFriend);
