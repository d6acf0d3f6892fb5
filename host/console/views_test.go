package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/imhook/imhook/plugins/registry"
)

// TestTenantViews exercises, over real HTTP as the tenant's session, the
// views the browser tests only look at: settings, chain order, captures with
// replay, the queue, the key-value browser and the charts; and the
// operator's server view with the tenant's traffic.
func TestTenantViews(t *testing.T) {
	s := start(t)
	token := s.tenant("acme", registry.Settings{Grants: []string{"kv"}, Config: map[string]string{"banned_words": "spam"}})
	_, mod := guest(t, "moderation", t.TempDir(), "moderation")
	_, trivial := guest(t, "trivial", t.TempDir(), "trivial")
	for name, wasm := range map[string][]byte{"moderation": mod, "audit": trivial} {
		hash, err := s.srv.Install(context.Background(), "acme", name, wasm)
		if err != nil {
			t.Fatal(err)
		}
		s.waitServing("acme", name, hash)
	}
	c := newClient(t, s)
	c.login(token)
	post := func(path string, form url.Values) string {
		t.Helper()
		form.Set("csrf", c.csrf)
		st, h, body := c.do("POST", path, form)
		if st != http.StatusSeeOther {
			t.Fatalf("POST %s: %d %.300s", path, st, body)
		}
		_, _, page := c.do("GET", h.Get("Location"), nil)
		return page
	}
	get := func(path string) string {
		t.Helper()
		st, _, page := c.do("GET", path, nil)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d %.300s", path, st, page)
		}
		return page
	}

	// Settings: a tenant changes its configuration, not its limits.
	page := post("/console/t/acme/settings", url.Values{"settings": {`{"config":{"banned_words":"spam,scam"},"grants":["kv"]}`}})
	if !strings.Contains(page, "settings saved") {
		t.Errorf("saving settings: %.500s", page)
	}
	page = post("/console/t/acme/settings", url.Values{"settings": {`{"limits":{"max_instructions":999999999},"grants":["kv"]}`}})
	if !strings.Contains(page, "cannot change limits") {
		t.Errorf("a tenant changing its limits: want the API's refusal, got %.500s", page)
	}
	// Order.
	page = post("/console/t/acme/order", url.Values{"order": {"audit, moderation"}})
	if !strings.Contains(page, "plugin order: audit, moderation") {
		t.Errorf("ordering: %.500s", page)
	}

	// Captures: turn on, a callback arrives, replay it.
	page = post("/console/t/acme/captures", url.Values{"enabled": {"1"}, "max_age": {"1h"}})
	if !strings.Contains(page, "capture settings saved") {
		t.Fatalf("capture on: %.500s", page)
	}
	sendSingle(t, s, "acme", "buy spam", "op-capture-1")
	page = get("/console/t/acme/captures")
	if !strings.Contains(page, "callbackBeforeSendSingleMsgCommand") || !strings.Contains(page, "stopped") {
		t.Errorf("captures page lacks the callback: %.2000s", page)
	}
	active := activeVersion(t, s, "acme", "moderation")
	page = post2(t, c, "/console/t/acme/captures/replay", url.Values{"version": {"moderation/" + active}})
	if !strings.Contains(page, "0 of 1 replies changed") {
		t.Errorf("replay: %.3000s", page)
	}

	// Key-value state: set, list, read, delete.
	page = post("/console/t/acme/kv/put", url.Values{"key": {"banned:user_x"}, "value": {"1"}})
	if !strings.Contains(page, "key saved") || !strings.Contains(page, "banned:user_x") {
		t.Errorf("kv put: %.1000s", page)
	}
	page = get("/console/t/acme/kv?prefix=banned:&key=YmFubmVkOnVzZXJfeA")
	if !strings.Contains(page, `id="entry"`) {
		t.Errorf("kv entry: %.1000s", page)
	}
	page = post("/console/t/acme/kv/delete", url.Values{"key": {"banned:user_x"}})
	if !strings.Contains(page, "key deleted") || strings.Contains(page, "banned:user_x</a>") {
		t.Errorf("kv delete: %.1000s", page)
	}

	// The queue page shows its state; purging an empty dead-letter queue is fine.
	if page = get("/console/t/acme/queue"); !strings.Contains(page, `id="dead-count">0<`) {
		t.Errorf("queue page: %.1000s", page)
	}
	if page = post("/console/t/acme/queue/purge", url.Values{}); !strings.Contains(page, "purge: 0 dead letter(s)") {
		t.Errorf("purge: %.1000s", page)
	}

	// Charts are SVG drawn on the server.
	st, h, svg := c.do("GET", "/console/t/acme/charts/calls.svg", nil)
	if st != http.StatusOK || h.Get("Content-Type") != "image/svg+xml" || !strings.Contains(svg, "<svg") {
		t.Errorf("chart: %d %s %.100s", st, h.Get("Content-Type"), svg)
	}

	// The operator sets the tenant's limits and grants in the same editor.
	op := newClient(t, s)
	op.login(operatorToken)
	op.csrf = csrfOf(get2(t, op, "/console/t/acme/"))
	st, h, _ = op.do("POST", "/console/t/acme/settings", url.Values{"csrf": {op.csrf},
		"settings": {`{"limits":{"max_instructions":200000000},"grants":["kv"],"config":{"banned_words":"spam"}}`}})
	if page := get2(t, op, h.Get("Location")); st != http.StatusSeeOther || !strings.Contains(page, "settings saved") {
		t.Errorf("operator saves limits: %d %.500s", st, page)
	}
	if tn, _ := s.srv.Registry().Tenant(context.Background(), "acme"); tn.Settings.Limits.MaxInstructions != 200000000 {
		t.Errorf("limits after the operator's save: %+v", tn.Settings.Limits)
	}

	// The operator's server view shows the tenant's traffic and failures.
	_, _, page = op.do("GET", "/console/server", nil)
	for _, want := range []string{`href="/console/t/acme/"`, "stopped 1", `id="health-code">200<`, "moderation"} {
		if !strings.Contains(page, want) {
			t.Errorf("server page lacks %q", want)
		}
	}
}

// get2 reads a page.
func get2(t *testing.T, c *client, path string) string {
	t.Helper()
	st, _, page := c.do("GET", path, nil)
	if st != http.StatusOK {
		t.Fatalf("GET %s: %d %.300s", path, st, page)
	}
	return page
}

// post2 posts a form whose answer is a page, not a redirect.
func post2(t *testing.T, c *client, path string, form url.Values) string {
	t.Helper()
	form.Set("csrf", c.csrf)
	st, _, page := c.do("POST", path, form)
	if st != http.StatusOK {
		t.Fatalf("POST %s: %d %.300s", path, st, page)
	}
	return page
}

// TestTenantsPages pages the operator's list of many tenants and filters it.
func TestTenantsPages(t *testing.T) {
	s := start(t)
	for i := range 150 {
		s.tenant(fmt.Sprintf("t%03d", i), registry.Settings{})
	}
	op := newClient(t, s)
	op.login(operatorToken)
	_, _, page := op.do("GET", "/console/tenants", nil)
	if !strings.Contains(page, `href="/console/t/t099/"`) || strings.Contains(page, `href="/console/t/t100/"`) ||
		!strings.Contains(page, "page 1 of 2") {
		t.Errorf("first page: want t000-t099 and page 1 of 2")
	}
	_, _, page = op.do("GET", "/console/tenants?page=2", nil)
	if strings.Contains(page, `href="/console/t/t099/"`) || !strings.Contains(page, `href="/console/t/t149/"`) {
		t.Errorf("second page: want t100-t149")
	}
	_, _, page = op.do("GET", "/console/tenants?q=t14", nil)
	if !strings.Contains(page, `href="/console/t/t140/"`) || strings.Contains(page, `href="/console/t/t000/"`) || strings.Contains(page, "page 1 of") {
		t.Errorf("filter t14: want t140-t149 on one page")
	}
}
