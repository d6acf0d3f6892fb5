// Package wire is the runtime of sdk/openim's generated wire codec: the flat
// binary form of requests that the imhook host hands SDK guests instead of JSON
// (docs/abi.md has the normative layout; docs/protocol.md says why).
//
// In short: all integers are little-endian; a struct is one 8-byte slot per
// field in declaration order; scalars sit in their slot; strings, lists,
// pointers and nested structs are off<<32|len (or |count) with the data at off,
// counted from the start of the buffer, where the root table is; slot 0 is nil
// or zero.
//
// The generated code is straight-line: one helper call per field, with the
// failure recorded in the Reader and checked once per struct. Inside a Go
// wasip1 guest every non-inlined call and every taken branch is expensive, so
// the per-field helpers must stay inlinable; check with
//
//	GOOS=wasip1 GOARCH=wasm go build -gcflags=-m ./sdk/openim/internal/wire
//
// Must inline: Reader.Slot, Reader.Bool, Reader.Str, Reader.Bad, Reader.fail,
// Put, PutStr, Grow, Alloc. The others (lists, pointers, maps) allocate and
// loop, so a call is their smaller cost.
package wire

import (
	"strconv"
	"unsafe"
)

// Reader decodes one wire buffer. Its zero value is empty; Init sets the data.
//
// Positions are ints that are always inside the data: the generated code checks
// a struct's whole slot table once (Root, Table, List) and then reads its slots
// without further checks. Offsets and lengths read from slots are uint64, so
// forged values cannot overflow, on 32-bit targets either.
type Reader struct {
	data []byte // the decoder's own copy; cap(data) > len(data), see Init

	bad  bool   // a check failed
	at   int    // slot of the first failure; Blame moves it to the parent's slot
	kind uint8  // what the slot at where pointed at (kind*)
	n    uint64 // table slots (kindTable, kindRoot)

	blamed bool   // where and path are set
	where  int    // the innermost failing slot
	path   string // field path of where, e.g. "users[2].userID"
}

// Failure kinds, for the message.
const (
	kindSpan  uint8 = iota + 1 // bytes (string, []byte, *string)
	kindList                   // n slots or pairs
	kindTable                  // a struct's slot table
	kindValue                  // an 8-byte value slot (*bool, *int32, *int64)
	kindRoot                   // the root table does not fit
)

// Init makes the Reader decode a copy of data (copyInput: from a shared block
// in a wasm guest, see block.go). Every string the Reader returns points into
// that one copy (it is never written again), so decoded values stay
// valid when the caller reuses data. The copy has one spare byte of capacity so
// that an empty string at offset len(data) still points inside the allocation.
func (r *Reader) Init(data []byte) {
	*r = Reader{data: copyInput(data)}
}

// Len is the length of the data.
func (r *Reader) Len() int { return len(r.data) }

// Bad reports whether a check failed.
func (r *Reader) Bad() bool { return r.bad }

// fail records a failure of the slot at at (the first one wins).
func (r *Reader) fail(at int, kind uint8) {
	if !r.bad {
		r.bad, r.at, r.kind = true, at, kind
	}
}

// Root checks that the data holds a root table of n slots.
func (r *Reader) Root(n int) bool {
	if uint64(len(r.data)) < 8*uint64(n) {
		r.fail(-1, kindRoot)
		r.n = uint64(n)
		return false
	}
	return true
}

// Slot returns the slot at at, which must be inside a checked table. The
// generated code converts it: int32(s) for int32, s != 0 for bool, and so on.
func (r *Reader) Slot(at int) uint64 { return load64(r.data, at) }

// Bool returns the bool in the slot at at.
func (r *Reader) Bool(at int) bool { return load64(r.data, at) != 0 }

// Str returns the string of the slot at at, "" for slot 0.
func (r *Reader) Str(at int) string {
	s := load64(r.data, at)
	off, n := s>>32, uint64(uint32(s))
	if off+n > uint64(len(r.data)) {
		r.fail(at, kindSpan)
		return ""
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(r.data)), off)), n)
}

// str is Str for an element slot at e of the list whose slot is at.
func (r *Reader) str(e, at int) (string, bool) {
	s := load64(r.data, e)
	off, n := s>>32, uint64(uint32(s))
	if off+n > uint64(len(r.data)) {
		r.fail(at, kindSpan)
		return "", false
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(r.data)), off)), n), true
}

// StrPtr returns the *string of the slot at at, nil for slot 0.
func (r *Reader) StrPtr(at int) *string {
	if load64(r.data, at) == 0 {
		return nil
	}
	p := new(string)
	*p = r.Str(at)
	return p
}

// Bytes returns a copy of the []byte of the slot at at, nil for slot 0. It is a
// copy so that writing to it cannot change strings of the same value.
func (r *Reader) Bytes(at int) []byte {
	s := load64(r.data, at)
	if s == 0 {
		return nil
	}
	off, n := s>>32, uint64(uint32(s))
	if off+n > uint64(len(r.data)) {
		r.fail(at, kindSpan)
		return nil
	}
	return append([]byte{}, r.data[off:off+n]...)
}

// value returns the offset of the 8-byte value the slot at at points to, and
// false for slot 0 or a failure.
func (r *Reader) value(at int) (int, bool) {
	s := load64(r.data, at)
	if s == 0 {
		return 0, false
	}
	off := s >> 32
	if off+8 > uint64(len(r.data)) {
		r.fail(at, kindValue)
		return 0, false
	}
	return int(off), true
}

// BoolPtr returns the *bool of the slot at at, nil for slot 0.
func (r *Reader) BoolPtr(at int) *bool {
	off, ok := r.value(at)
	if !ok {
		return nil
	}
	p := new(bool)
	*p = load64(r.data, off) != 0
	return p
}

// Int32Ptr returns the *int32 of the slot at at, nil for slot 0.
func (r *Reader) Int32Ptr(at int) *int32 {
	off, ok := r.value(at)
	if !ok {
		return nil
	}
	p := new(int32)
	*p = int32(load64(r.data, off))
	return p
}

// Int64Ptr returns the *int64 of the slot at at, nil for slot 0.
func (r *Reader) Int64Ptr(at int) *int64 {
	off, ok := r.value(at)
	if !ok {
		return nil
	}
	p := new(int64)
	*p = int64(load64(r.data, off))
	return p
}

// list returns the offset and count of the list whose slot is at at, with
// elements of size bytes, checking that they fit in the data (so a forged count
// cannot allocate beyond a few times the data's size); n is -1 for slot 0 or a
// failure.
func (r *Reader) list(at int, size uint64) (off, n int) {
	s := load64(r.data, at)
	if s == 0 {
		return 0, -1
	}
	o, c := s>>32, uint64(uint32(s))
	if o+c*size > uint64(len(r.data)) {
		r.fail(at, kindList)
		return 0, -1
	}
	return int(o), int(c)
}

// Strs returns the []string of the slot at at, nil for slot 0.
func (r *Reader) Strs(at int) []string {
	off, n := r.list(at, 8)
	if n < 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		s, ok := r.str(off+8*i, at)
		if !ok {
			return nil
		}
		out[i] = s
	}
	return out
}

// Int64s returns the []int64 of the slot at at, nil for slot 0.
func (r *Reader) Int64s(at int) []int64 {
	off, n := r.list(at, 8)
	if n < 0 {
		return nil
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(load64(r.data, off+8*i))
	}
	return out
}

// BoolMap returns the map[string]bool of the slot at at, nil for slot 0.
// Duplicate keys keep the last value.
func (r *Reader) BoolMap(at int) map[string]bool {
	off, n := r.list(at, 16)
	if n < 0 {
		return nil
	}
	out := make(map[string]bool, n)
	for i := range n {
		k, ok := r.str(off+16*i, at)
		if !ok {
			return nil
		}
		out[k] = load64(r.data, off+16*i+8) != 0
	}
	return out
}

// Table returns the offset of the n-slot table the *Struct slot at at points
// to, checked to fit, or 0 for slot 0, a failure, or when a check already
// failed (so that a nested struct is decoded only while all is well).
func (r *Reader) Table(at, n int) int {
	s := load64(r.data, at)
	if s == 0 || r.bad {
		return 0
	}
	off := s >> 32
	if off == 0 || off+8*uint64(n) > uint64(len(r.data)) {
		r.fail(at, kindTable)
		r.n = uint64(n)
		return 0
	}
	return int(off)
}

// List returns the offset and count of the []Struct slot at at, whose elements
// are tables of size bytes (8 per field, so never 0), checked to fit; n is -1
// for slot 0, a failure, or when a check already failed.
func (r *Reader) List(at, size int) (off, n int) {
	if r.bad {
		return 0, -1
	}
	return r.list(at, uint64(size))
}

// Blame is called by a struct's decoder, once, when a check failed. If the
// failing slot is in the struct's table at b (one slot per name), it prepends
// the slot's name to the path and moves the failure to from, the parent's slot
// that pointed at the table (-1 for the root). It is not inlined: it runs only
// on failure, and inlined into every struct decoder it would only add code.
//
//go:noinline
func (r *Reader) Blame(b int, names []string, from int) {
	if r.at < b || r.at >= b+8*len(names) {
		return
	}
	name := names[(r.at-b)/8]
	if !r.blamed {
		r.blamed, r.where = true, r.at
	}
	switch {
	case r.path == "":
		r.path = name
	case r.path[0] == '[':
		r.path = name + r.path
	default:
		r.path = name + "." + r.path
	}
	r.at = from
}

// Index prepends the list index i to the path of a failure inside element i.
//
//go:noinline
func (r *Reader) Index(i int) {
	r.path = "[" + strconv.Itoa(i) + "]." + r.path
}

// Err describes the failure, or returns "" when every check passed. root is the
// root struct's name.
func (r *Reader) Err(root string) string {
	if !r.bad {
		return ""
	}
	size := strconv.Itoa(len(r.data)) + " bytes"
	if r.kind == kindRoot {
		return size + " are too short for the root table of " + root + " (" + strconv.FormatUint(r.n, 10) + " slots)"
	}
	if !r.blamed {
		return "slot at offset " + strconv.Itoa(r.at) + " is invalid" // not reached: every failure is blamed
	}
	s := load64(r.data, r.where)
	off, n := strconv.FormatUint(s>>32, 10), strconv.FormatUint(uint64(uint32(s)), 10)
	msg := "field " + strconv.Quote(r.path) + ": slot at offset " + strconv.Itoa(r.where)
	switch r.kind {
	case kindSpan:
		return msg + " points past the end of " + size + " (offset " + off + ", length " + n + ")"
	case kindList:
		return msg + " points past the end of " + size + " (offset " + off + ", count " + n + ")"
	case kindValue:
		return msg + " points past the end of " + size + " (offset " + off + ", an 8-byte value)"
	}
	if s>>32 == 0 {
		return msg + " points at offset 0, the root table"
	}
	return msg + " points past the end of " + size + " (offset " + off + ", a table of " + strconv.FormatUint(r.n, 10) + " slots)"
}

// ---- writing ----

// The writers append to dst a buffer that starts at base (len(dst) when the
// root's AppendWire was called): offsets are len(dst)-base. The slot positions
// (at) are indexes into dst. A nil or empty value leaves its slot 0 (tables are
// reserved zeroed), except that a non-nil empty []byte, *string or list points
// at the current end, which is never offset 0 because the root table is there.

// Grow appends n zero bytes to dst.
func Grow(dst []byte, n int) []byte { return append(dst, make([]byte, n)...) }

// Put stores the slot v at at.
func Put(dst []byte, at int, v uint64) { put64(dst, at, v) }

// PutStr appends s and points the slot at at to it; "" leaves the slot 0.
func PutStr(dst []byte, base, at int, s string) []byte {
	if len(s) == 0 {
		return dst
	}
	put64(dst, at, uint64(len(dst)-base)<<32|uint64(len(s)))
	return append(dst, s...)
}

// PutStrPtr is PutStr for a *string: slot 0 only for nil.
func PutStrPtr(dst []byte, base, at int, p *string) []byte {
	if p == nil {
		return dst
	}
	put64(dst, at, uint64(len(dst)-base)<<32|uint64(len(*p)))
	return append(dst, *p...)
}

// PutBytes is PutStr for a []byte: slot 0 only for nil.
func PutBytes(dst []byte, base, at int, b []byte) []byte {
	if b == nil {
		return dst
	}
	put64(dst, at, uint64(len(dst)-base)<<32|uint64(len(b)))
	return append(dst, b...)
}

// PutValue appends the 8-byte value v of a non-nil *bool, *int32 or *int64
// and points the slot at at to it.
func PutValue(dst []byte, base, at int, v uint64) []byte {
	off := len(dst)
	put64(dst, at, uint64(off-base)<<32)
	dst = Grow(dst, 8)
	put64(dst, off, v)
	return dst
}

// Alloc reserves size zero bytes for n elements (a table, a list) at the end of
// dst, points the slot at at to them with count n, and returns where they start.
func Alloc(dst []byte, base, at, n, size int) ([]byte, int) {
	off := len(dst)
	put64(dst, at, uint64(off-base)<<32|uint64(n))
	return Grow(dst, size), off
}

// PutStrs writes the []string v for the slot at at; nil leaves the slot 0.
func PutStrs(dst []byte, base, at int, v []string) []byte {
	if v == nil {
		return dst
	}
	dst, off := Alloc(dst, base, at, len(v), 8*len(v))
	for i, s := range v {
		dst = PutStr(dst, base, off+8*i, s)
	}
	return dst
}

// PutInt64s writes the []int64 v for the slot at at; nil leaves the slot 0.
func PutInt64s(dst []byte, base, at int, v []int64) []byte {
	if v == nil {
		return dst
	}
	dst, off := Alloc(dst, base, at, len(v), 8*len(v))
	for i, x := range v {
		put64(dst, off+8*i, uint64(x))
	}
	return dst
}

// PutBoolMap writes the map[string]bool m for the slot at at, in map order;
// nil leaves the slot 0.
func PutBoolMap(dst []byte, base, at int, m map[string]bool) []byte {
	if m == nil {
		return dst
	}
	dst, off := Alloc(dst, base, at, len(m), 16*len(m))
	for k, v := range m {
		dst = PutStr(dst, base, off, k)
		if v {
			put64(dst, off+8, 1)
		}
		off += 16
	}
	return dst
}

// B2u is 1 for true and 0 for false.
func B2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
