package admin_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imhook/imhook/host/admin"
)

// TestHostileUploads uploads, as tenant a and one after another, every
// attack of plugins/testdata/attacks (counts that made wazero allocate
// gigabytes, shapes that took it seconds to minutes to compile), while
// tenant b uploads good modules. Every attack gets a 422 naming what is
// wrong; every upload of b succeeds.
func TestHostileUploads(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	files, _ := filepath.Glob(filepath.Join("..", "..", "plugins", "testdata", "attacks", "*.wasm"))
	if len(files) < 20 {
		t.Fatalf("found %d attacks", len(files))
	}
	good := [][]byte{fixture(t, "allow"), fixture(t, "stop")}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var goodUploads int
	var goodErr error
	wg.Go(func() {
		for ; ; goodUploads++ {
			select {
			case <-done:
				if goodUploads > 0 { // at least one, overlapping or not
					return
				}
			default:
			}
			r, err := e.b.send("POST", "/v1/tenants/b/plugins/p/versions", good[goodUploads%2], "application/wasm")
			if err == nil && r.status != http.StatusCreated && r.status != http.StatusOK {
				err = &statusError{r}
			}
			if err != nil {
				goodErr = err
				return
			}
		}
	})
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := e.a.do("POST", "/v1/tenants/a/plugins/p/versions", b, "application/wasm")
		msg := r.want(t, http.StatusUnprocessableEntity).errMsg(t)
		if !strings.Contains(msg, "the limit is") && !strings.Contains(msg, "malformed wasm") {
			t.Errorf("%s: %q names no limit and no malformation", filepath.Base(f), msg)
		}
	}
	close(done)
	wg.Wait()
	if goodErr != nil || goodUploads == 0 {
		t.Fatalf("tenant b: %d uploads, then %v", goodUploads, goodErr)
	}
}

type statusError struct{ r response }

func (e *statusError) Error() string { return string(e.r.body) }

// TestConcurrentUploads sends 20 uploads at once, 10 from each of two
// tenants. Each is stored (201 or 200), or refused at once with Retry-After:
// 429 while its tenant has one running, 503 while every slot is taken.
func TestConcurrentUploads(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	allow := fixture(t, "allow")
	var wg sync.WaitGroup
	responses := make([]response, 20)
	errs := make([]error, 20)
	for i := range responses {
		c, tenant := e.a, "a"
		if i%2 == 1 {
			c, tenant = e.b, "b"
		}
		wg.Go(func() {
			responses[i], errs[i] = c.send("POST", "/v1/tenants/"+tenant+"/plugins/p/versions", allow, "application/wasm")
		})
	}
	wg.Wait()
	stored := 0
	for i, r := range responses {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch r.status {
		case http.StatusCreated, http.StatusOK:
			stored++
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			if r.header.Get("Retry-After") != "5" || !strings.Contains(r.errMsg(t), "retry") && !strings.Contains(r.errMsg(t), "when it has finished") {
				t.Errorf("%d without Retry-After or advice: %s", r.status, r.body)
			}
		default:
			t.Errorf("status %d: %s", r.status, r.body)
		}
	}
	if stored == 0 {
		t.Error("no upload was stored")
	}
}
