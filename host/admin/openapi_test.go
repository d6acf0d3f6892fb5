package admin

import (
	"encoding"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imhook/imhook/host/capture"
	"github.com/imhook/imhook/host/tenantlog"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins/store/health"
)

// readOpenAPI returns the lines of docs/openapi.yaml.
func readOpenAPI(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

// TestOpenAPICoversRoutes keeps docs/openapi.yaml in step with the API:
// every route is documented and nothing else is, and every JSON field the
// API sends or accepts is a property of the matching schema and vice versa.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	lines := readOpenAPI(t)
	t.Run("routes", func(t *testing.T) {
		t.Parallel()
		checkRoutes(t, lines)
	})
	t.Run("schemas", func(t *testing.T) {
		t.Parallel()
		checkSchemas(t, lines)
	})
}

func checkRoutes(t *testing.T, lines []string) {
	pathRe := regexp.MustCompile(`^  (/v1/\S*):$`)
	methodRe := regexp.MustCompile(`^    (get|put|post|patch|delete):$`)
	documented := map[string]bool{}
	path := ""
	for _, line := range lines {
		if m := pathRe.FindStringSubmatch(line); m != nil {
			path = m[1]
		} else if m := methodRe.FindStringSubmatch(line); m != nil && path != "" {
			documented[strings.ToUpper(m[1])+" "+path] = true
		} else if line != "" && !strings.HasPrefix(line, "   ") && !strings.HasPrefix(line, "  /") {
			path = "" // left the paths section
		}
	}
	if len(documented) < 20 {
		t.Fatalf("parsed only %d operations from docs/openapi.yaml; has its layout changed?", len(documented))
	}
	a := newAPI(t, "op-token")
	for _, rt := range a.routes {
		key := rt.method + " /" + strings.ReplaceAll(strings.Join(rt.pattern, "/"), "{hash}", "{version}")
		if !documented[key] {
			t.Errorf("route %s is not in docs/openapi.yaml", key)
		}
		delete(documented, key)
	}
	for key := range documented {
		t.Errorf("docs/openapi.yaml documents %s, which the API does not serve", key)
	}
}

// apiBodies are the Go types of every JSON body the API sends or accepts.
// The types they contain are found by walking their fields.
var apiBodies = []any{
	Whoami{}, TenantList{}, CreateTenant{}, TenantToken{}, Tenant{},
	PluginList{}, Order{}, VersionList{}, Upload{}, Activation{}, Stats{}, DryRun{},
	ErrorBody{}, StoreReport{}, SecretList{}, SecretValue{}, SecretSet{},
	QueueStats{}, DeadLetterList{}, DeadLetter{}, QueueChange{}, TenantDeleted{},
	Capture{}, Replay{},
	// GET .../logs sends NDJSON: LogEvent, whose line fields are these.
	tenantlog.Line{},
	KVList{}, KVEntry{}, KVPut{}, KVWritten{},
	// Stats.Stats is an any: the server fills it with the directory's
	// status (host.Server wires tenants.Directory.Stats).
	tenants.Status{},
}

// schemaNames maps the Go types whose schema has another name. Every other
// struct type's schema has the type's name.
var schemaNames = map[reflect.Type]string{
	reflect.TypeFor[ErrorBody]():      "Error",
	reflect.TypeFor[tenants.Status](): "TenantStatus",
	reflect.TypeFor[health.Status]():  "StoreStatus",

	reflect.TypeFor[tenantlog.Line]():   "TenantLogLine",
	reflect.TypeFor[capture.Settings](): "CaptureSettings",
	reflect.TypeFor[capture.Stats]():    "CaptureStats",
	reflect.TypeFor[capture.Callback](): "CapturedCallback",
	reflect.TypeFor[capture.Version]():  "CapturedVersion",
}

// checkSchemas compares, for each struct type reachable from apiBodies, its
// JSON field names with the properties of its schema in docs/openapi.yaml.
func checkSchemas(t *testing.T, lines []string) {
	documented := schemaProperties(lines)
	if len(documented) < 15 {
		t.Fatalf("parsed only %d schemas from docs/openapi.yaml; has its layout changed?", len(documented))
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		name := schemaNames[typ]
		if name == "" {
			name = typ.Name()
		}
		props, ok := documented[name]
		if !ok {
			t.Errorf("schema %s (Go type %s) is missing from docs/openapi.yaml components.schemas", name, typ)
		}
		var fields []string
		for _, f := range jsonFields(typ) {
			fields = append(fields, f.name)
			if !snakeCase.MatchString(f.name) {
				t.Errorf("JSON field %q of %s.%s is not snake_case like the rest of the API", f.name, typ, f.goName)
			}
			if ok && !slices.Contains(props, f.name) {
				t.Errorf("schema %s in docs/openapi.yaml lacks property %q (field %s.%s)", name, f.name, typ, f.goName)
			}
			if st := structOf(f.typ); st != nil {
				walk(st)
			}
		}
		for _, p := range props {
			if !slices.Contains(fields, p) {
				t.Errorf("schema %s in docs/openapi.yaml has property %q, which Go type %s has no JSON field for", name, p, typ)
			}
		}
	}
	for _, body := range apiBodies {
		walk(reflect.TypeOf(body))
	}
}

// snakeCase is how every JSON field of the API is named.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// jsonField is one field as encoding/json names it.
type jsonField struct {
	name, goName string
	typ          reflect.Type
}

// jsonFields returns the fields encoding/json encodes for the struct type
// typ, embedded structs flattened.
func jsonFields(typ reflect.Type) []jsonField {
	var out []jsonField
	for f := range typ.Fields() {
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		out = append(out, jsonField{name: tag, goName: f.Name, typ: f.Type})
	}
	return out
}

// structOf returns the struct type a field of type typ holds, through
// pointers, slices, arrays and map values, or nil when it holds none or
// encodes itself (time.Time, json.RawMessage).
func structOf(typ reflect.Type) reflect.Type {
	for {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			typ = typ.Elem()
			continue
		case reflect.Struct:
			p := reflect.PointerTo(typ)
			if p.Implements(reflect.TypeFor[json.Marshaler]()) || p.Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
				return nil
			}
			return typ
		}
		return nil
	}
}

// schemaProperties returns the property names of each schema under
// components.schemas of the OpenAPI document's lines. It reads the layout
// docs/openapi.yaml keeps: schemas indented 4 spaces, their "properties:"
// 6, each property 8.
func schemaProperties(lines []string) map[string][]string {
	schemaRe := regexp.MustCompile(`^    ([A-Za-z0-9_]+):\s*$`)
	propRe := regexp.MustCompile(`^        ([A-Za-z0-9_]+):`)
	out := map[string][]string{}
	inSchemas, inProps := false, false
	name := ""
	for _, line := range lines {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#"):
			continue
		case line == "  schemas:":
			inSchemas = true
			continue
		case indent <= 2:
			inSchemas = false
		}
		if !inSchemas {
			continue
		}
		if m := schemaRe.FindStringSubmatch(line); m != nil {
			name, inProps = m[1], false
			out[name] = []string{}
			continue
		}
		if indent == 6 {
			inProps = strings.TrimSpace(line) == "properties:"
			continue
		}
		if inProps {
			if m := propRe.FindStringSubmatch(line); m != nil {
				out[name] = append(out[name], m[1])
			}
		}
	}
	return out
}
