package wasmrewrite

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// MaxMergeGap is the largest run of zero bytes MergeDataSegments writes to
// join two data segments. Writing a few zeros is cheaper than the per-segment
// work wazero does at every instantiation; writing kilobytes of them is not.
const MaxMergeGap = 64

// MergeDataSegments returns a copy of the module with its active data
// segments merged into as few as possible. Segments that touch, overlap or lie
// at most MaxMergeGap bytes apart become one; the bytes in between are zeros,
// which is what a fresh memory holds there. Where segments overlap, the later
// one wins, as it would at instantiation. When the module imports its memory,
// whose contents the module does not know, gaps are never filled.
//
// Passive segments are kept, after the merged ones and in their order, and
// the segment indices of memory.init and data.drop are renumbered to match,
// as is the DataCount section. An index that named an active segment (legal,
// if useless: active segments are dropped once applied) is renumbered to a
// merged one, which behaves the same.
//
// A Go guest's 20 to 40 thousand segments become a handful, and instantiation
// gets about twice as fast. The result is deterministic. A module with at most
// one data segment is returned as is.
//
// # Errors
//
//   - ErrMalformed: wasm is not a well-formed module.
//   - ErrUnsupported: the module has a segment for a memory other than 0 or an
//     active segment whose offset is not an i32.const (its place in the order
//     of writes would be lost); such modules are left to run as they are.
func MergeDataSegments(wasm []byte) ([]byte, error) {
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		return nil, err
	}
	segs, err := wasmbin.DataSegments(m.Section(wasmbin.SecData))
	if err != nil {
		return nil, err
	}
	if len(segs) <= 1 {
		return wasm, nil
	}
	pieces := make([]piece, 0, len(segs))
	var passive []int // indices of passive segments, in order
	for i, s := range segs {
		if s.Mode == wasmbin.DataPassive {
			passive = append(passive, i)
			continue
		}
		if s.Memory != 0 {
			return nil, fmt.Errorf("%w: data[%d] initialises memory[%d]", ErrUnsupported, i, s.Memory)
		}
		off, ok := wasmbin.ConstI32(s.Offset)
		if !ok {
			return nil, fmt.Errorf("%w: data[%d] offset is not an i32.const", ErrUnsupported, i)
		}
		pieces = append(pieces, piece{start: uint64(uint32(off)), data: s.Init, order: i})
	}
	if len(pieces) <= 1 {
		return wasm, nil
	}
	counts, err := m.Count()
	if err != nil {
		return nil, err
	}
	maxGap := uint64(MaxMergeGap)
	if counts.ImportedMemories > 0 {
		maxGap = 0
	}

	// Sort by offset; ties keep the module's order so overlaps resolve the
	// same way instantiation would.
	slices.SortStableFunc(pieces, func(a, b piece) int { return cmp.Compare(a.start, b.start) })
	var merged []wasmbin.DataSegment
	for i := 0; i < len(pieces); {
		start, end := pieces[i].start, pieces[i].end()
		j := i + 1
		for ; j < len(pieces) && pieces[j].start <= end+maxGap; j++ {
			end = max(end, pieces[j].end())
		}
		merged = append(merged, mergeRun(pieces[i:j], start, end))
		i = j
	}

	total := len(merged) + len(passive)
	out := wasmbin.AppendU32(make([]byte, 0, len(m.Section(wasmbin.SecData))), uint32(total))
	for _, s := range merged {
		out = wasmbin.AppendDataSegment(out, s)
	}
	for _, i := range passive {
		out = wasmbin.AppendDataSegment(out, segs[i])
	}
	m.SetSection(wasmbin.SecData, out)
	if m.Has(wasmbin.SecDataCount) {
		m.SetSection(wasmbin.SecDataCount, wasmbin.AppendU32(nil, uint32(total)))
		// memory.init and data.drop need the DataCount section: without one,
		// no code names a segment.
		renumber := make([]uint32, len(segs)) // old index -> new; actives -> 0
		for n, i := range passive {
			renumber[i] = uint32(len(merged) + n)
		}
		code, err := renumberData(m.Section(wasmbin.SecCode), renumber)
		if err != nil {
			return nil, err
		}
		if code != nil {
			m.SetSection(wasmbin.SecCode, code)
		}
	}
	return m.Encode(), nil
}

// piece is an active data segment at a constant offset.
type piece struct {
	start uint64
	data  []byte
	order int // index in the module, to apply overlaps in order
}

func (p piece) end() uint64 { return p.start + uint64(len(p.data)) }

// mergeRun returns one segment holding the pieces, which cover [start, end)
// with gaps of zeros, applied in module order.
func mergeRun(run []piece, start, end uint64) wasmbin.DataSegment {
	offset := wasmbin.AppendS64([]byte{wasmbin.OpI32Const}, int64(int32(uint32(start))))
	offset = append(offset, wasmbin.OpEnd)
	if len(run) == 1 {
		return wasmbin.DataSegment{Mode: wasmbin.DataActive, Offset: offset, Init: run[0].data}
	}
	buf := make([]byte, end-start)
	if overlaps(run) {
		run = slices.Clone(run)
		slices.SortFunc(run, func(a, b piece) int { return cmp.Compare(a.order, b.order) })
	}
	for _, p := range run {
		copy(buf[p.start-start:], p.data)
	}
	return wasmbin.DataSegment{Mode: wasmbin.DataActive, Offset: offset, Init: buf}
}

// overlaps reports whether any two pieces of a run sorted by start overlap.
func overlaps(run []piece) bool {
	var end uint64
	for i, p := range run {
		if i > 0 && p.start < end {
			return true
		}
		end = max(end, p.end())
	}
	return false
}

// renumberData rewrites the segment index of every memory.init and
// data.drop in the code section payload. It returns nil when no code names a
// segment.
func renumberData(payload []byte, renumber []uint32) ([]byte, error) {
	bodies, err := wasmbin.Bodies(payload)
	if err != nil {
		return nil, err
	}
	var out []byte
	for i, b := range bodies {
		var code []byte // the rewritten body, once it differs
		prev := 0
		r := wasmbin.NewReader(b.Code)
		for r.Len() > 0 {
			in, err := r.Instr()
			if err != nil {
				return nil, fmt.Errorf("body[%d]: %w", i, err)
			}
			if in.Op != wasmbin.OpPrefixFC || (in.Sub != wasmbin.FCMemoryInit && in.Sub != wasmbin.FCDataDrop) {
				continue
			}
			if int(in.Index) >= len(renumber) {
				return nil, fmt.Errorf("%w: body[%d] names data[%d] of %d", ErrMalformed, i, in.Index, len(renumber))
			}
			code = append(code, b.Code[prev:in.IndexStart]...)
			code = wasmbin.AppendU32(code, renumber[in.Index])
			prev = in.IndexEnd
		}
		if code != nil && out == nil {
			// First change: copy the bodies before this one as they are.
			out = wasmbin.AppendU32(make([]byte, 0, len(payload)), uint32(len(bodies)))
			for _, earlier := range bodies[:i] {
				out = wasmbin.AppendBody(out, earlier.Locals, earlier.Code)
			}
		}
		if out == nil {
			continue
		}
		if code != nil {
			code = append(code, b.Code[prev:]...)
		} else {
			code = b.Code
		}
		out = wasmbin.AppendBody(out, b.Locals, code)
	}
	return out, nil
}
