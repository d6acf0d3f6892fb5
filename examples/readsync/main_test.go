package main

import (
	"slices"
	"testing"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/sdktest"
)

// Bodies as OpenIM sends them (docs/openim catalog examples).
const (
	groupReadBody  = `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}` + "\n"
	singleReadBody = `{"callbackCommand":"callbackAfterSingleMsgReadCommand","conversationID":"si_user_a_user_b","userID":"user_b","Seqs":[56,57],"contentType":1}` + "\n"
)

func TestReadEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		config   map[string]string
		command  string
		body     string
		wantLogs []sdktest.Line
		wantErr  string
	}{
		{
			name:    "group read",
			command: "callbackAfterGroupMsgReadCommand",
			body:    groupReadBody,
			wantLogs: []sdktest.Line{{Level: abi.LogInfo,
				Text: "group read reader=user_b has_read_seq=42 conversation_type=3"}},
		},
		{
			name:    "group read with differing reader fields",
			command: "callbackAfterGroupMsgReadCommand",
			body:    `{"sendID":"user_b","receiveID":"user_c","unreadMsgNum":7,"contentType":3}`,
			wantLogs: []sdktest.Line{
				{Level: abi.LogInfo, Text: "group read reader=user_b has_read_seq=7 conversation_type=3"},
				{Level: abi.LogWarn, Text: "group read with differing reader fields send_id=user_b receive_id=user_c"},
			},
		},
		{
			name:    "single read",
			command: "callbackAfterSingleMsgReadCommand",
			body:    singleReadBody,
			wantLogs: []sdktest.Line{{Level: abi.LogInfo,
				Text: "conversation read conversation=si_user_a_user_b reader=user_b seqs=56,57 max_seq=57 conversation_type=1"}},
		},
		{
			name:    "single read of a whole conversation",
			command: "callbackAfterSingleMsgReadCommand",
			body:    `{"conversationID":"sg_3917201845","userID":"user_b","Seqs":null,"contentType":3}`,
			wantLogs: []sdktest.Line{{Level: abi.LogInfo,
				Text: `conversation read conversation=sg_3917201845 reader=user_b seqs="" max_seq=0 conversation_type=3`}},
		},
		{
			name:     "debug level",
			config:   map[string]string{"log_level": "debug"},
			command:  "callbackAfterGroupMsgReadCommand",
			body:     groupReadBody,
			wantLogs: []sdktest.Line{{Level: abi.LogDebug, Text: "group read reader=user_b has_read_seq=42 conversation_type=3"}},
		},
		{
			name:    "off",
			config:  map[string]string{"log_level": "off"},
			command: "callbackAfterSingleMsgReadCommand",
			body:    singleReadBody,
		},
		{
			name:    "invalid level",
			config:  map[string]string{"log_level": "loud"},
			command: "callbackAfterGroupMsgReadCommand",
			body:    groupReadBody,
			wantErr: `plugin: handler for callbackAfterGroupMsgReadCommand failed: plugin: config[log_level]: want one of debug, info, warn, off; got "loud"`,
		},
		{
			name:    "empty level is invalid",
			config:  map[string]string{"log_level": ""},
			command: "callbackAfterGroupMsgReadCommand",
			body:    groupReadBody,
			wantErr: `plugin: handler for callbackAfterGroupMsgReadCommand failed: plugin: config[log_level]: want one of debug, info, warn, off; got ""`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sdktest.New(t, tc.config)
			reply, err := h.Call(tc.command, []byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reply != nil {
				t.Fatalf("reply = %s, want none (after-callback replies are ignored)", reply)
			}
			if got := h.Logs(); !slices.Equal(got, tc.wantLogs) {
				t.Fatalf("logs = %q\nwant   %q", got, tc.wantLogs)
			}
		})
	}
}

func BenchmarkGroupRead(b *testing.B) {
	h := sdktest.New(b, map[string]string{"log_level": "off"})
	body := []byte(groupReadBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Call("callbackAfterGroupMsgReadCommand", body); err != nil {
			b.Fatal(err)
		}
	}
}
