// Command gen writes sdk/openim's generated code (z*.go) and sdk/plugin's typed
// handler registrations (zhandlers.go) from catalog.json, a verbatim copy of the
// verified OpenIM webhook catalog, and protocol.json, the hand-kept overlay of
// names, embedding, order and per-command reply rules.
//
// It runs from sdk/openim through go generate:
//
//	go generate ./sdk/openim
//
// A test (gen_test.go) regenerates into a temporary directory and fails when the
// committed files differ.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
)

func main() {
	dir := flag.String("dir", ".", "directory of the catalog data (relative paths are against the working directory)")
	out := flag.String("out", ".", "directory of package openim to write z*.go into")
	plugin := flag.String("plugin", "../plugin/zhandlers.go", "file to write sdk/plugin's handler registrations to")
	as := flag.String("as", "..", "directory holding sdk/assemblyscript, to write its generated .ts files into")
	flag.Parse()
	if *dir == "." {
		*dir = "internal/gen"
	}
	files, err := generate(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for name, src := range files {
		path := filepath.Join(*out, name)
		switch {
		case name == pluginFile:
			path = *plugin
		case isASFile(name):
			path = filepath.Join(*as, name)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(path, src, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}

// pluginFile is the key of sdk/plugin's file in generate's result.
const pluginFile = "plugin/zhandlers.go"

// isASFile reports whether a key of generate's result is one of
// sdk/assemblyscript's files (a path under sdk/).
func isASFile(name string) bool { return strings.HasPrefix(name, "assemblyscript/") }

// generate reads catalog.json and protocol.json from dir and returns the
// generated files by name.
func generate(dir string) (map[string][]byte, error) {
	catRaw, err := os.ReadFile(filepath.Join(dir, "catalog.json"))
	if err != nil {
		return nil, err
	}
	ovRaw, err := os.ReadFile(filepath.Join(dir, "protocol.json"))
	if err != nil {
		return nil, err
	}
	m, err := build(catRaw, ovRaw)
	if err != nil {
		return nil, err
	}
	if err := checkASNames(m); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for name, fn := range map[string]func(*model, *bytes.Buffer){
		asOpenIMFile:   writeASOpenIM,
		asHandlersFile: writeASHandlers,
		asGuestFile:    writeASGuest,
		asUnicodeFile:  writeASUnicode,
	} {
		var b bytes.Buffer
		fn(m, &b)
		files[name] = b.Bytes()
	}
	for name, fn := range map[string]func(*model, *bytes.Buffer){
		"zcommands.go": writeCommands,
		"ztypes.go":    writeTypes,
		"zcodec.go":    writeCodec,
		"zrules.go":    writeRules,
		"zwire.go":     writeWire,
		pluginFile:     writeHandlers,
	} {
		var b bytes.Buffer
		fn(m, &b)
		src, err := format.Source(b.Bytes())
		if err != nil {
			return nil, fmt.Errorf("file[%s]: %w\n%s", name, err, b.Bytes())
		}
		files[name] = src
	}
	return files, nil
}

// ---- input ----

// ordered is a JSON object that remembers its key order.
type ordered struct {
	keys []string
	vals map[string]json.RawMessage
}

func (o *ordered) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want object, got %v", t)
	}
	o.vals = map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		k := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if _, dup := o.vals[k]; !dup {
			o.keys = append(o.keys, k)
		}
		o.vals[k] = v
	}
	return nil
}

func (o *ordered) str(k string) string {
	var s string
	_ = json.Unmarshal(o.vals[k], &s)
	return s
}

type entry struct {
	Command          string            `json:"command"`
	BodyCommand      string            `json:"bodyCommand"`
	Phase            string            `json:"phase"`
	Mode             string            `json:"mode"`
	ConfigKey        string            `json:"configKey"`
	Invoked          bool              `json:"invoked"`
	Availability     map[string]any    `json:"availability"`
	Service          string            `json:"service"`
	Trigger          string            `json:"trigger"`
	Request          ordered           `json:"request"`
	Response         ordered           `json:"response"`
	FieldNotes       map[string]string `json:"fieldNotes"`
	ResponseHandling string            `json:"responseHandling"`
	Notes            []string          `json:"notes"`
	Example          ordered           `json:"example"`
	ExampleResponse  ordered           `json:"exampleResponse"`
}

type overlay struct {
	Types map[string]struct {
		Name string `json:"name"`
		Doc  string `json:"doc"`
	} `json:"types"`
	Embedded map[string]struct {
		Type string   `json:"type"`
		Keys []string `json:"keys"`
	} `json:"embedded"`
	Order  map[string][]string `json:"order"`
	Legacy map[string]string   `json:"legacy"`
	// Retired are names OpenIM sent whose request no current command's type
	// decodes: hosts answer them neutrally, never run them.
	Retired map[string]struct {
		Successor string `json:"successor"`
		Doc       string `json:"doc"`
	} `json:"retired"`
	Rules map[string]struct {
		Echo  ordered `json:"echo"`
		Merge ordered `json:"merge"`
		Apply ordered `json:"apply"`
	} `json:"rules"`
}

// ---- model ----

type kind int

const (
	kString kind = iota
	kBool
	kInt
	kInt32
	kInt64
	kUint32
	kBytes
	kBoolMap
	kPtr
	kSlice
	kStruct
)

type typ struct {
	k    kind
	elem *typ
	name string // kStruct
}

func (t *typ) Go() string {
	switch t.k {
	case kString:
		return "string"
	case kBool:
		return "bool"
	case kInt:
		return "int"
	case kInt32:
		return "int32"
	case kInt64:
		return "int64"
	case kUint32:
		return "uint32"
	case kBytes:
		return "[]byte"
	case kBoolMap:
		return "map[string]bool"
	case kPtr:
		return "*" + t.elem.Go()
	case kSlice:
		return "[]" + t.elem.Go()
	}
	return t.name
}

// nullable reports whether the zero value encodes as null.
func (t *typ) nullable() bool {
	switch t.k {
	case kPtr, kSlice, kBytes, kBoolMap:
		return true
	}
	return false
}

type field struct {
	json     string
	gname    string
	t        *typ
	note     string
	embedded *structDef // flattened *embedded; json is empty
}

type structDef struct {
	name   string
	doc    string
	fields []*field
	resp   bool // embeds CommonResp
	cmd    *command
	sig    string // for checking that shared nested types agree

	fromExample bool // member order taken from an example
}

// names returns every JSON key the struct reads, including embedded ones.
func (s *structDef) names() []string {
	var out []string
	if s.resp {
		out = append(out, commonKeys...)
	}
	for _, f := range s.fields {
		if f.embedded != nil {
			out = append(out, f.embedded.names()...)
			continue
		}
		out = append(out, f.json)
	}
	return out
}

func (s *structDef) byJSON(k string) *field {
	for _, f := range s.fields {
		if f.json == k {
			return f
		}
	}
	return nil
}

type rule struct {
	field *field // reply field
	cond  string // nonNull, nonEmpty, always, keyed:<key>
	to    *field // request field (apply) or nil
}

type command struct {
	e        *entry
	name     string // Go name: BeforeSendSingleMsg
	req      *structDef
	resp     *structDef
	echo     [][2]*field // reply field, request field
	merge    []rule
	apply    []rule
	legacies []string
}

type model struct {
	cmds    []*command
	nested  []*structDef // in order of first use
	retired []retiredName
}

// retiredName is a command name OpenIM no longer sends, with its successor.
type retiredName struct {
	name, doc string
	successor *command
}

var commonKeys = []string{"actionCode", "errCode", "errMsg", "errDlt", "nextCode"}

var idRE = regexp.MustCompile(`Id([A-Z]|s?$)`)

// goName turns a JSON key into an exported Go name with Go's initialisms:
// sendID -> SendID, conversationId -> ConversationID, faceURL -> FaceURL.
func goName(k string) string {
	r := []rune(k)
	r[0] = unicode.ToUpper(r[0])
	s := idRE.ReplaceAllString(string(r), "ID$1")
	return strings.ReplaceAll(s, "Url", "URL")
}

func parseType(s, path string, ov *overlay) (*typ, error) {
	switch s {
	case "string":
		return &typ{k: kString}, nil
	case "bool":
		return &typ{k: kBool}, nil
	case "int":
		return &typ{k: kInt}, nil
	case "int32":
		return &typ{k: kInt32}, nil
	case "int64":
		return &typ{k: kInt64}, nil
	case "uint32":
		return &typ{k: kUint32}, nil
	case "base64-string|null":
		return &typ{k: kBytes}, nil
	case "map<string,bool>|null":
		return &typ{k: kBoolMap}, nil
	case "object|null", "object[]":
		key := path
		if s == "object[]" {
			key += "[]"
		}
		t, ok := ov.Types[key]
		if !ok {
			return nil, fmt.Errorf("no overlay type for path[%s]: add it to protocol.json types", key)
		}
		st := &typ{k: kStruct, name: t.Name}
		if s == "object[]" {
			return &typ{k: kSlice, elem: st}, nil
		}
		return &typ{k: kPtr, elem: st}, nil
	}
	if base, ok := strings.CutSuffix(s, "|null"); ok {
		if strings.HasSuffix(base, "[]") {
			return parseType(base, path, ov) // a nil slice is null already
		}
		t, err := parseType(base, path, ov)
		if err != nil {
			return nil, err
		}
		return &typ{k: kPtr, elem: t}, nil
	}
	if base, ok := strings.CutSuffix(s, "[]"); ok {
		t, err := parseType(base, path, ov)
		if err != nil {
			return nil, err
		}
		return &typ{k: kSlice, elem: t}, nil
	}
	return nil, fmt.Errorf("unknown catalog type %q at path[%s]", s, path)
}

func build(catRaw, ovRaw []byte) (*model, error) {
	var entries []*entry
	if err := json.Unmarshal(catRaw, &entries); err != nil {
		return nil, fmt.Errorf("catalog.json: %w", err)
	}
	var ov overlay
	if err := json.Unmarshal(ovRaw, &ov); err != nil {
		return nil, fmt.Errorf("protocol.json: %w", err)
	}
	m := &model{}
	nested := map[string]*structDef{}
	seen := map[string]bool{}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Command, "callback")
		if !ok {
			return nil, fmt.Errorf("command[%s]: no callback prefix", e.Command)
		}
		name, ok = strings.CutSuffix(name, "Command")
		if !ok {
			return nil, fmt.Errorf("command[%s]: no Command suffix", e.Command)
		}
		if seen[name] {
			return nil, fmt.Errorf("command[%s]: duplicate", e.Command)
		}
		seen[name] = true
		if e.BodyCommand != e.Command {
			return nil, fmt.Errorf("command[%s]: body command %s differs; model it in protocol.json legacy", e.Command, e.BodyCommand)
		}
		if e.Phase != "before" && e.Phase != "after" {
			return nil, fmt.Errorf("command[%s]: unknown phase %q", e.Command, e.Phase)
		}
		c := &command{e: e, name: name}
		for old, cur := range ov.Legacy {
			if cur == e.Command {
				c.legacies = append(c.legacies, old)
			}
		}
		sort.Strings(c.legacies)
		var err error
		c.req, err = buildStruct(m, nested, &ov, c, false)
		if err != nil {
			return nil, err
		}
		c.resp, err = buildStruct(m, nested, &ov, c, true)
		if err != nil {
			return nil, err
		}
		if err := buildRules(c, &ov); err != nil {
			return nil, err
		}
		m.cmds = append(m.cmds, c)
	}
	for old, cur := range ov.Legacy {
		if !seen[strings.TrimSuffix(strings.TrimPrefix(cur, "callback"), "Command")] {
			return nil, fmt.Errorf("legacy[%s]: target %s is not in the catalog", old, cur)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(ov.Retired)) {
		r := ov.Retired[name]
		if _, ok := ov.Legacy[name]; ok {
			return nil, fmt.Errorf("retired[%s]: also a legacy name", name)
		}
		i := slices.IndexFunc(m.cmds, func(c *command) bool { return c.e.Command == name })
		j := slices.IndexFunc(m.cmds, func(c *command) bool { return c.e.Command == r.Successor })
		switch {
		case i >= 0:
			return nil, fmt.Errorf("retired[%s]: a current command", name)
		case j < 0:
			return nil, fmt.Errorf("retired[%s]: successor %s is not in the catalog", name, r.Successor)
		case r.Doc == "":
			return nil, fmt.Errorf("retired[%s]: doc says nothing", name)
		}
		m.retired = append(m.retired, retiredName{name: name, doc: r.Doc, successor: m.cmds[j]})
	}
	return m, nil
}

// buildStruct builds the request or reply struct of c and the nested types it uses.
func buildStruct(m *model, nested map[string]*structDef, ov *overlay, c *command, resp bool) (*structDef, error) {
	e := c.e
	fields, example := e.Request, e.Example
	s := &structDef{name: c.name + "Req", cmd: c, resp: resp}
	if resp {
		fields, example = e.Response, e.ExampleResponse
		s.name = c.name + "Resp"
	}
	// Split top-level keys from nested ones (x.y, x[].y).
	var top []string
	sub := map[string][]string{} // parent key -> child keys
	for _, k := range fields.keys {
		if i := strings.IndexAny(k, ".["); i >= 0 {
			p := k[:i]
			child := strings.TrimPrefix(strings.TrimPrefix(k[i:], "[]"), ".")
			sub[p] = append(sub[p], child)
			continue
		}
		if resp && slices.Contains(commonKeys, k) {
			continue
		}
		top = append(top, k)
	}
	// Field order: overlay, else the example when it has every key (the example
	// is OpenIM's encoder output, so it is OpenIM's struct order), else catalog order.
	order := top
	if o, ok := ov.Order[e.Command]; ok && !resp {
		if !sameSet(o, top) {
			return nil, fmt.Errorf("command[%s]: protocol.json order does not list exactly the request keys", e.Command)
		}
		order = o
	} else if ex := withoutCommon(example.keys, resp); sameSet(ex, top) {
		order = ex
	}
	var emb *structDef
	var embKeys []string
	if em, ok := ov.Embedded[e.Command]; ok && !resp {
		embKeys = em.Keys
		emb = nested[em.Type]
		if emb == nil {
			return nil, fmt.Errorf("command[%s]: embedded type %s must be defined by an earlier object field", e.Command, em.Type)
		}
	}
	embDone := false
	for _, k := range order {
		if slices.Contains(embKeys, k) {
			if !embDone {
				if len(s.fields) == 0 {
					return nil, fmt.Errorf("command[%s]: an embedded type cannot come first", e.Command)
				}
				s.fields = append(s.fields, &field{gname: emb.name, t: &typ{k: kPtr, elem: &typ{k: kStruct, name: emb.name}}, embedded: emb})
				embDone = true
			}
			want := fields.str(k)
			if ef := emb.byJSON(k); ef == nil || !typeMatches(ef.t, want) {
				return nil, fmt.Errorf("command[%s]: key %s does not match embedded %s", e.Command, k, emb.name)
			}
			continue
		}
		t, err := parseType(fields.str(k), k, ov)
		if err != nil {
			return nil, fmt.Errorf("command[%s]: %w", e.Command, err)
		}
		f := &field{json: k, gname: goName(k), t: t}
		if !resp {
			f.note = e.FieldNotes[k] // the catalog's field notes describe request bodies
		}
		if ch, ok := sub[k]; ok {
			st := t.elem
			if err := buildNested(m, nested, ov, st.name, k, ch, fields, example, t.k == kSlice); err != nil {
				return nil, fmt.Errorf("command[%s]: %w", e.Command, err)
			}
		}
		s.fields = append(s.fields, f)
	}
	if len(embKeys) > 0 && !embDone {
		return nil, fmt.Errorf("command[%s]: embedded keys not in the request", e.Command)
	}
	if err := checkNames(s); err != nil {
		return nil, fmt.Errorf("command[%s]: %w", e.Command, err)
	}
	if f := s.byJSON("callbackCommand"); !resp && (f == nil || f.t.k != kString) {
		return nil, fmt.Errorf("command[%s]: request has no string callbackCommand", e.Command)
	}
	return s, nil
}

func typeMatches(t *typ, catalogType string) bool {
	switch catalogType {
	case "string":
		return t.k == kString
	case "bool":
		return t.k == kBool
	}
	return false
}

func withoutCommon(keys []string, resp bool) []string {
	if !resp {
		return keys
	}
	var out []string
	for _, k := range keys {
		if !slices.Contains(commonKeys, k) {
			out = append(out, k)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// buildNested defines (or checks) the struct for an object field.
func buildNested(m *model, nested map[string]*structDef, ov *overlay, name, parent string, children []string, fields, example ordered, isList bool) error {
	path := parent
	if isList {
		path += "[]"
	}
	s := &structDef{name: name, doc: ov.Types[path].Doc}
	sep := "."
	if isList {
		sep = "[]."
	}
	order := children
	if raw, ok := example.vals[parent]; ok {
		if isList {
			var list []json.RawMessage
			if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
				raw = list[0]
			}
		}
		var o ordered
		if json.Unmarshal(raw, &o) == nil && sameSet(o.keys, children) {
			order = o.keys
			s.fromExample = true
		}
	}
	var sig []string
	for _, k := range order {
		ts := fields.str(parent + sep + k)
		t, err := parseType(ts, path+"."+k, ov)
		if err != nil {
			return err
		}
		s.fields = append(s.fields, &field{json: k, gname: goName(k), t: t})
		sig = append(sig, k+":"+ts)
	}
	slices.Sort(sig)
	s.sig = strings.Join(sig, ",")
	if old, ok := nested[name]; ok {
		if old.sig != s.sig {
			return fmt.Errorf("type[%s]: used with different fields (%s) and (%s)", name, old.sig, s.sig)
		}
		// Prefer the member order of an example that shows every member.
		if !old.fromExample && s.fromExample {
			old.fields, old.fromExample = s.fields, true
		}
		return nil
	}
	if err := checkNames(s); err != nil {
		return fmt.Errorf("type[%s]: %w", name, err)
	}
	nested[name] = s
	m.nested = append(m.nested, s)
	return nil
}

// checkNames rejects Go-name clashes and keys that encoding/json's
// case-insensitive matching could not tell apart.
func checkNames(s *structDef) error {
	gn := map[string]bool{"Command": true, "DecodeJSON": true, "AppendJSON": true, "DecodeWire": true, "AppendWire": true, "Common": true}
	if s.resp {
		for _, k := range commonKeys {
			gn[goName(k)] = true
		}
		gn["CommonResp"] = true
	}
	for _, f := range s.fields {
		if gn[f.gname] {
			return fmt.Errorf("go name %s used twice", f.gname)
		}
		gn[f.gname] = true
	}
	folded := map[string]bool{}
	for _, k := range s.names() {
		fk := strings.ToLower(k)
		if folded[fk] {
			return fmt.Errorf("keys differing only in case (%s)", k)
		}
		folded[fk] = true
	}
	return nil
}

func buildRules(c *command, ov *overlay) error {
	r, ok := ov.Rules[c.e.Command]
	if !ok {
		return nil
	}
	if c.e.Phase != "before" {
		return fmt.Errorf("command[%s]: rules on an after-command, whose reply OpenIM ignores", c.e.Command)
	}
	for _, k := range r.Echo.keys {
		rf, qf := c.resp.byJSON(k), c.req.byJSON(r.Echo.str(k))
		if rf == nil || qf == nil {
			return fmt.Errorf("command[%s]: echo %s <- %s: no such reply/request field", c.e.Command, k, r.Echo.str(k))
		}
		if rf.t.Go() != qf.t.Go() {
			return fmt.Errorf("command[%s]: echo %s: types %s and %s differ", c.e.Command, k, rf.t.Go(), qf.t.Go())
		}
		c.echo = append(c.echo, [2]*field{rf, qf})
	}
	for _, k := range r.Merge.keys {
		rf := c.resp.byJSON(k)
		if rf == nil {
			return fmt.Errorf("command[%s]: merge %s: no such reply field", c.e.Command, k)
		}
		cond := r.Merge.str(k)
		switch {
		case cond == "nonNull" && !rf.t.nullable():
			return fmt.Errorf("command[%s]: merge %s: nonNull on non-nullable %s", c.e.Command, k, rf.t.Go())
		case cond == "nonNull", cond == "nonEmpty", cond == "always":
		case strings.HasPrefix(cond, "keyed:"):
			if rf.t.k != kSlice || rf.t.elem.k != kStruct {
				return fmt.Errorf("command[%s]: merge %s: keyed needs a list of objects", c.e.Command, k)
			}
		default:
			return fmt.Errorf("command[%s]: merge %s: unknown rule %q", c.e.Command, k, cond)
		}
		c.merge = append(c.merge, rule{field: rf, cond: cond})
	}
	for _, k := range r.Apply.keys {
		to := r.Apply.str(k)
		rf := c.resp.byJSON(k)
		var qf *field
		for _, f := range c.req.fields {
			if f.json == to || (f.embedded != nil && f.gname == to) {
				qf = f
			}
		}
		if rf == nil || qf == nil {
			return fmt.Errorf("command[%s]: apply %s -> %s: no such reply/request field", c.e.Command, k, to)
		}
		i := slices.IndexFunc(c.merge, func(x rule) bool { return x.field == rf })
		if i < 0 {
			return fmt.Errorf("command[%s]: apply %s: needs a merge rule for its condition", c.e.Command, k)
		}
		cond := c.merge[i].cond
		ok := rf.t.Go() == qf.t.Go() ||
			(rf.t.k == kPtr && rf.t.elem.Go() == qf.t.Go() && cond != "always") ||
			strings.HasPrefix(cond, "keyed:") && qf.t.k == kSlice && qf.t.elem.k == kStruct
		if !ok {
			return fmt.Errorf("command[%s]: apply %s -> %s: cannot assign %s to %s under %s", c.e.Command, k, to, rf.t.Go(), qf.t.Go(), cond)
		}
		c.apply = append(c.apply, rule{field: rf, cond: cond, to: qf})
	}
	return nil
}

// ---- output helpers ----

const header = "// Code generated by sdk/openim/internal/gen from catalog.json and protocol.json. DO NOT EDIT.\n\n"

func p(b *bytes.Buffer, format string, args ...any) {
	fmt.Fprintf(b, format, args...)
	b.WriteByte('\n')
}

// comment writes text as a // comment wrapped at about 100 columns.
func comment(b *bytes.Buffer, indent, text string) {
	for _, para := range strings.Split(text, "\n") {
		if para == "" {
			p(b, "%s//", indent)
			continue
		}
		line := indent + "//"
		for _, w := range strings.Fields(para) {
			if len(line)+1+len(w) > 100 && len(line) > len(indent)+2 {
				p(b, "%s", line)
				line = indent + "//"
			}
			line += " " + w
		}
		p(b, "%s", line)
	}
}

func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

func availability(e *entry) string {
	var parts []string
	if v, ok := e.Availability["v3.8.3-patch.16"].(bool); ok && !v {
		parts = append(parts, "Only in OpenIM's main line (v3.8.4 pre-release), not in v3.8.3.")
	}
	if !e.Invoked {
		parts = append(parts, "OpenIM never sends this command (the call is dead code).")
	}
	return strings.Join(parts, " ")
}
