package boltstate_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/boltstate"
)

// BenchmarkAddConcurrent: 16 callers adding to their own counters, with an
// fsync per commit, one commit per write or batched.
//
//	go test ./plugins/state/boltstate -run '^$' -bench AddConcurrent
func BenchmarkAddConcurrent(b *testing.B) {
	for _, batching := range []bool{false, true} {
		b.Run(fmt.Sprintf("batch=%v", batching), func(b *testing.B) {
			s, err := boltstate.Open(filepath.Join(b.TempDir(), "state.db"), boltstate.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.SetBatching(batching)
			a := state.NewTenant(s, "a", state.Quota{}, nil)
			var id atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				key := fmt.Appendf(nil, "c%d", id.Add(1))
				for pb.Next() {
					if _, err := a.Add(context.Background(), key, 1, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
