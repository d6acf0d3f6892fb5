// Command initstate is a raw ABI v1 guest whose init leaves runtime state
// behind for its calls to use: a map, a goroutine waiting on a channel, a
// timer, a time reading, math/rand's state. It checks that an instance
// started from a pre-initialised snapshot behaves as one that ran
// _initialize itself (plugins/preinit_test.go). The body selects what to do:
//
//	state   talk to the init goroutine, wait for the init timer, sum the init map
//	random  math/rand/v2 and crypto/rand values, and the map's iteration order
//	clock   wall time and the monotonic time since init
//	load N  N rounds of 8 goroutines filling maps, with a forced GC each round
//
// The reply is a line of text; it depends only on the guest's state and
// inputs, so two instances that start alike answer alike.
package main

import (
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

func main() {}

var (
	input    []byte
	reply    []byte
	commands = []byte("callbackAfterGroupMsgReadCommand")

	initMap   = map[string]int{}
	requests  = make(chan int)
	responses = make(chan int)
	initTime  = time.Now()
	fired     sync.WaitGroup
	firstRand uint64
)

func init() {
	for k := range 1000 {
		initMap["key"+strconv.Itoa(k)] = k
	}
	go func() { // lives as long as the instance
		for n := range requests {
			responses <- n * 2
		}
	}()
	fired.Add(1)
	time.AfterFunc(time.Millisecond, fired.Done)
	firstRand = rand.Uint64()
}

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
	body := string(input[cmdLen : cmdLen+bodyLen])
	verb, arg := body, ""
	for k := range len(body) {
		if body[k] == ' ' {
			verb, arg = body[:k], body[k+1:]
			break
		}
	}
	reply = reply[:0]
	switch verb {
	case "state":
		requests <- 21
		got := <-responses
		time.Sleep(5 * time.Millisecond)
		fired.Wait()
		sum := 0
		for _, v := range initMap {
			sum += v
		}
		reply = append(reply, "goroutine="...)
		reply = strconv.AppendInt(reply, int64(got), 10)
		reply = append(reply, " timer=fired map="...)
		reply = strconv.AppendInt(reply, int64(sum), 10)
	case "random":
		var b [8]byte
		crand.Read(b[:])
		first := ""
		for k := range initMap {
			first = k // the map's iteration order comes from its hash seed
			break
		}
		reply = append(reply, "init="...)
		reply = strconv.AppendUint(reply, firstRand, 16)
		reply = append(reply, " now="...)
		reply = strconv.AppendUint(reply, rand.Uint64(), 16)
		reply = append(reply, " crypto="...)
		reply = append(reply, hex.EncodeToString(b[:])...)
		reply = append(reply, " first="...)
		reply = append(reply, first...)
	case "clock":
		reply = append(reply, "wall="...)
		reply = strconv.AppendInt(reply, time.Now().UnixNano(), 10)
		reply = append(reply, " sinceinit="...)
		reply = strconv.AppendInt(reply, int64(time.Since(initTime)), 10)
	case "load":
		n, _ := strconv.Atoi(arg)
		total := 0
		for range n {
			var wg sync.WaitGroup
			sums := make([]int, 8)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					m := map[int][]byte{}
					for k := range 300 {
						m[k] = make([]byte, 64+k%256)
					}
					keys := make([]int, 0, len(m))
					for k := range m {
						keys = append(keys, k)
					}
					sort.Ints(keys)
					for _, k := range keys[:100] {
						sums[g] += len(m[k]) + k
					}
				}()
			}
			wg.Wait()
			runtime.GC()
			for _, s := range sums {
				total += s
			}
		}
		reply = append(reply, "load="...)
		reply = strconv.AppendInt(reply, int64(total), 10)
	default:
		reply = append(reply, "initstate: unknown verb "...)
		reply = append(reply, verb...)
		return 1<<63 | pack(reply)
	}
	return pack(reply)
}
