// Out-calls: HTTP requests to the tenant's own services, and its secrets
// (docs/abi.md, "Out-calls"; the Go SDK's HTTPClient). They need the grant
// "http", and a destination in the tenant's egress_allow list. Each
// out-call waits for its response within the callback's deadline and the
// tenant's out_call_timeout; a call makes at most max_out_calls of them.
// Redirects are not followed: a 3xx is a response like any other, and so
// are 404 and 500: err is for requests that got no response.

import { hostHTTP, hostSecret } from "./host";
import { bytesOf, failure, HostError, Status, takeOutput, u32At } from "./hosterror";
import { Writer } from "./writer";

/** Whether two header names are equal ignoring ASCII case. */
function equalFold(a: string, b: string): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x == y) continue;
    let lx = x | 0x20;
    if (lx != (y | 0x20) || lx < 0x61 || lx > 0x7a) return false;
  }
  return true;
}

/**
 * Header fields in order, as name and value pairs; a name may repeat and
 * compares without regard to case. A value may name a tenant secret,
 * "Bearer {{secret:api_token}}": imhook substitutes it, so the plugin never
 * holds the credential.
 */
export class Header {
  names: Array<string> = [];
  values: Array<string> = [];

  get length(): i32 {
    return this.names.length;
  }

  /** Appends a field. */
  add(name: string, value: string): void {
    this.names.push(name);
    this.values.push(value);
  }

  /** Replaces the fields named name with one of value. */
  set(name: string, value: string): void {
    this.del(name);
    this.add(name, value);
  }

  /** Removes the fields named name. */
  del(name: string): void {
    let j = 0;
    for (let i = 0; i < this.names.length; i++) {
      if (equalFold(this.names[i], name)) continue;
      this.names[j] = this.names[i];
      this.values[j] = this.values[i];
      j++;
    }
    this.names.length = j;
    this.values.length = j;
  }

  /** The value of the first field named name, or "". */
  get(name: string): string {
    for (let i = 0; i < this.names.length; i++) {
      if (equalFold(this.names[i], name)) return this.values[i];
    }
    return "";
  }

  /** The values of the fields named name, in order. */
  getAll(name: string): Array<string> {
    let out = new Array<string>();
    for (let i = 0; i < this.names.length; i++) {
      if (equalFold(this.names[i], name)) out.push(this.values[i]);
    }
    return out;
  }
}

/** An out-call. */
export class HTTPRequest {
  header: Header = new Header();
  body: Uint8Array | null = null;

  constructor(
    public method: string, // GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS
    public url: string, // absolute http or https URL, without user:password@
  ) {}
}

/** An out-call's response, or err when the request got none. */
export class HTTPResponse {
  status: i32 = 0;
  header: Header = new Header();
  body: Uint8Array = new Uint8Array(0);
  /**
   * Why the request got no response: Status.DENIED (not granted, not in
   * egress_allow, an address the operator refuses), QUOTA (max_out_calls,
   * max_out_concurrency, a body over its cap), INVALID (a bad method, URL or
   * header), UNAVAILABLE (the connection or TLS failed; dry runs make no
   * out-calls), TIMEOUT. Its message says which and what to do.
   */
  err: HostError | null = null;

  /** The body as UTF-8 text. */
  text(): string {
    return String.UTF8.decodeUnsafe(this.body.dataStart, this.body.byteLength);
  }
}

/** The secret named name, or err (Status.NOT_FOUND when it is not set). */
export class SecretValue {
  value: string = "";
  err: HostError | null = null;
}

// FIRST is the buffer a response is first asked into; a larger one goes
// through take_result.
const FIRST: usize = 4096;

function putU32(w: Writer, v: u32): void {
  w.grow(4);
  store<u32>(w.ptr + w.len, v);
  w.len += 4;
}

function putString(w: Writer, s: string): void {
  let mark = w.len;
  putU32(w, 0);
  w.utf8(s);
  store<u32>(w.ptr + mark, <u32>(w.len - mark - 4));
}

/** A reader of the response encoding; bad is set at the first overrun. */
class Reader {
  i: i32 = 0;
  bad: bool = false;
  constructor(public b: Uint8Array) {}

  u32(): u32 {
    if (this.i + 4 > this.b.length) {
      this.bad = true;
      return 0;
    }
    let v = u32At(this.b, this.i);
    this.i += 4;
    return v;
  }

  /** The next length-prefixed bytes' offset in b, and their length in n. */
  span(): i32 {
    let n = this.u32();
    if (this.bad || <u64>n > <u64>(this.b.length - this.i)) {
      this.bad = true;
      this.n = 0;
      return 0;
    }
    let at = this.i;
    this.i += <i32>n;
    this.n = <i32>n;
    return at;
  }
  n: i32 = 0;

  string(): string {
    let at = this.span();
    return String.UTF8.decodeUnsafe(this.b.dataStart + <usize>at, this.n);
  }
}

export class HTTP {
  /** Sends req and returns its response (any HTTP status), or one whose err says why there is none. */
  do(req: HTTPRequest): HTTPResponse {
    let w = new Writer(256);
    putString(w, req.method.length > 0 ? req.method : "GET");
    putString(w, req.url);
    let h = req.header;
    putU32(w, <u32>h.length);
    for (let i = 0; i < h.length; i++) {
      putString(w, h.names[i]);
      putString(w, h.values[i]);
    }
    let body = req.body;
    if (body === null) putU32(w, 0);
    else {
      putU32(w, <u32>body.byteLength);
      w.bytes(body.dataStart, body.byteLength);
    }
    let buf = heap.alloc(FIRST);
    let resp = new HTTPResponse();
    let out = takeOutput(hostHTTP(w.ptr, w.len, buf, FIRST), buf, FIRST);
    if (out === null) {
      resp.err = failure;
      return resp;
    }
    let r = new Reader(out);
    resp.status = <i32>r.u32();
    let n = r.u32();
    for (let i: u32 = 0; i < n && !r.bad; i++) {
      let name = r.string();
      resp.header.add(name, r.string());
    }
    let at = r.span();
    if (r.bad || r.i != out.length) {
      resp.err = new HostError(Status.INVALID, "http: malformed response encoding");
      return resp;
    }
    resp.body = out.subarray(at, at + r.n);
    return resp;
  }

  /** Sends a GET request to url. */
  get(url: string): HTTPResponse {
    return this.do(new HTTPRequest("GET", url));
  }

  /** Sends a POST request to url with body (a string, Uint8Array or ArrayBuffer) of contentType. */
  post<T>(url: string, contentType: string, body: T): HTTPResponse {
    let req = new HTTPRequest("POST", url);
    req.header.add("Content-Type", contentType);
    req.body = bytesOf<T>(body);
    return this.do(req);
  }
}

/** The tenant's secret named name (grant "http"). To send a secret in a header, prefer "{{secret:NAME}}" in the value. */
export function secret(name: string): SecretValue {
  let k = String.UTF8.encode(name);
  let cap: usize = 256;
  let buf = heap.alloc(cap);
  let r = new SecretValue();
  let out = takeOutput(hostSecret(changetype<usize>(k), k.byteLength, buf, cap), buf, cap);
  if (out === null) r.err = failure;
  else r.value = String.UTF8.decodeUnsafe(out.dataStart, out.byteLength);
  return r;
}
