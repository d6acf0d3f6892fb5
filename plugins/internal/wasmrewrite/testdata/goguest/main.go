// Command goguest is a Go reactor guest with heavy loops, recursion, maps,
// sorting and encoding/json, built by the tests with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared
//
// to check that metering and data-segment merging keep a real Go module's
// results, and to benchmark the cost of metering.
package main

import (
	"encoding/json"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {}

// init never returns when GOGUEST_SPIN_INIT is set: a busy _initialize.
func init() {
	if os.Getenv("GOGUEST_SPIN_INIT") != "" {
		spin()
	}
}

//go:wasmexport fib
func fib(n int32) int64 {
	if n < 2 {
		return int64(n)
	}
	return fib(n-1) + fib(n-2)
}

// primes counts the primes below n with a sieve.
//
//go:wasmexport primes
func primes(n int32) int32 {
	composite := make([]bool, n)
	var count int32
	for i := 2; i < int(n); i++ {
		if composite[i] {
			continue
		}
		count++
		for j := i * i; j < int(n); j += i {
			composite[j] = true
		}
	}
	return count
}

// sorted sorts n pseudo-random numbers and returns a checksum of the order.
//
//go:wasmexport sorted
func sorted(n int32) int64 {
	xs := make([]int, n)
	seed := uint32(12345)
	for i := range xs {
		seed = seed*1664525 + 1013904223
		xs[i] = int(seed >> 8)
	}
	sort.Ints(xs)
	var sum int64
	for i, x := range xs {
		sum += int64(i+1) * int64(x%1000)
	}
	return sum
}

// words builds a map of n keys, then a sorted string of them, and returns its
// length and a hash.
//
//go:wasmexport words
func words(n int32) int64 {
	m := make(map[string]int, n)
	for i := int32(0); i < n; i++ {
		m["k"+strconv.Itoa(int(i*7919%n))]++
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := strings.Join(keys, ",")
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return int64(len(s))<<32 | int64(h)
}

type message struct {
	SendID  string            `json:"sendID"`
	RecvID  string            `json:"recvID"`
	Content string            `json:"content"`
	Seq     int64             `json:"seq"`
	Ex      map[string]string `json:"ex,omitempty"`
}

var reply []byte // kept so the host could read it; also keeps the work live

// jsonRound marshals and unmarshals a message n times, like a callback
// handler would, and returns the reply's length.
//
//go:wasmexport json_round
func jsonRound(n int32) int32 {
	in := message{SendID: "user-1", RecvID: "user-2", Content: strings.Repeat("hello ", 8), Ex: map[string]string{"a": "b"}}
	for i := int32(0); i < n; i++ {
		in.Seq = int64(i)
		b, err := json.Marshal(in)
		if err != nil {
			return -1
		}
		var out message
		if err := json.Unmarshal(b, &out); err != nil {
			return -2
		}
		out.Content = strings.ToUpper(out.Content)
		reply, _ = json.Marshal(out)
	}
	return int32(len(reply))
}

// spin never returns.
//
//go:wasmexport spin
func spin() int32 {
	x := int32(0)
	for {
		x++
		if x == -1 { // never true in practice; keeps the loop from being removed
			return x
		}
		if x == 1<<30 {
			x = 0
		}
	}
}

// deep recurses without bound.
//
//go:wasmexport deep
func deep(n int32) int32 {
	var pad [16]int32
	pad[n%16] = n
	return deep(n+1) + pad[(n+1)%16]
}

// body is a typical 125-byte callback request.
var body = []byte(`{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"u1","recvID":"u2","content":"hello imhook","seq":42}`)

var out []byte

// callback does what a small plugin does per callback without
// encoding/json: find a string field by hand, transform it, and build a JSON
// reply. It returns the reply's length.
//
//go:wasmexport callback
func callback() int32 {
	content := field(body, `"content":"`)
	out = out[:0]
	out = append(out, `{"actionCode":0,"errCode":0,"content":"`...)
	for _, c := range content {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	out = append(out, `","seq":`...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, '}')
	return int32(len(out))
}

// field returns the string value that follows key, up to the next quote.
func field(b []byte, key string) []byte {
	for i := 0; i+len(key) <= len(b); i++ {
		if string(b[i:i+len(key)]) == key {
			rest := b[i+len(key):]
			for j, c := range rest {
				if c == '"' {
					return rest[:j]
				}
			}
		}
	}
	return nil
}
