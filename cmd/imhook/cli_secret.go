package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/imhook/imhook/host/admin"
)

// secretCommands are the verbs of `imhook secret`: a tenant's secrets,
// which plugins send to the tenant's services (docs/abi.md, "Out-calls").
// A value is read from standard input or an environment variable, never
// from the command line, where ps and the shell's history would keep it.
var secretCommands = map[string]subcommand{
	"set":    {"set a secret, its value read from stdin or --from-env", secretSet},
	"list":   {"list the names of a tenant's secrets (never their values)", secretList},
	"delete": {"delete a secret", secretDelete},
}

// secretMain is `imhook secret`.
func secretMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatchClient(ctx, "secret", secretCommands, args, stdin, stdout, stderr)
}

func secretPath(tenant, name string) string { return tenantPath(tenant) + "/secrets/" + name }

func secretSet(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "secret set", "secret set <tenant> <name> [--from-env VAR] < value")
	fromEnv := fs.String("from-env", "", "read the value from this environment variable instead of stdin")
	ifMatch := fs.String("if-match", "", "set only if the tenant is still at this revision")
	if code := c.parseFlags(fs, args, 2, 2); code >= 0 {
		return code
	}
	tenant, name := fs.Arg(0), fs.Arg(1)
	var value string
	if *fromEnv != "" {
		v, ok := os.LookupEnv(*fromEnv)
		if !ok {
			fmt.Fprintf(c.stderr, "imhook secret set: --from-env %s: the variable is not set\n", *fromEnv)
			return exitUsage
		}
		value = v
	} else {
		b, err := io.ReadAll(io.LimitReader(c.stdin, 1<<20))
		if err != nil {
			return c.fail("secret set", fmt.Errorf("reading the value from stdin: %w", err))
		}
		// One trailing newline is the shell's (echo, a file), not the secret's.
		value = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	if value == "" {
		fmt.Fprintln(c.stderr, "imhook secret set: the value is empty; pipe it in (imhook secret set acme api_key < key.txt) or use --from-env")
		return exitUsage
	}
	raw, _, err := c.do(ctx, apiRequest{method: "PUT", path: secretPath(tenant, name), body: jsonBody(admin.SecretValue{Value: value}),
		contentType: "application/json", ifMatch: *ifMatch})
	if err != nil {
		return c.fail("secret set", err)
	}
	return finish(c, "secret set", raw, func(out admin.SecretSet) {
		fmt.Fprintf(c.stdout, "secret %s of tenant %s set (revision %d)\n", out.Name, tenant, out.Revision)
	})
}

func secretList(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "secret list", "secret list <tenant>")
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: tenantPath(fs.Arg(0)) + "/secrets"})
	if err != nil {
		return c.fail("secret list", err)
	}
	return finish(c, "secret list", raw, func(out admin.SecretList) {
		if len(out.Names) == 0 {
			fmt.Fprintf(c.stdout, "tenant %s has no secrets\n", fs.Arg(0))
			return
		}
		for _, n := range out.Names {
			fmt.Fprintln(c.stdout, n)
		}
	})
}

func secretDelete(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "secret delete", "secret delete <tenant> <name>")
	ifMatch := fs.String("if-match", "", "delete only if the tenant is still at this revision")
	if code := c.parseFlags(fs, args, 2, 2); code >= 0 {
		return code
	}
	if _, _, err := c.do(ctx, apiRequest{method: "DELETE", path: secretPath(fs.Arg(0), fs.Arg(1)), ifMatch: *ifMatch}); err != nil {
		return c.fail("secret delete", err)
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "deleted secret %s of tenant %s\n", fs.Arg(1), fs.Arg(0))
	}
	return exitOK
}
