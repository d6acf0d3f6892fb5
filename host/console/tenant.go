package console

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/capture"
	"github.com/imhook/imhook/plugins/registry"
)

// tenantRoute serves /console/t/{id}/... Every page and action goes through
// the admin API with the session's token, which refuses another tenant's
// token (403) before anything is read.
func (c *Console) tenantRoute(rc *fasthttp.RequestCtx, s *session, id string, rest []string) {
	page := strings.Join(rest, "/")
	post := rc.IsPost()
	switch {
	case page == "" && !post:
		c.tenantHome(rc, s, id)
	case page == "settings" && post:
		c.putSettings(rc, s, id)
	case page == "delete" && post:
		err := c.send(s, fasthttp.MethodDelete, tenantPath(id), nil, nil)
		if err != nil {
			c.redirect(rc, s, tenantPage(id, ""), "", err)
			return
		}
		c.redirect(rc, s, Prefix+"tenants", "deleted tenant "+id, nil)
	case page == "upload" && post:
		c.upload(rc, s, id)
	case page == "order" && post:
		order := admin.Order{Order: splitList(formValue(rc, "order"))}
		err := c.send(s, fasthttp.MethodPut, tenantPath(id)+"/plugins/order", order, nil)
		c.redirect(rc, s, tenantPage(id, ""), "plugin order: "+strings.Join(order.Order, ", "), err)
	case len(rest) >= 3 && rest[0] == "plugins" && post:
		c.pluginAction(rc, s, id, rest[1], rest[2:])
	case page == "playground":
		c.playground(rc, s, id)
	case page == "logs" && !post:
		if _, err := c.tenantDoc(s, id); err != nil {
			c.fail(rc, s, id, err)
			return
		}
		c.render(rc, s, fasthttp.StatusOK, "logs", "Live log", id, nil)
	case page == "logs.json" && !post:
		c.logsJSON(rc, s, id)
	case strings.HasPrefix(page, "captures"):
		c.captures(rc, s, id, strings.TrimPrefix(page, "captures"))
	case strings.HasPrefix(page, "queue"):
		c.queuePage(rc, s, id, strings.TrimPrefix(page, "queue"))
	case strings.HasPrefix(page, "kv"):
		c.kvPage(rc, s, id, strings.TrimPrefix(page, "kv"))
	case len(rest) == 2 && rest[0] == "charts" && !post:
		c.chart(rc, s, id, strings.TrimSuffix(rest[1], ".svg"))
	default:
		c.notFound(rc, s)
	}
}

// tenantPage is the console URL of one of tenant id's pages.
func tenantPage(id, page string) string { return Prefix + "t/" + url.PathEscape(id) + "/" + page }

// tenantDoc reads the tenant through the API: the authorization of every
// tenant page.
func (c *Console) tenantDoc(s *session, id string) (admin.Tenant, error) {
	var t admin.Tenant
	err := c.get(s, tenantPath(id), &t)
	return t, err
}

// homeView is the tenant's main page.
type homeView struct {
	T          admin.Tenant
	Operator   bool
	Settings   string // indented JSON, for the editor
	Stats      string // indented JSON of GET .../stats
	Order      string
	Charts     bool
	ChartStamp string
}

func (c *Console) tenantHome(rc *fasthttp.RequestCtx, s *session, id string) {
	t, err := c.tenantDoc(s, id)
	if err != nil {
		c.fail(rc, s, id, err)
		return
	}
	v := homeView{T: t, Operator: s.operator(), Charts: c.history != nil}
	b, _ := json.MarshalIndent(t.Settings, "", "  ")
	v.Settings = string(b)
	var names []string
	for _, p := range t.Plugins {
		names = append(names, p.Name)
	}
	v.Order = strings.Join(names, ", ")
	var st admin.Stats
	if c.get(s, tenantPath(id)+"/stats", &st) == nil && st.Stats != nil {
		b, _ := json.MarshalIndent(st.Stats, "", "  ")
		v.Stats = string(b)
	}
	c.render(rc, s, fasthttp.StatusOK, "tenant", "Tenant "+id, id, v)
}

func (c *Console) putSettings(rc *fasthttp.RequestCtx, s *session, id string) {
	var set registry.Settings
	dec := json.NewDecoder(strings.NewReader(formValue(rc, "settings")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		c.redirect(rc, s, tenantPage(id, ""), "", errorf("settings: not a settings JSON object: "+err.Error()))
		return
	}
	err := c.send(s, fasthttp.MethodPut, tenantPath(id)+"/settings", set, nil)
	c.redirect(rc, s, tenantPage(id, ""), "settings saved", err)
}

// upload stores the module of the form's file input (which the drop zone
// fills) as a new version of the form's plugin, activating it when asked.
func (c *Console) upload(rc *fasthttp.RequestCtx, s *session, id string) {
	back := tenantPage(id, "")
	name := strings.TrimSpace(formValue(rc, "plugin"))
	form, err := rc.MultipartForm()
	if err != nil || len(form.File["wasm"]) == 0 {
		c.redirect(rc, s, back, "", errorf("upload: choose or drop a .wasm file, and name the plugin"))
		return
	}
	f, err := form.File["wasm"][0].Open()
	if err != nil {
		c.redirect(rc, s, back, "", err)
		return
	}
	wasm, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		c.redirect(rc, s, back, "", err)
		return
	}
	if name == "" {
		c.redirect(rc, s, back, "", errorf("upload: name the plugin (lower-case letters, digits, - and _)"))
		return
	}
	path := tenantPath(id) + "/plugins/" + url.PathEscape(name) + "/versions"
	if formValue(rc, "activate") != "" {
		path += "?activate=true"
	}
	var up admin.Upload
	if err := c.call(s, fasthttp.MethodPost, path, "application/wasm", wasm).decode(&up); err != nil {
		c.redirect(rc, s, back, "", err)
		return
	}
	msg := "uploaded " + name + " version " + up.Version.Hash[:12]
	if !up.Created {
		msg = name + " already has version " + up.Version.Hash[:12]
	}
	if up.Active {
		msg += ", active"
		if up.Serving != nil && up.Serving.LoadError != "" {
			msg += " (failed to load: " + up.Serving.LoadError + ")"
		}
	}
	c.redirect(rc, s, back, msg, nil)
}

// pluginAction activates, rolls back or deletes a plugin or one version.
func (c *Console) pluginAction(rc *fasthttp.RequestCtx, s *session, id, plugin string, rest []string) {
	p := tenantPath(id) + "/plugins/" + url.PathEscape(plugin)
	back := tenantPage(id, "")
	var err error
	var msg string
	switch {
	case len(rest) == 1 && rest[0] == "rollback":
		var a admin.Activation
		if err = c.send(s, fasthttp.MethodPost, p+"/rollback", nil, &a); err == nil {
			msg = "rolled " + plugin + " back to " + a.Active[:12]
		}
	case len(rest) == 1 && rest[0] == "delete":
		err, msg = c.send(s, fasthttp.MethodDelete, p, nil, nil), "deleted plugin "+plugin
	case len(rest) == 3 && rest[0] == "versions" && rest[2] == "activate":
		var a admin.Activation
		if err = c.send(s, fasthttp.MethodPost, p+"/versions/"+url.PathEscape(rest[1])+"/activate", nil, &a); err == nil {
			msg = "activated " + plugin + " " + a.Active[:12]
		}
	case len(rest) == 3 && rest[0] == "versions" && rest[2] == "delete":
		err, msg = c.send(s, fasthttp.MethodDelete, p+"/versions/"+url.PathEscape(rest[1]), nil, nil), "deleted version "+rest[1]
	default:
		c.notFound(rc, s)
		return
	}
	c.redirect(rc, s, back, msg, err)
}

// logsJSON is what the live log page's script polls: the API's NDJSON
// lines after ?after=, as one JSON object.
func (c *Console) logsJSON(rc *fasthttp.RequestCtx, s *session, id string) {
	q := url.Values{}
	for _, k := range []string{"after", "level", "plugin", "command"} {
		if v := rc.QueryArgs().Peek(k); len(v) > 0 {
			q.Set(k, string(v))
		}
	}
	r := c.call(s, fasthttp.MethodGet, tenantPath(id)+"/logs?"+q.Encode(), "", nil)
	rc.SetContentType("application/json")
	if err := r.err(); err != nil {
		rc.SetStatusCode(r.status)
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		rc.SetBody(b)
		return
	}
	out := struct {
		Lines []json.RawMessage `json:"lines"`
		Next  uint64            `json:"next"`
	}{Lines: []json.RawMessage{}}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Event string `json:"event"`
			Next  uint64 `json:"next"`
		}
		line := append(json.RawMessage(nil), sc.Bytes()...)
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		if ev.Event == "end" {
			out.Next = ev.Next
		} else if ev.Event == "" {
			out.Lines = append(out.Lines, line)
		}
	}
	b, _ := json.Marshal(out)
	rc.SetBody(b)
}

// capturesView is the captures page.
type capturesView struct {
	Capture admin.Capture
	Plugins []registry.Plugin
	Replay  *admin.Replay
}

func (c *Console) captures(rc *fasthttp.RequestCtx, s *session, id, action string) {
	p := tenantPath(id) + "/capture"
	back := tenantPage(id, "captures")
	if rc.IsPost() {
		switch action {
		case "":
			set := capture.Settings{Enabled: formValue(rc, "enabled") != "", MaxAge: formValue(rc, "max_age"),
				Redact: splitList(formValue(rc, "redact"))}
			c.redirect(rc, s, back, "capture settings saved", c.send(s, fasthttp.MethodPut, p, set, nil))
			return
		case "/clear":
			c.redirect(rc, s, back, "captured callbacks dropped", c.send(s, fasthttp.MethodDelete, p, nil, nil))
			return
		case "/replay":
		default:
			c.notFound(rc, s)
			return
		}
	}
	t, err := c.tenantDoc(s, id)
	if err != nil {
		c.fail(rc, s, id, err)
		return
	}
	v := capturesView{Plugins: t.Plugins}
	if err := c.get(s, p, &v.Capture); err != nil {
		c.fail(rc, s, id, err)
		return
	}
	if action == "/replay" && rc.IsPost() { // a GET never runs anything
		plugin, version, _ := strings.Cut(formValue(rc, "version"), "/")
		q := url.Values{"plugin": {plugin}, "version": {version}}
		var out admin.Replay
		if err := c.call(s, fasthttp.MethodPost, p+"/replay?"+q.Encode(), "", nil).decode(&out); err != nil {
			c.redirect(rc, s, back, "", err)
			return
		}
		v.Replay = &out
	}
	c.render(rc, s, fasthttp.StatusOK, "captures", "Captures", id, v)
}

// queueView is the queue page.
type queueView struct {
	Stats admin.QueueStats
	Dead  admin.DeadLetterList
	Err   string
}

func (c *Console) queuePage(rc *fasthttp.RequestCtx, s *session, id, action string) {
	p := tenantPath(id) + "/queue"
	back := tenantPage(id, "queue")
	if rc.IsPost() {
		event := formValue(rc, "event")
		var ch admin.QueueChange
		var err error
		switch {
		case action == "/retry" && event == "":
			err = c.send(s, fasthttp.MethodPost, p+"/dead/retry", nil, &ch)
		case action == "/retry":
			err = c.send(s, fasthttp.MethodPost, p+"/dead/"+url.PathEscape(event)+"/retry", nil, &ch)
		case action == "/purge" && event == "":
			err = c.send(s, fasthttp.MethodDelete, p+"/dead", nil, &ch)
		case action == "/purge":
			err = c.send(s, fasthttp.MethodDelete, p+"/dead/"+url.PathEscape(event), nil, &ch)
		default:
			c.notFound(rc, s)
			return
		}
		c.redirect(rc, s, back, strings.TrimPrefix(action, "/")+": "+strconv.Itoa(ch.Count)+" dead letter(s)", err)
		return
	}
	if _, err := c.tenantDoc(s, id); err != nil {
		c.fail(rc, s, id, err)
		return
	}
	var v queueView
	if err := c.get(s, p, &v.Stats); err != nil {
		v.Err = err.Error() // a server without a queue: say so, show the rest
	} else if err := c.get(s, p+"/dead?limit=100", &v.Dead); err != nil {
		v.Err = err.Error()
	}
	c.render(rc, s, fasthttp.StatusOK, "queue", "Queue", id, v)
}

// kvView is the key-value browser.
type kvView struct {
	Prefix string
	List   admin.KVList
	Entry  *admin.KVEntry
	Value  string // the entry's value as text, or base64 when not UTF-8
	Err    string
}

func (c *Console) kvPage(rc *fasthttp.RequestCtx, s *session, id, action string) {
	p := tenantPath(id) + "/kv"
	back := tenantPage(id, "kv")
	if rc.IsPost() {
		key := base64.RawURLEncoding.EncodeToString([]byte(formValue(rc, "key")))
		switch action {
		case "/put":
			err := c.send(s, fasthttp.MethodPut, p+"/"+key, admin.KVPut{Value: []byte(formValue(rc, "value"))}, nil)
			c.redirect(rc, s, back, "key saved", err)
		case "/delete":
			c.redirect(rc, s, back, "key deleted", c.send(s, fasthttp.MethodDelete, p+"/"+key, nil, nil))
		default:
			c.notFound(rc, s)
		}
		return
	}
	if _, err := c.tenantDoc(s, id); err != nil {
		c.fail(rc, s, id, err)
		return
	}
	v := kvView{Prefix: string(rc.QueryArgs().Peek("prefix"))}
	q := url.Values{"limit": {"100"}}
	if v.Prefix != "" {
		q.Set("prefix", base64.RawURLEncoding.EncodeToString([]byte(v.Prefix)))
	}
	if cur := rc.QueryArgs().Peek("cursor"); len(cur) > 0 {
		q.Set("cursor", string(cur))
	}
	if err := c.get(s, p+"?"+q.Encode(), &v.List); err != nil {
		v.Err = err.Error()
	}
	if key := rc.QueryArgs().Peek("key"); len(key) > 0 {
		var e admin.KVEntry
		if err := c.get(s, p+"/"+url.PathEscape(string(key)), &e); err != nil {
			v.Err = err.Error()
		} else {
			v.Entry = &e
			v.Value = e.Text
			if v.Value == "" {
				v.Value = string(e.Value)
				if !isText(e.Value) {
					v.Value = "base64:" + base64.StdEncoding.EncodeToString(e.Value)
				}
			}
		}
	}
	c.render(rc, s, fasthttp.StatusOK, "kv", "State", id, v)
}

// splitList splits a comma- or space-separated form field.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' })
}

func isText(b []byte) bool {
	for _, r := range string(b) {
		if r == '\uFFFD' || (r < 0x20 && r != '\n' && r != '\t') {
			return false
		}
	}
	return true
}
