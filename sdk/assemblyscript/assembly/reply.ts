// The base classes of requests and replies, and the reply helpers.

import { Wire } from "./wire";
import { Writer } from "./writer";

/**
 * A request: a view over the callback's body in the wire format. Reading a
 * field decodes it from the body (a string field allocates a new string on
 * every read: read it once into a local).
 */
export abstract class Request {
  constructor(public w: Wire, public t: u32) {}

  /** The request as JSON, as OpenIM sent it (field order and encoding of Go's encoding/json). */
  abstract encode(j: Writer): void;

  /** The request as a JSON string, for logs and tests. */
  toJSON(): string {
    let j = new Writer(512);
    this.encode(j);
    return String.UTF8.decodeUnsafe(j.ptr, j.len);
  }
}

/**
 * The fields every reply has (OpenIM's CommonCallbackResp). OpenIM stops the
 * operation when actionCode is 0 and nextCode is 1 (a non-zero actionCode
 * means "ignore this reply"); errCode and errMsg then go to the client.
 */
export class CommonResp {
  actionCode: i32 = 0;
  errCode: i32 = 0;
  errMsg: string = "";
  errDlt: string = "";
  nextCode: i32 = 0;

  /** Writes the common fields after '{'. */
  encodeCommon(j: Writer): void {
    j.ascii('{"actionCode":');
    j.int(this.actionCode);
    j.ascii(',"errCode":');
    j.int(this.errCode);
    j.ascii(',"errMsg":');
    j.str(this.errMsg);
    j.ascii(',"errDlt":');
    j.str(this.errDlt);
    j.ascii(',"nextCode":');
    j.int(this.nextCode);
  }

  /** Writes the reply as JSON (generated replies add their fields). */
  encode(j: Writer): void {
    this.encodeCommon(j);
    j.byte(0x7d);
  }
}

/** A reply of type R that stops the operation: OpenIM refuses it and hands code and msg to the client. */
export function stop<R extends CommonResp>(code: i32, msg: string): R {
  return stopDetail<R>(code, msg, "");
}

/** stop with OpenIM's errDlt as well. */
export function stopDetail<R extends CommonResp>(code: i32, msg: string, detail: string): R {
  let r = instantiate<R>();
  r.errCode = code;
  r.errMsg = msg;
  r.errDlt = detail;
  r.nextCode = 1;
  return r;
}

/**
 * The neutral reply of type R to req, to set fields on: for most commands an
 * empty reply; for callbackBeforeSetGroupInfoCommand and
 * callbackBeforeSetGroupInfoExCommand, whose reply OpenIM copies group fields
 * from unconditionally, the request's values of those fields.
 */
export function continueReply<R extends CommonResp>(req: Request): R {
  let r = instantiate<R>();
  // Only the replies with fields OpenIM copies unconditionally have echoFrom
  // (generated); a compile-time test, so other replies carry no such code.
  if (isDefined(r.echoFrom)) r.echoFrom(req);
  return r;
}

/** Whether a reply stops the operation by OpenIM's rule (actionCode 0 and nextCode 1). */
export function stopped(r: CommonResp | null): bool {
  return r !== null && r.actionCode == 0 && r.nextCode == 1;
}
