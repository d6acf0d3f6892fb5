package plugins

import (
	"errors"
	"fmt"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite"
)

// The limits and grants a sandbox runs with are defined once, in package
// plugins/limits: the schema the registry and the server configuration share.

// cpuMode decides a plugin's CPU limit from the sandbox's forced mode and
// its module: every module the rewriter can meter runs under the
// instruction budget unless a mode is forced; the others fall back to a
// deadline.
func cpuMode(forced CPULimit, pm *prepared) (CPULimit, string) {
	switch {
	case forced == CPULimitNone:
		return CPULimitNone, "no CPU limit for this sandbox"
	case forced == CPULimitDeadline:
		return CPULimitDeadline, "metering disabled for this sandbox"
	case pm.metered == nil:
		reason := "the module cannot be metered"
		if pm.notMetered != nil && !errors.Is(pm.notMetered, wasmrewrite.ErrMalformed) {
			reason = pm.notMetered.Error()
		}
		return CPULimitDeadline, reason
	}
	return CPULimitInstructions, ""
}

// validForce checks SandboxOptions.CPULimit.
func validForce(m CPULimit) error {
	switch m {
	case "", CPULimitDeadline, CPULimitNone:
		return nil
	}
	return fmt.Errorf("cpu limit %q cannot be forced: want \"\" (meter when possible), %q or %q", m, CPULimitDeadline, CPULimitNone)
}
