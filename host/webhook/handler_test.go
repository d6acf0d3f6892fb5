package webhook

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestBodyOperationID(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"present", `{"callbackCommand":"x","operationID":"op-42","sendID":"a"}`, "op-42"},
		{"absent", `{"callbackCommand":"x"}`, ""},
		{"unterminated", `{"operationID":"op`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(bodyOperationID([]byte(tt.body))); got != tt.want {
				t.Errorf("bodyOperationID(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

// TestServeWhileLoading was a 503 stop before issue 13.
func TestServeWhileLoading(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, false)
	h, dir := e.h, e.dir
	call := func() *fasthttp.RequestCtx {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI("/hooks/acme/callbackBeforeSendSingleMsgCommand")
		ctx.Request.SetBodyString(`{"callbackCommand":"callbackBeforeSendSingleMsgCommand"}`)
		h.Serve(&ctx)
		return &ctx
	}
	// Not a stop: OpenIM would block the user's action for a tenant that
	// may well exist. The default failure policy (neutral) answers.
	if ctx := call(); ctx.Response.StatusCode() != fasthttp.StatusOK ||
		!bytes.Contains(ctx.Response.Body(), []byte(`"nextCode":0`)) {
		t.Errorf("before the first load: %d %s, want 200 with the neutral reply", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if err := dir.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ctx := call(); ctx.Response.StatusCode() != fasthttp.StatusNotFound {
		t.Errorf("after the load: %d %s, want 404 unknown tenant", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

// TestReadTimeoutClosesSilently holds connections that send nothing, or half
// a request line, past server.read_timeout: each is closed without a reply,
// which only a client that sent a request could read.
func TestReadTimeoutClosesSilently(t *testing.T) {
	t.Parallel()
	addr := newTestEnv(t, true).listen(t, 50*time.Millisecond)
	for _, sent := range []string{"", "POST /hooks/acme/callbackBefore"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, sent); err != nil {
			t.Fatal(err)
		}
		// Generous: the server's 50ms timeout ends the wait, not this one.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || len(got) > 0 {
			t.Errorf("after sending %q: read %q, %v; want the connection closed without a reply", sent, got, err)
		}
	}
}
