package redisstate_test

import (
	"context"
	"testing"

	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/redisstate"
	"github.com/imhook/imhook/plugins/state/statetest"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	n := 0
	statetest.Run(t, func(t *testing.T) state.Backend {
		c, err := redisdb.Open(context.Background(), redisdb.Config{Address: srv.Addr()}.WithDefaults())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		n++
		// A prefix per test: one server, keyspaces apart.
		return redisstate.New(c, "t"+string(rune('a'+n)))
	})
}
