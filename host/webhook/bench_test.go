package webhook

import (
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

// BenchmarkServeNeutral measures the handler alone, without network or
// sandbox: route, tenant lookup, parse, the neutral reply and the metrics-free
// bookkeeping of a callback no plugin handles. It is the host's floor.
func BenchmarkServeNeutral(b *testing.B) {
	backend, err := bolt.Open(filepath.Join(b.TempDir(), "imhook.db"), boltdb.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := registry.New(b.Context(), backend, registry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	if _, _, err := reg.CreateTenant(b.Context(), "acme", registry.Settings{}); err != nil {
		b.Fatal(err)
	}
	eng, err := plugins.NewEngine(b.Context(), plugins.EngineOptions{Commands: openim.CommandName})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close(context.Background())
	dir, err := tenants.New(tenants.Options{Registry: reg, Engine: eng})
	if err != nil {
		b.Fatal(err)
	}
	if err := dir.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	defer dir.Close(context.Background())
	h, err := New(Options{Directory: dir, MaxConcurrent: 8, CallTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	body := []byte(`{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"alice","recvID":"bob","operationID":"op-1","contentType":101,"sessionType":1,"content":"{\"content\":\"hello\"}","atUserList":null}`)
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI("/hooks/acme/callbackBeforeSendSingleMsgCommand")
		ctx.Request.Header.Set("operationID", "op-1")
		ctx.Request.SetBody(body)
		h.Serve(&ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}
