package host_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	bbolt "go.etcd.io/bbolt"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// fillTenant gives tenant what a deletion must purge: a state key, a dead
// letter and pending (retried) events.
func fillTenant(t *testing.T, e *env, tenant string) {
	t.Helper()
	e.tenant(tenant, registry.Settings{Grants: []string{limits.GrantKV}}, "queued", "queued")
	key := base64.RawURLEncoding.EncodeToString([]byte("seed:" + tenant))
	if status, body := e.admin("PUT", "/v1/tenants/"+tenant+"/kv/"+key, kvOperator, "application/json", []byte(`{"value":"MQ=="}`)); status != 200 {
		t.Fatalf("put a key: %d %s", status, body)
	}
	for _, content := range []string{"fail", "retry", "retry"} {
		if r := e.post("/hooks/"+tenant+afterSingle, afterBody(content)); r.err != nil || r.status != 200 {
			t.Fatalf("after-callback %q: %d %v", content, r.status, r.err)
		}
	}
	deadline := time.Now().Add(60 * time.Second) // a backstop
	for {
		status, body := e.admin("GET", "/v1/tenants/"+tenant+"/queue", kvOperator, "", nil)
		var st struct{ Pending, Dead int }
		if status == 200 && json.Unmarshal(body, &st) == nil && st.Dead == 1 && st.Pending == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant[%s] queue never held 1 dead letter and 2 pending events: %d %s", tenant, status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deleteTenant deletes tenant and checks the reply says what was purged.
func deleteTenant(t *testing.T, e *env, tenant string) {
	t.Helper()
	status, body := e.admin("DELETE", "/v1/tenants/"+tenant, kvOperator, "", nil)
	var got struct {
		Tenant string
		Purged []string
		Failed map[string]string
	}
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Tenant != tenant ||
		strings.Join(got.Purged, ",") != "queue,dead_letters,state" || len(got.Failed) != 0 {
		t.Fatalf("DELETE /v1/tenants/%s = %d %s; want 200 saying its queue, dead letters and state were purged", tenant, status, body)
	}
}

// TestDeleteTenantPurgesBolt: nothing of a deleted tenant is left in the
// bbolt files of the queue and the state; another tenant keeps its own.
func TestDeleteTenantPurgesBolt(t *testing.T) {
	t.Parallel()
	var dataDir string
	e := start(t, func(c *host.Config) { fastRetries(c); c.Admin.Token = kvOperator; dataDir = c.DataDir })
	fillTenant(t, e, "gone")
	fillTenant(t, e, "kept")
	deleteTenant(t, e, "gone")
	e.close()
	for _, name := range []string{"queue.db", "state.db"} {
		if left := boltMentions(t, filepath.Join(dataDir, name), "gone"); len(left) > 0 {
			t.Errorf("%s still holds the deleted tenant: %v", name, left)
		}
		if left := boltMentions(t, filepath.Join(dataDir, name), "kept"); len(left) == 0 {
			t.Errorf("%s holds nothing of the tenant that was kept", name)
		}
	}
}

// boltMentions walks every bucket of the file at path and returns the
// bucket names, keys and values that contain s.
func boltMentions(t *testing.T, path, s string) []string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	var walk func(where string, b *bbolt.Bucket)
	walk = func(where string, b *bbolt.Bucket) {
		_ = b.ForEach(func(k, v []byte) error {
			if v == nil {
				if bytes.Contains(k, []byte(s)) {
					out = append(out, "bucket "+where+"/"+string(k))
				}
				walk(where+"/"+string(k), b.Bucket(k))
			} else if bytes.Contains(k, []byte(s)) || bytes.Contains(v, []byte(s)) {
				out = append(out, fmt.Sprintf("key %s/%q", where, k))
			}
			return nil
		})
	}
	_ = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			if bytes.Contains(name, []byte(s)) {
				out = append(out, "bucket "+string(name))
			}
			walk(string(name), b)
			return nil
		})
	})
	return out
}

// TestDeleteTenantPurgesRedis: nothing of a deleted tenant's queue, dead
// letters or state is left in Redis.
func TestDeleteTenantPurgesRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	e := start(t, func(c *host.Config) {
		fastRetries(c)
		c.Admin.Token = kvOperator
		c.Store.Backend = "redis"
		c.Store.Redis.Address = srv.Addr()
	})
	fillTenant(t, e, "gone")
	fillTenant(t, e, "kept")
	deleteTenant(t, e, "gone")
	e.close()
	rc := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rc.Close()
	keys, err := rc.Keys(t.Context(), "*gone*").Result()
	// The plugin's blobs are the registry's: on a shared store they are
	// collected once registry.DefaultBlobGrace old (another replica may be
	// uploading), by design.
	keys = slices.DeleteFunc(keys, func(k string) bool { return strings.HasPrefix(k, "{imhook:b:gone}:") })
	if err != nil || len(keys) > 0 {
		t.Errorf("keys of the deleted tenant left in Redis: %q %v", keys, err)
	}
	kept, err := rc.Keys(t.Context(), "*kept*").Result()
	if j := strings.Join(kept, " "); err != nil || !strings.Contains(j, "{imhook:q:kept}") || !strings.Contains(j, "kv:{kept}") {
		t.Errorf("the kept tenant's keys = %q, %v; want its queue and state", kept, err)
	}
	if members, err := rc.SMembers(t.Context(), "{imhook:q}:tenants").Result(); err != nil || slices.Contains(members, "gone") {
		t.Errorf("the queue's tenant set still lists the deleted tenant: %q %v", members, err)
	}
}
