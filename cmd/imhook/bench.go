package main

// imhook bench: the side-by-side benchmark of docs/performance.md, a load
// test of one plugin, and the many-tenants memory measurement. Every server
// is a child process on loopback (imhook serve, or the native baseline
// through the hidden --serve-baseline mode); the load comes from this
// process (host/loadgen). Nothing listens off loopback and every run is
// bounded in time.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/imhook/imhook/cmd/imhook/internal/baseline"
	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
	"github.com/imhook/imhook/plugins/registry"
)

// Targets of issue 5, checked by --compare.
const (
	targetThroughputRatio = 0.75                 // (b)/(a) throughput, at least
	targetHostCPU         = 3 * time.Microsecond // (c)-(n) CPU per callback, at most
	targetUploadToActive  = 2 * time.Second      // for a ~3 MB Go plugin, at most
	targetTenantsRSS      = int64(2) << 30       // 1,000 tenants, 100 active, at most
	serverStartTimeout    = 60 * time.Second     // a child server answering /healthz
	activateTimeout       = 2 * time.Minute      // an upload serving callbacks
	stopTimeout           = 20 * time.Second     // a child server exiting on SIGTERM
	benchTenant           = "bench"              // the tenant of --compare and --plugin
	maxChildLog           = 64 << 10             // bytes of a child's stderr kept for errors
	benchUploadTimeout    = 2 * time.Minute      // an upload compiles the module
	defaultMemActive      = 100                  // --active
	memCallbacksPerTenant = 20                   // callbacks sent to each active tenant
	loadCore, serverCore  = "1", "0"             // taskset cores when pinning
	operatorTokenBytes    = 24                   // random bytes of the child's operator token
	variantsHeader        = "variant\tthroughput/s\tp50\tp99\tp999\tcpu/callback\tRSS\terrors"
)

// benchOptions are the flags of imhook bench.
type benchOptions struct {
	compare     bool
	plugin      string
	command     string
	body        string
	tenants     int
	active      int
	config      []string
	rounds      int
	duration    time.Duration
	warmup      time.Duration
	connections int
	imhook      string
	moderation  string
	trivial     string
	pin         bool
	json        bool
	verbose     bool

	serveBaseline string // hidden: run the native baseline server
	addr          string // hidden: its listen address
}

// benchMain runs imhook bench.
func benchMain(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	var o benchOptions
	fs := pflag.NewFlagSet("imhook bench", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage:
  imhook bench --compare [flags]                 native vs imhook, the targets of docs/performance.md
  imhook bench --plugin x.wasm --command C --body file.json [--config k=v] [flags]
                                                 load-test your plugin on a local imhook
  imhook bench --tenants 1000 --active 100       memory of many tenants

Servers run as child processes on loopback (pinned to core 0 and the load to
core 1 when taskset exists and there are 2 cores or more).

Flags:
`)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.compare, "compare", false, "run the side-by-side comparison: (a) native Go, (b) imhook + moderation plugin, (c) imhook + trivial plugin, (n) native neutral reply, (h) imhook + no-op raw-ABI plugin")
	fs.StringVar(&o.plugin, "plugin", "", "load-test this plugin (.wasm) on a local imhook")
	fs.StringVar(&o.command, "command", "", "with --plugin: the callback command to send")
	fs.StringVar(&o.body, "body", "", "with --plugin: file holding the callback's JSON body")
	fs.IntVar(&o.tenants, "tenants", 0, "measure memory with this many tenants registered (e.g. 1000)")
	fs.IntVar(&o.active, "active", defaultMemActive, "with --tenants: how many of them run the moderation plugin and get callbacks")
	fs.StringArrayVar(&o.config, "config", nil, "plugin configuration key=value (repeatable); --compare uses banned_words="+loadgen.BannedWord)
	fs.IntVar(&o.rounds, "rounds", 5, "measured rounds per variant (the report gives the median and the range)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of one round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each round")
	fs.IntVar(&o.connections, "connections", 16, "keep-alive connections, one callback in flight on each")
	fs.StringVar(&o.imhook, "imhook", "", "imhook binary to run as the server (default: this executable)")
	fs.StringVar(&o.moderation, "moderation", filepath.Join("build", "examples", "moderation.wasm"), "the moderation example (make examples)")
	fs.StringVar(&o.trivial, "trivial", filepath.Join("build", "examples", "trivial.wasm"), "the trivial example (make examples)")
	fs.BoolVar(&o.pin, "pin", true, "pin server and load to different cores with taskset when possible")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "print progress to stderr")
	fs.StringVar(&o.serveBaseline, "serve-baseline", "", "run the native baseline server: moderation or neutral")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "with --serve-baseline: listen address (loopback)")
	_ = fs.MarkHidden("serve-baseline")
	_ = fs.MarkHidden("addr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "imhook bench: %v\nRun 'imhook bench --help' for usage.\n", err)
		return exitUsage
	}
	if err := o.check(fs.NArg()); err != nil {
		fmt.Fprintf(stderr, "imhook bench: %v\n", err)
		return exitUsage
	}
	if o.serveBaseline != "" {
		return serveBaselineMain(ctx, o, stdout, stderr)
	}
	b, err := newBencher(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "imhook bench: %v\n", err)
		return exitUsage
	}
	var rep any
	switch {
	case o.compare:
		rep, err = b.compare(ctx)
	case o.tenants > 0:
		rep, err = b.memory(ctx)
	default:
		rep, err = b.pluginLoad(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "imhook bench: %v\n", err)
		return exitAPI
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.(interface{ print(io.Writer) }).print(stdout)
	}
	return exitOK
}

// check validates the flag combination.
func (o *benchOptions) check(nargs int) error {
	modes := 0
	for _, on := range []bool{o.compare, o.plugin != "", o.tenants > 0, o.serveBaseline != ""} {
		if on {
			modes++
		}
	}
	switch {
	case nargs > 0:
		return errors.New("no positional arguments expected")
	case modes != 1:
		return errors.New("choose one of --compare, --plugin or --tenants")
	case o.plugin != "" && (o.command == "" || o.body == ""):
		return errors.New("--plugin needs --command and --body")
	case o.serveBaseline != "" && o.serveBaseline != "moderation" && o.serveBaseline != "neutral":
		return fmt.Errorf("--serve-baseline[%s]: want moderation or neutral", o.serveBaseline)
	case o.rounds < 1 || o.connections < 1 || o.duration <= 0 || o.warmup < 0:
		return errors.New("--rounds, --connections and --duration must be positive, --warmup not negative")
	case time.Duration(o.rounds)*(o.duration+o.warmup)*4 > 2*time.Hour:
		return errors.New("--rounds x (--duration + --warmup) is over the 2h bound of a comparison")
	case o.tenants > 0 && (o.active < 1 || o.active > o.tenants):
		return fmt.Errorf("--active[%d] must be between 1 and --tenants[%d]", o.active, o.tenants)
	}
	if o.serveBaseline != "" {
		host, _, err := net.SplitHostPort(o.addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("--addr[%s]: the baseline listens on loopback only", o.addr)
		}
	}
	return nil
}

// configMap parses the repeated --config key=value flags.
func configMap(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--config[%s]: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// serveBaselineMain runs the native baseline server until ctx ends. It
// prints "listening <addr>" once it accepts connections.
func serveBaselineMain(ctx context.Context, o benchOptions, stdout, stderr io.Writer) int {
	conf, err := configMap(o.config)
	if err != nil {
		fmt.Fprintf(stderr, "imhook bench: %v\n", err)
		return exitUsage
	}
	h := baseline.Neutral()
	if o.serveBaseline == "moderation" {
		if h, err = baseline.Moderation(conf); err != nil {
			fmt.Fprintf(stderr, "imhook bench: %v\n", err)
			return exitUsage
		}
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(stderr, "imhook bench: baseline: %v\n", err)
		return exitAPI
	}
	srv := baseline.NewServer(h)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	select {
	case <-ctx.Done():
		_ = srv.Shutdown()
		return exitOK
	case err := <-done:
		fmt.Fprintf(stderr, "imhook bench: baseline: %v\n", err)
		return exitAPI
	}
}

// bencher runs child servers and drives them.
type bencher struct {
	o      benchOptions
	exe    string // the imhook binary
	pin    bool   // taskset the children to serverCore and this process to loadCore
	log    io.Writer
	admin  *http.Client
	logMu  sync.Mutex
	pinned bool
}

func newBencher(o benchOptions, stderr io.Writer) (*bencher, error) {
	b := &bencher{o: o, exe: o.imhook, log: io.Discard, admin: &http.Client{Timeout: benchUploadTimeout}}
	if o.verbose {
		b.log = stderr
	}
	if b.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find this executable (pass --imhook): %w", err)
		}
		b.exe = exe
	}
	if _, err := exec.LookPath("taskset"); err == nil && o.pin && runtime.NumCPU() >= 2 {
		b.pin = true
	}
	return b, nil
}

func (b *bencher) logf(format string, args ...any) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	fmt.Fprintf(b.log, "imhook bench: "+format+"\n", args...)
}

// pinSelf moves every thread of this process (the load generator) to
// loadCore; threads started later inherit it.
func (b *bencher) pinSelf() error {
	if !b.pin || b.pinned {
		return nil
	}
	out, err := exec.Command("taskset", "-a", "-p", "-c", loadCore, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset the load generator to core %s: %v: %s", loadCore, err, out)
	}
	b.pinned = true
	return nil
}

// child is one server process.
type child struct {
	name  string
	cmd   *exec.Cmd
	dir   string // its temporary data directory, removed by stop
	base  string // http://127.0.0.1:port of the webhook listener
	admin string // http://127.0.0.1:port of the admin listener (imhook only)
	token string // operator token (imhook only)
	logs  *tailBuffer
	exit  chan error
}

// tailBuffer keeps the last maxChildLog bytes written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - maxChildLog; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// command returns the exec.Cmd running args, under taskset when pinning.
func (b *bencher) command(ctx context.Context, args ...string) *exec.Cmd {
	if b.pin {
		args = append([]string{"taskset", "-c", serverCore}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	return cmd
}

// start runs the child's command; exit receives its end.
func (c *child) start() error {
	c.exit = make(chan error, 1)
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("server[%s]: start: %w", c.name, err)
	}
	go func() { c.exit <- c.cmd.Wait() }()
	return nil
}

// pid is the server's process id (taskset execs the server in place).
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop ends the child with SIGTERM (SIGKILL after stopTimeout) and removes
// its data directory.
func (c *child) stop() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exit:
		case <-time.After(stopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.exit
		}
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

// startBaseline runs the native baseline in mode moderation or neutral.
func (b *bencher) startBaseline(ctx context.Context, mode string, conf []string) (*child, error) {
	args := []string{b.exe, "bench", "--serve-baseline", mode, "--addr", "127.0.0.1:0"}
	for _, kv := range conf {
		args = append(args, "--config", kv)
	}
	c := &child{name: "native-" + mode, cmd: b.command(ctx, args...), logs: &tailBuffer{}}
	c.cmd.Stderr = c.logs
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				lines <- addr
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case addr := <-lines:
		c.base = "http://" + addr
		return c, nil
	case err := <-c.exit:
		return nil, fmt.Errorf("server[%s] exited: %v: %s", c.name, err, c.logs)
	case <-time.After(serverStartTimeout):
		c.stop()
		return nil, fmt.Errorf("server[%s] did not listen within %s: %s", c.name, serverStartTimeout, c.logs)
	}
}

// loopbackPort returns a loopback address with a port free right now.
func loopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startImhook runs imhook serve on a fresh temporary data directory, on
// loopback ports, with the default limits and an operator token, and waits
// for /readyz.
func (b *bencher) startImhook(ctx context.Context, name string) (*child, error) {
	dir, err := os.MkdirTemp("", "imhook-bench-")
	if err != nil {
		return nil, err
	}
	web, err1 := loopbackPort()
	adm, err2 := loopbackPort()
	if err := errors.Join(err1, err2); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	tok := make([]byte, operatorTokenBytes)
	_, _ = rand.Read(tok)
	c := &child{name: name, dir: dir, base: "http://" + web, admin: "http://" + adm,
		token: hex.EncodeToString(tok), logs: &tailBuffer{}}
	c.cmd = b.command(ctx, b.exe, "serve")
	c.cmd.Env = append(environWithout("IMHOOK_"),
		"IMHOOK_DATA_DIR="+dir,
		"IMHOOK_SERVER__ADDR="+web,
		"IMHOOK_ADMIN__ADDR="+adm,
		"IMHOOK_ADMIN__TOKEN="+c.token,
		"IMHOOK_LOG__LEVEL=warn",
	)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	deadline := time.Now().Add(serverStartTimeout)
	for {
		resp, err := b.admin.Get(c.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case err := <-c.exit:
			c.exit <- err
			c.stop()
			return nil, fmt.Errorf("server[%s] exited: %v: %s", name, err, c.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("server[%s] not ready within %s: %s", name, serverStartTimeout, c.logs)
		}
	}
}

// environWithout returns this process's environment without the variables
// starting with prefix, so the child's configuration is only what bench sets.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

// api calls the child's admin API with the operator token and decodes the
// JSON answer into out (when not nil).
func (b *bencher) api(c *child, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequest(method, c.admin+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", contentType)
	resp, err := b.admin.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("admin %s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("admin %s %s: %w", method, path, err)
		}
	}
	return nil
}

// createTenant registers tenant id with the plugin configuration conf.
func (b *bencher) createTenant(c *child, id string, conf map[string]string) error {
	body, _ := json.Marshal(map[string]any{"id": id, "settings": map[string]any{"config": conf}})
	return b.api(c, http.MethodPost, "/v1/tenants", "application/json", body, nil)
}

// install uploads wasm as tenant's plugin name with ?activate=true and waits
// until the server serves that version. It returns the upload-to-active
// time: from the start of the upload until the version serves callbacks.
func (b *bencher) install(c *child, tenant, name string, wasm []byte) (time.Duration, error) {
	start := time.Now()
	var up struct {
		Version struct {
			Hash string `json:"hash"`
		} `json:"version"`
	}
	path := "/v1/tenants/" + tenant + "/plugins/" + name + "/versions?activate=true"
	if err := b.api(c, http.MethodPost, path, "application/wasm", wasm, &up); err != nil {
		return 0, err
	}
	deadline := start.Add(activateTimeout)
	for {
		var st struct {
			Stats *struct {
				Plugins []struct {
					Name      string `json:"name"`
					Serving   string `json:"serving"`
					LoadError string `json:"load_error"`
				} `json:"plugins"`
			} `json:"stats"`
		}
		if err := b.api(c, http.MethodGet, "/v1/tenants/"+tenant+"/stats", "application/json", nil, &st); err != nil {
			return 0, err
		}
		if st.Stats != nil {
			for _, p := range st.Stats.Plugins {
				if p.Name == name && p.Serving == up.Version.Hash {
					return time.Since(start), nil
				}
				if p.Name == name && p.LoadError != "" {
					return 0, fmt.Errorf("tenant[%s] plugin[%s]: %s", tenant, name, p.LoadError)
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("tenant[%s] plugin[%s]: not serving %s after %s", tenant, name, activateTimeout, up.Version.Hash)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// variant is one server of a comparison and its rounds.
type variant struct {
	key, name string
	child     *child
	rounds    []loadgen.Result
}

// Stat is a median and a range over rounds.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statOf(vs []float64) Stat {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s) == 0 {
		return Stat{}
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[len(s)-1]}
}

// VariantReport is one variant's results over all rounds. Durations are in
// microseconds, memory in MiB.
type VariantReport struct {
	Key           string `json:"key"`
	Name          string `json:"name"`
	Throughput    Stat   `json:"throughput_per_s"`
	P50US         Stat   `json:"p50_us"`
	P99US         Stat   `json:"p99_us"`
	P999US        Stat   `json:"p999_us"`
	CPUPerCallUS  Stat   `json:"cpu_per_callback_us"`
	RSSMiB        Stat   `json:"rss_mib"`
	Requests      int64  `json:"requests"`
	Errors        int64  `json:"errors"`
	Stopped       int64  `json:"stopped"`
	Refusable     int64  `json:"refusable"`
	FirstError    string `json:"first_error,omitempty"`
	rounds        []loadgen.Result
	throughputRaw []float64
	cpuRaw        []float64 // CPU per callback of each round, us
}

func report(v *variant) VariantReport {
	r := VariantReport{Key: v.key, Name: v.name, rounds: v.rounds}
	var thr, p50, p99, p999, cpu, rss []float64
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	for _, x := range v.rounds {
		thr = append(thr, x.Throughput)
		p50, p99, p999 = append(p50, us(x.P50)), append(p99, us(x.P99)), append(p999, us(x.P999))
		cpu = append(cpu, us(x.ServerCPU)/max(float64(x.Requests), 1))
		rss = append(rss, float64(x.ServerRSS)/(1<<20))
		r.Requests += x.Requests
		r.Errors += x.Errors
		r.Stopped += x.Stopped
		r.Refusable += x.Refusable
		if r.FirstError == "" {
			r.FirstError = x.FirstError
		}
	}
	r.Throughput, r.P50US, r.P99US, r.P999US = statOf(thr), statOf(p50), statOf(p99), statOf(p999)
	r.CPUPerCallUS, r.RSSMiB = statOf(cpu), statOf(rss)
	r.throughputRaw, r.cpuRaw = thr, cpu
	return r
}

// Target is one target of issue 5 and where it stands.
type Target struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Limit  string  `json:"limit"`
	Met    bool    `json:"met"`
	Detail string  `json:"detail,omitempty"`
}

// Machine describes where the numbers come from.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	Pinned    bool   `json:"pinned"`
	Load1     string `json:"load1_at_start"`
}

func machine(pinned bool) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Pinned: pinned}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load1, _, _ = strings.Cut(string(b), " ")
	}
	return m
}

// CompareReport is the result of --compare.
type CompareReport struct {
	Machine     Machine         `json:"machine"`
	Rounds      int             `json:"rounds"`
	DurationS   float64         `json:"round_duration_s"`
	Connections int             `json:"connections"`
	Variants    []VariantReport `json:"variants"`
	// ThroughputRatio is (b)/(a) per round.
	ThroughputRatio Stat `json:"throughput_ratio_b_over_a"`
	// CPUDeltaUS is (c)-(n) server CPU per callback per round, HostDeltaUS
	// (h)-(n), in microseconds.
	CPUDeltaUS  Stat     `json:"cpu_delta_c_minus_n_us"`
	HostDeltaUS Stat     `json:"cpu_delta_h_minus_n_us"`
	Targets     []Target `json:"targets"`
	// Warnings are failed callbacks and unexpected verdicts.
	Warnings []string `json:"warnings,omitempty"`
}

// compare runs the side-by-side comparison.
func (b *bencher) compare(ctx context.Context) (*CompareReport, error) {
	conf := b.o.config
	if len(conf) == 0 {
		conf = []string{"banned_words=" + loadgen.BannedWord}
	}
	confMap, err := configMap(conf)
	if err != nil {
		return nil, err
	}
	modWasm, err := os.ReadFile(b.o.moderation)
	if err != nil {
		return nil, fmt.Errorf("moderation plugin: %w (run make examples or pass --moderation)", err)
	}
	trivWasm, err := os.ReadFile(b.o.trivial)
	if err != nil {
		return nil, fmt.Errorf("trivial plugin: %w (run make examples or pass --trivial)", err)
	}
	if err := b.pinSelf(); err != nil {
		return nil, err
	}
	mach := machine(b.pin) // the load average before our own load
	vs := []*variant{
		{key: "a", name: "native Go + encoding/json (moderation)"},
		{key: "b", name: "imhook + moderation plugin"},
		{key: "c", name: "imhook + trivial plugin"},
		{key: "n", name: "native neutral reply only"},
		{key: "h", name: "imhook + no-op raw-ABI plugin (host only)"},
	}
	defer func() {
		for _, v := range vs {
			if v.child != nil {
				v.child.stop()
			}
		}
	}()
	if vs[0].child, err = b.startBaseline(ctx, "moderation", conf); err != nil {
		return nil, err
	}
	if vs[3].child, err = b.startBaseline(ctx, "neutral", nil); err != nil {
		return nil, err
	}
	var upload time.Duration
	for _, v := range []*variant{vs[1], vs[2], vs[4]} {
		if v.child, err = b.startImhook(ctx, "imhook-"+v.key); err != nil {
			return nil, err
		}
		if err := b.createTenant(v.child, benchTenant, confMap); err != nil {
			return nil, err
		}
		wasm, name := modWasm, "moderation"
		switch v.key {
		case "c":
			wasm, name = trivWasm, "trivial"
		case "h":
			wasm, name = baseline.NoopPlugin, "noop"
		}
		d, err := b.install(v.child, benchTenant, name, wasm)
		if err != nil {
			return nil, err
		}
		if v.key == "b" {
			upload = d
		}
		b.logf("%s: upload to active %s", v.child.name, d.Round(time.Millisecond))
	}
	mix := loadgen.DefaultMix()
	for r := range b.o.rounds {
		for _, v := range vs {
			res, err := loadgen.Run(ctx, loadgen.Config{
				URLs:        []string{v.child.base + "/hooks/" + benchTenant},
				Mix:         mix,
				Connections: b.o.connections,
				Duration:    b.o.duration,
				Warmup:      b.o.warmup,
				ServerPID:   v.child.pid(),
			})
			if err != nil {
				return nil, fmt.Errorf("variant[%s] round[%d]: %w", v.key, r+1, err)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			b.logf("round %d %s: %.0f/s p99 %s cpu %s/callback errors %d", r+1, v.key, res.Throughput, res.P99, res.CPUPerCallback, res.Errors)
			v.rounds = append(v.rounds, res)
		}
	}
	rep := &CompareReport{Machine: mach, Rounds: b.o.rounds, DurationS: b.o.duration.Seconds(), Connections: b.o.connections}
	for _, v := range vs {
		rep.Variants = append(rep.Variants, report(v))
	}
	a, bb, c, n, h := rep.Variants[0], rep.Variants[1], rep.Variants[2], rep.Variants[3], rep.Variants[4]
	var ratios []float64
	for i := range a.throughputRaw {
		ratios = append(ratios, bb.throughputRaw[i]/a.throughputRaw[i])
	}
	rep.ThroughputRatio = statOf(ratios)
	// CPU differences per round, like the ratio: the variants of a round ran
	// back to back, so a slow stretch of the machine moves both sides.
	cpuDelta, hostDelta := roundDeltas(c, n), roundDeltas(h, n)
	rep.CPUDeltaUS, rep.HostDeltaUS = cpuDelta, hostDelta
	rep.Targets = []Target{
		{Name: "(b)/(a) throughput, every safety limit on", Value: rep.ThroughputRatio.Median, Unit: "x",
			Limit: ">= 0.75", Met: rep.ThroughputRatio.Median >= targetThroughputRatio,
			Detail: fmt.Sprintf("per round %.2f-%.2f", rep.ThroughputRatio.Min, rep.ThroughputRatio.Max)},
		{Name: "(c)-(n) server CPU per callback", Value: cpuDelta.Median, Unit: "us",
			Limit: "<= 3 us", Met: cpuDelta.Median <= float64(targetHostCPU)/float64(time.Microsecond),
			Detail: fmt.Sprintf("per round %.2f-%.2f: the host and the SDK's decoding in the guest", cpuDelta.Min, cpuDelta.Max)},
		{Name: "(h)-(n) the same, host alone (no-op plugin)", Value: hostDelta.Median, Unit: "us",
			Limit: "<= 3 us", Met: hostDelta.Median <= float64(targetHostCPU)/float64(time.Microsecond),
			Detail: fmt.Sprintf("per round %.2f-%.2f", hostDelta.Min, hostDelta.Max)},
		{Name: "upload to active, moderation plugin", Value: float64(upload) / float64(time.Millisecond), Unit: "ms",
			Limit: "<= 2000 ms", Met: upload <= targetUploadToActive,
			Detail: fmt.Sprintf("%.2f MB Go plugin, admin upload until serving", float64(len(modWasm))/1e6)},
	}
	// Failed callbacks and verdicts that differ from the mix's are reported,
	// not fatal: under load a call can hit its time limit and get the
	// failure-policy reply, which is the sandbox doing its job.
	for _, v := range rep.Variants {
		if v.Errors > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("variant[%s]: %d of %d callbacks failed; first: %s", v.Key, v.Errors, v.Requests, v.FirstError))
		}
	}
	if a.Stopped != a.Refusable || bb.Stopped != bb.Refusable || c.Stopped != 0 || n.Stopped != 0 || h.Stopped != 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("stop replies differ from the mix's banned messages: a %d of %d, b %d of %d, c %d, n %d, h %d "+
			"(a plugin call past its time limit is answered by the fail-open policy)", a.Stopped, a.Refusable, bb.Stopped, bb.Refusable, c.Stopped, n.Stopped, h.Stopped))
	}
	return rep, nil
}

// roundDeltas is the median and range over rounds of x's CPU per callback
// minus base's in the same round.
func roundDeltas(x, base VariantReport) Stat {
	var d []float64
	for i := range min(len(x.cpuRaw), len(base.cpuRaw)) {
		d = append(d, x.cpuRaw[i]-base.cpuRaw[i])
	}
	return statOf(d)
}

func (r *CompareReport) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "imhook bench --compare: %d rounds x %gs, %d connections, %d CPUs (%s), %s, pinned %v, load %s at start\n\n",
		r.Rounds, r.DurationS, r.Connections, m.CPUs, m.CPUModel, m.GoVersion, m.Pinned, m.Load1)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, variantsHeader)
	for _, v := range r.Variants {
		fmt.Fprintf(tw, "(%s) %s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", v.Key, v.Name,
			fmtStat(v.Throughput, "%.0f"), fmtStat(v.P50US, "%.0fus"), fmtStat(v.P99US, "%.0fus"),
			fmtStat(v.P999US, "%.0fus"), fmtStat(v.CPUPerCallUS, "%.1fus"), fmtStat(v.RSSMiB, "%.0fMiB"), v.Errors, v.Requests)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nmedian [min-max] over rounds; cpu/callback is the server's utime+stime per callback")
	printTargets(w, r.Targets)
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
}

func fmtStat(s Stat, format string) string {
	return fmt.Sprintf(format+" ["+format+"-"+format+"]", s.Median, s.Min, s.Max)
}

func printTargets(w io.Writer, ts []Target) {
	fmt.Fprintln(w, "\ntargets:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range ts {
		verdict := "MISSED"
		if t.Met {
			verdict = "met"
		}
		fmt.Fprintf(tw, "  %s\t%.2f %s\t(target %s)\t%s\t%s\n", t.Name, t.Value, t.Unit, t.Limit, verdict, t.Detail)
	}
	tw.Flush()
}

// PluginReport is the result of --plugin.
type PluginReport struct {
	Machine        Machine       `json:"machine"`
	Plugin         string        `json:"plugin"`
	SizeBytes      int           `json:"size_bytes"`
	Command        string        `json:"command"`
	UploadToActive float64       `json:"upload_to_active_ms"`
	Result         VariantReport `json:"result"`
}

// pluginLoad load-tests the tenant's own plugin on a local imhook.
func (b *bencher) pluginLoad(ctx context.Context) (*PluginReport, error) {
	wasm, err := os.ReadFile(b.o.plugin)
	if err != nil {
		return nil, fmt.Errorf("plugin: %w", err)
	}
	body, err := os.ReadFile(b.o.body)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	conf, err := configMap(b.o.config)
	if err != nil {
		return nil, err
	}
	if err := b.pinSelf(); err != nil {
		return nil, err
	}
	c, err := b.startImhook(ctx, "imhook")
	if err != nil {
		return nil, err
	}
	defer c.stop()
	if err := b.createTenant(c, benchTenant, conf); err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(b.o.plugin), ".wasm")
	if registry.ValidID("plugin", name) != nil {
		name = "plugin"
	}
	up, err := b.install(c, benchTenant, name, wasm)
	if err != nil {
		return nil, err
	}
	v := &variant{key: "p", name: "imhook + " + filepath.Base(b.o.plugin), child: c}
	mix := loadgen.Mix{{Name: b.o.command, Command: b.o.command, Body: body, Weight: 1}}
	for r := range b.o.rounds {
		res, err := loadgen.Run(ctx, loadgen.Config{
			URLs: []string{c.base + "/hooks/" + benchTenant}, Mix: mix, Connections: b.o.connections,
			Duration: b.o.duration, Warmup: b.o.warmup, ServerPID: c.pid(),
		})
		if err != nil {
			return nil, fmt.Errorf("round[%d]: %w", r+1, err)
		}
		v.rounds = append(v.rounds, res)
	}
	return &PluginReport{Machine: machine(b.pin), Plugin: b.o.plugin, SizeBytes: len(wasm), Command: b.o.command,
		UploadToActive: float64(up) / float64(time.Millisecond), Result: report(v)}, nil
}

func (r *PluginReport) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "imhook bench --plugin %s (%.2f MB), command %s: %d CPUs (%s), %s, pinned %v\n\n",
		r.Plugin, float64(r.SizeBytes)/1e6, r.Command, m.CPUs, m.CPUModel, m.GoVersion, m.Pinned)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, variantsHeader)
	v := r.Result
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", v.Name,
		fmtStat(v.Throughput, "%.0f"), fmtStat(v.P50US, "%.0fus"), fmtStat(v.P99US, "%.0fus"),
		fmtStat(v.P999US, "%.0fus"), fmtStat(v.CPUPerCallUS, "%.1fus"), fmtStat(v.RSSMiB, "%.0fMiB"), v.Errors, v.Requests)
	tw.Flush()
	fmt.Fprintf(w, "\nupload to active: %.0f ms; stops: %d", r.UploadToActive, v.Stopped)
	if v.FirstError != "" {
		fmt.Fprintf(w, "; first error: %s", v.FirstError)
	}
	fmt.Fprintln(w)
}

// MemoryReport is the result of --tenants.
type MemoryReport struct {
	Machine        Machine  `json:"machine"`
	Tenants        int      `json:"tenants"`
	Active         int      `json:"active"`
	IdleRSSMiB     float64  `json:"rss_registered_mib"`
	RSSMiB         float64  `json:"rss_mib"`
	PeakRSSMiB     float64  `json:"peak_rss_mib"`
	Callbacks      int64    `json:"callbacks"`
	Errors         int64    `json:"errors"`
	UploadMedianMS float64  `json:"upload_to_active_median_ms"`
	Target         []Target `json:"targets"`
}

// memory registers many tenants, activates the moderation plugin for some,
// sends callbacks to each of those and reports the server's RSS.
func (b *bencher) memory(ctx context.Context) (*MemoryReport, error) {
	wasm, err := os.ReadFile(b.o.moderation)
	if err != nil {
		return nil, fmt.Errorf("moderation plugin: %w (run make examples or pass --moderation)", err)
	}
	if err := b.pinSelf(); err != nil {
		return nil, err
	}
	c, err := b.startImhook(ctx, "imhook")
	if err != nil {
		return nil, err
	}
	defer c.stop()
	conf := map[string]string{"banned_words": loadgen.BannedWord}
	id := func(i int) string { return fmt.Sprintf("t%04d", i) }
	for i := range b.o.tenants {
		if err := b.createTenant(c, id(i), conf); err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	b.logf("%d tenants registered", b.o.tenants)
	idle, err := loadgen.ReadProc(c.pid())
	if err != nil {
		return nil, err
	}
	var uploads []float64
	urls := make([]string, 0, b.o.active)
	for i := range b.o.active {
		d, err := b.install(c, id(i), "moderation", wasm)
		if err != nil {
			return nil, err
		}
		uploads = append(uploads, float64(d)/float64(time.Millisecond))
		urls = append(urls, c.base+"/hooks/"+id(i))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	b.logf("%d plugins active", b.o.active)
	res, err := loadgen.Run(ctx, loadgen.Config{
		URLs: urls, Mix: loadgen.DefaultMix(), Connections: b.o.connections,
		Requests: int64(b.o.active * memCallbacksPerTenant), Duration: loadgen.MaxDuration / 2, ServerPID: c.pid(),
	})
	if err != nil {
		return nil, err
	}
	if res.Errors > 0 {
		return nil, fmt.Errorf("%d of %d callbacks failed; first: %s", res.Errors, res.Requests, res.FirstError)
	}
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	rep := &MemoryReport{Machine: machine(b.pin), Tenants: b.o.tenants, Active: b.o.active,
		IdleRSSMiB: mib(idle.RSS), RSSMiB: mib(res.ServerRSS), PeakRSSMiB: mib(res.ServerPeakRSS),
		Callbacks: res.Requests, Errors: res.Errors, UploadMedianMS: statOf(uploads).Median}
	rep.Target = []Target{{
		Name: fmt.Sprintf("%d tenants, %d active: peak RSS", b.o.tenants, b.o.active), Value: rep.PeakRSSMiB, Unit: "MiB",
		Limit: "<= 2048 MiB", Met: res.ServerPeakRSS <= targetTenantsRSS,
		Detail: fmt.Sprintf("%.0f MiB with the tenants registered only, %.0f MiB after the callbacks", rep.IdleRSSMiB, rep.RSSMiB),
	}}
	return rep, nil
}

func (r *MemoryReport) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "imhook bench --tenants %d --active %d: %d CPUs (%s), %s\n", r.Tenants, r.Active, m.CPUs, m.CPUModel, m.GoVersion)
	fmt.Fprintf(w, "RSS with the tenants registered: %.0f MiB; after %d callbacks to the %d active tenants: %.0f MiB (peak %.0f MiB)\n",
		r.IdleRSSMiB, r.Callbacks, r.Active, r.RSSMiB, r.PeakRSSMiB)
	fmt.Fprintf(w, "upload to active, median over the %d uploads: %.0f ms\n", r.Active, r.UploadMedianMS)
	printTargets(w, r.Target)
}
