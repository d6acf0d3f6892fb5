package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
)

const cmd = "callbackBeforeSendSingleMsgCommand"

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	pw := sha256.Sum256([]byte("secret"))
	pwHash := hex.EncodeToString(pw[:])
	bigConfig := map[string]string{}
	for i := range MaxConfigEntries + 1 {
		bigConfig["k"+strings.Repeat("x", i%100)+string(rune('a'+i%26))+strconv.Itoa(i)] = "v"
	}
	tests := []struct {
		name string
		s    Settings
		want string // "" for valid, else a substring of the error
	}{
		{"zero value", Settings{}, ""},
		{"everything set", Settings{
			Limits: limits.Limits{MemoryPages: 256, CallTimeout: 100 * time.Millisecond, MaxInputBytes: 1 << 20,
				MaxOutputBytes: 1 << 20, MaxLogBytes: 4096, MaxInstances: 8, MaxCallsPerInstance: 10000},
			Failure:          Policy{Closed: true, ErrCode: 5001, ErrMsg: "plugin failed"},
			FailureByCommand: map[string]Policy{cmd: {}},
			Config:           map[string]string{"api.url": "http://x", "LEVEL_2": ""},
			Grants:           []string{limits.GrantWalltime, limits.GrantNanotime, limits.GrantRandom},
			Commands:         []string{cmd, "callbackAfterSendSingleMsgCommand"},
			Auth:             Auth{BasicUser: "openim", BasicPasswordHash: pwHash, Networks: []string{"10.0.0.0/8", "::1/128"}},
			KeepVersions:     MaxKeepVersions,
		}, ""},
		{"closed with host default code", Settings{Failure: Policy{Closed: true}}, ""},
		{"memory pages too many", Settings{Limits: limits.Limits{MemoryPages: 1 << 15}}, "limits.memory_pages[32768]: want 0 (the default, 512) or 1 to 32767"},
		{"timeout too short", Settings{Limits: limits.Limits{CallTimeout: time.Microsecond}}, "limits.call_timeout[1µs]"},
		{"instructions too few", Settings{Limits: limits.Limits{MaxInstructions: 100}}, "limits.max_instructions[100]"},
		{"init instructions too many", Settings{Limits: limits.Limits{InitInstructions: 1e11}}, "limits.init_instructions[100000000000]"},
		{"timeout too long", Settings{Limits: limits.Limits{CallTimeout: time.Hour}}, "limits.call_timeout[1h0m0s]"},
		{"negative input", Settings{Limits: limits.Limits{MaxInputBytes: -1}}, "limits.max_input_bytes[-1]"},
		{"tiny output", Settings{Limits: limits.Limits{MaxOutputBytes: 10}}, "limits.max_output_bytes[10]"},
		{"huge log", Settings{Limits: limits.Limits{MaxLogBytes: 2 << 20}}, "limits.max_log_bytes"},
		{"too many instances", Settings{Limits: limits.Limits{MaxInstances: 5000}}, "limits.max_instances[5000]"},
		{"negative calls", Settings{Limits: limits.Limits{MaxCallsPerInstance: -5}}, "limits.max_calls_per_instance[-5]"},
		{"open policy with code", Settings{Failure: Policy{ErrCode: 1}}, "failure: err_code and err_msg are only used when closed is true"},
		{"open policy with message", Settings{Failure: Policy{ErrMsg: "x"}}, "failure: err_code and err_msg"},
		{"negative code", Settings{Failure: Policy{Closed: true, ErrCode: -1}}, "failure: err_code[-1]"},
		{"long message", Settings{Failure: Policy{Closed: true, ErrMsg: strings.Repeat("x", MaxErrMsgBytes+1)}}, "failure: err_msg: 257 bytes"},
		{"policy for a bad command", Settings{FailureByCommand: map[string]Policy{"send": {}}}, `failure_by_command: command["send"]`},
		{"bad policy for a command", Settings{FailureByCommand: map[string]Policy{cmd: {ErrCode: 3}}}, "failure_by_command[" + cmd + "]: err_code"},
		{"bad config key", Settings{Config: map[string]string{"a b": "x"}}, `config key["a b"]`},
		{"empty config key", Settings{Config: map[string]string{"": "x"}}, `config key[""]`},
		{"too many config entries", Settings{Config: bigConfig}, "config: 257 entries, at most 256"},
		{"config too large", Settings{Config: map[string]string{"big": strings.Repeat("x", MaxConfigBytes)}}, "config: 1048579 bytes"},
		{"unknown grant", Settings{Grants: []string{"network"}}, `grant["network"]: want one of walltime, nanotime, random`},
		{"duplicate grant", Settings{Grants: []string{limits.GrantRandom, limits.GrantRandom}}, "grant[random]: listed twice"},
		{"bad command", Settings{Commands: []string{"callbackcommand"}}, `commands: command["callbackcommand"]`},
		{"duplicate command", Settings{Commands: []string{cmd, cmd}}, "commands: command[" + cmd + "] listed twice"},
		{"user without password", Settings{Auth: Auth{BasicUser: "u"}}, "auth: basic_user and basic_password_hash must be set together"},
		{"password without user", Settings{Auth: Auth{BasicPasswordHash: pwHash}}, "auth: basic_user and basic_password_hash"},
		{"password in the clear", Settings{Auth: Auth{BasicUser: "u", BasicPasswordHash: "secret"}}, "auth: basic_password_hash: want 64 lowercase hex"},
		{"bad network", Settings{Auth: Auth{Networks: []string{"10.0.0.0"}}}, `auth: network["10.0.0.0"]`},
		{"network with host bits", Settings{Auth: Auth{Networks: []string{"10.1.2.3/8"}}}, `auth: network["10.1.2.3/8"]: host bits set, did you mean 10.0.0.0/8`},
		{"negative keep", Settings{KeepVersions: -1}, "keep_versions[-1]: want 0 (default 5) to 100"},
		{"keep too many", Settings{KeepVersions: MaxKeepVersions + 1}, "keep_versions[101]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"a", true},
		{"acme", true},
		{"0day", true},
		{"acme-prod_2", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"-acme", false},
		{"_acme", false},
		{"Acme", false},
		{"ac me", false},
		{"acme/x", false},
		{"..", false},
		{"acme\n", false},
	} {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			err := ValidID("tenant", tc.id)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
			}
			if err != nil && (!errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "tenant[")) {
				t.Fatalf("ValidID(%q) = %v, want ErrInvalid naming the tenant", tc.id, err)
			}
		})
	}
}

func TestVersionInfoValidate(t *testing.T) {
	t.Parallel()
	good := VersionInfo{Hash: strings.Repeat("ab", 32), Size: 1, ABIVersion: 1, Commands: []string{cmd}}
	for _, tc := range []struct {
		name string
		edit func(*VersionInfo)
		want string
	}{
		{"good", func(*VersionInfo) {}, ""},
		{"short hash", func(v *VersionInfo) { v.Hash = "abab" }, `hash["abab"]: want 64 lowercase hex digits`},
		{"no abi", func(v *VersionInfo) { v.ABIVersion = 0 }, "abi_version is 0, inspect the module first"},
		{"no commands", func(v *VersionInfo) { v.Commands = nil }, "declares no commands"},
		{"bad command", func(v *VersionInfo) { v.Commands = []string{"x"} }, `command["x"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := good
			tc.edit(&v)
			err := v.validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("validate() = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	pw := sha256.Sum256([]byte("secret"))
	a := Auth{BasicUser: "openim", BasicPasswordHash: hex.EncodeToString(pw[:]), Networks: []string{"10.0.0.0/8", "2001:db8::/32"}}
	for _, tc := range []struct {
		user, pass string
		want       bool
	}{
		{"openim", "secret", true},
		{"openim", "Secret", false},
		{"openim", "", false},
		{"other", "secret", false},
		{"", "", false},
	} {
		if got := a.VerifyBasic(tc.user, tc.pass); got != tc.want {
			t.Errorf("VerifyBasic(%q, %q) = %v, want %v", tc.user, tc.pass, got, tc.want)
		}
	}
	if !(&Auth{}).VerifyBasic("anyone", "") {
		t.Error("VerifyBasic without a Basic user must allow")
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true}, // IPv4-mapped, as a dual-stack listener reports it
		{"11.0.0.1", false},
		{"2001:db8::1", true},
		{"2001:db9::1", false},
	} {
		if got := a.AllowsAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("AllowsAddr(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if !(&Auth{}).AllowsAddr(netip.MustParseAddr("192.0.2.1")) {
		t.Error("AllowsAddr without networks must allow")
	}
}

func TestSettingsLookups(t *testing.T) {
	t.Parallel()
	closed := Policy{Closed: true, ErrCode: 7}
	s := Settings{Failure: closed, FailureByCommand: map[string]Policy{cmd: {}}}
	if got := s.FailurePolicy(cmd); got != (Policy{}) {
		t.Errorf("FailurePolicy(%s) = %+v, want the per-command fail-open override", cmd, got)
	}
	if got := s.FailurePolicy("callbackAfterSendSingleMsgCommand"); got != closed {
		t.Errorf("FailurePolicy(other) = %+v, want the default %+v", got, closed)
	}
	if s.Keep() != DefaultKeepVersions {
		t.Errorf("Keep() = %d, want default %d", s.Keep(), DefaultKeepVersions)
	}
	if !s.Enabled("callbackAnythingCommand") {
		t.Error("empty Commands must enable everything")
	}
	s.Commands = []string{cmd}
	if s.Enabled("callbackAnythingCommand") || !s.Enabled(cmd) {
		t.Error("Enabled must follow Commands when set")
	}
}

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	token, hash, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	tn := Tenant{TokenHash: hash}
	if !tn.VerifyToken(token) {
		t.Fatal("VerifyToken refuses the right token")
	}
	for _, bad := range []string{"", "x", token[1:], strings.ToUpper(token), hash} {
		if tn.VerifyToken(bad) {
			t.Fatalf("VerifyToken accepts %q", bad)
		}
	}
	if (&Tenant{}).VerifyToken("") {
		t.Fatal("a tenant without a token accepts the empty token")
	}
}

func TestRetain(t *testing.T) {
	t.Parallel()
	v := func(h string) Version { return Version{Hash: h} }
	tests := []struct {
		name        string
		keep        int
		p           Plugin
		wantKept    string
		wantHistory string
		wantPruned  bool
	}{
		{"under the limit", 3, Plugin{Active: "b", History: []string{"a"}, Versions: []Version{v("a"), v("b")}}, "a,b", "a", false},
		{"oldest goes", 2, Plugin{Active: "c", History: []string{"a", "b"}, Versions: []Version{v("a"), v("b"), v("c")}}, "b,c", "b", true},
		{"active oldest stays", 2, Plugin{Active: "a", Versions: []Version{v("a"), v("b"), v("c")}}, "a,c", "", true},
		{"newest stays while inactive", 1, Plugin{Active: "a", Versions: []Version{v("a"), v("b")}}, "a,b", "", false},
		{"nothing active", 1, Plugin{Versions: []Version{v("a"), v("b"), v("c")}}, "c", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := &Tenant{Settings: Settings{KeepVersions: tc.keep}, Plugins: []Plugin{tc.p}}
			pruned := retain(tn)
			p := tn.Plugins[0]
			var kept []string
			for _, v := range p.Versions {
				kept = append(kept, v.Hash)
			}
			if got := strings.Join(kept, ","); got != tc.wantKept || pruned != tc.wantPruned {
				t.Fatalf("kept %s pruned %v, want %s %v", got, pruned, tc.wantKept, tc.wantPruned)
			}
			if got := strings.Join(p.History, ","); got != tc.wantHistory {
				t.Fatalf("history %s, want %s", got, tc.wantHistory)
			}
		})
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	after := "callbackAfterSendSingleMsgCommand"
	tn := Tenant{Plugins: []Plugin{
		{Name: "inactive", Versions: []Version{{Hash: "a", Commands: []string{cmd}}}},
		{Name: "sync", Active: "b", Versions: []Version{{Hash: "b", Commands: []string{after}}}},
		{Name: "moderation", Active: "d", Versions: []Version{{Hash: "c", Commands: []string{after}}, {Hash: "d", Commands: []string{cmd}}}},
		{Name: "audit", Active: "e", Versions: []Version{{Hash: "e", Commands: []string{cmd, after}}}},
	}}
	names := func(bs []Binding) string {
		var out []string
		for _, b := range bs {
			out = append(out, b.Plugin+"@"+b.Version.Hash)
		}
		return strings.Join(out, ",")
	}
	for command, want := range map[string]string{
		cmd:                    "moderation@d,audit@e",
		after:                  "sync@b,audit@e",
		"callbackOtherCommand": "",
	} {
		if got := names(tn.Chain(command)); got != want {
			t.Errorf("Chain(%s) = %s, want %s", command, got, want)
		}
	}
	tn.Settings.Commands = []string{after}
	if got := tn.Chain(cmd); got != nil {
		t.Errorf("Chain of a disabled command = %v, want nil", got)
	}
}
