package plugins

import (
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestGuestOnEveryPPollsNetwork: when the process has one P, which guest
// calls may hold, the network is polled at every slice end
// (pollNetwork), not only by sysmon every 10 ms: with one P, a ping-pong over
// loopback keeps going while a guest loops through a budget of 100 million
// instructions (at least 100 slices). Counted in round trips, not timed:
// without the polls a round trip waits for sysmon twice (20 ms), so a call
// of 15-100 ms sees at most a handful.
func TestGuestOnEveryPPollsNetwork(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	e := newTestEngine(t, EngineOptions{CPUSlots: 1})
	if !e.pollNet {
		t.Fatal("one P and one slot: the engine does not poll the network")
	}
	p := load(t, newTestTenant(t, e, SandboxOptions{ID: "poll"}), "loop", wat(t, "infinite_loop"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // echo
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 1)
		for {
			if _, err := c.Read(b); err != nil {
				return
			}
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var trips atomic.Int64
	var calling atomic.Bool
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // ping-pong, counting the round trips made during the call
		defer close(done)
		b := []byte{1}
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Write(b); err != nil {
				return
			}
			if _, err := c.Read(b); err != nil {
				return
			}
			if calling.Load() {
				trips.Add(1)
			}
		}
	}()
	time.Sleep(10 * time.Millisecond) // the ping-pong is going
	calling.Store(true)
	_, info, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
	calling.Store(false)
	close(stop)
	c.Close()
	<-done
	if KindOf(err) != KindCPUTime {
		t.Fatalf("loop: %v, want its budget spent", err)
	}
	if n := trips.Load(); n < 20 {
		t.Errorf("%d round trips over loopback while the guest ran %d instructions on the only P, want at least 20: the network was not polled between slices", n, info.Instructions)
	}
	t.Logf("%d round trips during a call of %d instructions", trips.Load(), info.Instructions)
}
