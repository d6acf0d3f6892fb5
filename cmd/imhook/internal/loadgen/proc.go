package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of the CPU times in /proc/<pid>/stat. Linux
// reports them in 1/100 s on every architecture it runs on, whatever the
// kernel's own HZ.
const clockTick = 10 * time.Millisecond

// ProcStat is a snapshot of a process's resource use, read from /proc.
type ProcStat struct {
	// CPU is user plus system time of all the process's threads.
	CPU time.Duration
	// RSS is the resident set size now (VmRSS).
	RSS int64
	// PeakRSS is the largest RSS so far (VmHWM).
	PeakRSS int64
	// FileRSS is the part of RSS that maps files (RssFile): page cache,
	// such as a bbolt store's mapped pages, which the kernel may reclaim.
	FileRSS int64
}

// ReadProc reads pid's CPU time from /proc/<pid>/stat (utime+stime, 10 ms
// resolution) and its memory from /proc/<pid>/status. Linux only.
//
// # Errors
//
// The process does not exist or /proc is not Linux's.
func ReadProc(pid int) (ProcStat, error) {
	var s ProcStat
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("loadgen: pid[%d]: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after the last ')'. utime and stime are fields 14, 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("loadgen: pid[%d]: unexpected /proc stat format", pid)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return s, fmt.Errorf("loadgen: pid[%d]: unexpected /proc stat format", pid)
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("loadgen: pid[%d]: unexpected /proc stat format", pid)
	}
	s.CPU = time.Duration(utime+stime) * clockTick

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("loadgen: pid[%d]: %w", pid, err)
	}
	s.RSS = statusKB(status, "VmRSS:")
	s.PeakRSS = statusKB(status, "VmHWM:")
	s.FileRSS = statusKB(status, "RssFile:")
	return s, nil
}

// statusKB returns the value of a "Key:   123 kB" line of /proc status in
// bytes, or 0.
func statusKB(status []byte, key string) int64 {
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			f := bytes.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return n << 10
			}
		}
	}
	return 0
}
