package main

// imhook bench --plugin: a load test of a tenant's own plugin on a local
// imhook, with its upload-to-active time.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
	"github.com/imhook/imhook/plugins/registry"
)

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
	if err := c.createTenant(ctx, benchTenant, conf); err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(b.o.plugin), ".wasm")
	if registry.ValidID("plugin", name) != nil {
		name = "plugin"
	}
	up, err := c.install(ctx, benchTenant, name, wasm)
	if err != nil {
		return nil, err
	}
	v := &variant{key: "p", name: "imhook + " + filepath.Base(b.o.plugin), child: c}
	mix := loadgen.Mix{{Name: b.o.command, Command: b.o.command, Body: body, Weight: 1}}
	for r := range b.o.rounds {
		res, err := b.round(ctx, c, mix)
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
	v := r.Result
	printVariants(w, func(x VariantReport) string { return x.Name }, v)
	fmt.Fprintf(w, "\nupload to active: %.0f ms; stops: %d", r.UploadToActive, v.Stopped)
	if v.FirstError != "" {
		fmt.Fprintf(w, "; first error: %s", v.FirstError)
	}
	fmt.Fprintln(w)
}
