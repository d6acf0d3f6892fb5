package openim

import (
	"encoding/json"
	"reflect"
	"testing"
)

// BenchmarkDecodeEncode decodes each catalog example request and encodes the
// example reply, with this package ("openim") and with encoding/json on the
// same types ("encoding-json"). Run a subset with
//
//	go test -run '^$' -bench 'DecodeEncode/callbackBeforeSendSingleMsgCommand' -benchmem ./sdk/openim
func BenchmarkDecodeEncode(b *testing.B) {
	for _, ex := range catalogExamples(b) {
		c, _ := Lookup(ex.command)
		rep := NewReply(c)
		if err := rep.DecodeJSON(ex.response); err != nil {
			b.Fatal(err)
		}
		b.Run(ex.command+"/openim", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ex.request)))
			buf := make([]byte, 0, 1024)
			start, n := processCPU(), 0
			defer func() { reportCPU(b, start, n) }()
			for b.Loop() {
				n++
				req := NewRequest(c)
				if err := req.DecodeJSON(ex.request); err != nil {
					b.Fatal(err)
				}
				buf = rep.AppendJSON(buf[:0])
			}
		})
		b.Run(ex.command+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ex.request)))
			typ := reflect.TypeOf(NewRequest(c)).Elem()
			start, n := processCPU(), 0
			defer func() { reportCPU(b, start, n) }()
			for b.Loop() {
				n++
				req := reflect.New(typ).Interface()
				if err := json.Unmarshal(ex.request, req); err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(rep); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseRequest is the host's full strict parse of the single-chat example.
func BenchmarkParseRequest(b *testing.B) {
	ex := catalogExamples(b)[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(ex.command, ex.request, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendNeutral is the host's fallback reply.
func BenchmarkAppendNeutral(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = AppendNeutral(buf[:0], BeforeSendSingleMsg, nil)
	}
}

// BenchmarkWire is the host's AppendWire (into a reused buffer) and a guest's
// DecodeWire of the single-chat example, natively.
func BenchmarkWire(b *testing.B) {
	ex := catalogExamples(b)[0]
	req := new(BeforeSendSingleMsgReq)
	if err := req.DecodeJSON(ex.request); err != nil {
		b.Fatal(err)
	}
	enc := req.AppendWire(nil)
	b.Run("AppendWire", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = req.AppendWire(buf[:0])
		}
	})
	b.Run("DecodeWire", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if err := new(BeforeSendSingleMsgReq).DecodeWire(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeJSON", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(ex.request)))
		for b.Loop() {
			if err := new(BeforeSendSingleMsgReq).DecodeJSON(ex.request); err != nil {
				b.Fatal(err)
			}
		}
	})
}
