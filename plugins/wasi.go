package plugins

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// wasiModule is the WASI preview 1 host module.
const wasiModule = wasi_snapshot_preview1.ModuleName

// What a metered guest is billed for WASI calls, in instructions. Measured
// with BenchmarkWASI (docs/sandbox.md, "Host functions"): a guest runs 6-9
// thousand million instructions per second, so each cost is at least the
// host's time for the work at 9 per ns.
const (
	// wasiCallCost is the round trip into the host and a cheap function:
	// 70-100 ns of CPU measured, the guest's loop around it included.
	wasiCallCost = hostCallCost
	// wasiIovecCost: wazero reads and writes each iovec (8-9 ns).
	wasiIovecCost = 100
	// wasiSubscriptionCost: poll_oneoff decodes and answers each
	// subscription, a few ns.
	wasiSubscriptionCost = 100
	// wasiRandomByteCost: the deterministic source makes a byte in about 1
	// ns, crypto/rand in less.
	wasiRandomByteCost = 10
	// maxIovecs bounds fd_write's iovecs per call, as POSIX's IOV_MAX does
	// writev's.
	maxIovecs = 1024
	// maxSubscriptions bounds poll_oneoff's subscriptions per call: a sleep
	// is one, Go's runtime asks for one, and there is nothing else to wait
	// for.
	maxSubscriptions = 4
	// randomChunk is how much random_get fills between two bills, so that
	// a large buffer is stopped at the deadline part way.
	randomChunk = 64 << 10
)

// WASI errno values (wasi_snapshot_preview1's errno type).
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
	errnoNosys   = 52
	errnoNotsup  = 58
)

// wasiFuncs is every function of WASI preview 1, so that modules of standard
// toolchains (Go's GOOS=wasip1, Rust's wasm32-wasip1, wasi-libc) link. Each
// row bills its call and either does the work itself, hands the call on to
// wazero's implementation after checking and billing it (next), or answers
// an errno at once. A guest reaches nothing else of WASI: the module is
// built from this table, not by wazero.
//
// What a Go guest (GOOS=wasip1) imports: args_get, args_sizes_get,
// clock_time_get, environ_get, environ_sizes_get, fd_write, poll_oneoff,
// proc_exit, random_get and sched_yield, plus, with package os, fd_close,
// fd_fdstat_get, fd_fdstat_set_flags, fd_prestat_get, fd_prestat_dir_name,
// fd_read, path_filestat_get and path_open. Its runtime calls sched_yield and
// poll_oneoff (one clock) while idle, and package syscall calls
// fd_prestat_get at init until EBADF: those must succeed, or answer EBADF,
// at once.
var wasiFuncs = hostTable{
	wasiRow("args_get", "argv i32, argv_buf i32", "no arguments: writes nothing", wasiNext),
	wasiRow("args_sizes_get", "result.argc i32, result.argv_len i32", "0 arguments, 0 bytes", wasiNext),
	wasiRow("environ_get", "environ i32, environ_buf i32", "no environment: writes nothing", wasiNext),
	wasiRow("environ_sizes_get", "result.environc i32, result.environv_len i32", "0 variables, 0 bytes", wasiNext),
	wasiRow("clock_res_get", "id i32, result.resolution i32", "1 us (realtime), 1 ns (monotonic); other clocks `EINVAL`", wasiNext),
	wasiRow("clock_time_get", "id i32, precision i64, result.timestamp i32",
		"realtime: fake (2022-01-01T00:00:00Z, 1 ms more per reading) unless granted **walltime**; monotonic: fake (1 us more per reading) unless granted **nanotime**; other clocks `EINVAL`", wasiNext),
	wasiRow("fd_advise", "fd i32, offset i64, len i64, advice i32", noFile, wasiBadf),
	wasiRow("fd_allocate", "fd i32, offset i64, len i64", noFile, wasiBadf),
	wasiRow("fd_close", "fd i32", noFile, wasiBadf),
	wasiRow("fd_datasync", "fd i32", noFile, wasiBadf),
	wasiRow("fd_fdstat_get", "fd i32, result.stat i32", "fd 1 and 2: a character device; other fds `EBADF`", wasiFdstatGet),
	wasiRow("fd_fdstat_set_flags", "fd i32, flags i32", noFile, wasiBadf),
	wasiRow("fd_fdstat_set_rights", "fd i32, fs_rights_base i64, fs_rights_inheriting i64", noFile, wasiBadf),
	wasiRow("fd_filestat_get", "fd i32, result.filestat i32", noFile, wasiBadf),
	wasiRow("fd_filestat_set_size", "fd i32, size i64", noFile, wasiBadf),
	wasiRow("fd_filestat_set_times", "fd i32, atim i64, mtim i64, fst_flags i32", noFile, wasiBadf),
	wasiRow("fd_pread", "fd i32, iovs i32, iovs_len i32, offset i64, result.nread i32", noFile, wasiBadf),
	wasiRow("fd_prestat_dir_name", "fd i32, result.path i32, result.path_len i32", noDir, wasiBadf),
	wasiRow("fd_prestat_get", "fd i32, result.prestat i32", noDir, wasiBadf),
	wasiRow("fd_pwrite", "fd i32, iovs i32, iovs_len i32, offset i64, result.nwritten i32", noFile, wasiBadf),
	wasiRow("fd_read", "fd i32, iovs i32, iovs_len i32, result.nread i32", "`EBADF`: there is no stdin, nor any file to read", wasiBadf),
	wasiRow("fd_readdir", "fd i32, buf i32, buf_len i32, cookie i64, result.bufused i32", noFile, wasiBadf),
	wasiRow("fd_renumber", "fd i32, to i32", noFile, wasiBadf),
	wasiRow("fd_seek", "fd i32, offset i64, whence i32, result.newoffset i32", noFile, wasiBadf),
	wasiRow("fd_sync", "fd i32", noFile, wasiBadf),
	wasiRow("fd_tell", "fd i32, result.offset i32", noFile, wasiBadf),
	wasiRow("fd_write", "fd i32, iovs i32, iovs_len i32, result.nwritten i32",
		"fd 1 (stdout): discarded; fd 2 (stderr): the first 4 KiB of a call kept for its error; other fds `EBADF`; more than 1024 iovecs `EINVAL`",
		wasiFdWrite, rate{wasiIovecCost, "iovec"}, rate{1, "byte"}),
	wasiRow("path_create_directory", "fd i32, path i32, path_len i32", noDir, wasiBadf),
	wasiRow("path_filestat_get", "fd i32, flags i32, path i32, path_len i32, result.filestat i32", noDir, wasiBadf),
	wasiRow("path_filestat_set_times", "fd i32, flags i32, path i32, path_len i32, atim i64, mtim i64, fst_flags i32", noDir, wasiBadf),
	wasiRow("path_link", "old_fd i32, old_flags i32, old_path i32, old_path_len i32, new_fd i32, new_path i32, new_path_len i32", noDir, wasiBadf),
	wasiRow("path_open", "fd i32, dirflags i32, path i32, path_len i32, oflags i32, fs_rights_base i64, fs_rights_inheriting i64, fdflags i32, result.opened_fd i32", noDir, wasiBadf),
	wasiRow("path_readlink", "fd i32, path i32, path_len i32, buf i32, buf_len i32, result.bufused i32", noDir, wasiBadf),
	wasiRow("path_remove_directory", "fd i32, path i32, path_len i32", noDir, wasiBadf),
	wasiRow("path_rename", "fd i32, old_path i32, old_path_len i32, new_fd i32, new_path i32, new_path_len i32", noDir, wasiBadf),
	wasiRow("path_symlink", "old_path i32, old_path_len i32, fd i32, new_path i32, new_path_len i32", noDir, wasiBadf),
	wasiRow("path_unlink_file", "fd i32, path i32, path_len i32", noDir, wasiBadf),
	wasiRow("poll_oneoff", "in i32, out i32, nsubscriptions i32, result.nevents i32",
		"1 to 4 subscriptions, else `EINVAL`; a relative clock sleeps its timeout (fake unless granted **nanotime**, then real, cut at the call's deadline, and without the call's CPU slot); an fd is answered `EBADF` at once, without sleeping",
		wasiPollOneoff, rate{wasiSubscriptionCost, "subscription"}),
	{
		name: "proc_exit", params: []api.ValueType{i32}, paramNames: []string{"rval"},
		fixed: wasiCallCost, behaviour: "ends the call, which fails as a trap; the instance is dropped", fn: wasiNext,
	},
	wasiRow("proc_raise", "sig i32", "`ENOSYS`", wasiNosys),
	wasiRow("random_get", "buf i32, buf_len i32",
		"deterministic bytes (the same in every instance) unless granted **random**, then crypto/rand", wasiRandomGet, rate{wasiRandomByteCost, "byte"}),
	wasiRow("sched_yield", "", "returns at once", wasiSchedYield),
	wasiRow("sock_accept", "fd i32, flags i32, result.fd i32", noSocket, wasiBadf),
	wasiRow("sock_recv", "fd i32, ri_data i32, ri_data_len i32, ri_flags i32, result.ro_datalen i32, result.ro_flags i32", noSocket, wasiBadf),
	wasiRow("sock_send", "fd i32, si_data i32, si_data_len i32, si_flags i32, result.so_datalen i32", noSocket, wasiBadf),
	wasiRow("sock_shutdown", "fd i32, how i32", noSocket, wasiBadf),
}

// Behaviours shared by the rows that answer EBADF at once.
const (
	noFile   = "`EBADF`: no file is open (stdout and stderr take only `fd_write` and `fd_fdstat_get`)"
	noDir    = "`EBADF`: no directory is pre-opened"
	noSocket = "`EBADF`: no socket is open"
)

// wasiRow makes a row of wasiFuncs: a function returning its errno, with
// params written "name type, name type" as docs/abi.md shows them, billed
// wasiCallCost plus rates.
func wasiRow(name, params, behaviour string, fn func(hostCall), rates ...rate) hostFunc {
	f := hostFunc{
		name: name, results: []api.ValueType{i32}, resultNames: []string{"errno"},
		fixed: wasiCallCost, rates: rates, behaviour: behaviour, fn: fn,
	}
	for _, p := range strings.Split(params, ", ") {
		if p == "" {
			continue
		}
		pname, ptype, _ := strings.Cut(p, " ")
		f.paramNames = append(f.paramNames, pname)
		switch ptype {
		case "i32":
			f.params = append(f.params, i32)
		case "i64":
			f.params = append(f.params, i64)
		default:
			panic("wasiRow " + name + ": param type " + ptype)
		}
	}
	return f
}

// instantiateWASI adds the WASI module of wasiFuncs to a runtime.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	next, err := wazeroWASI()
	if err != nil {
		return err
	}
	return wasiFuncs.instantiate(ctx, rt, wasiModule, next)
}

// wazeroWASI returns wazero's implementation of each WASI function, which
// the rows that hand a call on (next) call after billing it. They read the
// instance's clocks, random source and stdout/stderr from its ModuleConfig
// (moduleConfig).
var wazeroWASI = sync.OnceValues(func() (map[string]api.GoModuleFunction, error) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	cm, err := wasi_snapshot_preview1.NewBuilder(rt).Compile(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile wazero's wasi: %w", err)
	}
	fns := map[string]api.GoModuleFunction{}
	for name, def := range cm.ExportedFunctions() {
		if fn, ok := def.GoFunction().(api.GoModuleFunction); ok {
			fns[name] = fn
		}
	}
	return fns, nil
})

// checkWASIImport checks one import from wasiModule against wasiFuncs.
func checkWASIImport(name string, params, results []api.ValueType) error {
	f, ok := wasiFuncs.lookup(name)
	if !ok {
		return fmt.Errorf("guest imports func[%s.%s], which is not a WASI preview 1 function (docs/abi.md lists what the host provides)", wasiModule, name)
	}
	return f.checkType(wasiModule, params, results)
}

// wasiNext bills the call and hands it on to wazero.
func wasiNext(c hostCall) {
	c.bill()
	c.next.Call(c.i, c.m, c.stack)
}

// wasiBadf answers EBADF: the guest has no such file, directory or socket.
func wasiBadf(c hostCall) {
	c.bill()
	c.stack[0] = errnoBadf
}

// wasiNosys answers ENOSYS.
func wasiNosys(c hostCall) {
	c.bill()
	c.stack[0] = errnoNosys
}

// wasiSchedYield returns at once: a guest runs one call on one thread, and
// yielding the host's thread would only let a loop of yields run longer.
func wasiSchedYield(c hostCall) {
	c.bill()
	c.stack[0] = errnoSuccess
}

// wasiFdstatGet describes stdout and stderr (wazero's answer); nothing
// else is open.
func wasiFdstatGet(c hostCall) {
	c.bill()
	if fd := int32(c.stack[0]); fd != 1 && fd != 2 {
		c.stack[0] = errnoBadf
		return
	}
	c.next.Call(c.i, c.m, c.stack)
}

// wasiFdWrite bills the iovecs and their bytes, then hands the write on to
// wazero, which writes stdout to io.Discard and stderr to the instance's
// bounded buffer.
func wasiFdWrite(c hostCall) {
	fd, iovs, n := int32(c.stack[0]), uint32(c.stack[1]), uint32(c.stack[2])
	if fd != 1 && fd != 2 {
		c.bill(0, 0)
		c.stack[0] = errnoBadf
		return
	}
	if n > maxIovecs {
		c.bill(0, 0)
		c.stack[0] = errnoInval
		return
	}
	vec, ok := c.m.Memory().Read(iovs, n*8)
	if !ok {
		c.bill(0, 0)
		c.stack[0] = errnoFault
		return
	}
	var bytes uint64
	for k := uint32(0); k < n; k++ {
		bytes += uint64(binary.LittleEndian.Uint32(vec[k*8+4:]))
	}
	c.bill(uint64(n), bytes)
	c.next.Call(c.i, c.m, c.stack)
}

// wasiRandomGet fills the buffer through wazero in chunks, billing each
// before it is made, so a huge buffer costs what it takes and stops at the
// budget or the deadline.
func wasiRandomGet(c hostCall) {
	buf, n := uint32(c.stack[0]), uint32(c.stack[1])
	c.bill(0)
	if _, ok := c.m.Memory().Read(buf, n); !ok {
		c.stack[0] = errnoFault
		return
	}
	for {
		chunk := min(n, randomChunk)
		c.i.hostEnter(c.f.name, uint64(chunk)*wasiRandomByteCost)
		c.stack[0], c.stack[1] = uint64(buf), uint64(chunk)
		c.next.Call(c.i, c.m, c.stack)
		if n -= chunk; n == 0 || c.stack[0] != errnoSuccess {
			return
		}
		buf += chunk
	}
}

// Layout of poll_oneoff's subscription (48 bytes) and event (32 bytes).
const (
	subscriptionSize = 48
	eventSize        = 32
	eventClock       = 0
)

// wasiPollOneoff answers up to maxSubscriptions subscriptions. Clocks sleep
// the shortest relative timeout through the instance's sleep (fake, or real
// and bounded by the call's deadline); fds are answered EBADF at once,
// since no file is open, and then nothing sleeps. wazero's own version walks
// any number of subscriptions and can block on stdin, so it is not used.
func wasiPollOneoff(c hostCall) {
	in, out, n, nevents := uint32(c.stack[0]), uint32(c.stack[1]), uint32(c.stack[2]), uint32(c.stack[3])
	if n == 0 || n > maxSubscriptions {
		c.bill(0)
		c.stack[0] = errnoInval
		return
	}
	c.bill(uint64(n))
	mem := c.m.Memory()
	subs, ok := mem.Read(in, n*subscriptionSize)
	if !ok {
		c.stack[0] = errnoFault
		return
	}
	var fds, count uint32
	sleep := int64(-1)
	for k := uint32(0); k < n; k++ {
		s := subs[k*subscriptionSize:]
		if s[8] == eventClock {
			switch binary.LittleEndian.Uint16(s[40:]) { // subclockflags
			case 0: // relative
			case 1: // absolute: Go, Rust and wasi-libc sleep with relative clocks
				c.stack[0] = errnoNotsup
				return
			default:
				c.stack[0] = errnoInval
				return
			}
			if t := int64(binary.LittleEndian.Uint64(s[24:])); sleep < 0 || t < sleep {
				sleep = max(t, 0)
			}
			continue
		}
		if s[8] > 2 {
			c.stack[0] = errnoInval
			return
		}
		fds++
	}
	// The events that happened: every fd (EBADF) if any, else every clock
	// (after the sleep). They are written in place: out has room for n.
	events, ok := mem.Read(out, n*eventSize)
	if !ok {
		c.stack[0] = errnoFault
		return
	}
	for k := uint32(0); k < n; k++ {
		s := subs[k*subscriptionSize:]
		if (s[8] == eventClock) == (fds > 0) {
			continue
		}
		e := events[count*eventSize : (count+1)*eventSize]
		clear(e)
		copy(e, s[:8]) // userdata
		if s[8] != eventClock {
			binary.LittleEndian.PutUint16(e[8:], errnoBadf)
		}
		e[10] = s[8] // type
		count++
	}
	if fds == 0 && sleep > 0 {
		c.i.nanosleep(sleep)
	}
	if !mem.WriteUint32Le(nevents, count) {
		c.stack[0] = errnoFault
		return
	}
	c.stack[0] = errnoSuccess
}
