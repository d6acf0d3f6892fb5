package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/imhook/imhook/host/admin"
)

// Exit codes of the admin API clients (imhook tenant, imhook plugin).
const (
	exitOK    = 0 // success
	exitAPI   = 1 // the server refused or failed the request, or was unreachable
	exitUsage = 2 // bad flags or arguments
)

// defaultAdminURL is where `imhook serve` listens for the admin API by default.
const defaultAdminURL = "http://127.0.0.1:8081"

// clientTimeout bounds one admin API request; uploads of large Go guests are
// compiled by the server before it answers.
const clientTimeout = 2 * time.Minute

// apiClient is the admin API client of one CLI invocation, with the flags
// every client subcommand shares.
type apiClient struct {
	url   string
	token string
	json  bool // print the server's JSON as is

	stdin          io.Reader
	stdout, stderr io.Writer
	http           *http.Client
	// retryFor bounds how long a request refused with "come back later"
	// (429 or 503 with Retry-After: every upload slot busy) is retried;
	// zero is defaultRetryFor.
	retryFor time.Duration
}

// defaultRetryFor is how long the CLI keeps retrying a request the server
// asked it to retry later: a few uploads' worth (a Go plugin compiles in one
// to three seconds), far less than clientTimeout.
const defaultRetryFor = 30 * time.Second

// newClientFlags returns the flag set of one client subcommand, with the
// shared flags --admin-url, --token and --json bound to c.
func newClientFlags(c *apiClient, name, usage string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.StringVar(&c.url, "admin-url", envOr("IMHOOK_ADMIN_URL", defaultAdminURL), "admin API base URL (env IMHOOK_ADMIN_URL)")
	fs.StringVar(&c.token, "token", os.Getenv("IMHOOK_TOKEN"), "bearer token: the operator's or a tenant's (env IMHOOK_TOKEN)")
	fs.BoolVar(&c.json, "json", false, "print the server's JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: imhook %s\n\nFlags:\n%s", usage, fs.FlagUsages())
	}
	return fs
}

// envOr returns the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// parseFlags parses args and checks the number of positional arguments. It
// returns the exit code to use when parsing failed (-1 when it did not).
func (c *apiClient) parseFlags(fs *pflag.FlagSet, args []string, minArgs, maxArgs int) int {
	if err := parseArgs(fs, args, c.stdout, c.stderr); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(fs.Output(), "imhook %s: %v\nRun 'imhook %s --help' for usage.\n", fs.Name(), err, fs.Name())
		return exitUsage
	}
	if n := fs.NArg(); n < minArgs || (maxArgs >= 0 && n > maxArgs) {
		fmt.Fprintf(fs.Output(), "imhook %s: wrong number of arguments (%d)\n", fs.Name(), n)
		fs.Usage()
		return exitUsage
	}
	if err := checkAdminURL(c.url); err != nil {
		fmt.Fprintf(fs.Output(), "imhook %s: %v\n", fs.Name(), err)
		return exitUsage
	}
	return -1
}

// checkAdminURL refuses an admin URL the HTTP client would misread: a bare
// host:port parses as a URL whose scheme is the host.
func checkAdminURL(raw string) error {
	if !strings.Contains(raw, "://") {
		return fmt.Errorf("--admin-url[%s] has no scheme: write http://%s (or set IMHOOK_ADMIN_URL so)", raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--admin-url[%s]: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--admin-url[%s]: want an http:// or https:// URL such as %s", raw, defaultAdminURL)
	}
	return nil
}

// responseError is a refusal or failure reported by the admin API.
type responseError struct {
	status  int
	message string
	// retryAfter is the server's Retry-After on a 429 or 503, else 0.
	retryAfter time.Duration
}

// maxRetryAfter bounds one wait the server asks for, whatever it says.
const maxRetryAfter = 30 * time.Second

// retryAfter reads a Retry-After of delay-seconds (the admin API sends no
// dates); 0 when absent or unreadable.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}

// Error implements error.
func (e *responseError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.message, e.status)
}

// apiRequest is one admin API call.
type apiRequest struct {
	method, path string
	body         []byte
	contentType  string
	ifMatch      string
}

// do sends req and returns the response body. A status of 400 or more is a
// *responseError carrying the server's message. A refusal that carries
// Retry-After (429, 503: the server's upload slots were busy, and it did
// nothing with the request) is retried after that long, saying so on
// stderr, for up to retryFor in all.
func (c *apiClient) do(ctx context.Context, req apiRequest) ([]byte, http.Header, error) {
	if c.token == "" {
		return nil, nil, errors.New("no token: pass --token or set IMHOOK_TOKEN")
	}
	giveUp := time.Now().Add(cmp.Or(c.retryFor, defaultRetryFor))
	for {
		b, h, err := c.send(ctx, req)
		var re *responseError
		if !errors.As(err, &re) || re.retryAfter <= 0 {
			return b, h, err
		}
		wait := re.retryAfter
		if time.Now().Add(wait).After(giveUp) {
			return b, h, fmt.Errorf("%w; gave up retrying after %s", err, cmp.Or(c.retryFor, defaultRetryFor))
		}
		if c.stderr != nil {
			fmt.Fprintf(c.stderr, "imhook: %s %s: %s; retrying in %s\n", req.method, req.path, re.message, wait)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w (while waiting to retry: %w)", err, ctx.Err())
		}
	}
}

// send makes one attempt of do.
func (c *apiClient) send(ctx context.Context, req apiRequest) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, strings.TrimRight(c.url, "/")+req.path, body)
	if err != nil {
		return nil, nil, fmt.Errorf("admin url[%s]: %w", c.url, err)
	}
	hr.Header.Set("Authorization", "Bearer "+c.token)
	hr.Header.Set("Accept", "application/json")
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	if req.ifMatch != "" {
		hr.Header.Set("If-Match", `"`+strings.Trim(req.ifMatch, `"`)+`"`)
	}
	hc := c.http
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach the admin API at %s (is imhook serve running? see --admin-url): %w", c.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("read the answer of %s %s: %w", req.method, req.path, err)
	}
	if resp.StatusCode >= 400 {
		var e admin.ErrorBody
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
			if e.Error == "" {
				e.Error = http.StatusText(resp.StatusCode)
			}
		}
		re := &responseError{status: resp.StatusCode, message: e.Error}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			re.retryAfter = retryAfter(resp.Header.Get("Retry-After"))
		}
		return nil, nil, re
	}
	return b, resp.Header, nil
}

// jsonBody encodes v as a request body.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("imhook: encode request: %v", err)) // only our own types
	}
	return b
}

// fail prints err for the subcommand and returns the exit code.
func (c *apiClient) fail(cmd string, err error) int {
	fmt.Fprintf(c.stderr, "imhook %s: %v\n", cmd, err)
	return exitAPI
}

// finish prints the response: the raw JSON with --json, else what human
// prints. It decodes raw into out first.
func finish[T any](c *apiClient, cmd string, raw []byte, human func(T)) int {
	if c.json {
		c.stdout.Write(raw)
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			fmt.Fprintln(c.stdout)
		}
		return exitOK
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return c.fail(cmd, fmt.Errorf("unexpected answer from the server: %w", err))
	}
	human(v)
	return exitOK
}

// readInput reads a file argument; "-" reads stdin.
func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}
