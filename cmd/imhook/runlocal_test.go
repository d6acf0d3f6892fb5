package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

const single = "callbackBeforeSendSingleMsgCommand"

func TestRunLocal(t *testing.T) {
	t.Parallel()
	fx := func(name string) string { return filepath.Join(fixtureDir, name) }
	const afterRead = `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"u","receiveID":"u","unreadMsgNum":3,"contentType":3}`
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   []string
	}{
		{"reply", singleMsg, []string{fx("stop.wasm"), "--command", single}, 0,
			[]string{`reply:    {"actionCode":0,"errCode":5001,"errMsg":"blocked","errDlt":"","nextCode":1}`,
				"effect:   stop", "time:     call ", "memory:   2 pages (128.0 KiB)", "cpu:      ", " instructions of 100000000", "info  checked"}},
		{"no reply", singleMsg, []string{fx("allow.wasm"), "--command", single}, 0,
			[]string{"the command's neutral reply", `"nextCode":0`, "effect:   continue", "logs:     none"}},
		{"guest error, fail-open", singleMsg, []string{fx("fail.wasm"), "--command", single}, 1,
			[]string{"error:    guest_error: ", "db down", "the failure policy's reply", "effect:   continue"}},
		{"guest error, fail-closed", singleMsg, []string{fx("fail.wasm"), "--command", single, "--fail-closed", "--err-code", "9", "--err-msg", "later"}, 1,
			[]string{`"errCode":9,"errMsg":"later","errDlt":"imhook: guest_error","nextCode":1`, "effect:   stop"}},
		{"invalid module", singleMsg, []string{fx("wrong_abi.wasm"), "--command", single}, 1,
			[]string{"imhook run: the plugin does not load: ", "imhook_abi_version returned 2"}},
		{"not wasm", singleMsg, []string{fx("stop.wat"), "--command", single}, 1, []string{"the plugin does not load"}},
		{"command not handled", strings.Replace(singleMsg, "Before", "After", 1),
			[]string{fx("stop.wasm"), "--command", "callbackAfterSendSingleMsgCommand"}, 1,
			[]string{"the plugin does not handle callbackAfterSendSingleMsgCommand; it declares callbackBeforeSendSingleMsgCommand"}},
		{"bad callback", `{"sendID":1}`, []string{fx("stop.wasm"), "--command", single}, 2, []string{"imhook run: bad callback: "}},
		{"unknown command", singleMsg, []string{fx("stop.wasm"), "--command", "callbackNopeCommand"}, 2, []string{`unknown command "callbackNopeCommand"`}},
		{"missing command", singleMsg, []string{fx("stop.wasm")}, 2, []string{"--command is required"}},
		{"missing file", singleMsg, []string{"/nonexistent.wasm", "--command", single}, 2, []string{"/nonexistent.wasm"}},
		{"bad limit", singleMsg, []string{fx("stop.wasm"), "--command", single, "--memory-pages", "40000"}, 2, []string{"--memory-pages 40000: want 0 (the default, 512) or 1 to 32767"}},
		{"instruction budget spent", singleMsg, []string{fx("stop.wasm"), "--command", single, "--max-instructions", "10000"}, 1,
			[]string{"error:    cpu_time: ", "instruction budget of 10000 exhausted in host function[log]", "cpu:      10019 instructions of 10000"}},
		{"budget below the minimum", singleMsg, []string{fx("stop.wasm"), "--command", single, "--max-instructions", "1000"}, 2,
			[]string{"--max-instructions 1000: want 0 (the default, 100000000) or 10000 to 10000000000"}},
		// An after-command's reply is neutral whatever the policy, as the
		// server answers it (the dry run used to show the fail-closed stop).
		{"after-command failure, fail-closed", afterRead, []string{fx("fail_after.wasm"), "--command", "callbackAfterGroupMsgReadCommand", "--fail-closed", "--err-code", "5001"}, 1,
			[]string{"error:    guest_error: ", `reply:    {"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}`, "effect:   continue"}},
		{"bad grant", singleMsg, []string{fx("stop.wasm"), "--command", single, "--grants", "network"}, 2, []string{`--grants: grant["network"]: want one of walltime, nanotime, random`}},
		{"memory cap below the module", singleMsg, []string{fx("stop.wasm"), "--command", single, "--memory-pages", "1"}, 1,
			[]string{"the plugin does not load"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			imhook(t, tc.stdin, append([]string{"run"}, tc.args...)...).want(t, tc.code, tc.out...)
		})
	}
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		r := imhook(t, singleMsg, "run", fx("stop.wasm"), "--command", single, "--json").want(t, 0)
		var out admin.DryRun
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		if !out.Stops || out.MemoryBytes != 2*65536 || out.Plugin != "stop" || len(out.Logs) != 1 || out.Error != nil {
			t.Fatalf("%+v", out)
		}
	})
	t.Run("body from file", func(t *testing.T) {
		t.Parallel()
		f := filepath.Join(t.TempDir(), "cb.json")
		if err := os.WriteFile(f, []byte(singleMsg), 0o600); err != nil {
			t.Fatal(err)
		}
		imhook(t, "", "run", fx("stop.wasm"), "--command", single, "--file", f).want(t, 0, "effect:   stop")
	})
}

// TestRunGoExample runs the moderation example, a real Go guest built with
// the SDK, through `imhook run` with its configuration given by flags.
func TestRunGoExample(t *testing.T) {
	if testing.Short() || !goGuestUnderRace {
		t.Skip("builds and compiles a Go wasm guest: skipped with -short and -race")
	}
	t.Parallel()
	wasm := filepath.Join(t.TempDir(), "moderation.wasm")
	opts := wasmbuild.Options{Dir: filepath.Join("..", ".."), Output: wasm}
	if _, err := wasmbuild.Go(t.Context(), "./examples/moderation", opts); err != nil {
		t.Fatalf("build the example: %v", err)
	}
	cache := filepath.Join(t.TempDir(), "cache") // compile the guest once, not per run
	badWord := strings.Replace(singleMsg, `hello`, `buy cheap pills`, 1)
	for _, tc := range []struct {
		name string
		body string
		args []string
		out  []string
	}{
		{"clean message", singleMsg, nil, []string{"effect:   continue"}},
		{"banned word", badWord, []string{"--config", "err_msg=not here"}, []string{`"errCode":20001,"errMsg":"not here"`, "effect:   stop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", wasm, "--command", single, "--config", "banned_words=pills,spam", "--cache-dir", cache,
				"--call-timeout", "5s"}, tc.args...) // a Go guest under -race on a busy machine
			imhook(t, tc.body, args...).want(t, 0, tc.out...)
		})
	}
}
