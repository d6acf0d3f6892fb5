package preinit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/tetratelabs/wazero/api"
)

// MaxSpans bounds how many separate byte ranges a snapshot writes per
// instance: Capture joins the closest ranges (writing the unchanged bytes
// between them again) until there are at most this many, so that a module
// that scatters single bytes over its memory costs a bounded number of
// copies, not one per byte.
const MaxSpans = 4096

// minGap is the shortest run of unchanged bytes that separates two spans:
// rewriting fewer is cheaper than another copy call.
const minGap = 64

// Snapshot is the state _initialize left an instance in, relative to a fresh
// instantiation of the same compiled module. It is immutable and safe for
// concurrent use.
type Snapshot struct {
	pages   uint32   // memory size, in 64 KiB pages
	spans   []span   // ranges of memory to write, in order
	data    []byte   // their bytes, back to back
	globals []uint64 // the mutable globals, by their rank (GlobalExport)
}

// span is a range of memory written from Snapshot.data.
type span struct{ offset, size uint32 }

// Pages returns the memory size the snapshot restores, in 64 KiB pages.
func (s *Snapshot) Pages() uint32 { return s.pages }

// Bytes returns how many bytes of memory Apply writes: what the snapshot
// holds, which is at most the instance's memory.
func (s *Snapshot) Bytes() int { return len(s.data) }

// Spans returns how many ranges Apply writes.
func (s *Snapshot) Spans() int { return len(s.spans) }

// Memory returns a copy of an instance's linear memory, for Capture: call it
// right after instantiation, before anything ran.
func Memory(mod api.Module) []byte {
	mem := mod.Memory()
	if mem == nil {
		return nil
	}
	b, _ := mem.Read(0, mem.Size())
	return bytes.Clone(b)
}

// Capture takes the snapshot of an instance of a module rewritten by
// Rewrite, after its _initialize returned. before is its memory as
// instantiation left it (Memory, called before _initialize).
//
// # Errors
//
// The module was not rewritten (ErrUnsupported), or its memory shrank,
// which wasm does not allow.
func Capture(mod api.Module, before []byte) (*Snapshot, error) {
	globals, err := exportedGlobals(mod)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{globals: make([]uint64, len(globals))}
	for k, g := range globals {
		s.globals[k] = g.Get()
	}
	mem := mod.Memory()
	if mem == nil {
		return s, nil
	}
	after, _ := mem.Read(0, mem.Size())
	if len(after) < len(before) {
		return nil, fmt.Errorf("memory shrank from %d to %d bytes during _initialize", len(before), len(after))
	}
	s.pages = uint32(len(after) >> 16)
	s.spans = changed(before, after, minGap)
	for gap := minGap * 2; len(s.spans) > MaxSpans; gap *= 2 {
		s.spans = join(s.spans, gap)
	}
	size := 0
	for _, sp := range s.spans {
		size += int(sp.size)
	}
	s.data = make([]byte, 0, size)
	for _, sp := range s.spans {
		s.data = append(s.data, after[sp.offset:sp.offset+sp.size]...)
	}
	return s, nil
}

// changed returns the ranges where after differs from before (memory past
// the end of before was zero), separated by at least gap equal bytes.
func changed(before, after []byte, gap int) []span {
	var spans []span
	start, last := -1, -1 // the open span, and its last differing byte
	for i := 0; i < len(after); {
		// Skip equal words fast; memory is mostly unchanged.
		if i+8 <= len(before) && i&7 == 0 && string(after[i:i+8]) == string(before[i:i+8]) {
			i += 8
			continue
		}
		if i >= len(before) && i&7 == 0 && i+8 <= len(after) && string(after[i:i+8]) == "\x00\x00\x00\x00\x00\x00\x00\x00" {
			i += 8
			continue
		}
		var old byte
		if i < len(before) {
			old = before[i]
		}
		if after[i] != old {
			if start >= 0 && i-last > gap {
				spans = append(spans, span{uint32(start), uint32(last + 1 - start)})
				start = -1
			}
			if start < 0 {
				start = i
			}
			last = i
		}
		i++
	}
	if start >= 0 {
		spans = append(spans, span{uint32(start), uint32(last + 1 - start)})
	}
	return spans
}

// join merges spans separated by fewer than gap bytes.
func join(spans []span, gap int) []span {
	out := spans[:0:0]
	for _, sp := range spans {
		if n := len(out); n > 0 {
			prev := &out[n-1]
			if end := prev.offset + prev.size; int(sp.offset-end) < gap {
				prev.size = sp.offset + sp.size - prev.offset
				continue
			}
		}
		out = append(out, sp)
	}
	return out
}

// Apply puts a new instance of the module the snapshot was captured from,
// instantiated without running _initialize (nor anything else), in the
// snapshot's state: it grows the memory, writes the changed bytes and sets
// the globals.
//
// # Errors
//
// The instance is not of a rewritten module, has fewer globals than the
// snapshot, or its memory cannot grow to the snapshot's size (a lower memory
// limit than the instance the snapshot came from).
func (s *Snapshot) Apply(mod api.Module) error {
	globals, err := exportedGlobals(mod)
	if err != nil {
		return err
	}
	if len(globals) != len(s.globals) {
		return fmt.Errorf("the instance has %d mutable globals, the snapshot %d: not the same module", len(globals), len(s.globals))
	}
	if mem := mod.Memory(); mem != nil {
		if have := mem.Size() >> 16; have < s.pages {
			if _, ok := mem.Grow(s.pages - have); !ok {
				return fmt.Errorf("memory cannot grow from %d to the snapshot's %d pages", have, s.pages)
			}
		}
		data := s.data
		for _, sp := range s.spans {
			if !mem.Write(sp.offset, data[:sp.size]) {
				return fmt.Errorf("snapshot range [%#x, +%d) is outside memory", sp.offset, sp.size)
			}
			data = data[sp.size:]
		}
	}
	for k, g := range globals {
		g.Set(s.globals[k])
	}
	return nil
}

// Same reports whether two instances of a rewritten module hold the same
// memory and globals: how a caller checks, once, that an instance started
// from a snapshot is what its source was.
func Same(a, b api.Module) error {
	ga, err := exportedGlobals(a)
	if err != nil {
		return err
	}
	gb, err := exportedGlobals(b)
	if err != nil {
		return err
	}
	if len(ga) != len(gb) {
		return fmt.Errorf("%d mutable globals against %d", len(ga), len(gb))
	}
	for k := range ga {
		if x, y := ga[k].Get(), gb[k].Get(); x != y {
			return fmt.Errorf("global[%s%d] is %#x against %#x", GlobalExport, k, x, y)
		}
	}
	if !bytes.Equal(view(a), view(b)) {
		return errors.New("the memories differ")
	}
	return nil
}

// view returns an instance's memory without copying it.
func view(mod api.Module) []byte {
	mem := mod.Memory()
	if mem == nil {
		return nil
	}
	b, _ := mem.Read(0, mem.Size())
	return b
}

// exportedGlobals returns the mutable globals Rewrite exported, in order.
func exportedGlobals(mod api.Module) ([]api.MutableGlobal, error) {
	count := mod.ExportedGlobal(CountExport)
	if count == nil {
		return nil, fmt.Errorf("%w: the module was not rewritten (no global[%s])", ErrUnsupported, CountExport)
	}
	n := int(uint32(count.Get()))
	out := make([]api.MutableGlobal, n)
	for k := range out {
		g, ok := mod.ExportedGlobal(globalName(k)).(api.MutableGlobal)
		if !ok {
			return nil, fmt.Errorf("%w: global[%s%d] is missing or immutable", ErrUnsupported, GlobalExport, k)
		}
		out[k] = g
	}
	return out, nil
}

// globalNames are the first export names of GlobalExport, made once: a Go
// guest has about ten mutable globals.
var globalNames = func() (names [32]string) {
	for k := range names {
		names[k] = GlobalExport + strconv.Itoa(k)
	}
	return names
}()

func globalName(k int) string {
	if k < len(globalNames) {
		return globalNames[k]
	}
	return GlobalExport + strconv.Itoa(k)
}
