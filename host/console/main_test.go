package console_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/host/hosttest"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// operatorToken is the test servers' admin.token.
const operatorToken = "console-test-operator-token-0123456789"

// browser is the one headless Chromium the package's tests share (a tab
// each), nil when there is none.
var browser context.Context

// noBrowser says why browser is nil.
var noBrowser string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	path, err := exec.LookPath("chromium")
	if err != nil {
		noBrowser = "chromium is not installed (apt-get install chromium; .ci/run installs it)"
		return m.Run()
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		fmt.Fprintf(os.Stderr, "console tests: starting %s: %v\n", path, err)
		noBrowser = "chromium did not start: " + err.Error()
	} else {
		browser = ctx
	}
	return m.Run()
}

// needBrowser returns a new tab of the shared browser, closed at the end of
// the test. Without Chromium the test is skipped, except in CI (CI=true),
// where it fails: CI installs Chromium, so its absence is a broken set-up.
func needBrowser(t testing.TB) context.Context {
	t.Helper()
	if browser == nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test in CI without a browser: %s", noBrowser)
		}
		t.Skipf("skipping browser test: %s", noBrowser)
	}
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
	return tab
}

// step runs browser actions with a long backstop: a loaded machine is slow,
// but a page that never shows what the test waits for must not hang CI.
func step(t testing.TB, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		html, _ := chromedp.Run(tab, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage:\n%s", what, err, html)
	}
}

// value runs one browser action that returns a value, with the same backstop.
func value[T any](t testing.TB, tab context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot writes the tab's page to docs/console/NAME.png when
// IMHOOK_CONSOLE_SCREENSHOTS=1, for docs/console.md; normal runs leave the
// repository alone.
func screenshot(t testing.TB, tab context.Context, name string) {
	t.Helper()
	if os.Getenv("IMHOOK_CONSOLE_SCREENSHOTS") != "1" {
		return
	}
	png := value(t, tab, "screenshot "+name, chromedp.FullScreenshot(100))
	dir := filepath.Join("..", "..", "docs", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// server is one imhook server on loopback ports with its own bbolt store.
type server struct {
	t     testing.TB
	srv   *host.Server
	hooks string // http://127.0.0.1:port of the webhook listener
	admin string // http://127.0.0.1:port of the admin listener
}

// cacheDir is the compile cache of the package's test servers.
var cacheDir = testCacheDir()

func testCacheDir() string {
	if base, err := os.UserCacheDir(); err == nil {
		dir := filepath.Join(base, "imhook-test", "wazero")
		if os.MkdirAll(dir, 0o700) == nil {
			return dir
		}
	}
	return ""
}

// start runs a server until the end of the test.
func start(t testing.TB) *server {
	t.Helper()
	cfg := host.Default()
	cfg.DataDir = t.TempDir()
	cfg.Sandbox.CacheDir = cacheDir
	if cacheDir == "" {
		cfg.Sandbox.CacheDir = t.TempDir()
	}
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Admin.Token = operatorToken
	cfg.Sandbox.Limits.CallTimeout = time.Second // a loaded machine
	srv := hosttest.Run(t, cfg, nil)
	return &server{t: t, srv: srv, hooks: "http://" + srv.Addr().String(), admin: "http://" + srv.AdminAddr().String()}
}

// console returns the URL of a console page.
func (s *server) console(page string) string { return s.admin + "/console/" + page }

// tenant creates a tenant directly in the registry and returns its token.
func (s *server) tenant(id string, set registry.Settings) string {
	s.t.Helper()
	_, secret, err := s.srv.Registry().CreateTenant(context.Background(), id, set)
	if err != nil {
		s.t.Fatal(err)
	}
	return id + "." + secret
}

// exists reports whether the registry has tenant id.
func (s *server) exists(id string) bool {
	_, err := s.srv.Registry().Tenant(context.Background(), id)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		s.t.Fatal(err)
	}
	return err == nil
}

// guest returns an example plugin's module written to dir/name.wasm, built
// once per test binary.
func guest(t testing.TB, example, dir, name string) (string, []byte) {
	t.Helper()
	wasm := wasmbuild.GoOnce(t, "github.com/imhook/imhook/examples/"+example, wasmbuild.Options{})
	path := filepath.Join(dir, name+".wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, wasm
}

// client is a console client without a browser: it keeps cookies and
// follows nothing, so tests see every answer.
type client struct {
	t    testing.TB
	http *http.Client
	base string
	csrf string
}

func newClient(t testing.TB, s *server) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: s.admin, http: &http.Client{Jar: jar, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends one request and returns the status, headers and body.
func (c *client) do(method, path string, form url.Values, header ...string) (int, http.Header, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if !strings.HasPrefix(path, "http") { // Locations are absolute
		path = c.base + path
	}
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// login logs in with token through the login form and keeps the session's
// CSRF value from the next page.
func (c *client) login(token string) {
	c.t.Helper()
	_, _, page := c.do("GET", "/console/login", nil)
	st, h, body := c.do("POST", "/console/login", url.Values{"token": {token}, "csrf": {csrfOf(page)}})
	if st != http.StatusSeeOther {
		c.t.Fatalf("login: %d %s", st, body)
	}
	_, _, page = c.do("GET", h.Get("Location"), nil)
	c.csrf = csrfOf(page)
	if c.csrf == "" {
		c.t.Fatalf("no CSRF value in the page after login:\n%s", page)
	}
}

// csrfOf returns the first CSRF value of a page's forms.
func csrfOf(page string) string {
	const mark = `name="csrf" value="`
	i := strings.Index(page, mark)
	if i < 0 {
		return ""
	}
	rest := page[i+len(mark):]
	return rest[:strings.IndexByte(rest, '"')]
}

// waitServing waits until the webhook path serves hash as tenant's plugin.
func (s *server) waitServing(tenant, plugin, hash string) {
	s.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if st, ok := s.srv.Directory().Stats(tenant); ok {
			for _, p := range st.Plugins {
				if p.Name == plugin && p.Serving == hash {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("tenant[%s] plugin[%s] not serving %s after 2 minutes", tenant, plugin, hash[:12])
		}
	}
}
