package plugin

import "github.com/imhook/imhook/sdk/abi"

// HostError is the failure of a host function (docs/abi.md, "Results and
// errors"): its status and the host's message, which says what was denied
// or exceeded and what to do. Compare it with the Err values:
//
//	if errors.Is(err, plugin.ErrDenied) { ... }
type HostError struct {
	Status abi.Status
	// Msg is the host's message: "http: destination https://x:443 is not in
	// the tenant's egress_allow (...)".
	Msg string
}

func (e *HostError) Error() string {
	if e.Msg == "" {
		return "imhook: " + e.Status.String()
	}
	return e.Msg
}

// Is reports whether target is the Err value of e's status.
func (e *HostError) Is(target error) bool {
	t, ok := target.(*HostError)
	return ok && t.Msg == "" && t.Status == e.Status
}

// The statuses of host functions, for errors.Is.
var (
	ErrNotFound    error = &HostError{Status: abi.StatusNotFound}
	ErrDenied      error = &HostError{Status: abi.StatusDenied}
	ErrQuota       error = &HostError{Status: abi.StatusQuota}
	ErrInvalid     error = &HostError{Status: abi.StatusInvalid}
	ErrUnavailable error = &HostError{Status: abi.StatusUnavailable}
	ErrTimeout     error = &HostError{Status: abi.StatusTimeout}
	ErrConflict    error = &HostError{Status: abi.StatusConflict}
)
