package guestmem

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxDropRuns bounds the madvise calls of one clear: past it, the pages not
// resident are dropped with the resident ones in one call, which is as
// correct and only makes the next guest fault the dropped pages in again.
const maxDropRuns = 64

var pageSize = uint64(os.Getpagesize())

// clear makes every byte the guest may have written read as zero again
// (Pool): the resident pages of [0, hwm) are zeroed in place, the others
// (never touched, or swapped out, which mincore also reports as not
// resident) dropped with MADV_DONTNEED. It reports false when the kernel
// refused, and the mapping must then not be reused.
func (m *mmapped) clear() bool {
	n := (m.hwm + pageSize - 1) / pageSize * pageSize
	m.hwm = 0
	if n == 0 {
		return true
	}
	b := m.buf[:n]
	vec := make([]byte, n/pageSize)
	if mincore(b, vec) != nil {
		return unix.Madvise(b, unix.MADV_DONTNEED) == nil
	}
	var drops [][2]uint64
	for start := uint64(0); start < uint64(len(vec)); {
		resident := vec[start]&1 == 1
		end := start + 1
		for end < uint64(len(vec)) && (vec[end]&1 == 1) == resident {
			end++
		}
		if resident {
			clear(b[start*pageSize : end*pageSize])
		} else {
			drops = append(drops, [2]uint64{start * pageSize, end * pageSize})
		}
		start = end
	}
	if len(drops) > maxDropRuns {
		return unix.Madvise(b, unix.MADV_DONTNEED) == nil
	}
	for _, d := range drops {
		if unix.Madvise(b[d[0]:d[1]], unix.MADV_DONTNEED) != nil {
			return false
		}
	}
	return true
}

// mincore fills vec with the residency of b's pages (bit 0 set: resident).
// golang.org/x/sys/unix has no wrapper for it on Linux.
func mincore(b, vec []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return errno
	}
	return nil
}
