package host_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins/registry"
)

// TestIdleReleasedPluginAnswers: with a short sandbox.idle_timeout, a
// tenant's instances are closed once it is quiet, and its next callback is
// answered by its plugin (a new instance), not by a failure policy.
func TestIdleReleasedPluginAnswers(t *testing.T) {
	e := start(t, func(c *host.Config) { c.Sandbox.IdleTimeout = 20 * time.Millisecond })
	e.tenant("quiet", registry.Settings{Config: map[string]string{"banned_words": "apple", "err_code": "30001"}}, "moderation", "moderation")
	stopped := func(when string) {
		t.Helper()
		r := e.post("/hooks/quiet"+sendSingle, msgBody("an apple"))
		if r.err != nil || r.status != http.StatusOK || r.reply.ErrCode != 30001 {
			t.Fatalf("%s: status %d err %v body %s, want the plugin's stop (errCode 30001)", when, r.status, r.err, r.body)
		}
	}
	stopped("first callback")
	released := func() (uint64, bool) {
		st, _ := e.srv.Directory().Stats("quiet")
		for _, p := range st.Plugins {
			if p.Name == "moderation" && p.Pool != nil {
				return p.Pool.Released, p.Pool.Live == 0
			}
		}
		return 0, false
	}
	// A backstop only: the release comes within a few sweeps of 10-20 ms.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, empty := released(); n > 0 && empty {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the quiet tenant's instance was not released within 60s")
		}
	}
	stopped("callback after the release")
	stopped("and the one after")
}
