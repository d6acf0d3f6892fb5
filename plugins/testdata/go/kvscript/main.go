// Command kvscript is an SDK guest for the tests of the kv_* host functions:
// callbackBeforeSendSingleMsgCommand runs the script in the message's
// content, one operation per line, and replies with one result per line in
// errMsg ("ok ..." or "err <status> <message>"). Tokens are separated by
// spaces; a token "x:<hex>" is those bytes, "-" is empty.
//
//	get K | set K V TTL_MS | cas K V REV | del K | add K DELTA TTL_MS
//	list PREFIX CURSOR LIMIT | big K N (set N bytes, get them back)
//	gets K N (N gets, the first failure) | badptr (kv_get outside memory)
package main

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func main() {}

//go:wasmimport imhook kv_get
func rawKVGet(keyPtr, keyLen, bufPtr, bufCap, revPtr uint32) int32

//go:wasmimport imhook kv_add
func rawKVAdd(keyPtr, keyLen uint32, delta, ttlMs int64, resultPtr uint32) int32

//go:wasmimport imhook kv_list
func rawKVList(prefixPtr, prefixLen, cursorPtr, cursorLen uint32, limit int32, bufPtr, bufCap uint32) int32

var rawKey = []byte("k")

func init() {
	plugin.OnBeforeSendSingleMsg(func(c *plugin.Context, req *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
		var out []string
		for _, line := range strings.Split(req.Content, "\n") {
			if line != "" {
				out = append(out, run(c.KV(), strings.Fields(line)))
			}
		}
		return &openim.BeforeSendSingleMsgResp{CommonResp: openim.CommonResp{ErrMsg: strings.Join(out, "\n")}}, nil
	})
}

func tok(s string) string {
	if s == "-" {
		return ""
	}
	if h, ok := strings.CutPrefix(s, "x:"); ok {
		b, _ := hex.DecodeString(h)
		return string(b)
	}
	return s
}

func num(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func result(err error, ok string) string {
	if err == nil {
		return "ok " + ok
	}
	var e *plugin.HostError
	if errors.As(err, &e) {
		return "err " + e.Status.String() + " " + e.Msg
	}
	return "err ? " + err.Error()
}

func run(kv plugin.KV, f []string) string {
	arg := func(i int) string {
		if i < len(f) {
			return tok(f[i])
		}
		return ""
	}
	switch f[0] {
	case "get":
		v, rev, err := kv.GetRev(arg(1))
		return result(err, strconv.Quote(string(v))+" "+strconv.FormatUint(rev, 10))
	case "set":
		return result(kv.Set(arg(1), []byte(arg(2)), time.Duration(num(arg(3)))*time.Millisecond), "")
	case "cas":
		rev, err := kv.CompareAndSet(arg(1), []byte(arg(2)), uint64(num(arg(3))), 0)
		return result(err, strconv.FormatUint(rev, 10))
	case "del":
		return result(kv.Delete(arg(1)), "")
	case "add":
		n, err := kv.Add(arg(1), num(arg(2)), time.Duration(num(arg(3)))*time.Millisecond)
		return result(err, strconv.FormatInt(n, 10))
	case "list":
		keys, next, err := kv.List(arg(1), arg(2), int(num(arg(3))))
		q := make([]string, len(keys))
		for i, k := range keys {
			q[i] = strconv.Quote(k)
		}
		return result(err, "["+strings.Join(q, ",")+"] next="+strconv.Quote(next))
	case "big":
		n := int(num(arg(2)))
		if err := kv.Set(arg(1), []byte(strings.Repeat("v", n)), 0); err != nil {
			return result(err, "")
		}
		v, err := kv.Get(arg(1))
		return result(err, strconv.Itoa(len(v))+" "+strconv.FormatBool(strings.Count(string(v), "v") == n))
	case "gets":
		for i := range num(arg(2)) {
			if _, err := kv.Get(arg(1)); err != nil && !errors.Is(err, plugin.ErrNotFound) {
				return result(err, "") + " at " + strconv.FormatInt(i, 10)
			}
		}
		return "ok"
	case "badptr":
		return strconv.Itoa(int(rawKVGet(0x7ffffff0, 64, 0, 0, 0)))
	case "badrev": // after a successful add, its result outside memory
		return strconv.Itoa(int(rawKVAdd(uint32(uintptr(unsafe.Pointer(&rawKey[0]))), 1, 1, 0, 0x7ffffff0)))
	case "badbuf": // a list whose output "fits" a buffer outside memory
		return strconv.Itoa(int(rawKVList(0, 0, 0, 0, 10, 0x7fff0000, 0xffff)))
	}
	return "err ? unknown op " + f[0]
}
