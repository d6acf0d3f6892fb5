// Package wasmbench measures sdk/openim's codec inside a Go wasip1 guest running
// on wazero, against encoding/json in the same guest. It is a separate package
// so that sdk/openim itself stays standard-library only, and it lives in the
// main module because its tests run wazero, which the SDK's module (sdk/go.mod)
// does not require. It has no API, only tests and benchmarks:
//
//	go test -run '^$' -bench . -benchmem ./cmd/imhook/internal/wasmbench
//
// The guest source is testdata/guest; the tests build it once per test binary.
package wasmbench
