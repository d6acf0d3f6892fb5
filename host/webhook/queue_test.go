package webhook

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins/queue"
)

// fakeQueue records enqueues and fails with err when set.
type fakeQueue struct {
	mu  sync.Mutex
	err error
	got []queue.Event
}

func (f *fakeQueue) Enqueue(_ context.Context, tenant, command string, body []byte) (*queue.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	ev := queue.Event{ID: queue.NewID(time.Now()), Tenant: tenant, Command: command, Body: bytes.Clone(body)}
	f.got = append(f.got, ev)
	return &ev, nil
}

// TestQueuedCallbacks: an after-callback a plugin handles is enqueued under
// its current command name and answered neutrally; a refused enqueue is a
// 503 saying why, counted; a before-callback never goes to the queue.
func TestQueuedCallbacks(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, true)
	fq := &fakeQueue{}
	e.h.opt.Queue = fq
	e.install(t, "acme", "commands")
	post := func(command, body string) *fasthttp.RequestCtx {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI("/hooks/acme/" + command)
		ctx.Request.SetBodyString(body)
		e.h.Serve(&ctx)
		return &ctx
	}
	const read = `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"u1","receiveID":"u1","unreadMsgNum":3,"contentType":3}`
	ctx := post("callbackAfterGroupMsgReadCommand", read)
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}`+"\n" {
		t.Fatalf("queued: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	// An older OpenIM's name is queued under the current one.
	post("callbackGroupMsgReadCommand", `{"callbackCommand":"callbackGroupMsgReadCommand","sendID":"u1","receiveID":"u1","unreadMsgNum":3,"contentType":3}`)
	if len(fq.got) != 2 || fq.got[0].Tenant != "acme" || fq.got[0].Command != "callbackAfterGroupMsgReadCommand" ||
		string(fq.got[0].Body) != read || fq.got[1].Command != "callbackAfterGroupMsgReadCommand" {
		t.Fatalf("enqueued %+v", fq.got)
	}
	if n := e.counter(t, "imhook_webhook_calls_total", "tenant", "acme", "outcome", "queued"); n != 2 {
		t.Fatalf("queued outcome counted %v times", n)
	}
	// A before-command runs inline: the plugin's stop reply.
	ctx = post("callbackBeforeMsgModifyCommand", `{"callbackCommand":"callbackBeforeMsgModifyCommand","sendID":"u1","content":"x"}`)
	if !bytes.Contains(ctx.Response.Body(), []byte(`"errCode":7`)) || len(fq.got) != 2 {
		t.Fatalf("before-command: %s (enqueued %d)", ctx.Response.Body(), len(fq.got))
	}

	for _, tc := range []struct {
		err       error
		msg, kind string
	}{
		{&queue.FullError{Tenant: "acme", Depth: 10}, "after-callback queue full; the event is not kept", "queue_full"},
		{errors.New("queue: store event: disk full"), "the after-callback could not be queued", "queue_failed"},
		{queue.ErrClosed, "imhook is shutting down", "queue_failed"},
	} {
		fq.mu.Lock()
		fq.err = tc.err
		fq.mu.Unlock()
		ctx := post("callbackAfterGroupMsgReadCommand", read)
		if ctx.Response.StatusCode() != fasthttp.StatusServiceUnavailable || !bytes.Contains(ctx.Response.Body(), []byte(tc.msg)) ||
			!bytes.Contains(ctx.Response.Body(), []byte(`"errCode":10503`)) {
			t.Errorf("%v: %d %s", tc.err, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if e.counter(t, "imhook_webhook_calls_total", "tenant", "acme", "outcome", tc.kind) == 0 {
			t.Errorf("%v: outcome %s not counted", tc.err, tc.kind)
		}
	}
}
