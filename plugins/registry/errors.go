package registry

import (
	"errors"

	"github.com/imhook/imhook/plugins/store/health"
)

// Errors returned by the Registry and by every Backend. They are always
// wrapped with the identifiers involved (tenant[...] plugin[...] version[...]),
// so test them with errors.Is and show err.Error() to people.
var (
	// ErrNotFound means the tenant, plugin, version or blob named in the
	// message does not exist.
	ErrNotFound = errors.New("not found")

	// ErrExists means a tenant with that ID already exists.
	ErrExists = errors.New("already exists")

	// ErrConflict means the caller's expected revision is stale: someone else
	// changed the tenant since the caller read it. Read it again and retry.
	ErrConflict = errors.New("revision conflict")

	// ErrInvalid means an argument is malformed: a bad ID or name, a hash that
	// does not match the blob, or settings out of range. The message says which.
	ErrInvalid = errors.New("invalid")

	// ErrActive means the operation would remove the active version of a
	// plugin. Activate another version first, or delete the whole plugin.
	ErrActive = errors.New("version is active")

	// ErrUnavailable means the store did not answer (a shared store such as
	// Redis is down or unreachable). Nothing was changed; retry later.
	ErrUnavailable = health.ErrUnavailable

	// ErrDataLost means a shared store was found to have lost data this
	// process (or another replica) had seen: its revision went back. Reads
	// and writes are refused until an operator ends that state (docs/deploy.md,
	// "When Redis lost data"); replicas keep serving what they loaded.
	ErrDataLost = health.ErrDataLost
)
