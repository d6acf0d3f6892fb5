package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate regenerates every file and fails when a committed one
// differs: edit catalog.json or protocol.json, then run go generate ./sdk/openim.
func TestGeneratedUpToDate(t *testing.T) {
	files, err := generate(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 10 {
		t.Fatalf("generated %d files, want 10 (6 Go, 4 AssemblyScript)", len(files))
	}
	for name, want := range files {
		path := filepath.Join("..", "..", name)
		switch {
		case name == pluginFile:
			path = filepath.Join("..", "..", "..", "plugin", "zhandlers.go")
		case isASFile(name):
			path = filepath.Join("..", "..", "..", name)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run go generate ./sdk/openim)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run go generate ./sdk/openim", path)
		}
		if !bytes.HasPrefix(want, []byte("// Code generated ")) || !bytes.Contains(want, []byte("DO NOT EDIT.")) {
			t.Errorf("%s lacks the generated-code header", name)
		}
	}
}

// TestGenerateWritesFiles runs the command end to end into a temporary directory.
func TestGenerateWritesFiles(t *testing.T) {
	dir := t.TempDir()
	files, err := generate(".")
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		path := filepath.Join(dir, filepath.Base(name))
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "z") {
			t.Errorf("generated file %s is not named z*", e.Name())
		}
	}
}

func TestBuildRejectsBadOverlay(t *testing.T) {
	cat, err := os.ReadFile("catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		overlay string
		want    string
	}{
		{"missing nested type name", `{}`, "no overlay type for path[offlinePushInfo]"},
		{"unknown rule", `{"types":{"offlinePushInfo":{"name":"A"},"users[]":{"name":"B"},"initMemberList[]":{"name":"C"},"memberList[]":{"name":"D"},"memberCallbackList[]":{"name":"E"}},
			"rules":{"callbackBeforeSetFriendRemarkCommand":{"merge":{"remark":"sometimes"}}}}`, `unknown rule "sometimes"`},
		{"rules on an after command", `{"types":{"offlinePushInfo":{"name":"A"},"users[]":{"name":"B"},"initMemberList[]":{"name":"C"},"memberList[]":{"name":"D"},"memberCallbackList[]":{"name":"E"}},
			"rules":{"callbackAfterSendSingleMsgCommand":{"merge":{"x":"always"}}}}`, "rules on an after-command"},
		{"legacy target missing", `{"legacy":{"a":"callbackNopeCommand"},"types":{"offlinePushInfo":{"name":"A"},"users[]":{"name":"B"},"initMemberList[]":{"name":"C"},"memberList[]":{"name":"D"},"memberCallbackList[]":{"name":"E"}}}`, "legacy[a]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(cat, []byte(tt.overlay))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("build error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestGoName(t *testing.T) {
	tests := map[string]string{
		"sendID":         "SendID",
		"conversationId": "ConversationID",
		"ownerUserId":    "OwnerUserID",
		"faceURL":        "FaceURL",
		"userIDList":     "UserIDList",
		"iOSPushSound":   "IOSPushSound",
		"Seqs":           "Seqs",
		"identity":       "Identity",
		"friendUserIDs":  "FriendUserIDs",
	}
	for in, want := range tests {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}
