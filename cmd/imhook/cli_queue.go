package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imhook/imhook/host/admin"
)

// queueCommands are the verbs of `imhook queue`, the client of the admin
// API's queue routes. docs/cli.md has an example of each.
var queueCommands = map[string]subcommand{
	"stats": {"show a tenant's after-callback queue: depth, in flight, oldest, dead letters", queueStats},
	"dead":  {"dead letters: dead list | dead show <id> | dead retry <id>|--all | dead purge <id>|--all", queueDead},
}

// queueMain is `imhook queue`.
func queueMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatchClient(ctx, "queue", queueCommands, args, stdin, stdout, stderr)
}

func queuePath(tenant string) string { return tenantPath(tenant) + "/queue" }

func queueStats(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "queue stats"
	var tenant string
	fs := pluginFlags(c, cmd, "queue stats [--tenant id]", &tenant)
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: queuePath(tenant)})
	if err != nil {
		return c.fail(cmd, err)
	}
	return finish(c, cmd, raw, func(s admin.QueueStats) {
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "tenant\t%s\nmode\t%s\n", s.Tenant, s.Mode)
		fmt.Fprintf(tw, "pending\t%d (ready %d, delayed for a retry %d, in flight %d)\n", s.Pending, s.Ready, s.Delayed, s.InFlight)
		fmt.Fprintf(tw, "oldest\t%s\n", (time.Duration(s.OldestAgeSeconds * float64(time.Second))).Round(time.Millisecond))
		fmt.Fprintf(tw, "dead letters\t%d\n", s.Dead)
		k := s.Counts
		fmt.Fprintf(tw, "this replica\tenqueued %d, refused (full) %d, processed %d, retried %d, dead-lettered %d, discarded %d, in flight %d\n",
			k.Enqueued, k.Refused, k.Processed, k.Retried, k.Dead, k.Discarded, s.InFlightHere)
		tw.Flush()
	})
}

func queueDead(ctx context.Context, c *apiClient, args []string) int {
	verbs := map[string]func(context.Context, *apiClient, []string) int{
		"list": deadList, "show": deadShow, "retry": deadRetry, "purge": deadPurge,
	}
	if len(args) == 0 || verbs[args[0]] == nil {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprintln(c.stdout, "Usage: imhook queue dead list | show <id> | retry <id>|--all | purge <id>|--all  [--tenant id]\n\nExample:\n  "+clientExamples["queue dead list"])
			return exitOK
		}
		fmt.Fprintln(c.stderr, "imhook queue dead: give list, show <id>, retry <id>|--all or purge <id>|--all")
		return exitUsage
	}
	return verbs[args[0]](ctx, c, args[1:])
}

func deadList(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "queue dead list"
	var tenant string
	fs := pluginFlags(c, cmd, "queue dead list [--tenant id] [--limit n] [--after id]", &tenant)
	limit := fs.Int("limit", 100, "dead letters per page, at most 1000")
	after := fs.String("after", "", "start after this event ID (the next of the previous page)")
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	q := url.Values{"limit": {fmt.Sprint(*limit)}}
	if *after != "" {
		q.Set("after", *after)
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: queuePath(tenant) + "/dead?" + q.Encode()})
	if err != nil {
		return c.fail(cmd, err)
	}
	return finish(c, cmd, raw, func(out admin.DeadLetterList) {
		if len(out.DeadLetters) == 0 {
			fmt.Fprintln(c.stdout, "no dead letters")
			return
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCOMMAND\tDIED\tATTEMPTS\tLAST ERROR")
		for _, d := range out.DeadLetters {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", d.ID, d.Command, d.DiedAt.Format(time.RFC3339), d.Attempts, oneLine(d.LastError, 100))
		}
		tw.Flush()
		if out.Next != "" {
			fmt.Fprintf(c.stdout, "more: imhook queue dead list --after %s\n", out.Next)
		}
	})
}

// oneLine shortens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func deadShow(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "queue dead show"
	var tenant string
	fs := pluginFlags(c, cmd, "queue dead show <id> [--tenant id]", &tenant)
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: queuePath(tenant) + "/dead/" + url.PathEscape(fs.Arg(0))})
	if err != nil {
		return c.fail(cmd, err)
	}
	return finish(c, cmd, raw, func(d admin.DeadLetter) {
		fmt.Fprintf(c.stdout, "id:         %s\ncommand:    %s\nenqueued:   %s\ndied:       %s\nattempts:   %d\nlast error: %s\nbody:\n%s\n",
			d.ID, d.Command, d.EnqueuedAt.Format(time.RFC3339Nano), d.DiedAt.Format(time.RFC3339Nano), d.Attempts, d.LastError, d.Body)
	})
}

// deadChange is retry and purge: one ID, or --all.
func deadChange(ctx context.Context, c *apiClient, args []string, verb, method, suffix, done string) int {
	cmd := "queue dead " + verb
	var tenant string
	fs := pluginFlags(c, cmd, cmd+" <id> | "+cmd+" --all [--tenant id]", &tenant)
	all := fs.Bool("all", false, "every dead letter of the tenant")
	if code := c.parseFlags(fs, args, 0, 1); code >= 0 {
		return code
	}
	if *all == (fs.NArg() == 1) {
		fmt.Fprintf(c.stderr, "imhook %s: give either an event ID or --all\n", cmd)
		return exitUsage
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	path := queuePath(tenant) + "/dead"
	if !*all {
		path += "/" + url.PathEscape(fs.Arg(0))
	}
	raw, _, err := c.do(ctx, apiRequest{method: method, path: path + suffix})
	if err != nil {
		return c.fail(cmd, err)
	}
	return finish(c, cmd, raw, func(out admin.QueueChange) {
		fmt.Fprintf(c.stdout, "%s %d dead letter(s)\n", done, out.Count)
	})
}

func deadRetry(ctx context.Context, c *apiClient, args []string) int {
	return deadChange(ctx, c, args, "retry", "POST", "/retry", "queued again")
}

func deadPurge(ctx context.Context, c *apiClient, args []string) int {
	return deadChange(ctx, c, args, "purge", "DELETE", "", "purged")
}
