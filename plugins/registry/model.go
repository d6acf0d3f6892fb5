package registry

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/netip"
	"slices"
	"time"

	"github.com/imhook/imhook/plugins/limits"
)

// DefaultKeepVersions is the number of versions kept per plugin when
// Settings.KeepVersions is zero.
const DefaultKeepVersions = 5

// Tenant is one customer of imhook: its settings and its plugins. A Tenant
// returned by the Registry is a copy the caller owns; changing it changes
// nothing stored.
type Tenant struct {
	// ID names the tenant in URLs and logs: ^[a-z0-9][a-z0-9_-]{0,62}$.
	ID string `json:"id"`

	// TokenHash is the lowercase hex sha256 of the tenant's admin token. The
	// token itself is never stored; see Registry.RotateToken and VerifyToken.
	TokenHash string `json:"token_hash"`

	// Settings are the tenant's limits, policies and configuration values.
	Settings Settings `json:"settings"`

	// Secrets are the tenant's secrets by name (secrets.go): credentials its
	// plugins send to its services. The admin API never returns them.
	Secrets map[string]string `json:"secrets,omitempty"`

	// Plugins are the tenant's named plugins in execution order: when several
	// handle the same command they run in this order (see Chain).
	Plugins []Plugin `json:"plugins,omitempty"`

	// Revision is the registry-wide revision of the tenant's last change. It
	// grows on every change of this tenant and is never reused, so it works as
	// an ETag. Callers pass it back as the expected revision of an update.
	Revision uint64 `json:"revision"`

	// CreatedAt and UpdatedAt are set by the Registry (UTC).
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Settings is what a tenant's operator configures. The zero value is valid:
// engine default limits, fail-open, no configuration values, no grants, every
// command the plugins declare, no extra authentication, DefaultKeepVersions.
type Settings struct {
	// Limits bound each plugin call; zero fields take the server's defaults
	// (sandbox.limits). Keys, defaults and bounds: package limits.
	Limits limits.Limits `json:"limits"`

	// Failure is the policy applied when a plugin fails (trap, timeout, error
	// result) for a command without an entry in FailureByCommand. The zero
	// value is fail-open.
	Failure Policy `json:"failure"`

	// FailureByCommand overrides Failure per OpenIM callback command.
	FailureByCommand map[string]Policy `json:"failure_by_command,omitempty"`

	// Config holds the values plugins read through the config host function.
	// Keys match ^[A-Za-z0-9_.-]{1,128}$; at most MaxConfigEntries entries and
	// MaxConfigBytes bytes of keys and values in total.
	Config map[string]string `json:"config,omitempty"`

	// Grants lists the capabilities given to the tenant's plugins, by name
	// (limits.GrantNames: "walltime", "nanotime", "random"). Without a grant
	// the guest sees a fake clock or a deterministic random source.
	Grants []string `json:"grants,omitempty"`

	// EgressAllow lists the destinations the tenant's out-calls may reach
	// (grant "http"), as patterns scheme://host[:port]; grammar:
	// egress.ParsePattern. Empty allows none. Set by the operator.
	EgressAllow []string `json:"egress_allow,omitempty"`

	// Commands lists the enabled callback commands. Empty enables every
	// command the tenant's active plugins declare.
	Commands []string `json:"commands,omitempty"`

	// Auth adds checks on the tenant's webhook endpoint.
	Auth Auth `json:"auth"`

	// KeepVersions is how many versions are kept per plugin for rollback,
	// the active one always included. 0 means DefaultKeepVersions; at most
	// MaxKeepVersions.
	KeepVersions int `json:"keep_versions,omitempty"`

	// Queue says how after-callbacks run: queued by default (queue.go).
	Queue QueueSettings `json:"queue"`
}

// Keep returns the effective number of versions kept per plugin.
func (s *Settings) Keep() int {
	if s.KeepVersions == 0 {
		return DefaultKeepVersions
	}
	return s.KeepVersions
}

// FailurePolicy returns the failure policy for command.
func (s *Settings) FailurePolicy(command string) Policy {
	if p, ok := s.FailureByCommand[command]; ok {
		return p
	}
	return s.Failure
}

// Enabled reports whether command is enabled by Settings.Commands (an empty
// list enables all).
func (s *Settings) Enabled(command string) bool {
	return len(s.Commands) == 0 || slices.Contains(s.Commands, command)
}

// Policy says what the host answers OpenIM when a plugin fails.
type Policy struct {
	// Closed stops the operation (fail-closed). False lets it proceed with the
	// command's neutral reply (fail-open).
	Closed bool `json:"closed,omitempty"`

	// ErrCode and ErrMsg are sent to OpenIM when Closed. ErrCode 0 means the
	// host's default code. Both must be empty when the policy is fail-open.
	ErrCode int32  `json:"err_code,omitempty"`
	ErrMsg  string `json:"err_msg,omitempty"`
}

// Auth restricts who may call the tenant's webhook endpoint. The zero value
// allows everyone.
type Auth struct {
	// BasicUser and BasicPasswordHash require HTTP Basic authentication when
	// set; the hash is the lowercase hex sha256 of the password. Both or
	// neither must be set.
	BasicUser         string `json:"basic_user,omitempty"`
	BasicPasswordHash string `json:"basic_password_hash,omitempty"`

	// Networks lists the CIDR prefixes ("10.0.0.0/8", "::1/128") callers may
	// come from. Empty allows any address.
	Networks []string `json:"networks,omitempty"`
}

// VerifyBasic reports whether user and password match the Basic credentials,
// comparing in constant time. It returns true when no Basic user is set.
func (a *Auth) VerifyBasic(user, password string) bool {
	if a.BasicUser == "" {
		return true
	}
	sum := sha256.Sum256([]byte(password))
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(a.BasicUser))
	okPass := subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(a.BasicPasswordHash))
	return okUser&okPass == 1
}

// AllowsAddr reports whether addr falls in one of Networks, or Networks is
// empty. Invalid entries (impossible after validation) match nothing.
func (a *Auth) AllowsAddr(addr netip.Addr) bool {
	if len(a.Networks) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, n := range a.Networks {
		if p, err := netip.ParsePrefix(n); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// Plugin is one named plugin of a tenant and its kept versions.
type Plugin struct {
	// Name is unique within the tenant: ^[a-z0-9][a-z0-9_-]{0,62}$.
	Name string `json:"name"`

	// Active is the hash of the version that serves calls, or "" when no
	// version has been activated yet.
	Active string `json:"active,omitempty"`

	// History holds the hashes of the previously active versions, the most
	// recent last. Rollback pops it. Entries whose version was deleted or
	// pruned are dropped.
	History []string `json:"history,omitempty"`

	// Versions are the kept versions in upload order, newest last.
	Versions []Version `json:"versions,omitempty"`
}

// Version returns the plugin's version with hash.
func (p *Plugin) Version(hash string) (Version, bool) {
	for _, v := range p.Versions {
		if v.Hash == hash {
			return v, true
		}
	}
	return Version{}, false
}

// ActiveVersion returns the active version, if any.
func (p *Plugin) ActiveVersion() (Version, bool) {
	if p.Active == "" {
		return Version{}, false
	}
	return p.Version(p.Active)
}

// VersionInfo is what the caller learned by inspecting a .wasm blob (with the
// sandbox's Engine.Inspect) before handing it to Registry.AddVersion. The
// Registry does not look inside blobs; it checks that Hash and Size describe
// the blob and stores the rest as given.
type VersionInfo struct {
	Hash       string   `json:"hash"`        // lowercase hex sha256 of the blob
	Size       int64    `json:"size"`        // blob length in bytes
	ABIVersion uint32   `json:"abi_version"` // what the guest's abi version export returned
	Commands   []string `json:"commands"`    // what the guest's commands export listed
}

// Version is one uploaded build of a plugin.
type Version struct {
	Hash       string    `json:"hash"`
	Size       int64     `json:"size"`
	UploadedAt time.Time `json:"uploaded_at"`
	ABIVersion uint32    `json:"abi_version"`
	Commands   []string  `json:"commands"`
}

// Handles reports whether the version declares command.
func (v *Version) Handles(command string) bool { return slices.Contains(v.Commands, command) }

// Binding is one step of a command's plugin chain: a plugin and the version
// that runs.
type Binding struct {
	Plugin  string
	Version Version
}

// Chain returns the plugins that run for command, in execution order: every
// plugin whose active version declares command, provided the command is
// enabled in Settings.Commands. It returns nil when nothing handles command.
//
// For a "before" command the host runs the chain in order, passing each
// plugin's modifications on to the next; the first plugin that stops the
// operation ends the chain.
func (t *Tenant) Chain(command string) []Binding {
	if !t.Settings.Enabled(command) {
		return nil
	}
	var out []Binding
	for i := range t.Plugins {
		p := &t.Plugins[i]
		if v, ok := p.ActiveVersion(); ok && v.Handles(command) {
			out = append(out, Binding{Plugin: p.Name, Version: v})
		}
	}
	return out
}

// Plugin returns the tenant's plugin named name.
func (t *Tenant) Plugin(name string) (*Plugin, bool) {
	for i := range t.Plugins {
		if t.Plugins[i].Name == name {
			return &t.Plugins[i], true
		}
	}
	return nil, false
}

// VerifyToken reports, in constant time, whether token is the tenant's admin
// token. It returns false when the tenant has no token.
func (t *Tenant) VerifyToken(token string) bool {
	sum := sha256.Sum256([]byte(token))
	got := hex.EncodeToString(sum[:])
	// ConstantTimeCompare returns at once on a length mismatch, which only
	// tells that the tenant has no token.
	return subtle.ConstantTimeCompare([]byte(got), []byte(t.TokenHash)) == 1
}

// referenced returns the set of blob hashes the tenant's plugins refer to.
func (t *Tenant) referenced() map[string]bool {
	refs := make(map[string]bool)
	for _, p := range t.Plugins {
		for _, v := range p.Versions {
			refs[v.Hash] = true
		}
	}
	return refs
}
