package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/tenantlog"
)

func init() {
	commands["logs"] = command{"show a tenant's recent log lines, or follow them live (-f)", logsMain}
}

func logsMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const cmd = "logs"
	c := &apiClient{stdin: stdin, stdout: stdout, stderr: stderr}
	var tenant string
	fs := pluginFlags(c, cmd, "logs [-f] [--plugin name] [--command callbackX] [--level debug|info|warn|error] [-n N]", &tenant)
	follow := fs.BoolP("follow", "f", false, "keep printing new lines as they come, until interrupted")
	plugin := fs.String("plugin", "", "only this plugin's lines")
	command := fs.String("command", "", "only lines of this callback command")
	level := fs.String("level", "info", "only lines at this level or above")
	n := fs.IntP("lines", "n", 100, "at most this many of the lines already kept (0: all)")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprint(fs.Output(), "\nPrints the tenant's recent log lines, kept by the server it asks: its plugins' lines with\n"+
			"their key=value pairs, failed calls with their kind and how the failure policy answered,\n"+
			"and imhook's lines about loading its versions. --json prints the server's NDJSON.\n\nExample:\n"+
			"  imhook logs -f --level debug --plugin moderation\n")
	}
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	if c.token == "" {
		return c.fail(cmd, errors.New("no token: pass --token or set IMHOOK_TOKEN"))
	}
	q := url.Values{}
	for k, v := range map[string]string{"plugin": *plugin, "command": *command, "level": *level} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *n > 0 {
		q.Set("limit", strconv.Itoa(*n))
	}
	if *follow {
		q.Set("follow", "true")
	}
	path := tenantPath(tenant) + "/logs"
	printed := 0
	for {
		next, err := c.stream(ctx, path+"?"+q.Encode(), func(raw []byte, ev admin.LogEvent) {
			switch {
			case c.json:
				c.stdout.Write(append(raw, '\n'))
			case ev.Event == "dropped":
				fmt.Fprintf(c.stderr, "imhook logs: %d lines dropped: this client read too slowly\n", ev.Count)
			case ev.Line != nil:
				printLogLine(c.stdout, ev.Line)
				printed++
			}
		})
		switch {
		case ctx.Err() != nil:
			return exitOK
		case err != nil:
			var re *responseError
			if !*follow || errors.As(err, &re) {
				return c.fail(cmd, err)
			}
			fmt.Fprintf(c.stderr, "imhook logs: %v; reconnecting in 2s\n", err)
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				return exitOK
			}
			continue
		case !*follow:
			if printed == 0 && !c.json {
				fmt.Fprintf(c.stderr, "imhook logs: no lines (the server keeps recent lines in memory; plugins log with c.Info and friends)\n")
			}
			return exitOK
		}
		// The server ended the stream's window: resume after the last line.
		q.Set("after", strconv.FormatUint(next, 10))
		q.Del("limit")
	}
}

// stream GETs an NDJSON route of log events and calls fn with each; it
// returns the cursor of the final end event.
func (c *apiClient) stream(ctx context.Context, path string, fn func(raw []byte, ev admin.LogEvent)) (uint64, error) {
	hr, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(c.url, "/")+path, nil)
	if err != nil {
		return 0, err
	}
	hr.Header.Set("Authorization", "Bearer "+c.token)
	hc := c.http
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the admin API at %s (is imhook serve running? see --admin-url): %w", c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e admin.ErrorBody
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return 0, &responseError{status: resp.StatusCode, message: e.Error}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var next uint64
	for sc.Scan() {
		var ev admin.LogEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return next, fmt.Errorf("unexpected line from the server: %w", err)
		}
		switch {
		case ev.Event == "end":
			return ev.Next, nil
		case ev.Line != nil:
			next = ev.Seq
		}
		if ev.Event != "heartbeat" {
			fn(sc.Bytes(), ev)
		}
	}
	if err := sc.Err(); err != nil {
		return next, err
	}
	return next, errors.New("the stream ended early")
}

// printLogLine prints one line for people:
//
//	22:49:03 info  moderation 4ce2a9ed59aa callbackBeforeSendSingleMsgCommand: message refused word=spam
func printLogLine(w io.Writer, l *tenantlog.Line) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-5s", l.Time.Local().Format("15:04:05"), l.Level)
	if l.Kind != tenantlog.KindLog {
		fmt.Fprintf(&b, " [%s", l.Kind)
		if l.Failure != "" {
			fmt.Fprintf(&b, " %s", l.Failure)
		}
		if l.Policy != "" {
			fmt.Fprintf(&b, ", policy %s", l.Policy)
		}
		b.WriteString("]")
	}
	for _, s := range []string{l.Plugin, l.Version} {
		if s != "" {
			b.WriteString(" " + s)
		}
	}
	if l.Command != "" {
		b.WriteString(" " + l.Command)
	}
	b.WriteString(": " + l.Message)
	keys := make([]string, 0, len(l.Attrs))
	for k := range l.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := l.Attrs[k]
		if v == "" || strings.ContainsAny(v, " \"=") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	if l.OperationID != "" {
		fmt.Fprintf(&b, " (operation %s)", l.OperationID)
	}
	fmt.Fprintln(w, b.String())
}
