package guestmem

import "syscall"

const mapNoReserve = syscall.MAP_NORESERVE
