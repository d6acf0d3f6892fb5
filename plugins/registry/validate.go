package registry

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"

	"github.com/imhook/imhook/plugins/limits"
)

// Bounds checked by validation.
const (
	MaxKeepVersions  = 100     // Settings.KeepVersions
	MaxConfigEntries = 256     // entries in Settings.Config
	MaxConfigBytes   = 1 << 20 // bytes of keys and values in Settings.Config
	MaxErrMsgBytes   = 256     // Policy.ErrMsg
)

var (
	nameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	hashRe    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	commandRe = regexp.MustCompile(`^callback[A-Z][A-Za-z]{0,100}Command$`)
	configRe  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
)

// ValidID checks a tenant ID or a plugin name:
// ^[a-z0-9][a-z0-9_-]{0,62}$.
func ValidID(what, id string) error {
	if !nameRe.MatchString(id) {
		return fmt.Errorf("%s[%q]: want 1-63 of [a-z0-9_-], starting with a letter or digit: %w", what, id, ErrInvalid)
	}
	return nil
}

// ValidHash checks a lowercase hex sha256.
func ValidHash(hash string) error {
	if !hashRe.MatchString(hash) {
		return fmt.Errorf("hash[%q]: want 64 lowercase hex digits (sha256): %w", hash, ErrInvalid)
	}
	return nil
}

// ValidCommand checks the shape of an OpenIM callback command name
// (callbackXxxCommand). It does not check that OpenIM knows the command, so
// plugins can target commands newer than this build.
func ValidCommand(cmd string) error {
	if !commandRe.MatchString(cmd) {
		return fmt.Errorf("command[%q]: want callback<Name>Command: %w", cmd, ErrInvalid)
	}
	return nil
}

// Validate checks every field of s and returns the first problem found,
// wrapping ErrInvalid.
func (s *Settings) Validate() error {
	if err := s.Limits.Validate("limits."); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	if err := s.Failure.validate(); err != nil {
		return fmt.Errorf("failure: %w", err)
	}
	for cmd, p := range s.FailureByCommand {
		if err := ValidCommand(cmd); err != nil {
			return fmt.Errorf("failure_by_command: %w", err)
		}
		if err := p.validate(); err != nil {
			return fmt.Errorf("failure_by_command[%s]: %w", cmd, err)
		}
	}
	if len(s.Config) > MaxConfigEntries {
		return fmt.Errorf("config: %d entries, at most %d allowed: %w", len(s.Config), MaxConfigEntries, ErrInvalid)
	}
	total := 0
	for k, v := range s.Config {
		if !configRe.MatchString(k) {
			return fmt.Errorf("config key[%q]: want 1-128 of [A-Za-z0-9_.-]: %w", k, ErrInvalid)
		}
		total += len(k) + len(v)
	}
	if total > MaxConfigBytes {
		return fmt.Errorf("config: %d bytes, at most %d allowed: %w", total, MaxConfigBytes, ErrInvalid)
	}
	if _, err := limits.ParseGrants(s.Grants); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	if err := validEgress(s.EgressAllow); err != nil {
		return err
	}
	for i, c := range s.Commands {
		if err := ValidCommand(c); err != nil {
			return fmt.Errorf("commands: %w", err)
		}
		if slices.Contains(s.Commands[:i], c) {
			return fmt.Errorf("commands: command[%s] listed twice: %w", c, ErrInvalid)
		}
	}
	if err := s.Auth.validate(); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if err := s.Queue.validate(); err != nil {
		return err
	}
	if s.KeepVersions < 0 || s.KeepVersions > MaxKeepVersions {
		return fmt.Errorf("keep_versions[%d]: want 0 (default %d) to %d: %w", s.KeepVersions, DefaultKeepVersions, MaxKeepVersions, ErrInvalid)
	}
	return nil
}

func (p *Policy) validate() error {
	if !p.Closed && (p.ErrCode != 0 || p.ErrMsg != "") {
		return fmt.Errorf("err_code and err_msg are only used when closed is true: %w", ErrInvalid)
	}
	if p.ErrCode < 0 {
		return fmt.Errorf("err_code[%d]: want 0 (host default) or positive: %w", p.ErrCode, ErrInvalid)
	}
	if len(p.ErrMsg) > MaxErrMsgBytes {
		return fmt.Errorf("err_msg: %d bytes, at most %d allowed: %w", len(p.ErrMsg), MaxErrMsgBytes, ErrInvalid)
	}
	return nil
}

func (a *Auth) validate() error {
	if (a.BasicUser == "") != (a.BasicPasswordHash == "") {
		return fmt.Errorf("basic_user and basic_password_hash must be set together: %w", ErrInvalid)
	}
	if a.BasicPasswordHash != "" && !hashRe.MatchString(a.BasicPasswordHash) {
		return fmt.Errorf("basic_password_hash: want 64 lowercase hex digits (sha256 of the password): %w", ErrInvalid)
	}
	for _, n := range a.Networks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return fmt.Errorf("network[%q]: %v: %w", n, err, ErrInvalid)
		}
		if p != p.Masked() {
			return fmt.Errorf("network[%q]: host bits set, did you mean %s: %w", n, p.Masked(), ErrInvalid)
		}
	}
	return nil
}

// validate checks what the caller says about a blob before it is stored.
func (vi *VersionInfo) validate() error {
	if err := ValidHash(vi.Hash); err != nil {
		return err
	}
	if vi.ABIVersion == 0 {
		return fmt.Errorf("version[%s]: abi_version is 0, inspect the module first: %w", vi.Hash, ErrInvalid)
	}
	if len(vi.Commands) == 0 {
		return fmt.Errorf("version[%s]: declares no commands: %w", vi.Hash, ErrInvalid)
	}
	for i, c := range vi.Commands {
		if err := ValidCommand(c); err != nil {
			return fmt.Errorf("version[%s]: %w", vi.Hash, err)
		}
		if slices.Contains(vi.Commands[:i], c) {
			return fmt.Errorf("version[%s]: command[%s] listed twice: %w", vi.Hash, c, ErrInvalid)
		}
	}
	return nil
}
