package main

import (
	"slices"
	"testing"

	"github.com/imhook/imhook/sdk/plugin"
	"github.com/imhook/imhook/sdk/sdktest"
)

func TestNoReplyForEveryCommand(t *testing.T) {
	t.Parallel()
	want := []string{
		"callbackAfterGroupMsgReadCommand",
		"callbackBeforeSendSingleMsgCommand",
		"callbackBeforeSendGroupMsgCommand",
		"callbackBeforeAddFriendCommand",
	}
	if got := plugin.Commands(); !slices.Equal(got, want) {
		t.Fatalf("Commands() = %q, want %q", got, want)
	}
	for _, cmd := range want {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			reply, err := sdktest.Call(t, cmd, []byte(`{"callbackCommand":"`+cmd+`"}`))
			if err != nil || reply != nil {
				t.Fatalf("Call = %s, %v; want no reply and no error", reply, err)
			}
		})
	}
}
