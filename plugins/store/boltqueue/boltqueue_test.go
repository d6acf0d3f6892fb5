package boltqueue

import (
	"path/filepath"
	"testing"

	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Backend{New: func(t *testing.T) func() queue.Store {
		path := filepath.Join(t.TempDir(), "queue.db")
		return func() queue.Store {
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}})
}
