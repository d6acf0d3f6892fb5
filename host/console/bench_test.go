package console_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imhook/imhook/plugins/registry"
)

// benchTenants is how many tenants the page benchmarks register.
const benchTenants = 1000

// BenchmarkPages measures the console's pages with 1,000 tenants registered:
// the server's time to answer (over loopback HTTP, session included) and,
// with Chromium, the browser's time from navigation start to the load event
// (ms/load), which includes the page's stylesheet, script and charts.
//
//	go test ./host/console -run '^$' -bench Pages -benchtime 20x
func BenchmarkPages(b *testing.B) {
	s := start(b)
	ctx := context.Background()
	for i := range benchTenants {
		if _, _, err := s.srv.Registry().CreateTenant(ctx, fmt.Sprintf("t%04d", i),
			registry.Settings{Config: map[string]string{"banned_words": "spam"}}); err != nil {
			b.Fatal(err)
		}
	}
	// Let the live directory take in the registrations first: its catching
	// up is the registration's cost, not the pages'.
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		rev, err := s.srv.Registry().Revision(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if s.srv.Directory().Applied() >= rev {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("directory at revision %d of %d after 5 minutes", s.srv.Directory().Applied(), rev)
		}
	}
	op := newClient(b, s)
	op.login(operatorToken)
	pages := []struct{ name, path string }{
		{"tenants", "/console/tenants"},
		{"tenant", "/console/t/t0500/"},
		{"chart", "/console/t/t0500/charts/calls.svg"},
		{"server", "/console/server"},
	}
	for _, p := range pages {
		b.Run("server/"+p.name, func(b *testing.B) {
			for b.Loop() {
				if st, _, body := op.do("GET", p.path, nil); st != http.StatusOK {
					b.Fatalf("%s: %d %.200s", p.path, st, body)
				}
			}
		})
	}
	if browser == nil && os.Getenv("CI") != "true" {
		b.Logf("no browser load times: %s", noBrowser)
		return
	}
	tab := needBrowser(b)
	step(b, tab, "log in", chromedp.Navigate(s.console("login")),
		chromedp.SetValue(chromedp.ID("token"), operatorToken),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("create-tenant")))
	for _, p := range pages[:2] {
		b.Run("browser/"+p.name, func(b *testing.B) {
			var total time.Duration
			n := 0
			for b.Loop() {
				// From a blank page: the same URL again would be a reload.
				step(b, tab, "load "+p.path, chromedp.Navigate("about:blank"), chromedp.Navigate(s.admin+p.path))
				ms := value(b, tab, "navigation timing", chromedp.Evaluate[float64](
					`(() => { const e = performance.getEntriesByType("navigation")[0]; return e.loadEventEnd - e.startTime; })()`))
				total += time.Duration(ms * float64(time.Millisecond))
				n++
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms/load")
		})
	}
}
