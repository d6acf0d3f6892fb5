package openim

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestRandomEquivalence fills every request and reply type with seeded random
// values (awkward strings, extreme integers, nil versus empty lists) and checks
// that AppendJSON equals json.Marshal and that decoding the output agrees with
// encoding/json.
func TestRandomEquivalence(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	const rounds = 40
	for _, c := range Commands() {
		for _, v := range []codec{NewRequest(c), NewReply(c)} {
			name := reflect.TypeOf(v).Elem().Name()
			t.Run(name, func(t *testing.T) {
				for range rounds {
					fill(rng, reflect.ValueOf(v).Elem())
					got := v.AppendJSON(nil)
					want, err := json.Marshal(v)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("AppendJSON differs from json.Marshal\n got %s\nwant %s", got, want)
					}
					ours := reflect.New(reflect.TypeOf(v).Elem()).Interface().(codec)
					if err := ours.DecodeJSON(got); err != nil {
						t.Fatalf("DecodeJSON of our own output: %v\n%s", err, got)
					}
					std := reflect.New(reflect.TypeOf(v).Elem()).Interface()
					if err := json.Unmarshal(got, std); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(ours, std) {
						t.Fatalf("decoded values differ for %s\n ours %+v\n std  %+v", got, ours, std)
					}
				}
			})
		}
	}
}

// pieces are the string fragments random strings are built from: what JSON
// escaping and UTF-8 handling get wrong.
var pieces = []string{
	"", "a", "user_1", "<", ">", "&", `"`, `\`, "/", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
	"é", "中文", "😀", "\u2028", "\u2029", "\ufffd", "\xff", "\xc3", "\xed\xa0\x80", `{"content":"hi"}`,
}

func randString(rng *rand.Rand) string {
	var b []byte
	for range rng.IntN(5) {
		b = append(b, pieces[rng.IntN(len(pieces))]...)
	}
	return string(b)
}

// fill sets v to random values of its type.
func fill(rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(randString(rng))
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 1)
	case reflect.Int, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		switch rng.IntN(4) {
		case 0:
			v.SetInt(0)
		case 1:
			v.SetInt(-1 << (bits - 1))
		case 2:
			v.SetInt(1<<(bits-1) - 1)
		default:
			v.SetInt(rng.Int64() >> (64 - bits))
		}
	case reflect.Uint8:
		v.SetUint(uint64(rng.IntN(256)))
	case reflect.Uint32:
		if rng.IntN(2) == 0 {
			v.SetUint(1<<32 - 1)
		} else {
			v.SetUint(uint64(rng.Uint32()))
		}
	case reflect.Pointer:
		if rng.IntN(3) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(rng, p.Elem())
		v.Set(p)
	case reflect.Slice:
		switch rng.IntN(3) {
		case 0:
			v.SetZero()
			return
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		n := 1 + rng.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(rng, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if rng.IntN(3) == 0 {
			v.SetZero()
			return
		}
		m := reflect.MakeMap(v.Type())
		for range rng.IntN(4) {
			k := reflect.New(v.Type().Key()).Elem()
			fill(rng, k)
			e := reflect.New(v.Type().Elem()).Elem()
			fill(rng, e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(rng, v.Field(i))
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}
