package openim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// wireRoundTrip encodes req to its wire form (after junk, to check that offsets
// count from len(dst)), decodes it into a new value and fails unless that
// equals req exactly (nil versus empty kept).
func wireRoundTrip(t *testing.T, req Request) []byte {
	t.Helper()
	junk := []byte("junk before the buffer")
	out := req.AppendWire(junk[:len(junk):len(junk)])
	if !bytes.Equal(out[:len(junk)], junk) {
		t.Fatal("AppendWire changed dst's existing bytes")
	}
	enc := out[len(junk):]
	if plain := req.AppendWire(nil); !bytes.Equal(plain, enc) && !hasMap(req) {
		t.Fatalf("AppendWire after junk differs from AppendWire(nil)")
	}
	got := NewRequest(req.Command())
	if err := got.DecodeWire(enc); err != nil {
		t.Fatalf("DecodeWire of AppendWire output: %v", err)
	}
	if !reflect.DeepEqual(got, req) {
		t.Fatalf("wire round trip differs\n got %+v\nwant %+v", got, req)
	}
	return enc
}

func hasMap(v any) bool { return strings.Contains(reflect.TypeOf(v).Elem().String(), "map[") }

// TestWireExamples: every catalog example, decoded from JSON, survives the wire
// round trip.
func TestWireExamples(t *testing.T) {
	t.Parallel()
	for _, ex := range catalogExamples(t) {
		t.Run(ex.command, func(t *testing.T) {
			c, _ := Lookup(ex.command)
			req := NewRequest(c)
			if err := req.DecodeJSON(ex.request); err != nil {
				t.Fatal(err)
			}
			wireRoundTrip(t, req)
		})
	}
}

// TestWireRandom is TestWireExamples over seeded random values of every request
// type (nil, empty and filled lists and pointers, extreme integers).
func TestWireRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range Commands() {
		req := NewRequest(c)
		t.Run(reflect.TypeOf(req).Elem().Name(), func(t *testing.T) {
			for range 60 {
				fill(rng, reflect.ValueOf(req).Elem())
				wireRoundTrip(t, req)
			}
		})
	}
}

// TestWireDecodeResets: decoding into a used value leaves nothing of the old one.
func TestWireDecodeResets(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range Commands() {
		a, b := NewRequest(c), NewRequest(c)
		fill(rng, reflect.ValueOf(a).Elem())
		fill(rng, reflect.ValueOf(b).Elem())
		enc := b.AppendWire(nil)
		if err := a.DecodeWire(enc); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%v: decoding into a used value kept old fields\n got %+v\nwant %+v", c, a, b)
		}
	}
}

// TestWireStringsOwnCopy: decoded strings stay valid when the input is overwritten.
func TestWireStringsOwnCopy(t *testing.T) {
	ex := catalogExamples(t)[0]
	want := new(BeforeSendSingleMsgReq)
	if err := want.DecodeJSON(ex.request); err != nil {
		t.Fatal(err)
	}
	buf := want.AppendWire(nil)
	got := new(BeforeSendSingleMsgReq)
	if err := got.DecodeWire(buf); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("strings changed with the input buffer\n got %+v\nwant %+v", got, want)
	}
}

// TestWireLayout pins the layout of docs/abi.md on a hand-checked value.
func TestWireLayout(t *testing.T) {
	r := &BeforeSendSingleMsgReq{SendID: "ab", SenderPlatformID: -2, Seq: 1<<32 - 1, AtUserList: []string{"x", ""}, RecvID: ""}
	b := r.AppendWire(nil)
	slot := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }
	if slot(0) != 152<<32|2 || string(b[152:154]) != "ab" {
		t.Errorf("sendID slot %#x", slot(0))
	}
	if slot(1) != 0 || slot(18) != 0 {
		t.Errorf("empty strings must have slot 0")
	}
	if slot(5) != 0xffff_ffff_ffff_fffe {
		t.Errorf("int32 -2 slot %#x, want sign-extended", slot(5))
	}
	if slot(14) != 0xffff_ffff {
		t.Errorf("uint32 slot %#x", slot(14))
	}
	if slot(15) != 154<<32|2 {
		t.Errorf("atUserList slot %#x", slot(15))
	}
	if e := binary.LittleEndian.Uint64(b[154:]); e != 170<<32|1 || b[170] != 'x' {
		t.Errorf("atUserList[0] slot %#x", e)
	}
	if e := binary.LittleEndian.Uint64(b[162:]); e != 0 {
		t.Errorf("atUserList[1] slot %#x, want 0", e)
	}
	if len(b) != 171 {
		t.Errorf("len %d, want 171", len(b))
	}
	// A non-nil empty list is not slot 0.
	r = &BeforeSendSingleMsgReq{AtUserList: []string{}}
	b = r.AppendWire(nil)
	if s := binary.LittleEndian.Uint64(b[120:]); s == 0 || uint32(s) != 0 {
		t.Errorf("empty list slot %#x", s)
	}
}

// wireEncodings returns the wire encoding of every catalog example request.
func wireEncodings(tb testing.TB) [][]byte {
	var out [][]byte
	for _, ex := range catalogExamples(tb) {
		c, _ := Lookup(ex.command)
		req := NewRequest(c)
		if err := req.DecodeJSON(ex.request); err != nil {
			tb.Fatal(err)
		}
		out = append(out, req.AppendWire(nil))
	}
	return out
}

// checkWire decodes data as c's request: an error must match ErrWire; a success
// must re-encode to something that decodes to an equal value.
func checkWire(t *testing.T, c Command, data []byte) error {
	t.Helper()
	req := NewRequest(c)
	err := req.DecodeWire(data)
	if err != nil {
		if !errors.Is(err, ErrWire) || !strings.HasPrefix(err.Error(), "openim: wire input: ") {
			t.Fatalf("error does not match ErrWire: %v", err)
		}
		return err
	}
	again := NewRequest(c)
	if err := again.DecodeWire(req.AppendWire(nil)); err != nil {
		t.Fatalf("re-encoding of a decoded value does not decode: %v", err)
	}
	if !reflect.DeepEqual(again, req) {
		t.Fatalf("re-encoding changed the value\n got %+v\nwant %+v", again, req)
	}
	return nil
}

// TestWireMalformed: truncations, forged offsets, lengths and counts, and random
// bytes give ErrWire errors (never a panic), naming the field.
func TestWireMalformed(t *testing.T) {
	t.Parallel()
	encs := wireEncodings(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for i, c := range Commands() {
		enc := encs[i]
		// Every truncation fails: AppendWire writes nothing that no slot
		// points at, and the last thing it writes is bounds-checked.
		for n := range len(enc) {
			if checkWire(t, c, enc[:n]) == nil {
				t.Fatalf("%v: %d of %d bytes decoded", c, n, len(enc))
			}
		}
		// Forged slots: every slot of the root table set to awkward values.
		nf := reflect.TypeOf(NewRequest(c)).Elem().NumField()
		for f := range nf {
			for _, v := range []uint64{
				uint64(len(enc)) << 32,     // offset at the end
				uint64(len(enc))<<32 | 1,   // one byte past the end
				uint64(len(enc)-1)<<32 | 2, // straddles the end
				1<<32 | 0xffff_ffff,        // huge length or count
				0xffff_ffff_ffff_ffff,      // everything
				0xffff_ffff << 32,          // huge offset
				uint64(len(enc)-8) << 32,   // a table at the end
				8<<32 | uint64(len(enc)/8), // a count that just does not fit
				1,                          // offset 0, length 1
			} {
				b := bytes.Clone(enc)
				binary.LittleEndian.PutUint64(b[8*f:], v)
				checkWire(t, c, b)
			}
		}
		// Random bytes, and random flips of the encoding.
		for range 50 {
			b := make([]byte, rng.IntN(2*len(enc)))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			checkWire(t, c, b)
			b = bytes.Clone(enc)
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			}
			checkWire(t, c, b)
		}
	}
}

// TestWireErrors pins a few messages, including nested paths.
func TestWireErrors(t *testing.T) {
	r := &BeforeSendSingleMsgReq{AtUserList: []string{"a", "b"}}
	b := r.AppendWire(nil)
	binary.LittleEndian.PutUint64(b[120:], uint64(len(b)-8)<<32|2)
	err := new(BeforeSendSingleMsgReq).DecodeWire(b)
	want := `openim: wire input: field "atUserList": slot at offset 120 points past the end of 170 bytes (offset 162, count 2)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if err := new(BeforeSendSingleMsgReq).DecodeWire(b[:10]); err == nil ||
		err.Error() != "openim: wire input: 10 bytes are too short for the root table of BeforeSendSingleMsgReq (19 slots)" {
		t.Errorf("short: %v", err)
	}

	// A list of structs: a string of element 1.
	g := &BeforeCreateGroupReq{InitMemberList: []InitMember{{UserID: "a"}, {UserID: "bb"}}}
	b = g.AppendWire(nil)
	var at int
	for at = 0; at < len(b); at += 8 { // find element 1's userID slot
		if s := binary.LittleEndian.Uint64(b[at:]); uint32(s) == 2 && string(b[s>>32:s>>32+2]) == "bb" {
			break
		}
	}
	binary.LittleEndian.PutUint64(b[at:], uint64(len(b))<<32|1)
	err = new(BeforeCreateGroupReq).DecodeWire(b)
	if err == nil || !errors.Is(err, ErrWire) || !strings.Contains(err.Error(), `field "initMemberList[1].userID": slot at offset `+strconv.Itoa(at)) {
		t.Errorf("nested: %v", err)
	}

	// An embedded *OfflinePushInfo whose table does not fit.
	o := &BeforeOfflinePushReq{OfflinePushInfo: &OfflinePushInfo{Title: "t"}}
	b = o.AppendWire(nil)
	for at = 0; binary.LittleEndian.Uint64(b[at:])>>32 == 0 || uint32(binary.LittleEndian.Uint64(b[at:])) != 0; at += 8 {
	}
	binary.LittleEndian.PutUint64(b[at:], uint64(len(b)-8)<<32)
	err = new(BeforeOfflinePushReq).DecodeWire(b)
	if err == nil || !strings.Contains(err.Error(), `field "OfflinePushInfo": slot at offset `+strconv.Itoa(at)+" points past the end") {
		t.Errorf("embedded: %v", err)
	}
}

// FuzzDecodeWire: any bytes decode without panic, to an ErrWire error or to a
// value whose re-encoding decodes to the same value.
func FuzzDecodeWire(f *testing.F) {
	for i, enc := range wireEncodings(f) {
		f.Add(uint8(i), enc)
	}
	f.Fuzz(func(t *testing.T, idx uint8, data []byte) {
		c := Commands()[int(idx)%len(Commands())]
		checkWire(t, c, data)
	})
}
