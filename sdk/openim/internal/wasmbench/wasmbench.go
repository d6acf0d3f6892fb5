// Package wasmbench measures sdk/openim's codec inside a Go wasip1 guest running
// on wazero, against encoding/json in the same guest. It is a separate package
// so that sdk/openim itself stays standard-library only; it has no API, only
// tests and benchmarks:
//
//	go test -run '^$' -bench . -benchmem ./sdk/openim/internal/wasmbench
//
// The guest source is testdata/guest; the tests build it once per test binary.
package wasmbench
