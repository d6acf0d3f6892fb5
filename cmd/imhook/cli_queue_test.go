package main

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/admin/admintest"
	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/store/boltqueue"
)

func TestCLIQueue(t *testing.T) {
	t.Parallel()
	st, err := boltqueue.Open(filepath.Join(t.TempDir(), "queue.db"), boltqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := queue.New(queue.Options{Store: st, Poll: 10 * time.Millisecond,
		Process: func(context.Context, *queue.Event) queue.Outcome { return queue.Outcome{Err: errors.New("bad input")} }})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	t.Cleanup(func() { q.Shutdown(context.Background()) })
	srv := admintest.Start(t, admin.Options{Queue: q})
	op := []string{"--admin-url", srv.URL, "--token", srv.OperatorToken}
	cli := func(args ...string) result {
		t.Helper()
		return imhook(t, "", append(args, op...)...)
	}
	cli("tenant", "create", "acme").want(t, 0, "created tenant acme")
	ctx := context.Background()
	for range 3 {
		if _, err := q.Enqueue(ctx, "acme", "callbackAfterSendSingleMsgCommand", []byte(`{"content":"x"}`)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, _ := q.Stats(ctx, "acme"); s.Dead == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("events not dead-lettered")
		}
	}

	cli("queue", "stats", "--tenant", "acme").want(t, 0, "mode", "queued", "dead letters  3", "dead-lettered 3")
	r := cli("queue", "dead", "list", "--tenant", "acme", "--limit", "2").want(t, 0, "LAST ERROR", "bad input", "more: imhook queue dead list --after ")
	ids := regexp.MustCompile(`(?m)^([0-9a-f]{32})\s`).FindAllStringSubmatch(r.stdout, -1)
	if len(ids) != 2 {
		t.Fatalf("list:\n%s", r.stdout)
	}
	id := ids[0][1]
	cli("queue", "dead", "show", id, "--tenant", "acme").want(t, 0, "id:         "+id, `{"content":"x"}`, "attempts:   1")
	cli("queue", "dead", "show", strings.Repeat("0", 32), "--tenant", "acme").want(t, 1, "no dead letter[")
	cli("queue", "dead", "show", "../../etc", "--tenant", "acme").want(t, 1, "404")
	cli("queue", "dead", "retry", "--tenant", "acme").want(t, 2, "give either an event ID or --all")
	cli("queue", "dead", "retry", id, "--all", "--tenant", "acme").want(t, 2, "give either an event ID or --all")
	cli("queue", "dead", "retry", id, "--tenant", "acme").want(t, 0, "queued again 1 dead letter(s)")
	cli("queue", "dead", "purge", ids[1][1], "--tenant", "acme").want(t, 0, "purged 1 dead letter(s)")
	cli("queue", "dead", "purge", ids[1][1], "--tenant", "acme").want(t, 1, "no dead letter[")
	// The retried event fails again: two dead letters, then none.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, _ := q.Stats(ctx, "acme"); s.Dead == 2 && s.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the retried event did not die again")
		}
	}
	cli("queue", "dead", "retry", "--all", "--tenant", "acme").want(t, 0, "queued again 2 dead letter(s)")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if s, _ := q.Stats(ctx, "acme"); s.Dead == 2 && s.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the retried events did not die again")
		}
	}
	cli("queue", "dead", "purge", "--all", "--tenant", "acme").want(t, 0, "purged 2 dead letter(s)")
	cli("queue", "dead", "list", "--tenant", "acme").want(t, 0, "no dead letters")
	cli("queue", "dead").want(t, 2, "give list, show <id>")
	cli("queue", "stats").want(t, 2, "which tenant?")
}
