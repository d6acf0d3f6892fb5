package boltstate_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/boltstate"
	"github.com/imhook/imhook/plugins/state/statetest"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

func open(t *testing.T) state.Backend {
	s, err := boltstate.Open(filepath.Join(t.TempDir(), "state.db"), boltstate.Options{Bolt: boltdb.Options{NoSync: true}, SweepInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	statetest.Run(t, open)
}
