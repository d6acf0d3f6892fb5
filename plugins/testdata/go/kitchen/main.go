// Command kitchen is a raw ABI v1 guest written in Go without the SDK, for the
// sandbox tests and benchmarks. It is built by the tests with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared
//
// For callbackAfterGroupMsgReadCommand it decodes the seed request with a
// minimal hand-written parser and replies with the common fields, nextCode 1
// when unreadMsgNum is over the "max_unread" config value. Other behaviours,
// most of them hostile, are selected by a body starting with '!':
//
//	!panic       Go panic                       (KindTrap, stderr has the message)
//	!oom         allocate until memory runs out (KindMemory)
//	!huge        a 2 MiB reply                  (KindOutputSize)
//	!open        try to open /etc/passwd        (KindGuestError with the os error)
//	!sleep       time.Sleep(10s)                (fake clock: returns at once)
//	!nap MS      time.Sleep(MS milliseconds), then reply "napped"
//	!log         log in a loop                  (KindLogBytes)
//	!config KEY  reply with config value KEY    ("<unset>" when missing)
//	!clock       reply with wall time, monotonic elapsed time and random bytes
//	!echo        reply with the rest of the body
//	!spin        loop forever                   (KindCPUTime)
//	!recurse     naive fib(60), deep and long   (KindCPUTime)
//	!hostloop    call config in a loop forever  (KindCPUTime: host calls are billed)
//	!fib N       reply with fib(N), computed naively
package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"time"
	"unsafe"
)

func main() {}

//go:wasmimport imhook log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

//go:wasmimport imhook config
func hostConfig(keyPtr unsafe.Pointer, keyLen uint32, bufPtr unsafe.Pointer, bufCap uint32) int32

var (
	input    []byte // the host writes command+body here
	reply    []byte // kept reachable until the next call
	commands = []byte("callbackAfterGroupMsgReadCommand,callbackBeforeSendSingleMsgCommand")
	sink     [][]byte
)

func pack(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

//go:wasmexport imhook_abi_version
func abiVersion() int32 { return 1 }

//go:wasmexport imhook_commands
func imhookCommands() uint64 { return pack(commands) }

//go:wasmexport imhook_buffer
func imhookBuffer(n int32) uint64 {
	if int(n) > cap(input) {
		input = make([]byte, n)
	}
	input = input[:cap(input)]
	return pack(input)
}

//go:wasmexport imhook_handle
func imhookHandle(cmdLen, bodyLen int32) uint64 {
	body := input[cmdLen : cmdLen+bodyLen]
	if len(body) > 0 && body[0] == '!' {
		return hostile(body[1:])
	}
	return seed(body)
}

func fail(msg string) uint64 {
	reply = append(reply[:0], msg...)
	return 1<<63 | pack(reply)
}

func config(key string) (string, bool) {
	var buf [64]byte
	k := []byte(key)
	n := hostConfig(unsafe.Pointer(&k[0]), uint32(len(k)), unsafe.Pointer(&buf[0]), uint32(len(buf)))
	if n < 0 {
		return "", false
	}
	if int(n) <= len(buf) {
		return string(buf[:n]), true
	}
	big := make([]byte, n)
	hostConfig(unsafe.Pointer(&k[0]), uint32(len(k)), unsafe.Pointer(&big[0]), uint32(len(big)))
	return string(big), true
}

func log(level int32, msg string) {
	b := []byte(msg)
	hostLog(level, unsafe.Pointer(&b[0]), uint32(len(b)))
}

func hostile(cmd []byte) uint64 {
	verb, arg := string(cmd), ""
	for k, c := range cmd {
		if c == ' ' {
			verb, arg = string(cmd[:k]), string(cmd[k+1:])
			break
		}
	}
	switch verb {
	case "panic":
		panic("kitchen: boom")
	case "spin":
		for n := uint64(0); ; n++ {
			spinSink = n
		}
	case "recurse":
		spinSink = fib(60)
	case "hostloop":
		for {
			config("k")
		}
	case "fib":
		n, _ := strconv.Atoi(arg)
		reply = strconv.AppendUint(reply[:0], fib(n), 10)
		return pack(reply)
	case "oom":
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	case "huge":
		reply = make([]byte, 2<<20)
		return pack(reply)
	case "open":
		f, err := os.Open("/etc/passwd")
		if err != nil {
			return fail("open: " + err.Error())
		}
		f.Close()
		reply = append(reply[:0], "opened"...)
		return pack(reply)
	case "sleep":
		start := time.Now()
		time.Sleep(10 * time.Second)
		reply = strconv.AppendInt(reply[:0], int64(time.Since(start)), 10)
		return pack(reply)
	case "nap":
		ms, _ := strconv.Atoi(arg)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		reply = append(reply[:0], "napped"...)
		return pack(reply)
	case "log":
		for {
			log(0, "flooding the host log")
		}
	case "config":
		v, ok := config(arg)
		if !ok {
			v = "<unset>"
		}
		reply = append(reply[:0], v...)
		return pack(reply)
	case "clock":
		var r [8]byte
		rand.Read(r[:])
		start := time.Now()
		reply = append(reply[:0], `{"wall":`...)
		reply = strconv.AppendInt(reply, time.Now().Unix(), 10)
		reply = append(reply, `,"rand":"`...)
		reply = append(reply, hex.EncodeToString(r[:])...)
		reply = append(reply, `","mono":`...)
		reply = strconv.AppendInt(reply, int64(time.Since(start)), 10)
		reply = append(reply, '}')
		return pack(reply)
	case "echo":
		reply = append(reply[:0], arg...)
		return pack(reply)
	}
	return fail("kitchen: unknown verb " + verb)
}

// seed answers callbackAfterGroupMsgReadCommand:
// {"callbackCommand":"...","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}
func seed(body []byte) uint64 {
	sendID := stringField(body, `"sendID"`)
	unread := intField(body, `"unreadMsgNum"`)
	if sendID == nil {
		return fail("seed: no sendID")
	}
	next := byte('0')
	if unread > 1000 {
		next = '1'
	}
	reply = append(reply[:0], `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":`...)
	reply = append(reply, next, '}')
	return pack(reply)
}

// find returns the index just after key and the colon, or -1.
func find(b []byte, key string) int {
	for k := 0; k+len(key) <= len(b); k++ {
		if string(b[k:k+len(key)]) == key {
			k += len(key)
			for k < len(b) && (b[k] == ' ' || b[k] == ':') {
				k++
			}
			return k
		}
	}
	return -1
}

func stringField(b []byte, key string) []byte {
	k := find(b, key)
	if k < 0 || k >= len(b) || b[k] != '"' {
		return nil
	}
	for e := k + 1; e < len(b); e++ {
		if b[e] == '"' {
			return b[k+1 : e]
		}
	}
	return nil
}

func intField(b []byte, key string) int64 {
	k := find(b, key)
	var n int64
	for k >= 0 && k < len(b) && '0' <= b[k] && b[k] <= '9' {
		n = n*10 + int64(b[k]-'0')
		k++
	}
	return n
}

// spinSink keeps the spin loop from being optimised away.
var spinSink uint64

func fib(n int) uint64 {
	if n < 2 {
		return uint64(n)
	}
	return fib(n-1) + fib(n-2)
}
