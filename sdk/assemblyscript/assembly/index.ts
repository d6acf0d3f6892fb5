// @imhook/sdk-assemblyscript: write imhook plugins in AssemblyScript.
// docs/sdk-assemblyscript.md is the guide; this file is the public API.

export { Context, Delivery } from "./context";
export { HostError, Status, statusName } from "./hosterror";
export { KV, KVValue, KVRev, KVCount, KVList } from "./kv";
export { HTTP, HTTPRequest, HTTPResponse, Header, SecretValue } from "./http";
export { Setting, ParseError, splitList, trimSpace } from "./setting";
export { Request, CommonResp, stop, stopDetail, continueReply, stopped } from "./reply";
export { BoolPtr, Int32Ptr, Int64Ptr } from "./wire";
export { boolPtr, int32Ptr, int64Ptr } from "./encode";
export { Writer } from "./writer";
export { Level } from "./host";
export { commands } from "./dispatch";
import * as textmsg from "./textmsg";
export { textmsg };
import * as unicode from "./unicode";
export { unicode };
export * from "./openim/zopenim";
export * from "./openim/zhandlers";
