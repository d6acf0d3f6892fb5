package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/imhook/imhook/host/admin"
)

// kvCommands are the verbs of `imhook kv`, the client of the admin API's
// state routes. docs/cli.md has an example of each.
var kvCommands = map[string]subcommand{
	"list": {"list a tenant's state keys by prefix", kvList},
	"get":  {"print a state key's value", kvGet},
	"set":  {"write a state key (a value, a file or stdin)", kvSet},
	"del":  {"delete a state key", kvDel},
}

// kvMain is `imhook kv`.
func kvMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatchClient(ctx, "kv", kvCommands, args, stdin, stdout, stderr)
}

// kvKey encodes a key argument for the API: text as given, or, with
// --base64, the base64url (or standard base64) of its bytes.
func kvKey(arg string, b64 bool) (string, error) {
	if !b64 {
		return base64.RawURLEncoding.EncodeToString([]byte(arg)), nil
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(arg); err == nil {
			return base64.RawURLEncoding.EncodeToString(b), nil
		}
	}
	return "", fmt.Errorf("key[%s]: --base64 wants a base64 key", arg)
}

func kvPath(tenant, key string) string { return tenantPath(tenant) + "/kv/" + key }

// printable shows a key or value as text when it is, else as base64.
func printable(text, b64 string) string {
	if text != "" || b64 == "" {
		return strconv.Quote(text)
	}
	return "base64:" + b64
}

func kvList(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "kv list", "kv list <tenant> [--prefix P] [--limit N] [--cursor C]")
	prefix := fs.String("prefix", "", "list keys starting with this text (or base64, with --base64)")
	cursor := fs.String("cursor", "", "the next page's cursor a previous list printed")
	limit := fs.Int("limit", 100, "keys per page, 1 to 1000")
	b64 := fs.Bool("base64", false, "--prefix is base64")
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	p, err := kvKey(*prefix, *b64)
	if err != nil {
		return c.fail("kv list", err)
	}
	q := url.Values{"prefix": {p}, "limit": {strconv.Itoa(*limit)}}
	if *cursor != "" {
		q.Set("cursor", *cursor)
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: tenantPath(fs.Arg(0)) + "/kv?" + q.Encode()})
	if err != nil {
		return c.fail("kv list", err)
	}
	return finish(c, "kv list", raw, func(out admin.KVList) {
		for _, k := range out.Keys {
			fmt.Fprintln(c.stdout, printable(k.Text, k.Key))
		}
		fmt.Fprintf(c.stdout, "%d keys; the tenant holds %d of %d keys, %s of %s\n", len(out.Keys), out.Usage.Keys, out.Usage.MaxKeys, formatBytes(out.Usage.Bytes), formatBytes(out.Usage.MaxBytes))
		if out.Next != "" {
			fmt.Fprintf(c.stdout, "more: imhook kv list %s --cursor %s\n", fs.Arg(0), out.Next)
		}
	})
}

func kvGet(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "kv get", "kv get <tenant> <key>")
	b64 := fs.Bool("base64", false, "the key is base64")
	if code := c.parseFlags(fs, args, 2, 2); code >= 0 {
		return code
	}
	key, err := kvKey(fs.Arg(1), *b64)
	if err != nil {
		return c.fail("kv get", err)
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: kvPath(fs.Arg(0), key)})
	if err != nil {
		return c.fail("kv get", err)
	}
	return finish(c, "kv get", raw, func(out admin.KVEntry) {
		c.stdout.Write(out.Value) // the bytes as stored; --json for the revision
	})
}

func kvSet(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "kv set", "kv set <tenant> <key> [<value>] [--file F] [--ttl D] [--if-absent | --if-revision N]")
	file := fs.String("file", "", "read the value from this file (- for stdin)")
	ttl := fs.Duration("ttl", 0, "expire the key after this long (such as 10m); 0 never")
	ifAbsent := fs.Bool("if-absent", false, "write only if the key does not exist")
	ifRev := fs.Uint64("if-revision", 0, "write only if the key is at this revision (kv get --json shows it)")
	b64 := fs.Bool("base64", false, "the key is base64")
	if code := c.parseFlags(fs, args, 2, 3); code >= 0 {
		return code
	}
	var value []byte
	switch {
	case *file != "" && fs.NArg() == 3:
		fmt.Fprintln(c.stderr, "imhook kv set: give the value as an argument or --file, not both")
		return exitUsage
	case *file != "":
		b, err := readInput(*file, c.stdin)
		if err != nil {
			return c.fail("kv set", err)
		}
		value = b
	case fs.NArg() == 3:
		value = []byte(fs.Arg(2))
	default:
		fmt.Fprintln(c.stderr, "imhook kv set: give a value, or --file (- for stdin)")
		return exitUsage
	}
	if *ttl < 0 || (*ttl > 0 && *ttl < time.Millisecond) {
		fmt.Fprintln(c.stderr, "imhook kv set: --ttl: want 0 or 1ms and more")
		return exitUsage
	}
	key, err := kvKey(fs.Arg(1), *b64)
	if err != nil {
		return c.fail("kv set", err)
	}
	body := admin.KVPut{Value: value, TTLMs: ttl.Milliseconds(), IfAbsent: *ifAbsent, IfRevision: *ifRev}
	raw, _, err := c.do(ctx, apiRequest{method: "PUT", path: kvPath(fs.Arg(0), key), body: jsonBody(body), contentType: "application/json"})
	if err != nil {
		return c.fail("kv set", err)
	}
	return finish(c, "kv set", raw, func(out admin.KVWritten) {
		fmt.Fprintf(c.stdout, "wrote %s (%d bytes), revision %d\n", strconv.Quote(fs.Arg(1)), len(value), out.Revision)
	})
}

func kvDel(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "kv del", "kv del <tenant> <key>")
	b64 := fs.Bool("base64", false, "the key is base64")
	if code := c.parseFlags(fs, args, 2, 2); code >= 0 {
		return code
	}
	key, err := kvKey(fs.Arg(1), *b64)
	if err != nil {
		return c.fail("kv del", err)
	}
	if _, _, err := c.do(ctx, apiRequest{method: "DELETE", path: kvPath(fs.Arg(0), key)}); err != nil {
		return c.fail("kv del", err)
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "deleted %s\n", strconv.Quote(fs.Arg(1)))
	}
	return exitOK
}
