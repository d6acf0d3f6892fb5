package registry

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/imhook/imhook/plugins/egress"
)

// Tenant secrets are credentials a tenant's plugins send to the tenant's own
// services (an API key in a header). They are stored in the tenant's
// document, so every replica serves them and they go with the tenant, and
// they are never returned by the admin API: SecretNames lists their names.
// They are stored as written, like the rest of the document: protect the
// store (its file, its Redis) as you protect the secrets.

// Bounds of a tenant's secrets.
const (
	MaxSecrets         = 64
	MaxSecretBytes     = 4 << 10
	MaxEgressPatterns  = 64
	secretNamePattern  = `^[A-Za-z0-9_.-]{1,64}$`
	secretNameDescribe = "1-64 of [A-Za-z0-9_.-]"
)

var secretNameRe = regexp.MustCompile(secretNamePattern)

// ValidSecretName checks a secret's name.
func ValidSecretName(name string) error {
	if !secretNameRe.MatchString(name) {
		return fmt.Errorf("secret name[%q]: want %s: %w", name, secretNameDescribe, ErrInvalid)
	}
	return nil
}

// validSecretValue refuses an empty value, one over MaxSecretBytes, and
// one with a control character, which no header could carry. The errors
// never quote the value.
func validSecretValue(name, v string) error {
	if v == "" || len(v) > MaxSecretBytes {
		return fmt.Errorf("secret[%s]: value of %d bytes; want 1 to %d: %w", name, len(v), MaxSecretBytes, ErrInvalid)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("secret[%s]: value has a control character at byte %d (it must fit in an HTTP header): %w", name, i, ErrInvalid)
		}
	}
	return nil
}

// SecretNames returns the names of t's secrets, sorted.
func (t *Tenant) SecretNames() []string {
	return slices.Sorted(maps.Keys(t.Secrets))
}

// SetSecret sets tenant id's secret name to value.
func (r *Registry) SetSecret(ctx context.Context, id, name, value string, expect uint64) (*Tenant, error) {
	if err := ValidSecretName(name); err != nil {
		return nil, err
	}
	if err := validSecretValue(name, value); err != nil {
		return nil, err
	}
	return r.update(ctx, id, expect, func(t *Tenant) error {
		if _, ok := t.Secrets[name]; !ok && len(t.Secrets) >= MaxSecrets {
			return fmt.Errorf("tenant[%s]: already %d secrets, at most %d: %w", id, len(t.Secrets), MaxSecrets, ErrInvalid)
		}
		if t.Secrets == nil {
			t.Secrets = map[string]string{}
		}
		t.Secrets[name] = value
		return nil
	})
}

// DeleteSecret removes tenant id's secret name; ErrNotFound when it has none.
func (r *Registry) DeleteSecret(ctx context.Context, id, name string, expect uint64) (*Tenant, error) {
	return r.update(ctx, id, expect, func(t *Tenant) error {
		if _, ok := t.Secrets[name]; !ok {
			return fmt.Errorf("tenant[%s]: secret[%s]: %w", id, name, ErrNotFound)
		}
		delete(t.Secrets, name)
		if len(t.Secrets) == 0 {
			t.Secrets = nil
		}
		return nil
	})
}

// validEgress checks the egress_allow patterns.
func validEgress(list []string) error {
	if len(list) > MaxEgressPatterns {
		return fmt.Errorf("egress_allow: %d patterns, at most %d: %w", len(list), MaxEgressPatterns, ErrInvalid)
	}
	if _, err := egress.ParseAllow("egress_allow", list); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return nil
}
