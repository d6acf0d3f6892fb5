package console

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/sdk"
)

// example is one command of the OpenIM catalog the SDK embeds, with the
// example body `imhook callback example` prints.
type example struct {
	Command string          `json:"command"`
	Example json.RawMessage `json:"example"`
}

// catalog returns the catalog's commands by name, parsed once.
var catalog = sync.OnceValue(func() map[string]json.RawMessage {
	var cmds []example
	_ = json.Unmarshal(sdk.Catalog(), &cmds) // embedded and tested in sdk
	m := make(map[string]json.RawMessage, len(cmds))
	for _, c := range cmds {
		var b bytes.Buffer
		if json.Indent(&b, c.Example, "", "  ") == nil {
			m[c.Command] = b.Bytes()
		}
	}
	return m
})

// versionOption is one kept version in the playground's list.
type versionOption struct {
	Value, Label string
	Commands     []string
}

// playView is the playground page.
type playView struct {
	Versions []versionOption
	Commands []string
	Version  string // plugin/hash
	Command  string
	Body     string
	Result   *admin.DryRun
	Err      string
}

// playground runs one callback (a command's example, or an edited body)
// through any kept version with the API's dry run, and shows the reply,
// the logs, the instructions, the memory and the time.
func (c *Console) playground(rc *fasthttp.RequestCtx, s *session, id string) {
	t, err := c.tenantDoc(s, id)
	if err != nil {
		c.fail(rc, s, id, err)
		return
	}
	v := playView{}
	for _, p := range t.Plugins {
		for i := len(p.Versions) - 1; i >= 0; i-- {
			ver := p.Versions[i]
			label := p.Name + " " + ver.Hash[:12] + " (" + ver.UploadedAt.UTC().Format("2006-01-02 15:04") + ")"
			if ver.Hash == p.Active {
				label += " active"
			}
			v.Versions = append(v.Versions, versionOption{Value: p.Name + "/" + ver.Hash, Label: label, Commands: ver.Commands})
		}
	}
	for name := range catalog() {
		v.Commands = append(v.Commands, name)
	}
	slices.Sort(v.Commands)

	arg := func(name string) string {
		if rc.IsPost() {
			return formValue(rc, name)
		}
		return string(rc.QueryArgs().Peek(name))
	}
	v.Version, v.Command, v.Body = arg("version"), arg("command"), arg("body")
	if v.Version == "" && len(v.Versions) > 0 {
		v.Version = v.Versions[0].Value
	}
	if v.Command == "" {
		for _, o := range v.Versions {
			if o.Value == v.Version && len(o.Commands) > 0 {
				v.Command = o.Commands[0]
			}
		}
	}
	if v.Body == "" {
		v.Body = string(catalog()[v.Command])
	}
	if rc.IsPost() {
		plugin, hash, _ := strings.Cut(v.Version, "/")
		path := tenantPath(id) + "/plugins/" + url.PathEscape(plugin) + "/versions/" + url.PathEscape(hash) +
			"/test?command=" + url.QueryEscape(v.Command)
		var out admin.DryRun
		if err := c.call(s, fasthttp.MethodPost, path, "application/json", []byte(v.Body)).decode(&out); err != nil {
			v.Err = err.Error()
		} else {
			v.Result = &out
		}
	}
	c.render(rc, s, fasthttp.StatusOK, "playground", "Playground", id, v)
}
