//go:build race

package main

// goGuestUnderRace is false under -race: compiling a Go guest with a
// race-instrumented wazero takes tens of seconds on a shared machine, and the
// raw-ABI fixtures already cover the same host code under the race detector.
const goGuestUnderRace = false
