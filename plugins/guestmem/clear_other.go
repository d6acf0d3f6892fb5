//go:build unix && !linux

package guestmem

// clear zeroes every byte the guest may have written (Pool). Without
// mincore's residency it writes every page up to the high-water mark,
// faulting in the ones the guest never touched.
func (m *mmapped) clear() bool {
	clear(m.buf[:m.hwm])
	m.hwm = 0
	return true
}
