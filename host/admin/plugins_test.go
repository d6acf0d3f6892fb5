package admin_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins/registry"
)

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestUploadRefused checks that every bad upload gets its own clear answer and
// leaves nothing behind.
func TestUploadRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{MaxUploadBytes: 4096})
	const path = "/v1/tenants/a/plugins/p/versions"
	for _, tc := range []struct {
		name   string
		body   []byte
		ctype  string
		status int
		msg    string // a substring of the error
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), "application/wasm", 422, "invalid plugin module"},
		{"wrong abi", fixture(t, "wrong_abi"), "application/wasm", 422, "imhook_abi_version returned 2"},
		{"missing export", fixture(t, "no_handle"), "application/wasm", 422, "export func[imhook_handle]"},
		{"oversized", bytes.Repeat([]byte{0}, 5000), "application/wasm", 413, "plugin of 5000 bytes is over the 4096 byte upload limit"},
		{"empty", nil, "application/wasm", 400, "empty upload: send the .wasm file as the request body"},
		{"json body", fixture(t, "allow"), "application/json", 415,
			"content type[application/json] not accepted here; send Content-Type: application/wasm or application/octet-stream"},
		{"bad plugin name", fixture(t, "allow"), "application/wasm", 400, "want 1-63 of [a-z0-9_-]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.a
			a.t = t
			p := path
			if tc.name == "bad plugin name" {
				p = "/v1/tenants/a/plugins/Bad.Name/versions"
			}
			r := a.do("POST", p, tc.body, tc.ctype).want(t, tc.status)
			if got := r.errMsg(t); !strings.Contains(got, tc.msg) {
				t.Fatalf("error %q does not contain %q", got, tc.msg)
			}
		})
	}
	var list admin.PluginList
	e.a.do("GET", "/v1/tenants/a/plugins", nil, "").want(t, 200).decode(t, &list)
	if len(list.Plugins) != 0 {
		t.Fatalf("refused uploads left plugins behind: %+v", list.Plugins)
	}
	blobs, err := e.srv.Registry.Blob(t.Context(), "a", hashOf(fixture(t, "wrong_abi")))
	if err == nil {
		t.Fatalf("refused upload stored a blob of %d bytes", len(blobs))
	}
}

// TestPluginLifecycle walks a plugin through upload, activation, rollback,
// reordering and deletion.
func TestPluginLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	a := e.a
	a.t = t
	stop, allow := hashOf(fixture(t, "stop")), hashOf(fixture(t, "allow"))
	const p = "/v1/tenants/a/plugins/guard"

	active := func() string {
		var pl registry.Plugin
		a.do("GET", p, nil, "").want(t, 200).decode(t, &pl)
		return pl.Active
	}

	var up admin.Upload
	r := a.upload("a", "guard", "stop", "").want(t, 201)
	r.decode(t, &up)
	// A raw-ABI WAT guest without imhook_input_formats receives JSON (the
	// wire format's negotiation is tested in plugins, TestWireInput).
	if up.Version.Hash != stop || up.Active || !up.Created || up.Version.ABIVersion != 1 || up.WireInput ||
		strings.Join(up.Version.Commands, ",") != "callbackBeforeSendSingleMsgCommand" {
		t.Fatalf("upload %+v", up)
	}
	if got := r.header.Get("Location"); got != p+"/versions/"+stop {
		t.Fatalf("Location %s", got)
	}
	if active() != "" {
		t.Fatal("an upload without ?activate became active")
	}

	a.upload("a", "guard", "allow", "?activate=true").want(t, 201).decode(t, &up)
	if !up.Active || active() != allow {
		t.Fatalf("upload with ?activate: %+v, active %s", up, active())
	}

	// The same bytes again change nothing.
	up = admin.Upload{}
	a.upload("a", "guard", "allow", "").want(t, 200).decode(t, &up)
	if up.Created || up.Version.Hash != allow {
		t.Fatalf("re-upload %+v", up)
	}

	// Activate by a 12-digit prefix.
	a.do("POST", p+"/versions/"+stop[:12]+"/activate", nil, "").want(t, 200)
	if active() != stop {
		t.Fatal("activate by prefix")
	}
	a.do("POST", p+"/rollback", nil, "").want(t, 200)
	if active() != allow {
		t.Fatal("rollback did not restore the previous version")
	}
	r = a.do("POST", p+"/rollback", nil, "").want(t, 404)
	if got := r.errMsg(t); got != "tenant[a] plugin[guard]: no earlier active version to roll back to: not found" {
		t.Fatal(got)
	}

	var vl admin.VersionList
	a.do("GET", p+"/versions", nil, "").want(t, 200).decode(t, &vl)
	if vl.Active != allow || len(vl.Versions) != 2 || vl.Versions[0].Hash != stop {
		t.Fatalf("versions %+v", vl)
	}
	var v registry.Version
	a.do("GET", p+"/versions/active", nil, "").want(t, 200).decode(t, &v)
	if v.Hash != allow {
		t.Fatalf("active version %s", v.Hash)
	}

	r = a.do("DELETE", p+"/versions/"+allow, nil, "").want(t, 409)
	if got := r.errMsg(t); !strings.Contains(got, "version is active; activate another version or delete the plugin") {
		t.Fatal(got)
	}
	a.do("DELETE", p+"/versions/"+stop, nil, "").want(t, 204)
	a.do("GET", p+"/versions/"+stop, nil, "").want(t, 404)

	// Order: a second plugin, then swap.
	a.upload("a", "audit", "allow", "?activate").want(t, 201)
	var pl admin.PluginList
	r = a.do("PUT", "/v1/tenants/a/plugins/order", admin.Order{Order: []string{"audit", "guard"}}, "").want(t, 200)
	r.decode(t, &pl)
	if pl.Plugins[0].Name != "audit" || pl.Plugins[1].Name != "guard" {
		t.Fatalf("order %+v", pl.Plugins)
	}
	// A stale ETag refuses the change.
	r = a.do("PUT", "/v1/tenants/a/plugins/order", admin.Order{Order: []string{"guard", "audit"}}, "", "If-Match", `"1"`).want(t, 412)
	r = a.do("PUT", "/v1/tenants/a/plugins/order", admin.Order{Order: []string{"guard"}}, "").want(t, 400)
	if got := r.errMsg(t); got != "tenant[a]: order [guard] must name each plugin once: [audit,guard]: invalid" {
		t.Fatal(got)
	}

	a.do("DELETE", p, nil, "").want(t, 204)
	a.do("GET", p, nil, "").want(t, 404)
	if _, err := e.srv.Registry.Blob(t.Context(), "a", stop); err == nil {
		t.Fatal("deleted version's blob is still stored")
	}
	// Tenant b saw none of it.
	b := e.b
	b.t = t
	b.do("GET", "/v1/tenants/b/plugins/audit", nil, "").want(t, 404)
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	a := e.a
	a.t = t
	stop, fail := hashOf(fixture(t, "stop")), hashOf(fixture(t, "fail"))
	a.upload("a", "guard", "stop", "").want(t, 201)
	a.upload("a", "guard", "fail", "").want(t, 201)
	test := func(hash, command, body string) response {
		return a.do("POST", "/v1/tenants/a/plugins/guard/versions/"+hash+"/test?command="+command, body, "application/json")
	}
	const cmd = "callbackBeforeSendSingleMsgCommand"

	t.Run("reply, logs and time", func(t *testing.T) {
		a.t = t
		var out admin.DryRun
		test(stop[:16], cmd, singleMsg).want(t, 200).decode(t, &out)
		if out.Version != stop || out.Plugin != "guard" || out.Command != cmd || out.Error != nil || out.PolicyApplied {
			t.Fatalf("dry run %+v", out)
		}
		if !out.Stops || !strings.Contains(string(out.Reply), `"errMsg":"blocked"`) {
			t.Fatalf("reply %s stops=%v", out.Reply, out.Stops)
		}
		if len(out.Logs) != 1 || out.Logs[0] != (admin.LogLine{Level: "info", Message: "checked"}) {
			t.Fatalf("logs %+v", out.Logs)
		}
		if out.DurationUS <= 0 || out.MemoryPages < 2 || out.MemoryBytes != uint64(out.MemoryPages)*65536 {
			t.Fatalf("duration %d memory %d pages %d bytes", out.DurationUS, out.MemoryPages, out.MemoryBytes)
		}
		if out.CPULimit != "instructions" || out.Instructions == 0 || out.Instructions > out.MaxInstructions || out.MaxInstructions != 100_000_000 {
			t.Fatalf("cpu limit %q, %d of %d instructions (reason %q)", out.CPULimit, out.Instructions, out.MaxInstructions, out.CPULimitReason)
		}
		var pl registry.Plugin
		a.do("GET", "/v1/tenants/a/plugins/guard", nil, "").want(t, 200).decode(t, &pl)
		if pl.Active != "" {
			t.Fatal("a dry run activated the version")
		}
	})

	t.Run("failure policy", func(t *testing.T) {
		a.t = t
		patch := map[string]any{"settings": map[string]any{"failure_by_command": map[string]any{
			cmd: map[string]any{"closed": true, "err_code": 7001, "err_msg": "try later"}}}}
		a.do("PATCH", "/v1/tenants/a", patch, "").want(t, 200)
		var out admin.DryRun
		test(fail, cmd, singleMsg).want(t, 200).decode(t, &out)
		if out.Error == nil || out.Error.Kind != "guest_error" || !strings.Contains(out.Error.Message, "db down") || !out.PolicyApplied || !out.Stops {
			t.Fatalf("dry run %+v", out)
		}
		var reply map[string]any
		if err := json.Unmarshal(out.Reply, &reply); err != nil || reply["errCode"] != 7001.0 || reply["errMsg"] != "try later" {
			t.Fatalf("policy reply %s", out.Reply)
		}
	})

	for _, tc := range []struct {
		name, hash, command, body string
		status                    int
		msg                       string
	}{
		{"bad json", stop, cmd, `{"sendID":`, 400, "bad callback: openim: invalid JSON"},
		{"unknown command", stop, "callbackNopeCommand", singleMsg, 400, `bad callback: openim: unknown command "callbackNopeCommand"`},
		{"command mismatch", stop, "callbackBeforeSendGroupMsgCommand", singleMsg, 400, "does not match URL command"},
		{"missing command", stop, "", singleMsg, 400, "missing query parameter command"},
		{"command not declared", stop, "callbackAfterSendSingleMsgCommand",
			strings.Replace(singleMsg, "Before", "After", 1), 400, "does not handle command[callbackAfterSendSingleMsgCommand]"},
		{"no active version", "active", cmd, singleMsg, 404, "tenant[a] plugin[guard]: no active version: not found"},
		{"unknown version", strings.Repeat("0", 64), cmd, singleMsg, 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.t = t
			r := test(tc.hash, tc.command, tc.body).want(t, tc.status)
			if got := r.errMsg(t); !strings.Contains(got, tc.msg) {
				t.Fatalf("error %q does not contain %q", got, tc.msg)
			}
		})
	}
}

// TestConcurrentChanges hammers one plugin with uploads, activations and dry
// runs from several clients at once: every request must succeed (uploads
// and dry runs after retrying the 429 of a tenant that has one running),
// and the plugin must end with both versions and one of them active.
func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	stop, allow := hashOf(fixture(t, "stop")), hashOf(fixture(t, "allow"))
	a := e.a
	a.t = t
	a.upload("a", "guard", "stop", "?activate=true").want(t, 201)
	// Both versions exist before the hammer: a worker whose upload waits its
	// turn must not dry-run a version nobody uploaded yet.
	a.upload("a", "guard", "allow", "").want(t, 201)

	const workers, rounds = 6, 4
	wasms := [][]byte{fixture(t, "stop"), fixture(t, "allow")} // read here: t.Fatal is for this goroutine only
	errs := make(chan string, workers*rounds*3)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client{base: e.srv.URL, token: e.a.token}
			wasm := wasms[w%2]
			for range rounds {
				for _, r := range []struct {
					method, path string
					body         any
					ctype        string
				}{
					{"POST", "/v1/tenants/a/plugins/guard/versions?activate=true", wasm, "application/wasm"},
					{"POST", "/v1/tenants/a/plugins/guard/versions/" + stop[:12] + "/activate", nil, ""},
					{"POST", "/v1/tenants/a/plugins/guard/versions/" + allow[:12] + "/test?command=callbackBeforeSendSingleMsgCommand", singleMsg, "application/json"},
				} {
					resp, err := c.send(r.method, r.path, r.body, r.ctype)
					for err == nil && resp.header.Get("Retry-After") != "" {
						time.Sleep(time.Millisecond) // sooner than it says: the requests are tiny
						resp, err = c.send(r.method, r.path, r.body, r.ctype)
					}
					switch {
					case err != nil:
						errs <- r.method + " " + r.path + ": " + err.Error()
					case resp.status >= 300:
						errs <- r.method + " " + r.path + ": " + string(resp.body)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	var pl registry.Plugin
	a.do("GET", "/v1/tenants/a/plugins/guard", nil, "").want(t, 200).decode(t, &pl)
	if len(pl.Versions) != 2 || (pl.Active != stop && pl.Active != allow) {
		t.Fatalf("plugin after the hammer: %+v", pl)
	}
}
