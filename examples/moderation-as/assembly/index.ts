// moderation-as: the moderation example (examples/moderation) in
// AssemblyScript. It keeps banned words out of text messages, in single and
// group chats.
//
// In "block" mode it refuses a message that contains a banned word in
// callbackBeforeSendSingleMsgCommand and callbackBeforeSendGroupMsgCommand;
// the sender gets the configured error. In "rewrite" mode it lets the message
// through and masks the words instead, in callbackBeforeMsgModifyCommand: the
// before-send replies of OpenIM carry only the common fields, so changing a
// message's content is only possible through the message-modify reply.
//
// See README.md for the configuration and examples.

// The ABI v1 exports (imhook_handle, ...): one line in every plugin.
export * from "@imhook/sdk-assemblyscript/assembly/exports";

import {
  Context, Setting, splitList, stop, continueReply, textmsg,
  onBeforeSendSingleMsg, onBeforeSendGroupMsg, onBeforeMsgModify,
  BeforeSendSingleMsgReq, BeforeSendSingleMsgResp,
  BeforeSendGroupMsgReq, BeforeSendGroupMsgResp,
  BeforeMsgModifyReq, BeforeMsgModifyResp,
  ParseError,
} from "@imhook/sdk-assemblyscript";
import {
  Matcher, parseMode, parseErrCode, parseErrMsg, parseMask,
  KEY_BANNED_WORDS, KEY_MODE, KEY_ERR_CODE, KEY_ERR_MSG, KEY_MASK,
} from "./rules";

// The tenant's configuration, parsed when it changes.
function parseBanned(raw: string, set: bool, e: ParseError): Matcher {
  return new Matcher(splitList(raw));
}
const banned = new Setting<Matcher>(KEY_BANNED_WORDS, parseBanned);
const rewrite = new Setting<bool>(KEY_MODE, parseMode);
const errCode = new Setting<i32>(KEY_ERR_CODE, parseErrCode);
const errMsg = new Setting<string>(KEY_ERR_MSG, parseErrMsg);
const mask = new Setting<i32>(KEY_MASK, parseMask);

// The text being checked, set by textToCheck.
let text = "";

function beforeSendSingle(c: Context, req: BeforeSendSingleMsgReq): BeforeSendSingleMsgResp | null {
  if (!blocked(c, req)) return null;
  let r = refusal<BeforeSendSingleMsgResp>(c);
  if (r !== null) c.info("message blocked", ["send_id", req.sendID, "recv_id", req.recvID, "client_msg_id", req.clientMsgID]);
  return r;
}

function beforeSendGroup(c: Context, req: BeforeSendGroupMsgReq): BeforeSendGroupMsgResp | null {
  if (!blocked(c, req)) return null;
  let r = refusal<BeforeSendGroupMsgResp>(c);
  if (r !== null) c.info("message blocked", ["send_id", req.sendID, "group_id", req.groupID, "client_msg_id", req.clientMsgID]);
  return r;
}

/** Whether a message must be refused in block mode: its text has a banned word. */
function blocked<Q>(c: Context, req: Q): bool {
  let m = textToCheck(c, req, false);
  return m !== null && m.contains(text);
}

/** The stop reply of block mode, or null when the configuration is invalid (the call then fails). */
function refusal<R>(c: Context): R | null {
  let code = errCode.get(c);
  if (c.failed) return null;
  let msg = errMsg.get(c);
  if (c.failed) return null;
  return stop<R>(code, msg);
}

function beforeModify(c: Context, req: BeforeMsgModifyReq): BeforeMsgModifyResp | null {
  let m = textToCheck(c, req, true);
  if (m === null) return null;
  let r = mask.get(c);
  if (c.failed) return null;
  let masked = m.mask(text, r);
  if (masked === null) return null;
  c.info("message rewritten", ["send_id", req.sendID, "client_msg_id", req.clientMsgID]);
  let resp = continueReply<BeforeMsgModifyResp>(req);
  resp.content = textmsg.encode(masked);
  return resp;
}

/**
 * The matcher when a message must be checked by the callback of the mode
 * given by inRewrite (its text then in `text`), null when there is nothing to
 * do or the call failed. The order of the checks is the Go example's, so that
 * an invalid setting fails exactly the same calls.
 */
function textToCheck<Q>(c: Context, req: Q, inRewrite: bool): Matcher | null {
  // Q is one of the three message requests; each has contentType and content.
  // @ts-ignore: resolved per request type when the generic is instantiated
  if (req.contentType != textmsg.CONTENT_TYPE) return null; // only text messages are moderated
  let isRewrite = rewrite.get(c);
  if (c.failed || isRewrite != inRewrite) return null;
  let m = banned.get(c);
  if (c.failed || m.empty) return null;
  // @ts-ignore: see above
  let p = textmsg.parse(req.content); // the only string of the request decoded for a clean message
  let err = p.error;
  if (err !== null) {
    // A text message whose content is not a text element: the tenant's
    // failure policy decides whether it goes through.
    c.fail(err);
    return null;
  }
  text = p.text;
  return m;
}

// Handlers are registered by top-level code, which runs when imhook starts an
// instance (_initialize); it comes last, after the Settings it uses.
onBeforeSendSingleMsg(beforeSendSingle);
onBeforeSendGroupMsg(beforeSendGroup);
onBeforeMsgModify(beforeModify);
