package jsonx

import (
	"math/rand/v2"
	"testing"
)

// TestScanPlain checks the word-at-a-time scan against a byte loop for every
// byte value at every position of a 24-byte window.
func TestScanPlain(t *testing.T) {
	naive := func(b []byte, i int) int {
		for i < len(b) && plain[b[i]] {
			i++
		}
		return i
	}
	for pos := range 24 {
		for c := range 256 {
			b := []byte("abcdefghijklmnopqrstuvwx")
			b[pos] = byte(c)
			for start := range 3 {
				if got, want := scanPlain(b, start), naive(b, start); got != want {
					t.Fatalf("scanPlain(%q, %d) = %d, want %d", b, start, got, want)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("ab\"\\\x00\x1f\x20\x7f\x80\xff~ ")
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := scanPlain(b, 0), naive(b, 0); got != want {
			t.Fatalf("scanPlain(%q) = %d, want %d", b, got, want)
		}
	}
}

func TestFoldIndex(t *testing.T) {
	names := []string{"sendID", "seq", "remark"}
	tests := []struct {
		key  string
		want int
	}{
		{"sendID", 0},
		{"SENDid", 0},
		{"ſendID", 0},      // long s folds to s
		{"remar\u212a", 2}, // Kelvin sign folds to k
		{"Seq", 1},
		{"seqq", -1},
		{"", -1},
		{"send_ID", -1},
	}
	for _, tt := range tests {
		if got := FoldIndex([]byte(tt.key), names); got != tt.want {
			t.Errorf("FoldIndex(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}
