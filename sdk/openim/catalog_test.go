package openim

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"sync"
	"testing"
)

// example is one catalog command with its example bodies, as encoded by
// OpenIM's encoder (compact, HTML-escaped), ready to feed the codec.
type example struct {
	command  string
	request  []byte
	response []byte
}

var (
	examplesOnce sync.Once
	examplesList []example
	examplesErr  error
)

// catalogExamples loads every command's example request and reply from the
// catalog copy the code is generated from.
func catalogExamples(tb testing.TB) []example {
	tb.Helper()
	examplesOnce.Do(func() {
		raw, err := os.ReadFile("internal/gen/catalog.json")
		if err != nil {
			examplesErr = err
			return
		}
		var entries []struct {
			Command         string          `json:"command"`
			Example         json.RawMessage `json:"example"`
			ExampleResponse json.RawMessage `json:"exampleResponse"`
		}
		if err := json.Unmarshal(raw, &entries); err != nil {
			examplesErr = err
			return
		}
		for _, e := range entries {
			var req, resp bytes.Buffer
			if err := json.Compact(&req, e.Example); err != nil {
				examplesErr = err
				return
			}
			if err := json.Compact(&resp, e.ExampleResponse); err != nil {
				examplesErr = err
				return
			}
			examplesList = append(examplesList, example{e.Command, req.Bytes(), resp.Bytes()})
		}
	})
	if examplesErr != nil {
		tb.Fatal(examplesErr)
	}
	return examplesList
}

func TestCatalogExamples(t *testing.T) {
	t.Parallel()
	exs := catalogExamples(t)
	if len(exs) != len(Commands()) {
		t.Fatalf("catalog has %d examples, package has %d commands", len(exs), len(Commands()))
	}
	for _, ex := range exs {
		t.Run(ex.command, func(t *testing.T) {
			t.Parallel()
			c, ok := Lookup(ex.command)
			if !ok {
				t.Fatalf("Lookup(%q) failed", ex.command)
			}
			req, err := ParseRequest(ex.command, ex.request, Limits{})
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if req.Command() != c {
				t.Fatalf("ParseRequest returned a %v request, want %v", req.Command(), c)
			}
			checkAgainstStd(t, ex.request, NewRequest(c))
			// OpenIM's encoder wrote the example with this field order, so our
			// encoding of the decoded value reproduces it byte for byte.
			if got := req.AppendJSON(nil); !bytes.Equal(got, ex.request) {
				t.Errorf("re-encoded request differs from the example\n got %s\nwant %s", got, ex.request)
			}

			checkAgainstStd(t, ex.response, NewReply(c))

			n := Neutral(c, req)
			if n == nil {
				t.Fatal("Neutral returned nil")
			}
			nj := n.AppendJSON(nil)
			std, err := json.Marshal(n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(nj, std) {
				t.Errorf("neutral reply\n got %s\nwant %s", nj, std)
			}
			if got := AppendNeutral(nil, c, req); !bytes.Equal(got, nj) {
				t.Errorf("AppendNeutral = %s, want %s", got, nj)
			}
			if n.Common().Stopped() {
				t.Error("neutral reply stops the operation")
			}
		})
	}
}

// checkAgainstStd decodes data into v with our decoder and into a fresh value of
// the same type with encoding/json, and checks that both agree on the value and
// that our encoding equals json.Marshal's.
func checkAgainstStd(t *testing.T, data []byte, v interface {
	DecodeJSON([]byte) error
	AppendJSON([]byte) []byte
}) {
	t.Helper()
	if err := v.DecodeJSON(data); err != nil {
		t.Fatalf("DecodeJSON(%s): %v", data, err)
	}
	std := reflect.New(reflect.TypeOf(v).Elem()).Interface()
	if err := json.Unmarshal(data, std); err != nil {
		t.Fatalf("encoding/json rejects %s: %v", data, err)
	}
	if !reflect.DeepEqual(v, std) {
		t.Errorf("decoded values differ\n ours %+v\n std  %+v", v, std)
	}
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.AppendJSON(nil); !bytes.Equal(got, want) {
		t.Errorf("AppendJSON differs from json.Marshal\n got %s\nwant %s", got, want)
	}
}

func TestNeutralEcho(t *testing.T) {
	t.Parallel()
	exs := catalogExamples(t)
	for _, ex := range exs {
		c, _ := Lookup(ex.command)
		if !c.Echoes() {
			if Neutral(c, nil) == nil {
				t.Errorf("%v: Neutral(c, nil) = nil for a command that does not echo", c)
			}
			continue
		}
		t.Run(ex.command, func(t *testing.T) {
			if Neutral(c, nil) != nil {
				t.Error("Neutral(c, nil) != nil for an echoing command")
			}
			if got := AppendNeutral([]byte("x"), c, nil); string(got) != "x" {
				t.Errorf("AppendNeutral without request appended %q", got[1:])
			}
			req, err := ParseRequest(ex.command, ex.request, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			// The echoed reply, applied to the request, must leave it unchanged.
			before := req.AppendJSON(nil)
			Apply(req, Neutral(c, req))
			if after := req.AppendJSON(nil); !bytes.Equal(before, after) {
				t.Errorf("applying the neutral reply changed the request\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	req := new(BeforeSetGroupInfoReq)
	if err := req.DecodeJSON([]byte(`{"callbackCommand":"callbackBeforeSetGroupInfoCommand","groupID":"g1","groupName":"Team","faceURL":"f","introduction":"i","notification":"n","ex":"e"}`)); err != nil {
		t.Fatal(err)
	}
	got := string(AppendNeutral(nil, BeforeSetGroupInfo, req))
	want := `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"groupID":"g1","groupName":"Team","notification":"n","introduction":"i","faceURL":"f","ex":null,"needVerification":null,"lookMemberInfo":null,"applyMemberFriend":null}`
	if got != want {
		t.Errorf("SetGroupInfo neutral\n got %s\nwant %s", got, want)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	cs := Commands()
	if len(cs) != 52 {
		t.Fatalf("len(Commands()) = %d, want 52", len(cs))
	}
	cs[0] = 0
	if Commands()[0] != BeforeSendSingleMsg {
		t.Error("Commands returned shared storage")
	}
	tests := []struct {
		name      string
		wire      string
		want      Command
		phase     Phase
		configKey string
	}{
		{"first", "callbackBeforeSendSingleMsgCommand", BeforeSendSingleMsg, Before, "beforeSendSingleMsg"},
		{"revoke is an after command", "callbackBeforeAfterMsgCommand", BeforeAfterMsg, After, "afterRevokeMsg"},
		{"config key differs", "callbackBeforeMembersJoinGroupCommand", BeforeMembersJoinGroup, Before, "beforeMemberJoinGroup"},
		{"legacy group read", "callbackGroupMsgReadCommand", AfterGroupMsgRead, After, "afterGroupMsgRead"},
		{"last", "callbackAfterCreateGroupChatConversationsCommand", AfterCreateGroupChatConversations, After, "afterCreateGroupChatConversations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := Lookup(tt.wire)
			if !ok || c != tt.want {
				t.Fatalf("Lookup(%q) = %v, %v; want %v", tt.wire, c, ok, tt.want)
			}
			if c.Phase() != tt.phase || c.ConfigKey() != tt.configKey {
				t.Errorf("%v: phase %v key %q, want %v %q", c, c.Phase(), c.ConfigKey(), tt.phase, tt.configKey)
			}
		})
	}
	for i, c := range Commands() {
		if int(c) != i+1 || !c.Valid() {
			t.Errorf("Commands()[%d] = %d", i, c)
		}
		if got, ok := Lookup(c.String()); !ok || got != c {
			t.Errorf("Lookup(%v.String()) = %v, %v", c, got, ok)
		}
		if NewRequest(c).Command() != c || NewReply(c).Command() != c {
			t.Errorf("%v: NewRequest/NewReply have the wrong command", c)
		}
	}
	for _, bad := range []string{"", "callbackbeforesendsinglemsgcommand", "BeforeSendSingleMsg", "callbackBeforeMemberJoinGroupCommand"} {
		if c, ok := Lookup(bad); ok {
			t.Errorf("Lookup(%q) = %v, want not found", bad, c)
		}
	}
	var zero Command
	if zero.Valid() || zero.String() != "Command(0)" || zero.Phase() != 0 || zero.ConfigKey() != "" ||
		NewRequest(zero) != nil || NewReply(zero) != nil || Neutral(zero, nil) != nil || Stop(53, 1, "", "") != nil {
		t.Error("invalid command not rejected")
	}
	if Before.String() != "before" || After.String() != "after" || Phase(7).String() != "Phase(7)" {
		t.Error("Phase.String")
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	r := Stop(BeforeSendSingleMsg, 5001, "blocked", "word list")
	got := string(r.AppendJSON(nil))
	want := `{"actionCode":0,"errCode":5001,"errMsg":"blocked","errDlt":"word list","nextCode":1}`
	if got != want {
		t.Errorf("Stop = %s, want %s", got, want)
	}
	if !r.Common().Stopped() {
		t.Error("Stop reply not Stopped")
	}
	var back BeforeSendSingleMsgResp
	if err := json.Unmarshal([]byte(got), &back); err != nil || back.NextCode != 1 {
		t.Errorf("encoding/json reads the stop back as %+v, %v", back, err)
	}
}

func TestErrorsIs(t *testing.T) {
	t.Parallel()
	_, err := ParseRequest("nope", nil, Limits{})
	var ce *CommandError
	if !errors.Is(err, ErrUnknownCommand) || !errors.As(err, &ce) || ce.URLCommand != "nope" {
		t.Errorf("unknown command: %v", err)
	}
}

// TestOldNames resolves every command name OpenIM sent before a rename (the
// renames section of catalog.md): each renamed one to its current command,
// the one whose request changed shape to nothing but its successor.
func TestOldNames(t *testing.T) {
	t.Parallel()
	for old, want := range map[string]Command{
		"callbackQuitGroupCommand":            AfterQuitGroup,
		"callbackKillGroupCommand":            AfterKickGroup,
		"callbackDisMissGroupCommand":         AfterDisMissGroup,
		"callbackGroupMsgReadCommand":         AfterGroupMsgRead,
		"callbackSingleMsgRead":               AfterSingleMsgRead,
		"callbackMsgModifyCommand":            BeforeMsgModify,
		"callbackUserOnlineCommand":           AfterUserOnline,
		"callbackUserOfflineCommand":          AfterUserOffline,
		"callbackUserKickOffCommand":          AfterUserKickOff,
		"callbackOfflinePushCommand":          BeforeOfflinePush,
		"callbackOnlinePushCommand":           BeforeOnlinePush,
		"callbackSuperGroupOnlinePushCommand": BeforeGroupOnlinePush,
		"callbackAfterTransferGroupOwner":     AfterTransferGroupOwner,
		"callbackBeforeSetFriendRemark":       BeforeSetFriendRemark,
		"callbackAfterSetFriendRemark":        AfterSetFriendRemark,
	} {
		if c, ok := Lookup(old); !ok || c != want {
			t.Errorf("Lookup(%q) = %v, %v; want %v", old, c, ok, want)
		}
		if name, ok := CommandName(old); !ok || name != want.String() {
			t.Errorf("CommandName(%q) = %q, %v; want %q", old, name, ok, want)
		}
		if _, ok := Retired(old); ok {
			t.Errorf("Retired(%q): a renamed command is not retired", old)
		}
		body := `{"callbackCommand":"` + old + `"}`
		if _, err := ParseRequest(old, []byte(body), Limits{}); err != nil {
			t.Errorf("ParseRequest(%q): %v", old, err)
		}
		if _, err := ParseRequest(want.String(), []byte(body), Limits{}); err != nil {
			t.Errorf("ParseRequest(%q) of a body naming %q: %v", want, old, err)
		}
	}
	if c, ok := Retired("callbackBeforeMemberJoinGroupCommand"); !ok || c != BeforeMembersJoinGroup {
		t.Errorf("Retired(callbackBeforeMemberJoinGroupCommand) = %v, %v; want BeforeMembersJoinGroup", c, ok)
	}
	for _, name := range []string{"callbackBeforeMembersJoinGroupCommand", "callbackNope", ""} {
		if _, ok := Retired(name); ok {
			t.Errorf("Retired(%q) = true", name)
		}
	}
}
