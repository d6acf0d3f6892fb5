package main

// The tenants and plugins of imhook bench's servers, set up through the
// admin API with the CLI's client (cli_client.go) and the child's operator
// token, the upload-to-active time of each plugin, and what the server says
// about them (its tenant stats and its metrics).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins/registry"
)

const activateTimeout = 2 * time.Minute // an upload serving callbacks

// createTenant registers tenant id with the plugin configuration conf, as
// imhook tenant create does.
//
// The tenant runs its after-callbacks inline, as the native baselines do:
// queued, each one's answer waits for a durable enqueue (an fsync shared
// by a group commit), and the bench would measure the disk. The queue has
// its own benchmarks (docs/performance.md, "After-callback queue").
func (c *child) createTenant(ctx context.Context, id string, conf map[string]string) error {
	in := admin.CreateTenant{ID: id, Settings: registry.Settings{Config: conf, Queue: registry.QueueSettings{Inline: true}}}
	_, _, err := c.api.do(ctx, apiRequest{method: "POST", path: "/v1/tenants", body: jsonBody(in), contentType: "application/json"})
	if err != nil {
		return fmt.Errorf("server[%s]: create tenant[%s]: %w", c.name, id, err)
	}
	return nil
}

// install uploads wasm as the tenant's plugin name and activates it, as
// imhook plugin push --activate does, then waits until the server serves
// that version. It returns the upload-to-active time: from the start of the
// upload until the version serves callbacks.
func (c *child) install(ctx context.Context, tenant, name string, wasm []byte) (time.Duration, error) {
	start := time.Now()
	where := fmt.Sprintf("server[%s] tenant[%s] plugin[%s]", c.name, tenant, name)
	raw, _, err := c.api.do(ctx, apiRequest{method: "POST", path: pluginPath(tenant, name) + "/versions?activate=true",
		body: wasm, contentType: "application/wasm"})
	if err != nil {
		return 0, fmt.Errorf("%s: upload: %w", where, err)
	}
	var up admin.Upload
	if err := json.Unmarshal(raw, &up); err != nil {
		return 0, fmt.Errorf("%s: upload: unexpected answer: %w", where, err)
	}
	deadline := start.Add(activateTimeout)
	for {
		st, err := c.stats(ctx, tenant)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", where, err)
		}
		if st.Stats != nil {
			for _, p := range st.Stats.Plugins {
				if p.Name == name && p.Serving == up.Version.Hash {
					return time.Since(start), nil
				}
				if p.Name == name && p.LoadError != "" {
					return 0, fmt.Errorf("%s: %s", where, p.LoadError)
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: not serving %s after %s", where, up.Version.Hash, activateTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// deleteTenant removes a tenant and its plugins, as imhook tenant delete
// does.
func (c *child) deleteTenant(ctx context.Context, id string) error {
	if _, _, err := c.api.do(ctx, apiRequest{method: "DELETE", path: tenantPath(id)}); err != nil {
		return fmt.Errorf("server[%s]: delete tenant[%s]: %w", c.name, id, err)
	}
	return nil
}

// stats reads GET /v1/tenants/{tenant}/stats.
func (c *child) stats(ctx context.Context, tenant string) (liveStats, error) {
	var st liveStats
	raw, _, err := c.api.do(ctx, apiRequest{method: "GET", path: tenantPath(tenant) + "/stats"})
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("stats: unexpected answer: %w", err)
	}
	return st, nil
}

// liveStats is the part of GET /v1/tenants/{tenant}/stats bench reads: which
// version of each plugin serves, or why it failed to load, and its
// crash-loop breaker. Stats is null until the tenant is loaded.
type liveStats struct {
	Stats *struct {
		Plugins []struct {
			Name      string `json:"name"`
			Serving   string `json:"serving"`
			LoadError string `json:"load_error"`
			Breaker   *struct {
				State  string `json:"state"`
				Opened uint64 `json:"opened"`
			} `json:"breaker"`
		} `json:"plugins"`
	} `json:"stats"`
}

// metricSample is one series of the server's /metrics.
type metricSample struct {
	name   string
	labels map[string]string
	value  float64
}

// metrics reads the server's Prometheus metrics (GET /metrics on the admin
// listener, in the text format).
func (c *child) metrics(ctx context.Context) ([]metricSample, error) {
	raw, _, err := c.api.do(ctx, apiRequest{method: "GET", path: "/metrics"})
	if err != nil {
		return nil, fmt.Errorf("server[%s]: metrics: %w", c.name, err)
	}
	return parseMetrics(raw)
}

// parseMetrics parses Prometheus's text format: one `name{k="v",...} value`
// per line; comments and blank lines skipped.
func parseMetrics(raw []byte) ([]metricSample, error) {
	var out []metricSample
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s := metricSample{labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			return nil, fmt.Errorf("metrics: line %q: no value", line)
		}
		s.name, line = line[:i], line[i:]
		if line[0] == '{' {
			line = line[1:]
			for len(line) > 0 && line[0] != '}' {
				k, rest, ok := strings.Cut(line, `="`)
				if !ok {
					return nil, fmt.Errorf("metrics: series %s: bad labels", s.name)
				}
				var v strings.Builder
				j := 0
				for ; j < len(rest) && rest[j] != '"'; j++ {
					if rest[j] == '\\' && j+1 < len(rest) {
						j++
						if rest[j] == 'n' {
							v.WriteByte('\n')
							continue
						}
					}
					v.WriteByte(rest[j])
				}
				if j == len(rest) {
					return nil, fmt.Errorf("metrics: series %s: unterminated label", s.name)
				}
				s.labels[strings.TrimLeft(k, ",")] = v.String()
				line = strings.TrimLeft(rest[j+1:], ",")
			}
			if line == "" {
				return nil, fmt.Errorf("metrics: series %s: unterminated labels", s.name)
			}
			line = line[1:]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			return nil, fmt.Errorf("metrics: series %s: no value", s.name)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: series %s: value %q: %w", s.name, f[0], err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// sumBy adds up the series of metric name whose label tenant is tenant, by
// the value of label by (for example the outcome of each callback).
func sumBy(samples []metricSample, name, tenant, by string) map[string]int64 {
	out := map[string]int64{}
	for _, s := range samples {
		if s.name == name && s.labels["tenant"] == tenant {
			out[s.labels[by]] += int64(s.value)
		}
	}
	return out
}

// gauge returns the value of the unlabelled metric name, or -1.
func gauge(samples []metricSample, name string) float64 {
	for _, s := range samples {
		if s.name == name && len(s.labels) == 0 {
			return s.value
		}
	}
	return -1
}
