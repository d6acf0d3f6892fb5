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

// tenantsPerPage is how many tenants one page of the list shows.
const tenantsPerPage = 100

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
	matched := list.Tenants
	if filter != "" {
		matched = nil
		for _, t := range list.Tenants {
			if strings.Contains(t.ID, filter) {
				matched = append(matched, t)
			}
		}
	}
	// One page of tenantsPerPage: a table of thousands of rows is slow to
	// draw and no one reads it; the filter finds a tenant.
	pages := max(1, (len(matched)+tenantsPerPage-1)/tenantsPerPage)
	page := min(max(1, rc.QueryArgs().GetUintOrZero("page")), pages)
	matched = matched[(page-1)*tenantsPerPage : min(len(matched), page*tenantsPerPage)]
	rows := make([]tenantRow, 0, len(matched))
	now := time.Now()
	for _, t := range matched {
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
	next := 0 // no next page
	if page < pages {
		next = page + 1
	}
	c.render(rc, s, fasthttp.StatusOK, "tenants", "Tenants", "", struct {
		Rows               []tenantRow
		Total              int
		Filter             string
		Page, Pages        int
		PrevPage, NextPage int
	}{rows, len(list.Tenants), filter, page, pages, page - 1, next})
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
