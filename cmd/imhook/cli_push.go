package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/imhook/imhook/host/admin"
)

func init() {
	commands["push"] = command{"build the plugin project here, upload, validate and activate it in one step", pushMain}
}

func pushMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const cmd = "push"
	c := &apiClient{stdin: stdin, stdout: stdout, stderr: stderr}
	var tenant string
	fs := pluginFlags(c, cmd, "push [dir] [--name plugin] [--no-activate]", &tenant)
	name := fs.String("name", "", "plugin name (default: the last element of the go.mod module path)")
	noActivate := fs.Bool("no-activate", false, "upload and validate only; activate later with imhook plugin activate")
	ifMatch := fs.String("if-match", "", "upload only if the tenant is still at this revision")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprint(fs.Output(), "\nBuilds the plugin project in [dir] (see imhook build), uploads the module as a new\n"+
			"version of the plugin, which the server validates, and makes it active: the next callback\n"+
			"runs it. imhook plugin rollback <name> undoes it.\n\nExample:\n"+
			"  export IMHOOK_ADMIN_URL=http://127.0.0.1:8081 IMHOOK_TOKEN=acme.K3t9...\n  imhook push\n")
	}
	if code := c.parseFlags(fs, args, 0, 1); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	proj, err := findProject(dir, *name)
	if err != nil {
		fmt.Fprintf(stderr, "imhook %s: %v\n", cmd, err)
		return exitUsage
	}
	progress := stdout
	if c.json {
		progress = stderr // stdout is the server's JSON alone
	}
	m, err := buildProject(ctx, proj, progress, true)
	if err != nil {
		fmt.Fprintf(stderr, "imhook %s: %v\n", cmd, err)
		return exitAPI
	}
	path := pluginPath(tenant, proj.name) + "/versions"
	if !*noActivate {
		path += "?activate=true"
	}
	fmt.Fprintf(progress, "uploading %s (%s) to tenant %s at %s; the server validates it ...\n", proj.name, formatBytes(int64(len(m.wasm))), tenant, c.url)
	raw, _, err := c.do(ctx, apiRequest{method: "POST", path: path, body: m.wasm, contentType: "application/wasm", ifMatch: *ifMatch})
	if err != nil {
		return c.fail(cmd, err)
	}
	code := finish(c, cmd, raw, c.printUpload)
	var up admin.Upload
	if code != exitOK || json.Unmarshal(raw, &up) != nil || !up.Active {
		return code
	}
	if code := c.servingStatus(cmd, up.Version.Hash, up.Serving); code != exitOK {
		return code
	}
	if !c.json {
		fmt.Fprintf(stdout, "serving: the next callback runs version %s; undo with: imhook plugin rollback %s\n", short(up.Version.Hash), proj.name)
	}
	return exitOK
}
