package host_test

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins/registry"
)

// BenchmarkCallback measures one callback end to end over loopback HTTP
// (fasthttp client, keep-alive): routing, parsing, the plugin chain and the
// reply. Run with go test -bench Callback -run ^$ ./host/.
func BenchmarkCallback(b *testing.B) {
	e := start(b, nil)
	e.tenant("neutral", registry.Settings{})
	e.tenant("trivial", registry.Settings{}, "trivial", "trivial")
	e.tenant("moderation", registry.Settings{Config: map[string]string{"banned_words": "spam,scam"}}, "moderation", "moderation")
	body := []byte(msgBody("hello there"))
	for _, tenant := range []string{"neutral", "trivial", "moderation"} {
		b.Run(tenant, func(b *testing.B) {
			c := &fasthttp.HostClient{Addr: e.srv.Addr().String(), MaxConns: 8}
			url := e.base + "/hooks/" + tenant + sendSingle
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI(url)
				req.Header.SetMethod(fasthttp.MethodPost)
				req.Header.SetContentType("application/json")
				req.SetBody(body)
				for pb.Next() {
					if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
						b.Errorf("callback: %v %d %s", err, resp.StatusCode(), resp.Body())
						return
					}
				}
			})
		})
	}
}
