package webhook

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/sdk/openim"
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

func TestServeWhileLoading(t *testing.T) {
	t.Parallel()
	backend, err := bolt.Open(filepath.Join(t.TempDir(), "imhook.db"), boltdb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(t.Context(), backend, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	eng, err := plugins.NewEngine(t.Context(), plugins.EngineOptions{Commands: openim.CommandName})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	dir, err := tenants.New(tenants.Options{Registry: reg, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Directory: dir, MaxConcurrent: 1, CallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	call := func() *fasthttp.RequestCtx {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI("/hooks/acme/callbackBeforeSendSingleMsgCommand")
		ctx.Request.SetBodyString(`{"callbackCommand":"callbackBeforeSendSingleMsgCommand"}`)
		h.Serve(&ctx)
		return &ctx
	}
	if ctx := call(); ctx.Response.StatusCode() != fasthttp.StatusServiceUnavailable ||
		!bytes.Contains(ctx.Response.Body(), []byte(`"errCode":10503`)) {
		t.Errorf("before the first load: %d %s, want 503 with errCode 10503", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if err := dir.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer dir.Close(context.Background())
	if ctx := call(); ctx.Response.StatusCode() != fasthttp.StatusNotFound {
		t.Errorf("after the load: %d %s, want 404 unknown tenant", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}
