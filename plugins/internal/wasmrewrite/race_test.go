//go:build race

package wasmrewrite

// raceEnabled is set when the tests run under the race detector, which makes
// wazero's compiler several times slower on the Go guests. Nothing in this
// package runs concurrently, so those tests run without it only.
const raceEnabled = true
