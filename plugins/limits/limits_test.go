package limits

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFieldsCoverStruct: every field of Limits has exactly one entry in
// Fields whose key is the field's JSON and koanf key, and Get/Set reach that
// field and no other. A field added to the struct without its entry fails
// here.
func TestFieldsCoverStruct(t *testing.T) {
	rt := reflect.TypeFor[Limits]()
	if rt.NumField() != len(Fields) {
		t.Fatalf("Limits has %d fields, Fields lists %d", rt.NumField(), len(Fields))
	}
	byKey := map[string]Field{}
	for _, f := range Fields {
		if _, dup := byKey[f.Key]; dup {
			t.Fatalf("key %s listed twice", f.Key)
		}
		byKey[f.Key] = f
	}
	for i := range rt.NumField() {
		sf := rt.Field(i)
		key := strings.Split(sf.Tag.Get("json"), ",")[0]
		if k := sf.Tag.Get("koanf"); k != key {
			t.Errorf("%s: json key %q, koanf key %q: one name per limit", sf.Name, key, k)
		}
		f, ok := byKey[key]
		if !ok {
			t.Errorf("%s (%s) has no entry in Fields", sf.Name, key)
			continue
		}
		var l Limits
		f.Set(&l, 7)
		v := reflect.ValueOf(l)
		for j := range v.NumField() {
			want := int64(0)
			if j == i {
				want = 7
			}
			if got := reflect.ValueOf(v.Field(j).Interface()).Convert(reflect.TypeFor[int64]()).Int(); got != want {
				t.Errorf("Fields[%s].Set wrote %s = %d", key, rt.Field(j).Name, got)
			}
		}
		if f.Get(l) != 7 {
			t.Errorf("Fields[%s].Get = %d, want 7", key, f.Get(l))
		}
		if f.Default < f.Min || f.Default > f.Max {
			t.Errorf("%s: default %d outside [%d, %d]", key, f.Default, f.Min, f.Max)
		}
	}
}

func TestDefaultsAndOr(t *testing.T) {
	d := Default()
	if d.MaxInstructions != 100_000_000 || d.CallTimeout != 100*time.Millisecond || d.MemoryPages != 512 {
		t.Fatalf("Default() = %+v", d)
	}
	if err := d.Validate(""); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tenant := Limits{MemoryPages: 128}
	server := Limits{MemoryPages: 256, MaxInstances: 4}
	got := tenant.Or(server).WithDefaults()
	if got.MemoryPages != 128 || got.MaxInstances != 4 || got.MaxInstructions != d.MaxInstructions {
		t.Fatalf("tenant over server over built-in: %+v", got)
	}
	if (Limits{}).WithDefaults() != d {
		t.Fatal("WithDefaults of the zero Limits is not Default()")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		l    Limits
		want string // "" for valid
	}{
		{Limits{}, ""},
		{Limits{MemoryPages: MaxMemoryPages}, ""},
		{Limits{MemoryPages: MaxMemoryPages + 1}, "x.memory_pages[32768]: want 0 (the default, 512) or 1 to 32767"},
		{Limits{MaxInstructions: 9_999}, "x.max_instructions[9999]"},
		{Limits{MaxInstructions: 1 << 63}, "x.max_instructions["}, // past int64: still refused
		{Limits{CallTimeout: time.Microsecond}, "x.call_timeout[1µs]: want 0 (the default, 100ms) or 1ms to 1m0s"},
		{Limits{CallTimeout: -time.Second}, "x.call_timeout[-1s]"},
		{Limits{MaxInputBytes: -1}, "x.max_input_bytes[-1]"},
		{Limits{MaxInstances: 1025, MaxLogBytes: 2 << 20}, "x.max_log_bytes[2097152]"},
	} {
		err := tc.l.Validate("x.")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.l, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: got %v, want %q", tc.l, err, tc.want)
		}
	}
	// Every bad field is reported, not only the first.
	err := Limits{MaxInstances: 1025, MaxLogBytes: 2 << 20}.Validate("")
	if err == nil || !strings.Contains(err.Error(), "max_instances[1025]") || !strings.Contains(err.Error(), "max_log_bytes") {
		t.Fatalf("want both fields reported, got %v", err)
	}
}

// TestLegacyJSONKeys: documents and clients from before the keys were
// unified keep their values.
func TestLegacyJSONKeys(t *testing.T) {
	var l Limits
	if err := json.Unmarshal([]byte(`{"instances":3,"calls_per_instance":9,"memory_pages":64}`), &l); err != nil {
		t.Fatal(err)
	}
	if l.MaxInstances != 3 || l.MaxCallsPerInstance != 9 || l.MemoryPages != 64 {
		t.Fatalf("legacy keys lost: %+v", l)
	}
	if err := json.Unmarshal([]byte(`{"instances":3,"max_instances":5}`), &l); err != nil || l.MaxInstances != 5 {
		t.Fatalf("the current key must win: %+v %v", l, err)
	}
	b, _ := json.Marshal(Limits{MaxInstances: 2})
	if string(b) != `{"max_instances":2}` {
		t.Fatalf("encoded %s", b)
	}
	var bad Limits
	err := json.Unmarshal([]byte(`{"max_instances":"many"}`), &bad)
	var te *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &te) {
		t.Fatalf("a wrong type must be a *json.UnmarshalTypeError, got %v", err)
	}
	if err := json.Unmarshal([]byte(`"x"`), &bad); err == nil {
		t.Fatal("a string decoded as Limits")
	}
}

func TestGrants(t *testing.T) {
	g, err := ParseGrants([]string{GrantRandom, GrantWalltime})
	if err != nil || g != (Grants{Walltime: true, Random: true}) {
		t.Fatalf("%+v %v", g, err)
	}
	if got := g.Names(); strings.Join(got, ",") != "walltime,random" {
		t.Fatalf("Names() = %v", got)
	}
	if _, err := ParseGrants([]string{"network"}); err == nil || !strings.Contains(err.Error(), "want one of walltime, nanotime, random") {
		t.Fatalf("unknown grant: %v", err)
	}
	if _, err := ParseGrants([]string{"random", "random"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("repeated grant: %v", err)
	}
}
