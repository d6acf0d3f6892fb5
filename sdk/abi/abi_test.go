package abi

import "testing"

func TestPackUnpack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		packed uint64
		want   Result
	}{
		{"empty", 0, Result{}},
		{"reply", PackPointer(0x10000, 42), Result{Ptr: 0x10000, Len: 42}},
		{"documented example", 0x0001_0000_0000_002a, Result{Ptr: 0x10000, Len: 42}},
		{"error", PackError(8, 5), Result{Ptr: 8, Len: 5, Error: true}},
		{"max pointer", PackPointer(MaxPointer, 1<<32-1), Result{Ptr: MaxPointer, Len: 1<<32 - 1}},
		{"max pointer error", PackError(MaxPointer, 0), Result{Ptr: MaxPointer, Error: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Unpack(tc.packed); got != tc.want {
				t.Fatalf("Unpack(%#x) = %+v, want %+v", tc.packed, got, tc.want)
			}
		})
	}
	if !Unpack(0).Empty() || Unpack(PackError(0, 0)).Empty() {
		t.Fatal("Empty must be true only for 0")
	}
}

func TestLogLevelString(t *testing.T) {
	t.Parallel()
	for l, want := range map[LogLevel]string{LogDebug: "debug", LogInfo: "info", LogWarn: "warn", LogError: "error", 3: "level(3)", -12: "level(-12)"} {
		if got := l.String(); got != want {
			t.Errorf("LogLevel(%d).String() = %q, want %q", int32(l), got, want)
		}
	}
}
