// Package sdk holds the SDK's own source, which `imhook new` writes into a
// plugin project (docs/sdk.md, "The SDK in your project"): the module is not
// published, so each plugin project keeps a copy and points its go.mod at it
// with a replace. Plugins never import this package; they import sdk/plugin,
// sdk/openim and sdk/sdktest.
package sdk

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

// source is the module's tree; Files filters it.
//
//go:embed go.mod abi internal openim plugin sdktest
var source embed.FS

// Files calls fn with each file a plugin project needs, path relative to the
// module root, in lexical order: go.mod and the non-test Go files of the
// packages a plugin and its tests import. The generator, its inputs and
// test data stay out.
func Files(fn func(name string, data []byte) error) error {
	return fs.WalkDir(source, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || name == "openim/internal/gen" {
				return fs.SkipDir
			}
			return nil
		}
		if name != "go.mod" && (path.Ext(name) != ".go" || strings.HasSuffix(name, "_test.go")) {
			return nil
		}
		data, err := source.ReadFile(name)
		if err != nil {
			return err
		}
		return fn(name, data)
	})
}

// assemblyScript is the AssemblyScript SDK (an npm package, no Go);
// AssemblyScriptFiles filters it.
//
//go:embed assemblyscript/package.json assemblyscript/README.md assemblyscript/index.ts assemblyscript/assembly assemblyscript/js
var assemblyScript embed.FS

// AssemblyScriptFiles calls fn with each file of the AssemblyScript SDK a
// plugin project needs (imhook new --lang assemblyscript copies them), path
// relative to sdk/assemblyscript, in lexical order: its package.json,
// README, sources (assembly/) and build script, harness and transform (js/).
// Its tests and build outputs stay out.
func AssemblyScriptFiles(fn func(name string, data []byte) error) error {
	return fs.WalkDir(assemblyScript, "assemblyscript", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := assemblyScript.ReadFile(name)
		if err != nil {
			return err
		}
		return fn(strings.TrimPrefix(name, "assemblyscript/"), data)
	})
}

// Catalog returns the verified OpenIM webhook catalog the protocol code is
// generated from (openim/internal/gen/catalog.json): every command with an
// example request and reply.
func Catalog() []byte {
	b, err := source.ReadFile("openim/internal/gen/catalog.json")
	if err != nil {
		panic("sdk: catalog.json is not embedded: " + err.Error())
	}
	return b
}
