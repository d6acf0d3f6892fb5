package wasmbin

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to every decoder of the package. None may
// panic or loop; a module that parses must encode back to the same bytes.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*.wasm"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		m, err := Parse(wasm)
		if err != nil {
			return
		}
		if got := m.Encode(); !bytes.Equal(got, canonical(wasm, m)) {
			t.Fatalf("Encode(Parse(x)) differs from x")
		}
		_, _ = m.Count()
		_, _ = m.Exports()
		_, _ = m.Memory64()
		segs, _ := DataSegments(m.Section(SecData))
		for _, s := range segs {
			ConstI32(s.Offset)
		}
		bodies, _ := Bodies(m.Section(SecCode))
		for _, b := range bodies {
			r := NewReader(b.Code)
			for r.Len() > 0 {
				start := r.Pos()
				in, err := r.Instr()
				if err != nil {
					break
				}
				if in.Start != start || in.End != r.Pos() || in.End <= in.Start {
					t.Fatalf("instruction spans [%d,%d) after reading from %d to %d", in.Start, in.End, start, r.Pos())
				}
			}
		}
	})
}

// canonical re-encodes the section sizes of wasm minimally, which is what
// Encode produces; the payloads are the same.
func canonical(wasm []byte, m *Module) []byte {
	out := append([]byte(nil), wasm[:8]...)
	for _, s := range m.Sections {
		out = append(out, s.ID)
		out = AppendU32(out, uint32(len(s.Data)))
		out = append(out, s.Data...)
	}
	return out
}
