package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits linear buckets, so a recorded value is known to within 1/256 of
// itself (the bucket midpoint is reported). The same log-linear layout as
// HdrHistogram, in 60 lines instead of a dependency.
const (
	subBits  = 7
	subCount = 1 << subBits
)

// Histogram records latencies in log-linear buckets from 1 ns to the largest
// time.Duration with a relative error below 0.4%. The zero value is ready to
// use. It is not safe for concurrent use: give each worker its own and Merge
// them.
type Histogram struct {
	counts [(64 - subBits + 1) * subCount]uint64
	total  uint64
	sum    float64 // ns, for the mean
	min    int64
	max    int64
}

// index returns the bucket of v (ns, v >= 0).
func index(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // v>>e is in [subCount, 2*subCount)
	return (e+1)*subCount + int(v>>e) - subCount
}

// bounds returns the smallest value of bucket i and its width.
func bounds(i int) (low, width int64) {
	if i < subCount {
		return int64(i), 1
	}
	e := i/subCount - 1
	return int64(i%subCount+subCount) << e, 1 << e
}

// Record adds one latency; negative values count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[index(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.total++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest recorded value, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the value at quantile q in [0, 1]: the smallest recorded
// value such that a fraction q of all values are at or below it (nearest
// rank), as the midpoint of its bucket clamped to the recorded min and max.
// It returns 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bounds(i)
			v := low + (width-1)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
