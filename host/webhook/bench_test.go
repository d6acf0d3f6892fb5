package webhook

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins/registry"
)

// BenchmarkServeNeutral measures the handler alone, without network or
// sandbox: route, tenant lookup, parse, the neutral reply and the metrics-free
// bookkeeping of a callback no plugin handles. It is the host's floor.
func BenchmarkServeNeutral(b *testing.B) {
	e := newTestEnv(b, false)
	if _, _, err := e.reg.CreateTenant(b.Context(), "acme", registry.Settings{}); err != nil {
		b.Fatal(err)
	}
	if err := e.dir.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	h := e.h
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
