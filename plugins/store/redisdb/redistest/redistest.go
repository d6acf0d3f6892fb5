// Package redistest starts a real redis-server for tests, on a free loopback
// port, in a private directory, and stops it when the test ends.
//
//	srv := redistest.Start(t, redistest.Options{})
//	c, err := redisdb.Open(ctx, redisdb.Config{Address: srv.Addr()})
//
// When redis-server is not installed the test is skipped, unless the
// environment variable CI is set: on CI a missing redis-server fails the
// test, so the Redis tests can never be skipped silently there.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configures Start. The zero value is an in-memory server.
type Options struct {
	// Persist turns on the append-only file with fsync on every write, so
	// the data survives Restart.
	Persist bool
}

// Server is a running (or stopped) redis-server owned by one test. Its
// methods are safe for concurrent use.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	opts Options

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start runs redis-server on a free loopback port and registers its stop
// with t.Cleanup. It skips t when redis-server is missing and CI is unset.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server not found in PATH, and CI is set: install Redis (apt-get install redis-server) to run the Redis tests")
		}
		t.Skip("redis-server not found in PATH: install Redis to run this test (under CI=true it fails instead)")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), opts: opts}
	s.port = FreePort(t)
	t.Cleanup(s.Stop)
	s.start()
	return s
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's port.
func (s *Server) Port() int { return s.port }

// start runs the process and waits until it accepts connections.
func (s *Server) start() {
	s.t.Helper()
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--daemonize", "no",
		"--loglevel", "warning",
		"--logfile", filepath.Join(s.dir, "redis.log"),
		"--maxmemory-policy", "noeviction",
	}
	if s.opts.Persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.Addr()) == nil {
			return
		}
		select {
		case err := <-exited:
			s.t.Fatalf("redis-server exited at start: %v\n%s", err, s.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer PING within 10s\n%s", s.Addr(), s.log())
		}
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 5s) and waits until
// its port refuses connections. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for ping(s.Addr()) == nil || processAlive(cmd) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart stops the server and starts it again on the same port and
// directory. With Options.Persist the data survives.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Start starts a stopped server again, on the same port and directory.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if !running {
		s.start()
	}
}

// Do sends one command in the inline protocol and returns the first line of
// the reply, for tests that poke at the server without a client library.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// log returns the server's log file, for failure messages.
func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

// ping reports whether a Redis answers PING at addr.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// processAlive reports whether cmd's process still exists.
func processAlive(cmd *exec.Cmd) bool {
	return cmd.Process.Signal(syscall.Signal(0)) == nil
}

// FreePort returns a loopback TCP port that was free a moment ago. Another
// process may take it before the caller binds it; tests accept that small
// race for servers that cannot report the port they bound.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
