package outcall

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/egress"
	"github.com/imhook/imhook/sdk/abi"
)

// BenchmarkClient compares the out-call client with Go's own client on the
// same POST to a loopback sink, alternating every iteration so that load
// from other processes falls on both, and reports the median of each and
// their ratio (docs/performance.md, "Out-calls").
func BenchmarkClient(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	url := sink.URL + "/read"
	event := []byte(`{"event":"group_read","reader":"user_b","has_read_seq":42,"conversation_type":3}`)
	native := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	nets, _ := egress.ParseNetworks("", []string{"127.0.0.0/8"})
	pool := New(Options{Policy: egress.Policy{AllowNetworks: nets}})
	defer pool.Close()
	c := pool.Client("bench", 8)
	d, _ := egress.ParseURL(url)
	req := &egress.Request{Tenant: "bench", Pattern: sink.URL, Dest: d, MaxResponseBytes: 1 << 20, HTTPRequest: abi.HTTPRequest{
		Method: "POST", URL: url, Body: event,
		Header: [][2]string{{"Authorization", "Bearer t0k3n"}, {"Content-Type", "application/json"}},
	}}
	var tn, tc []time.Duration
	for b.Loop() {
		start := time.Now()
		r, _ := http.NewRequest("POST", url, bytes.NewReader(event))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer t0k3n")
		resp, err := native.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		tn = append(tn, time.Since(start))
		start = time.Now()
		if _, err := c.Do(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		tc = append(tc, time.Since(start))
	}
	slices.Sort(tn)
	slices.Sort(tc)
	mn, mc := float64(tn[len(tn)/2]), float64(tc[len(tc)/2])
	b.ReportMetric(mn, "native-ns")
	b.ReportMetric(mc, "client-ns")
	b.ReportMetric(mc/mn, "client/native")
}
