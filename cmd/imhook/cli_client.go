package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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
}

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
// *responseError carrying the server's message.
func (c *apiClient) do(ctx context.Context, req apiRequest) ([]byte, http.Header, error) {
	if c.token == "" {
		return nil, nil, errors.New("no token: pass --token or set IMHOOK_TOKEN")
	}
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
		return nil, nil, &responseError{status: resp.StatusCode, message: e.Error}
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
