package redisqueue

import (
	"context"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/queue/queuetest"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// lease is short so that the crash tests take over claims quickly.
const lease = 500 * time.Millisecond

func TestConformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	n := 0
	queuetest.Run(t, queuetest.Backend{Lease: lease, New: func(t *testing.T) func() queue.Store {
		n++
		prefix := "t" + time.Now().Format("150405.000000") + "-" + string(rune('a'+n%26))
		return func() queue.Store {
			c, err := redisdb.Open(context.Background(), redisdb.Config{Address: srv.Addr(), KeyPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			s, err := New(c, Options{KeyPrefix: prefix, Lease: lease})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}})
}
