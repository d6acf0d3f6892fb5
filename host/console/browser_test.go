package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/imhook/imhook/plugins/registry"
)

// TestBrowserWorkflow drives the console in headless Chromium the way an
// operator and a tenant use it: log in as the operator, create a tenant
// (its token shown once), log in with that token, drop a plugin on the
// upload zone and activate it, run it in the playground, watch a callback's
// log line arrive live, upload a second version and roll back; and checks
// that the tenant's session reaches neither another tenant's pages nor the
// JSON the console's script reads.
func TestBrowserWorkflow(t *testing.T) {
	tab := needBrowser(t)
	s := start(t)
	s.tenant("other", registry.Settings{})
	dir := t.TempDir()
	modPath, _ := guest(t, "moderation", dir, "moderation")
	trivialPath, _ := guest(t, "trivial", dir, "trivial")

	// The operator logs in and creates tenant acme.
	step(t, tab, "operator login page",
		chromedp.Navigate(s.console("")),
		chromedp.WaitVisible(chromedp.ID("token")))
	screenshot(t, tab, "login")
	step(t, tab, "operator logs in",
		chromedp.SetValue(chromedp.ID("token"), operatorToken),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("create-tenant")))
	step(t, tab, "create tenant acme",
		chromedp.SetValue(chromedp.ID("tenant-id"), "acme"),
		chromedp.SetValue(chromedp.CSS(`textarea[name=settings]`), `{"config":{"banned_words":"spam"}}`),
		chromedp.Submit(chromedp.ID("tenant-id")),
		chromedp.WaitVisible(chromedp.ID("new-token")))
	token := strings.TrimSpace(value(t, tab, "read the new token", chromedp.Text(chromedp.ID("new-token"))))
	if !strings.HasPrefix(token, "acme.") || !s.exists("acme") {
		t.Fatalf("new token %q, tenant exists %v", token, s.exists("acme"))
	}
	screenshot(t, tab, "token")
	step(t, tab, "tenants list", chromedp.Navigate(s.console("tenants")),
		chromedp.WaitVisible(chromedp.CSS(`#tenants a[href="/console/t/acme/"]`)))
	if body := value(t, tab, "tenants page", chromedp.Text(chromedp.CSS("main"))); strings.Contains(body, token) {
		t.Fatal("the tenants page shows the token again")
	}
	screenshot(t, tab, "tenants")
	step(t, tab, "server page", chromedp.Navigate(s.console("server")), chromedp.WaitVisible(chromedp.ID("health-code")))
	step(t, tab, "operator logs out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("token")))

	// The tenant logs in with the token it was given.
	step(t, tab, "tenant logs in",
		chromedp.SetValue(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("upload")))
	if who := value(t, tab, "whoami", chromedp.Text(chromedp.ID("whoami"))); who != "tenant acme" {
		t.Fatalf("logged in as %q", who)
	}

	// Drop the plugin on the drop zone (a real drag of a file, which fills
	// the form's file input) and upload it, activated.
	dropFile(t, tab, "#dropzone", modPath)
	if name := value(t, tab, "plugin name from the file", chromedp.Evaluate[string](`document.getElementById("upload-plugin").value`)); name != "moderation" {
		t.Fatalf("plugin name after the drop: %q, want moderation", name)
	}
	step(t, tab, "upload moderation",
		chromedp.Submit(chromedp.ID("upload-plugin")),
		chromedp.WaitVisible(chromedp.ID("active-moderation")))
	v1 := activeVersion(t, s, "acme", "moderation")
	checkFlash(t, tab, "uploaded moderation version "+v1[:12]+", active")
	screenshot(t, tab, "plugins")

	// The playground: the command's example with a banned word, through v1.
	step(t, tab, "playground",
		chromedp.Navigate(s.console("t/acme/playground?version=moderation/"+v1+"&command=callbackBeforeSendSingleMsgCommand")),
		chromedp.WaitVisible(chromedp.ID("body")))
	body := value(t, tab, "example body", chromedp.Value(chromedp.ID("body")))
	var req map[string]any
	if err := json.Unmarshal([]byte(body), &req); err != nil || req["callbackCommand"] != "callbackBeforeSendSingleMsgCommand" {
		t.Fatalf("playground example body %q: %v", body, err)
	}
	req["content"] = `{"content":"buy spam now"}`
	req["contentType"] = 101
	edited, _ := json.MarshalIndent(req, "", "  ")
	step(t, tab, "run the playground",
		chromedp.SetValue(chromedp.ID("body"), string(edited)),
		chromedp.Click(chromedp.ID("run-button")),
		chromedp.WaitVisible(chromedp.ID("result")))
	for id, want := range map[string]string{
		"r-reply": `"nextCode": 1`, "r-logs": "message blocked", "r-instr": "instructions", "r-mem": "pages", "r-time": "load",
	} {
		if got := value(t, tab, id, chromedp.Text(chromedp.ID(id))); !strings.Contains(got, want) {
			t.Errorf("playground %s = %q, want it to contain %q", id, got, want)
		}
	}
	screenshot(t, tab, "playground")

	// Keep the callbacks, for the replay below.
	step(t, tab, "turn capture on",
		chromedp.Navigate(s.console("t/acme/captures")),
		chromedp.Click(chromedp.CSS(`#capture-settings input[name=enabled]`)),
		chromedp.Submit(chromedp.CSS(`#capture-settings input[name=max_age]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="flash"][contains(., "capture settings saved")]`)))

	// The live log: a callback sent now appears without a reload.
	step(t, tab, "live log page",
		chromedp.Navigate(s.console("t/acme/logs")),
		waitJS(`document.getElementById("log-state").textContent === "live"`))
	sendSingle(t, s, "acme", "spam again", "op-live-1")
	step(t, tab, "the callback's line arrives",
		chromedp.WaitVisible(chromedp.Search(`//table[@id="log"]//td[contains(., "message blocked")]`)))
	screenshot(t, tab, "logs")

	// A second version, then a rollback to the first.
	step(t, tab, "tenant page", chromedp.Navigate(s.console("t/acme/")), chromedp.WaitVisible(chromedp.ID("upload")))
	step(t, tab, "upload a second version",
		chromedp.SetValue(chromedp.ID("upload-plugin"), "moderation"),
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{trivialPath}),
		chromedp.Submit(chromedp.ID("upload-plugin")),
		chromedp.WaitVisible(chromedp.ID("rollback-moderation")))
	v2 := activeVersion(t, s, "acme", "moderation")
	if v2 == v1 {
		t.Fatal("the second upload did not become active")
	}
	step(t, tab, "roll back",
		chromedp.Click(chromedp.ID("rollback-moderation")),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="flash"][contains(., "rolled moderation back")]`)))
	checkFlash(t, tab, "rolled moderation back to "+v1[:12])
	if got := activeVersion(t, s, "acme", "moderation"); got != v1 {
		t.Fatalf("active after rollback: %s, want %s", got[:12], v1[:12])
	}
	if badge := value(t, tab, "active badge", chromedp.Text(chromedp.ID("active-moderation"))); !strings.Contains(badge, v1[:12]) {
		t.Errorf("active badge %q after rollback, want %s", badge, v1[:12])
	}

	// What the callbacks left: captures replayed through the active
	// version, and the charts of the last hour.
	sendSingle(t, s, "acme", "hello", "op-2")
	step(t, tab, "replay the captures",
		chromedp.Navigate(s.console("t/acme/captures")),
		chromedp.Click(chromedp.CSS(`#replay button`)),
		chromedp.WaitVisible(chromedp.ID("replay-result")))
	screenshot(t, tab, "captures")
	step(t, tab, "charts", chromedp.Navigate(s.console("t/acme/")),
		waitJS(`[...document.querySelectorAll(".charts img")].every(i => i.complete && i.naturalWidth > 0)`))
	screenshot(t, tab, "charts")

	// Another tenant, through the console: its pages and the JSON the
	// script fetches are refused by the admin API.
	step(t, tab, "another tenant's page", chromedp.Navigate(s.console("t/other/")), chromedp.WaitVisible(chromedp.ID("error")))
	if msg := value(t, tab, "refusal", chromedp.Text(chromedp.ID("error"))); !strings.Contains(msg, "cannot access tenant[other]") {
		t.Errorf("another tenant's page says %q", msg)
	}
	for _, path := range []string{"/console/t/other/logs.json", "/console/t/other/charts/calls.svg", "/console/tenants"} {
		st := value(t, tab, "fetch "+path, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q).then(r => r.status)`, path), chromedp.EvalAwaitPromise))
		if st != http.StatusForbidden {
			t.Errorf("the tenant's page fetches %s: %d, want 403", path, st)
		}
	}
	if st := value(t, tab, "own logs.json", chromedp.Evaluate[int](`fetch("/console/t/acme/logs.json").then(r => r.status)`, chromedp.EvalAwaitPromise)); st != http.StatusOK {
		t.Errorf("the tenant's own logs.json: %d, want 200", st)
	}

	// Back as the operator: the server view shows the tenant's traffic.
	step(t, tab, "tenant logs out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("token")))
	step(t, tab, "operator logs in again",
		chromedp.SetValue(chromedp.ID("token"), operatorToken),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("create-tenant")),
		chromedp.Navigate(s.console("server")),
		chromedp.WaitVisible(chromedp.CSS(`#loads a[href="/console/t/acme/"]`)))
	screenshot(t, tab, "server")
	if st := value(t, tab, "operator's logs.json", chromedp.Evaluate[int](`fetch("/console/t/acme/logs.json").then(r => r.status)`, chromedp.EvalAwaitPromise)); st != http.StatusOK {
		t.Errorf("the operator's fetch of acme's logs.json: %d, want 200", st)
	}
}

// TestBrowserForgedCrossSitePost serves, from a second loopback origin, a page
// that submits a form to the console by itself while the browser holds an
// operator session: the console refuses it and nothing changes.
func TestBrowserForgedCrossSitePost(t *testing.T) {
	tab := needBrowser(t)
	s := start(t)
	s.tenant("victim", registry.Settings{})

	step(t, tab, "operator logs in",
		chromedp.Navigate(s.console("login")),
		chromedp.SetValue(chromedp.ID("token"), operatorToken),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("create-tenant")))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	evil := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := s.console("tenants")
		if r.URL.Path == "/delete" {
			action = s.console("t/victim/delete")
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s">
<input name="id" value="forged"><input name="csrf" value="guessed"></form>
<script>document.getElementById("f").submit()</script>`, action)
	})}
	go evil.Serve(ln)
	t.Cleanup(func() { evil.Close() })

	for _, page := range []string{"/create", "/delete"} {
		step(t, tab, "the forged page "+page, chromedp.Navigate("http://"+ln.Addr().String()+page))
		// The page submits itself: wait until the browser shows the
		// console's answer (a navigation, which a Poll would not survive).
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
			loc, _ := chromedp.Run(tab, chromedp.Location())
			ready, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.readyState`))
			if strings.HasPrefix(loc, s.admin) && ready == "complete" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the forged page %s never reached the console (at %s)", page, loc)
			}
		}
		got := value(t, tab, "refusal", chromedp.Text(chromedp.CSS("body")))
		if !strings.Contains(got, "refused") {
			t.Errorf("the forged %s post answered %q, want a refusal", page, got)
		}
	}
	if s.exists("forged") {
		t.Error("a cross-site form created a tenant")
	}
	if !s.exists("victim") {
		t.Error("a cross-site form deleted a tenant")
	}
	// The session still works: the refusal was not a logout.
	step(t, tab, "the console still works", chromedp.Navigate(s.console("tenants")),
		chromedp.WaitVisible(chromedp.CSS(`#tenants a[href="/console/t/victim/"]`)))
}

// waitJS waits until a JavaScript expression is true on the current page;
// step's backstop bounds it.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(0), chromedp.WithPollingInterval(20*time.Millisecond))
}

// dropFile drags a file from outside the page onto the element sel, as a
// user dropping it from a file manager does (Input.dispatchDragEvent).
func dropFile(t testing.TB, tab context.Context, sel, path string) {
	t.Helper()
	xy := value(t, tab, "drop zone position", chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => {
		const el = document.querySelector(%q); el.scrollIntoView({block: "center"});
		const r = el.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, sel)))
	data := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{path}, DragOperationsMask: 1}
	step(t, tab, "drop "+path, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
			if _, err := cdp.Call(ctx, tg, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: xy[0], Y: xy[1], Data: data}); err != nil {
				return err
			}
		}
		return nil
	}), waitJS(`document.getElementById("upload-file").files.length === 1`))
}

// checkFlash asserts the page's message.
func checkFlash(t testing.TB, tab context.Context, want string) {
	t.Helper()
	if got := value(t, tab, "flash", chromedp.Text(chromedp.ID("flash"))); !strings.Contains(got, want) {
		t.Fatalf("page says %q, want %q", got, want)
	}
}

// activeVersion reads a plugin's active version from the registry.
func activeVersion(t testing.TB, s *server, tenant, plugin string) string {
	t.Helper()
	tn, err := s.srv.Registry().Tenant(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tn.Plugins {
		if p.Name == plugin {
			return p.Active
		}
	}
	t.Fatalf("tenant[%s] has no plugin %s", tenant, plugin)
	return ""
}

// sendSingle sends a single-chat message callback to the webhook as OpenIM
// does.
func sendSingle(t testing.TB, s *server, tenant, text, opID string) {
	t.Helper()
	content, _ := json.Marshal(map[string]string{"content": text})
	b, _ := json.Marshal(map[string]any{"callbackCommand": "callbackBeforeSendSingleMsgCommand", "sendID": "alice",
		"recvID": "bob", "operationID": opID, "contentType": 101, "sessionType": 1, "content": string(content)})
	resp, err := (&http.Client{Timeout: time.Minute}).Post(s.hooks+"/hooks/"+tenant+"/callbackBeforeSendSingleMsgCommand",
		"application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
}
