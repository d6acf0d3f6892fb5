package main

// The servers of imhook bench: child processes on loopback, pinned to their
// own core when possible, started, waited for and stopped; and the measured
// rounds of load this process sends them.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
)

const (
	serverStartTimeout   = 60 * time.Second // a child server answering /readyz
	stopTimeout          = 20 * time.Second // a child server exiting on SIGTERM
	maxChildLog          = 64 << 10         // bytes of a child's stderr kept for errors
	loadCore, serverCore = "1", "0"         // taskset cores when pinning
	operatorTokenBytes   = 24               // random bytes of the child's operator token
)

// bencher runs child servers and drives them.
type bencher struct {
	o      benchOptions
	exe    string // the imhook binary
	pin    bool   // taskset the children to serverCore and this process to loadCore
	log    io.Writer
	logMu  sync.Mutex
	pinned bool
}

func newBencher(o benchOptions, stderr io.Writer) (*bencher, error) {
	b := &bencher{o: o, exe: o.imhook, log: io.Discard}
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
	name string
	cmd  *exec.Cmd
	dir  string     // its temporary data directory, removed by stop
	env  []string   // imhook's environment (restart reuses it)
	base string     // http://127.0.0.1:port of the webhook listener
	api  *apiClient // its admin API with the operator token (imhook only)
	logs *tailBuffer
	exit chan error
	// logFile is --server-log, closed by stop.
	logFile *os.File
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
		c.terminate()
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
	if c.logFile != nil {
		_ = c.logFile.Close()
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
	c := &child{name: name, dir: dir, base: "http://" + web, logs: &tailBuffer{},
		api: &apiClient{url: "http://" + adm, token: hex.EncodeToString(tok)}}
	c.env = append(environWithout("IMHOOK_"),
		"IMHOOK_DATA_DIR="+dir,
		"IMHOOK_SERVER__ADDR="+web,
		"IMHOOK_ADMIN__ADDR="+adm,
		"IMHOOK_ADMIN__TOKEN="+c.api.token,
		"IMHOOK_LOG__LEVEL=warn",
	)
	if b.o.profile != "" {
		c.env = append(c.env, "IMHOOK_ADMIN__PPROF=true")
	}
	c.env = append(c.env, b.o.env...) // --env, last so it wins
	if b.o.serverLog != "" {
		f, err := os.OpenFile(b.o.serverLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("--server-log: %w", err)
		}
		c.logFile = f
	}
	if _, err := b.launch(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// restart stops c's server (SIGTERM) and starts it again on the same data
// directory and ports, and returns its start-up time: from the process's
// start until /readyz answers 200.
func (b *bencher) restart(ctx context.Context, c *child) (time.Duration, error) {
	c.terminate()
	return b.launch(ctx, c)
}

// terminate ends the child's process with SIGTERM, SIGKILL after
// stopTimeout, and waits for it.
func (c *child) terminate() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exit:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.exit
	}
}

// launch runs imhook serve for c and waits for /readyz; on failure c is
// stopped. It returns how long the server took to become ready.
func (b *bencher) launch(ctx context.Context, c *child) (time.Duration, error) {
	c.cmd = b.command(ctx, b.exe, "serve")
	c.cmd.Env = c.env
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if c.logFile != nil {
		w := io.MultiWriter(c.logs, c.logFile)
		c.cmd.Stdout, c.cmd.Stderr = w, w
	}
	start := time.Now()
	if err := c.start(); err != nil {
		c.stop() // removes dir, closes the log
		return 0, err
	}
	probe := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(serverStartTimeout)
	for {
		resp, err := probe.Get(c.api.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		select {
		case err := <-c.exit:
			c.exit <- err
			c.stop()
			return 0, fmt.Errorf("server[%s] exited: %v: %s", c.name, err, c.logs)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return 0, fmt.Errorf("server[%s] not ready within %s: %s", c.name, serverStartTimeout, c.logs)
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

// round runs one measured round of mix against the child's benchTenant.
func (b *bencher) round(ctx context.Context, c *child, mix loadgen.Mix) (loadgen.Result, error) {
	return loadgen.Run(ctx, loadgen.Config{
		URLs: []string{c.base + "/hooks/" + benchTenant}, Mix: mix, Connections: b.o.connections,
		Duration: b.o.duration, Warmup: b.o.warmup, ServerPID: c.pid(),
	})
}
