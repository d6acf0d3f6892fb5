package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imhook/imhook/host/admin"
)

// storeCommands are the verbs of `imhook store`: the shared Redis store of
// replicas (operator token).
var storeCommands = map[string]subcommand{
	"status": {"show the shared store's health and what every replica serves", storeStatus},
	"accept": {"end the lost-data state: what Redis holds now becomes the registry (operator)", storeAccept},
}

// storeMain is `imhook store`.
func storeMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatchClient(ctx, "store", storeCommands, args, stdin, stdout, stderr)
}

func storeStatus(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "store status", "store status")
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: "/v1/store"})
	if err != nil {
		return c.fail("store status", err)
	}
	return finish(c, "store status", raw, func(out admin.StoreReport) { printStoreReport(c, out) })
}

func storeAccept(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "store accept", "store accept --revision N")
	rev := fs.Int64("revision", -1, "the store's revision now, as `imhook store status` shows it (required)")
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	if *rev < 0 {
		fmt.Fprintln(c.stderr, "imhook store accept: --revision is required: the store's revision now (imhook store status), so you accept the state you looked at")
		return exitUsage
	}
	raw, _, err := c.do(ctx, apiRequest{method: "POST", path: "/v1/store/accept",
		body: jsonBody(map[string]int64{"revision": *rev}), contentType: "application/json"})
	if err != nil {
		return c.fail("store accept", err)
	}
	return finish(c, "store accept", raw, func(out admin.StoreReport) {
		fmt.Fprintf(c.stdout, "accepted: the registry is what Redis holds at revision %d; every replica reloads from it\n\n", out.Store.Revision)
		printStoreReport(c, out)
	})
}

// printStoreReport prints the store's state and one line per replica and
// tenant plugin.
func printStoreReport(c *apiClient, r admin.StoreReport) {
	s := r.Store
	fmt.Fprintf(c.stdout, "store: %s since %s (as replica %s sees it)\n", s.State, s.Since.Format(time.RFC3339), r.Replica)
	fmt.Fprintf(c.stdout, "revision: %d in the store, %d seen before, last read %s\n", s.Revision, s.Seen, s.LastRead.Format(time.RFC3339))
	if s.Lost != nil {
		fmt.Fprintf(c.stdout, "lost data: found revision %d below %d, at %s by %s\n", s.Lost.Found, s.Lost.Seen, s.Lost.DetectedAt.Format(time.RFC3339), s.Lost.DetectedBy)
		if s.Tenants != nil {
			fmt.Fprintf(c.stdout, "Redis holds %d tenant(s) now.\n", *s.Tenants)
		}
		fmt.Fprintf(c.stdout, "When Redis holds what it should (restored from its backup, or empty to start over): imhook store accept --revision %d\n", s.Revision)
	}
	if len(s.Refused) > 0 {
		fmt.Fprintf(c.stdout, "refused since this replica started, because Redis lost data: %d registry, %d state, %d queue operation(s)\n",
			s.Refused["registry"], s.Refused["state"], s.Refused["queue"])
	}
	if s.Reason != "" && s.Lost == nil {
		fmt.Fprintf(c.stdout, "reason: %s\n", s.Reason)
	}
	if r.ReplicasError != "" {
		fmt.Fprintf(c.stdout, "replicas: cannot read their announcements: %s\n", r.ReplicasError)
	}
	fmt.Fprintln(c.stdout)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICA\tREADY\tSTORE\tAPPLIED\tTENANT\tPLUGIN\tSERVING")
	for _, rs := range r.Replicas {
		first := true
		line := func(tenant, plugin, hash string) {
			if first {
				fmt.Fprintf(tw, "%s\t%t\t%s\t%d\t%s\t%s\t%s\n", rs.ID, rs.Ready, rs.Store, rs.Applied, tenant, plugin, hash)
				first = false
				return
			}
			fmt.Fprintf(tw, "\t\t\t\t%s\t%s\t%s\n", tenant, plugin, hash)
		}
		ids := make([]string, 0, len(rs.Tenants))
		for id := range rs.Tenants {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			names := make([]string, 0, len(rs.Tenants[id]))
			for n := range rs.Tenants[id] {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				line(id, n, shortHash(rs.Tenants[id][n]))
			}
			if len(names) == 0 {
				line(id, "-", "-")
			}
		}
		if first {
			line("-", "-", "-")
		}
	}
	tw.Flush()
}

// shortHash abbreviates a version hash for tables.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return strings.TrimSpace(h)
}
