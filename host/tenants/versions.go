package tenants

import "github.com/imhook/imhook/sdk/openim"

// PluginVersion names a plugin and the version of it that serves.
type PluginVersion struct {
	Plugin  string
	Version string // the full hash
}

// Versions returns the plugins that run cmd for t, in order, with the
// versions serving: what answered a callback, for captures (host/capture).
func (t *Live) Versions(cmd openim.Command) []PluginVersion {
	links := t.chain(cmd)
	out := make([]PluginVersion, 0, len(links))
	for _, p := range links {
		v := PluginVersion{Plugin: p.Name()}
		if h, ok := p.(interface{ Hash() string }); ok {
			v.Version = h.Hash()
		}
		out = append(out, v)
	}
	return out
}
