package boltqueue

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/queue"
)

// BenchmarkEnqueue: enqueues from 256 goroutines, each durable (group
// commit), with a consumer acking as fast as it claims; reports the
// enqueue latency percentiles and the events per commit. In "begin+ack"
// the consumer records each delivery's start durably first (Store.Begin),
// as the queue's workers do since poison events are counted: the two
// variants in one run show what that costs the enqueues.
func BenchmarkEnqueue(b *testing.B) {
	b.Run("ack", func(b *testing.B) { benchEnqueue(b, false) })
	b.Run("begin+ack", func(b *testing.B) { benchEnqueue(b, true) })
}

func benchEnqueue(b *testing.B, begin bool) {
	s, err := Open(filepath.Join(b.TempDir(), "q.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	body := make([]byte, 600)
	done := make(chan struct{})
	go func() { // ack what is enqueued, as the workers do
		for {
			select {
			case <-done:
				return
			default:
			}
			evs, _ := s.Claim(ctx, "t", 64, time.Now())
			if len(evs) == 0 {
				time.Sleep(time.Millisecond)
			}
			var wg sync.WaitGroup
			for _, ev := range evs {
				wg.Go(func() {
					if begin {
						_ = s.Begin(ctx, ev)
					}
					s.Ack(ctx, ev)
				})
			}
			wg.Wait()
		}
	}()
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(128)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			ev := &queue.Event{ID: queue.NewID(start), Tenant: "t", Command: "c", Body: body, Enqueued: start, Attempt: 1}
			if err := s.Enqueue(ctx, ev, 1<<30); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	close(done)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
	n := s.commits.Load()
	st := s.db.Stats().TxStats
	b.ReportMetric(float64(n), "commits")
	b.ReportMetric(float64(b.N)/float64(n), "enqueues/commit")
	b.ReportMetric(float64(s.commitTime.Load())/float64(n)/1e3, "commit-us")
	b.ReportMetric(float64(st.GetWriteTime().Microseconds())/float64(n), "pwrite-us/commit")
	b.ReportMetric(float64(st.GetWrite())/float64(n), "pwrites/commit")
}
