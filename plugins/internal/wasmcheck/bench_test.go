package wasmcheck

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// BenchmarkCheck checks the largest example plugin.
func BenchmarkCheck(b *testing.B) {
	wasm := wasmbuild.GoOnce(b, "./"+filepath.Join("..", "..", "..", "examples", "moderation"), wasmbuild.Release())
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		if err := Check(wasm, Default); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileAtLimits compiles, metered as imhook runs them, the
// costliest functions the limits let through, one shape each: the worst
// case docs/sandbox.md quotes. Run it with -benchtime=1x; each takes up to
// seconds.
func BenchmarkCompileAtLimits(b *testing.B) {
	const n = 10_000 // Default.Control
	many := make([][]byte, Default.Functions)
	for i := range many {
		many[i] = body(noLocals, end)
	}
	locals := cat(leb(1), leb(Default.Locals), []byte{0x7F})
	for _, s := range []struct {
		name string
		wasm []byte
	}{
		{"blocks", code(rep(cat(blockOpen, end), n))},
		{"nested_blocks", nested(blockOpen, int(Default.Nesting))},
		{"br_if", brIfs(n - 1)},
		{"ifs", code(rep(cat(ifOpen, end), n/2))},
		{"loops", code(rep(cat(loopOpen, end), n/5))},
		{"nested_loops", nested(loopOpen, n/5)},
		{"br_table", brTable(n - 2)},
		{"functions", funcs(many...)},
		{"function_bytes", funcs(body(noLocals, rep(cat(i32Const0, []byte{0x1A}), int(Default.FunctionBytes-2)/3), end))},
		{"locals", funcs(body(locals, rep(cat(i32Const0, []byte{0x21}, leb(Default.Locals-1)), 10_000), end))},
	} {
		if err := Check(s.wasm, Default); err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
		p, err := wasmrewrite.Prepare(s.wasm, wasmrewrite.MeterOptions{})
		if err != nil || !p.Metered {
			b.Fatalf("%s: metered %v: %v", s.name, p.Metered, err)
		}
		b.Run(s.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(api.CoreFeaturesV2))
				if _, err := r.CompileModule(ctx, p.Wasm); err != nil {
					b.Fatal(err)
				}
				r.Close(ctx)
			}
		})
	}
}
