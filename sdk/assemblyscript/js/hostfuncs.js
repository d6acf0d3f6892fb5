// The harness's side of the host functions that can fail (docs/abi.md,
// "Results and errors"): the tenant's state in memory (MemoryKV, with
// imhook's semantics: revisions, TTLs, counters, pages), out-calls answered
// by a function the test sets, secrets, and queued deliveries. Statuses and
// messages follow imhook's, so a plugin's error handling is tested as it
// will run.

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Host function statuses (abi.Status). */
export const Status = { NOT_FOUND: -1, DENIED: -2, QUOTA: -3, INVALID: -4, UNAVAILABLE: -5, TIMEOUT: -6, CONFLICT: -7 };

/** A host function's failure: a status and its message. */
export class HostFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const byteOrder = (a, b) => Buffer.compare(Buffer.from(a, "latin1"), Buffer.from(b, "latin1"));

/**
 * A tenant's key-value state in memory. Keys are compared as bytes (held as
 * latin1 strings of their UTF-8); values are Uint8Arrays. now() is the clock
 * of TTLs: set it to test expiry without waiting.
 */
export class MemoryKV {
  constructor() {
    this.entries = new Map(); // key -> {value, rev, expires}
    this.rev = 0;
    this.now = () => Date.now();
  }

  #live(key) {
    const e = this.entries.get(key);
    if (e && e.expires && e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  #put(key, value, ttlMs, keepExpiry) {
    if (ttlMs < 0) throw new HostFailure(Status.INVALID, `negative ttl ${ttlMs} ms`);
    const old = this.#live(key);
    const expires = keepExpiry && old ? old.expires : ttlMs > 0 ? this.now() + Number(ttlMs) : 0;
    this.entries.set(key, { value, rev: ++this.rev, expires });
    return this.rev;
  }

  get(key) {
    const e = this.#live(key);
    if (!e) throw new HostFailure(Status.NOT_FOUND, "key not found");
    return e;
  }

  set(key, value, ttlMs) {
    return this.#put(key, value, ttlMs, false);
  }

  compareAndSet(key, value, rev, ttlMs) {
    const e = this.#live(key);
    if ((e ? BigInt(e.rev) : 0n) !== rev) throw new HostFailure(Status.CONFLICT, `revision ${rev} is not the key's (another write came first): read it again`);
    return this.#put(key, value, ttlMs, false);
  }

  delete(key) {
    if (!this.#live(key)) throw new HostFailure(Status.NOT_FOUND, "key not found");
    this.entries.delete(key);
  }

  add(key, delta, ttlMs) {
    const e = this.#live(key);
    let n = 0n;
    if (e) {
      const s = dec.decode(e.value);
      if (!/^-?[0-9]+$/.test(s)) throw new HostFailure(Status.INVALID, "the value is not a counter (decimal integer text)");
      n = BigInt(s);
    }
    n = BigInt.asIntN(64, n + delta);
    this.#put(key, enc.encode(n.toString()), ttlMs, true);
    return n;
  }

  list(prefix, cursor, limit) {
    const keys = [...this.entries.keys()].filter((k) => k.startsWith(prefix) && byteOrder(k, cursor) > 0 && this.#live(k)).sort(byteOrder);
    const page = keys.slice(0, limit);
    return { keys: page, next: keys.length > limit ? page.at(-1) : "" };
  }
}

const u32 = (n) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
};
const prefixed = (b) => [u32(b.length), b];

/** Decodes an out-call request (sdk/abi/http.go's encoding). */
function parseRequest(b) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 0;
  const bytes = () => {
    if (i + 4 > b.length) throw new HostFailure(Status.INVALID, "malformed request encoding: truncated");
    const n = v.getUint32(i, true);
    i += 4;
    if (n > b.length - i) throw new HostFailure(Status.INVALID, "malformed request encoding: a length runs past the end");
    i += n;
    return b.subarray(i - n, i);
  };
  const method = dec.decode(bytes());
  const url = dec.decode(bytes());
  if (i + 4 > b.length) throw new HostFailure(Status.INVALID, "malformed request encoding: truncated");
  const count = v.getUint32(i, true);
  i += 4;
  const headers = [];
  for (let k = 0; k < count; k++) headers.push([dec.decode(bytes()), dec.decode(bytes())]);
  const body = bytes().slice();
  return { method, url, headers, body, text: () => dec.decode(body) };
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * The host functions beyond log and config, for harness h: h.kv (a
 * MemoryKV), h.http (a function (request) => response, or null),
 * h.secrets, h.delivery; per call, h.hostState holds the last error, the
 * kept output, the operations counted and the retry asked.
 */
export function hostFunctions(h, mem) {
  const s = () => h.hostState;
  const read = (p, n) => mem().subarray(p, p + n);
  const readKey = (p, n) => Buffer.from(read(p, n)).toString("latin1");
  const fail = (fn, e) => {
    if (!(e instanceof HostFailure)) throw e;
    s().lastError = enc.encode(`${fn}: ${e.message}`);
    s().kept = null;
    return e.status;
  };
  const output = (out, bp, bc) => {
    s().kept = null;
    if (out.length <= bc) mem().set(out, bp);
    else s().kept = out;
    return out.length;
  };
  const kv = (fn, op) => {
    try {
      if (!h.kv) throw new HostFailure(Status.UNAVAILABLE, "the harness has no state: set h.kv = new MemoryKV()");
      if (++s().kvOps > h.maxKVOps) throw new HostFailure(Status.QUOTA, `${s().kvOps} state operations in one call > max_kv_ops[${h.maxKVOps}]`);
      return op(h.kv);
    } catch (e) {
      return fail(fn, e);
    }
  };
  const word = (p, v) => new DataView(mem().buffer).setBigUint64(p, BigInt.asUintN(64, BigInt(v)), true);
  return {
    last_error: (bp, bc) => {
      const m = s().lastError;
      if (m.length <= bc) mem().set(m, bp);
      return m.length;
    },
    take_result: (bp, bc) => {
      const k = s().kept;
      if (k === null) return Status.NOT_FOUND;
      if (k.length > bc) return Status.INVALID;
      mem().set(k, bp);
      s().kept = null;
      return k.length;
    },
    kv_get: (kp, kl, bp, bc, rp) =>
      kv("kv_get", (store) => {
        const e = store.get(readKey(kp, kl));
        if (rp) word(rp, e.rev);
        return output(e.value, bp, bc);
      }),
    kv_set: (kp, kl, vp, vl, ttl) => kv("kv_set", (store) => (store.set(readKey(kp, kl), read(vp, vl).slice(), ttl), 0)),
    kv_cas: (kp, kl, vp, vl, ttl, rev, rp) =>
      kv("kv_cas", (store) => {
        const r = store.compareAndSet(readKey(kp, kl), read(vp, vl).slice(), BigInt.asUintN(64, rev), ttl);
        if (rp) word(rp, r);
        return 0;
      }),
    kv_delete: (kp, kl) => kv("kv_delete", (store) => (store.delete(readKey(kp, kl)), 0)),
    kv_add: (kp, kl, delta, ttl, rp) =>
      kv("kv_add", (store) => {
        const n = store.add(readKey(kp, kl), delta, ttl);
        if (rp) word(rp, n);
        return 0;
      }),
    kv_list: (pp, pl, cp, cl, limit, bp, bc) =>
      kv("kv_list", (store) => {
        const page = store.list(readKey(pp, pl), readKey(cp, cl), limit < 1 || limit > 1000 ? 1000 : limit);
        const items = [page.next, ...page.keys].map((k) => prefixed(Buffer.from(k, "latin1")));
        return output(concat(items.flat()), bp, bc);
      }),
    http: (rp, rl, bp, bc) => {
      try {
        const req = parseRequest(read(rp, rl));
        if (!METHODS.has(req.method)) throw new HostFailure(Status.INVALID, `method ${req.method} is not allowed: use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS`);
        if (!/^https?:\/\/[^@/]+/.test(req.url)) throw new HostFailure(Status.INVALID, `${req.url} is not an absolute http or https URL without user:password@`);
        if (++s().outCalls > h.maxOutCalls) throw new HostFailure(Status.QUOTA, `${s().outCalls} out-calls in one call > max_out_calls[${h.maxOutCalls}]`);
        req.headers = req.headers.map(([k, v]) => [
          k,
          v.replace(/\{\{secret:([A-Za-z0-9_.-]+)\}\}/g, (_, name) => {
            if (!Object.hasOwn(h.secrets, name)) throw new HostFailure(Status.INVALID, `header ${k} names secret ${name}, which is not set`);
            return h.secrets[name];
          }),
        ]);
        if (typeof h.http !== "function") throw new HostFailure(Status.UNAVAILABLE, "the harness makes no out-calls: set h.http to a function (request) => response");
        const r = h.http(req);
        if (r instanceof HostFailure) throw r;
        const body = typeof r.body === "string" ? enc.encode(r.body) : (r.body ?? new Uint8Array(0));
        const headers = Object.entries(r.headers ?? {}).flatMap(([k, v]) => [...prefixed(enc.encode(k)), ...prefixed(enc.encode(String(v)))]);
        return output(concat([u32(r.status ?? 200), u32(Object.keys(r.headers ?? {}).length), ...headers, ...prefixed(body)]), bp, bc);
      } catch (e) {
        return fail("http", e);
      }
    },
    secret: (np, nl, bp, bc) => {
      const name = dec.decode(read(np, nl));
      if (!Object.hasOwn(h.secrets, name)) return fail("secret", new HostFailure(Status.NOT_FOUND, `no secret named ${name}`));
      return output(enc.encode(h.secrets[name]), bp, bc);
    },
    delivery: (bp, bc) => {
      const d = h.delivery;
      if (!d) return fail("delivery", new HostFailure(Status.NOT_FOUND, "not a queued delivery"));
      return output(concat([u32(d.attempt), enc.encode(d.id)]), bp, bc);
    },
    retry: (delay) => {
      if (!h.delivery) return Status.NOT_FOUND;
      if (delay < 0n) return Status.INVALID;
      s().retry = Number(delay);
      return 0;
    },
  };
}
