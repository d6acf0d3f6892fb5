package sdk

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestFiles: the copy holds the packages plugins import, without tests,
// test data or the generator.
func TestFiles(t *testing.T) {
	got := map[string]bool{}
	if err := Files(func(name string, data []byte) error {
		if len(data) == 0 {
			t.Errorf("%s is empty", name)
		}
		got[name] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go.mod", "abi/abi.go", "openim/zcodec.go", "openim/internal/wire/wire.go",
		"plugin/dispatch.go", "plugin/textmsg/textmsg.go", "sdktest/sdktest.go", "internal/wordscan/wordscan.go"} {
		if !got[want] {
			t.Errorf("%s missing from the copy", want)
		}
	}
	for name := range got {
		if strings.HasSuffix(name, "_test.go") || strings.Contains(name, "testdata/") || strings.Contains(name, "internal/gen/") {
			t.Errorf("%s should not be copied", name)
		}
	}
}

func TestCatalog(t *testing.T) {
	var entries []struct {
		Command string          `json:"command"`
		Example json.RawMessage `json:"example"`
	}
	if err := json.Unmarshal(Catalog(), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 52 {
		t.Fatalf("%d commands, want 52", len(entries))
	}
}

// TestAssemblyScriptFiles: the AssemblyScript copy holds the package, its
// sources and scripts, without tests or build outputs.
func TestAssemblyScriptFiles(t *testing.T) {
	got := map[string]bool{}
	if err := AssemblyScriptFiles(func(name string, data []byte) error {
		got[name] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"package.json", "index.ts", "assembly/index.ts", "assembly/exports.ts", "assembly/rt/arena.ts",
		"assembly/openim/zopenim.ts", "assembly/jsonwire.ts", "js/build.js", "js/harness.js", "js/transform.js"} {
		if !got[want] {
			t.Errorf("%s missing from the copy", want)
		}
	}
	for name := range got {
		if strings.HasPrefix(name, "test/") || strings.HasPrefix(name, "build/") {
			t.Errorf("%s should not be copied", name)
		}
	}
}
