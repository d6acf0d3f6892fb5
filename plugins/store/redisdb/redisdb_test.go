package redisdb_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

func TestOpen(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c, err := redisdb.Open(t.Context(), redisdb.Config{Address: srv.Addr(), DB: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// srv.Do talks to db 0.
	if got, err := srv.Do("EXISTS", "k"); err != nil || got != ":0" {
		t.Fatalf("EXISTS k in db 0 = %q, %v; want :0, the client writes db 3", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		addr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
		start := time.Now()
		_, err := redisdb.Open(t.Context(), redisdb.Config{Address: addr, DialTimeout: 300 * time.Millisecond})
		if err == nil {
			t.Fatal("Open of a closed port succeeded")
		}
		want := "redis at " + addr + " unreachable: "
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "check store.redis.address") {
			t.Fatalf("Open = %q, want it to contain %q and the key to check", err, want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Open took %s to give up; want about the dial timeout", d)
		}
	})

	srv := redistest.Start(t, redistest.Options{})
	t.Run("invalid config", func(t *testing.T) {
		_, err := redisdb.Open(t.Context(), redisdb.Config{Address: srv.Addr(), Mode: "nope"})
		if err == nil || !strings.Contains(err.Error(), "store.redis.mode") {
			t.Fatalf("Open = %v, want the config error", err)
		}
	})
	t.Run("evicting policy", func(t *testing.T) {
		if _, err := srv.Do("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"); err != nil {
			t.Fatal(err)
		}
		defer srv.Do("CONFIG", "SET", "maxmemory-policy", "noeviction")
		_, err := redisdb.Open(t.Context(), redisdb.Config{Address: srv.Addr()})
		if err == nil || !strings.Contains(err.Error(), "maxmemory-policy allkeys-lru") {
			t.Fatalf("Open = %v, want the eviction policy refused", err)
		}
	})
	t.Run("password", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{})
		if got, err := srv.Do("CONFIG", "SET", "requirepass", "right-password"); err != nil || got != "+OK" {
			t.Fatalf("CONFIG SET requirepass = %q, %v", got, err)
		}
		_, err := redisdb.Open(t.Context(), redisdb.Config{Address: srv.Addr(), Password: "wrong-password"})
		if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "password") {
			t.Fatalf("Open with a wrong password = %v, want an error naming the password setting", err)
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Fatalf("error %q shows the password", err)
		}
		c, err := redisdb.Open(t.Context(), redisdb.Config{Address: srv.Addr(), Password: "right-password"})
		if err != nil {
			t.Fatalf("Open with the right password: %v", err)
		}
		c.Close()
	})
}
