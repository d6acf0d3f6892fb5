//go:build !race

package wasmrewrite

// raceEnabled: see race_test.go.
const raceEnabled = false
