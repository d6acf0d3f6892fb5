package plugins

import (
	"context"
	"testing"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/openim"
)

// singleText is the most frequent callback of imhook bench --compare's mix
// (loadgen.DefaultMix, cmd/imhook/internal/loadgen): a 386-byte single-chat
// text message as OpenIM sends it.
const singleText = `{"sendID":"user_a","callbackCommand":"callbackBeforeSendSingleMsgCommand","serverMsgID":"a3f1c9e2b7d84e0f9c1a2b3c4d5e6f70",` +
	`"clientMsgID":"5e8a2d1f0c9b4a7e8d6c5b4a39281706","operationID":"1719812345678-abcd-op","senderPlatformID":1,` +
	`"senderNickname":"Alice","sessionType":1,"msgFrom":100,"contentType":101,"status":1,"sendTime":1719812345678,` +
	`"createTime":1719812345600,"content":"{\"content\":\"see you at the station at eight, bring the tickets\"}","seq":0,"atUserList":null,"faceURL":"https://example.com/a.png","ex":"","recvID":"user_b"}`

// BenchmarkCallSDK measures the SDK examples of imhook bench --compare on
// that callback, under the default limits (metered): trivial (variant c,
// whose handler does nothing) and moderation (variant b). "json" hands the
// guest the JSON body (Call), "wire" the parsed request in the wire format
// (CallWire, what the server does). insns/op is the instruction budget
// the call used: the guest's work, independent of machine load.
func BenchmarkCallSDK(b *testing.B) {
	body := []byte(singleText)
	req, err := openim.ParseRequest(openim.BeforeSendSingleMsg.String(), body, openim.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"trivial", "moderation"} {
		e := newTestEngine(b, EngineOptions{})
		tn := newTestTenant(b, e, SandboxOptions{ID: "bench", Limits: sdkBenchLimits(), Config: map[string]string{"banned_words": "spam"}})
		p := load(b, tn, "bench", goWasm(b, "../examples/"+name))
		for _, input := range []string{"json", "wire"} {
			b.Run(name+"/"+input, func(b *testing.B) {
				dst := make([]byte, 0, 512)
				var wire []byte
				var info CallInfo
				var err error
				b.ReportAllocs()
				cpu := cpuNow()
				for b.Loop() {
					if input == "json" {
						_, info, err = p.Call(ctx, openim.BeforeSendSingleMsg.String(), body, dst[:0])
					} else {
						wire = req.AppendWire(wire[:0]) // as the host does per callback
						_, info, err = p.CallWire(ctx, openim.BeforeSendSingleMsg.String(), wire, dst[:0])
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				reportCPUPerOp(b, cpu)
				b.ReportMetric(float64(info.Instructions), "insns/op")
			})
		}
	}
}

// sdkBenchLimits are the defaults imhook serve runs with (CPU limit
// included), with the tests' generous wall-clock backstop.
func sdkBenchLimits() limits.Limits {
	l := testLimits()
	l.MemoryPages = limits.Default().MemoryPages
	return l
}
