package plugins

import (
	"bytes"
	"fmt"

	"github.com/tetratelabs/wazero"

	"github.com/imhook/imhook/sdk/abi"
)

// goBuild is how a Go plugin must be built; the hints below point to it.
const goBuild = "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared"

// notWasmHint explains a module that failed to compile because it is not
// WebAssembly at all (a text file, a native binary): the compiler only says
// "invalid magic number".
func notWasmHint(wasm []byte, err error) error {
	if bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return err
	}
	return fmt.Errorf("this is not a WebAssembly module (%w): build it with %s", err, goBuild)
}

// commandHint explains a trap while a module was first called when the
// module is a WASI command rather than a reactor: Go builds one without
// -buildmode=c-shared, and its exports then trap in runtime.notInitialized.
func commandHint(cm wazero.CompiledModule, err error) error {
	exports := cm.ExportedFunctions()
	_, start := exports["_start"]
	_, init := exports[abi.FuncInitialize]
	if !start || init {
		return err
	}
	return fmt.Errorf("the module is a WASI command (it exports _start, not _initialize), so its exports trap: build it with %s: %w", goBuild, err)
}
