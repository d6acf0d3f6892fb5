//go:build unix && !linux

package guestmem

// mapNoReserve is Linux's; elsewhere reserving is lazy by default.
const mapNoReserve = 0
