//go:build !race && !wasip1

package plugin

import (
	"testing"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
)

// TestHandleAllocs checks that dispatch itself, with logging of constants and
// a reused instance (the WebAssembly warm path), allocates nothing: whatever
// a call allocates is the handler's and the decoder's.
func TestHandleAllocs(t *testing.T) {
	useHandlers(t)
	register(openim.AfterGroupMsgRead, func(c *Context, _ []byte, _ bool) (openim.Reply, error) {
		c.Info("read", "group", "g1", "seq", 42)
		return nil, nil
	})
	inst := &instance{ctx: Context{host: &Host{Log: func(abi.LogLevel, string) {}}}}
	cmd := []byte(openim.AfterGroupMsgRead.String())
	body := []byte(`{}`)
	inst.handle(cmd, body, false) // warm the scratch buffers
	if n := testing.AllocsPerRun(100, func() { inst.handle(cmd, body, false) }); n != 1 {
		// The one allocation is the native Host's string(line) for its Log func.
		t.Fatalf("%v allocations per call, want 1 (the native log sink's)", n)
	}
}

// discardHost is a host without the native Host's string conversion, so the
// test sees only the SDK's own allocations.
type discardHost struct{}

func (discardHost) log(abi.LogLevel, []byte)  {}
func (discardHost) config(string, []byte) int { return -1 }

// TestLogAttrsAllocs checks that LogAttrs with run-time values allocates
// nothing, where Log boxes them.
func TestLogAttrsAllocs(t *testing.T) {
	c := &Context{host: discardHost{}}
	reader, seq, seqs := string([]byte("user_b")), int64(4242), []int64{1, 2}
	c.LogAttrs(abi.LogInfo, "warm up the line buffer", String("reader", reader), Int64("seq", seq), Int64s("seqs", seqs), Bool("ok", true))
	n := testing.AllocsPerRun(100, func() {
		c.LogAttrs(abi.LogInfo, "group read", String("reader", reader), Int64("seq", seq), Int64s("seqs", seqs), Bool("ok", true))
	})
	if n != 0 {
		t.Fatalf("LogAttrs: %v allocations per call, want 0", n)
	}
}

func BenchmarkHandle(b *testing.B) {
	saved := handlers
	b.Cleanup(func() { handlers = saved })
	handlers = nil
	register(openim.AfterGroupMsgRead, func(c *Context, _ []byte, _ bool) (openim.Reply, error) { return nil, nil })
	register(openim.BeforeAddFriend, func(c *Context, _ []byte, _ bool) (openim.Reply, error) {
		return Stop[openim.BeforeAddFriendResp](1, "no"), nil
	})
	inst := &instance{ctx: Context{host: &Host{}}}
	body := []byte(`{}`)
	for _, cmd := range []openim.Command{openim.AfterGroupMsgRead, openim.BeforeAddFriend} {
		name := []byte(cmd.String())
		b.Run(cmd.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				inst.handle(name, body, false)
			}
		})
	}
}
