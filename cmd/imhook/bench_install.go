package main

// The tenants and plugins of imhook bench's servers, set up through the
// admin API with the CLI's client (cli_client.go) and the child's operator
// token, and the upload-to-active time of each plugin.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins/registry"
)

const activateTimeout = 2 * time.Minute // an upload serving callbacks

// createTenant registers tenant id with the plugin configuration conf, as
// imhook tenant create does.
func (c *child) createTenant(ctx context.Context, id string, conf map[string]string) error {
	in := admin.CreateTenant{ID: id, Settings: registry.Settings{Config: conf}}
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
		raw, _, err := c.api.do(ctx, apiRequest{method: "GET", path: tenantPath(tenant) + "/stats"})
		if err != nil {
			return 0, fmt.Errorf("%s: stats: %w", where, err)
		}
		var st liveStats
		if err := json.Unmarshal(raw, &st); err != nil {
			return 0, fmt.Errorf("%s: stats: unexpected answer: %w", where, err)
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

// liveStats is the part of GET /v1/tenants/{tenant}/stats install reads:
// which version of each plugin serves, or why it failed to load. Stats is
// null until the tenant is loaded.
type liveStats struct {
	Stats *struct {
		Plugins []struct {
			Name      string `json:"name"`
			Serving   string `json:"serving"`
			LoadError string `json:"load_error"`
		} `json:"plugins"`
	} `json:"stats"`
}
