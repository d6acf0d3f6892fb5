package console

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/history"
)

// tenantRow is one line of the operator's tenants table.
type tenantRow struct {
	admin.Tenant
	Active               []string // plugin@version of each active plugin
	CallsHour, FailsHour uint64
	CallsMinute          uint64
	P99                  float64 // the last hour's worst minute, seconds
}

// tenants lists every tenant (GET) or creates one (POST) and shows its new
// token, once.
func (c *Console) tenants(rc *fasthttp.RequestCtx, s *session) {
	if rc.IsPost() {
		c.createTenant(rc, s)
		return
	}
	var list admin.TenantList
	if err := c.get(s, "/v1/tenants", &list); err != nil {
		c.fail(rc, s, "", err)
		return
	}
	filter := string(rc.QueryArgs().Peek("q"))
	rows := make([]tenantRow, 0, len(list.Tenants))
	now := time.Now()
	for _, t := range list.Tenants {
		if filter != "" && !strings.Contains(t.ID, filter) {
			continue
		}
		r := tenantRow{Tenant: t}
		for _, p := range t.Plugins {
			if p.Active != "" {
				r.Active = append(r.Active, p.Name+"@"+p.Active[:12])
			}
		}
		if c.history != nil {
			ms := c.history.Tenant(t.ID, now)
			for _, m := range ms {
				r.CallsHour += m.Calls
				r.FailsHour += m.Failures
				r.P99 = max(r.P99, m.P99)
			}
			r.CallsMinute = ms[len(ms)-1].Calls
		}
		rows = append(rows, r)
	}
	c.render(rc, s, fasthttp.StatusOK, "tenants", "Tenants", "", struct {
		Rows   []tenantRow
		Total  int
		Filter string
	}{rows, len(list.Tenants), filter})
}

// createTenant creates a tenant and answers its token in the page itself,
// never in a URL, with no-store caching (set for every page).
func (c *Console) createTenant(rc *fasthttp.RequestCtx, s *session) {
	in := admin.CreateTenant{ID: strings.TrimSpace(formValue(rc, "id"))}
	if raw := strings.TrimSpace(formValue(rc, "settings")); raw != "" {
		if err := json.Unmarshal([]byte(raw), &in.Settings); err != nil {
			c.redirect(rc, s, Prefix+"tenants", "", errorf("settings: not a settings JSON object: "+err.Error()))
			return
		}
	}
	var out admin.TenantToken
	if err := c.send(s, fasthttp.MethodPost, "/v1/tenants", in, &out); err != nil {
		c.redirect(rc, s, Prefix+"tenants", "", err)
		return
	}
	c.render(rc, s, fasthttp.StatusCreated, "token", "Tenant created", "", out)
}

// tenantPath returns the admin API path of tenant id, escaped.
func tenantPath(id string) string { return "/v1/tenants/" + url.PathEscape(id) }

// chartMinutes returns the tenant's last hour for charts, nil without a
// history.
func (c *Console) chartMinutes(id string) []history.Minute {
	if c.history == nil {
		return nil
	}
	return c.history.Tenant(id, time.Now())
}
