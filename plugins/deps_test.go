package plugins

import (
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/imhook/imhook/"

// importRule says which packages may depend on pattern: only those whose
// path (relative to the module) starts with one of allowed. Transitive
// rules look at every dependency, direct ones at a package's own imports.
type importRule struct {
	pattern    string // import path prefix
	allowed    []string
	transitive bool
	why        string
}

// importRules are the module's architecture (RATIONALE.md, "Why these
// packages, and who may import whom?"). The module has no root package, so
// the sandbox's package holds the test for all of them.
var importRules = []importRule{
	{"github.com/tetratelabs/wazero", []string{"plugins"}, false,
		"wazero stays inside the sandbox so an upgrade or a change of CPU limit touches one package"},
	{"github.com/valyala/fasthttp", []string{"host/", "cmd/"}, false,
		"fasthttp is the webhook and admin face (host/) and the benchmark's load generator (cmd/)"},
	{"github.com/knadh/koanf", []string{"cmd/"}, false,
		"configuration is loaded by the binary; packages take typed structs"},
	{"go.etcd.io/bbolt", []string{"plugins/registry/bolt", "plugins/store/", "plugins/state/boltstate"}, false,
		"only stores open bbolt files"},
	{"github.com/redis/go-redis", []string{"plugins/registry/redis", "plugins/store/", "plugins/state/redisstate"}, false,
		"stores talk to Redis; nothing else does"},
	// The sandbox knows the ABI, not OpenIM, and reaches no store or network
	// except through what the host injects.
	{module + "sdk/openim", []string{"sdk/", "host/", "cmd/", "examples/"}, true,
		"the sandbox runs any ABI module; OpenIM's protocol is the host's business"},
	{"net/http", []string{"cmd/", "host/", "examples/", "plugins/outcall", "sdk/sdktest"}, true,
		"the sandbox and the stores make no HTTP calls of their own: out-calls go through plugins/outcall, which the host injects (sdktest makes them natively for plugin tests)"},
	{module + "plugins/outcall", []string{"plugins/outcall", "host/", "cmd/"}, true,
		"the sandbox gets its HTTP client injected (SandboxOptions.HTTP), never imports it"},
	{module + "plugins/registry", []string{"plugins/registry", "host/", "cmd/"}, true,
		"the sandbox does not read the registry: the host hands it settings"},
	{module + "host", []string{"host", "cmd/"}, true, "nothing below the host depends on it"},
	{module + "cmd", []string{"cmd/"}, true, "nothing depends on the binary"},
}

type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
}

// listPackages runs go list -deps over the module's packages and the SDK's
// (its own module, sdk/go.mod, which ../... does not reach), tests excluded:
// their imports are free.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", "-json=ImportPath,Standard,Imports,Deps", "../...", module+"sdk/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportRules enforces the module's import rules: the SDK uses the
// standard library only (it is compiled into every plugin), and each outside
// dependency stays in the one place that needs it.
func TestImportRules(t *testing.T) {
	stdlib := map[string]bool{}
	pkgs := listPackages(t)
	for _, p := range pkgs {
		if p.Standard {
			stdlib[p.ImportPath] = true
		}
	}
	for _, p := range pkgs {
		rel, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		if rel == "sdk" || strings.HasPrefix(rel, "sdk/") || rel == "plugins/limits" || rel == "plugins/state" {
			for _, d := range p.Deps {
				if !stdlib[d] && !strings.HasPrefix(d, module+"sdk/") && d != "C" {
					t.Errorf("%s depends on %s: the SDK, the limits schema and the state rules use the standard library only", rel, d)
				}
			}
		}
		for _, r := range importRules {
			if allowed(rel, r.allowed) {
				continue
			}
			deps := p.Imports
			if r.transitive {
				deps = p.Deps
			}
			for _, d := range deps {
				if d == r.pattern || strings.HasPrefix(d, r.pattern+"/") {
					t.Errorf("%s depends on %s: %s", rel, d, r.why)
				}
			}
		}
	}
}

func allowed(rel string, prefixes []string) bool {
	for _, a := range prefixes {
		if rel == strings.TrimSuffix(a, "/") || strings.HasPrefix(rel, strings.TrimSuffix(a, "/")+"/") {
			return true
		}
	}
	return false
}
