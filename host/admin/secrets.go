package admin

import (
	"bytes"
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins/registry"
)

// Tenant secrets (credentials a tenant's plugins send to its services):
// written here, never read back. No response, log line or error of these
// handlers holds a secret's value: a list shows names, a write answers
// with the name, and a body that does not decode gets a message that quotes
// none of it.

// SecretList is the body of GET /v1/tenants/{tenant}/secrets: the names of
// the tenant's secrets, sorted; never their values.
type SecretList struct {
	Names    []string `json:"names"`
	Revision uint64   `json:"revision"`
}

// SecretValue is the body of PUT /v1/tenants/{tenant}/secrets/{secret}.
type SecretValue struct {
	Value string `json:"value"`
}

// SecretSet is the answer to a PUT: the name set, not the value.
type SecretSet struct {
	Name     string `json:"name"`
	Revision uint64 `json:"revision"`
}

func secretList(t *registry.Tenant) SecretList {
	names := t.SecretNames()
	if names == nil {
		names = []string{}
	}
	return SecretList{Names: names, Revision: t.Revision}
}

func (a *API) listSecrets(r *request) error {
	t, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, secretList(t))
	return nil
}

func (a *API) putSecret(r *request) error {
	if err := registry.ValidSecretName(r.secret); err != nil {
		return err
	}
	if err := checkContentType(r.rc, "application/json"); err != nil {
		return err
	}
	body := r.rc.PostBody()
	if len(body) > registry.MaxSecretBytes*6+64 { // every byte escaped as \u00XX
		return apiErrorf(fasthttp.StatusRequestEntityTooLarge, "request body of %d bytes: a secret is at most %d bytes", len(body), registry.MaxSecretBytes)
	}
	var in SecretValue
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		// json's messages may quote the body: say what is expected instead.
		return apiErrorf(fasthttp.StatusBadRequest, `bad JSON: want {"value": "<the secret>"} and nothing else`)
	}
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	t, err := a.reg.SetSecret(r.ctx, r.tenant, r.secret, in.Value, expect)
	if err != nil {
		return err
	}
	a.logChange(r, "secret set", "secret", r.secret)
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, SecretSet{Name: r.secret, Revision: t.Revision})
	return nil
}

func (a *API) deleteSecret(r *request) error {
	if err := registry.ValidSecretName(r.secret); err != nil {
		return err
	}
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	if _, err := a.reg.DeleteSecret(r.ctx, r.tenant, r.secret, expect); err != nil {
		return err
	}
	a.logChange(r, "secret deleted", "secret", r.secret)
	r.rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}
