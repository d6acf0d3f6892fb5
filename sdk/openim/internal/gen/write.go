package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

// ---- zcommands.go ----

// writeNameSwitch writes func fn(name string) (Command, bool), a switch on
// name whose cases cases writes.
func writeNameSwitch(b *bytes.Buffer, fn string, cases func()) {
	p(b, "func %s(name string) (Command, bool) {", fn)
	p(b, "\tswitch name {")
	cases()
	p(b, "\t}")
	p(b, "\treturn 0, false")
	p(b, "}\n")
}

func writeCommands(m *model, b *bytes.Buffer) {
	b.WriteString(header)
	p(b, "package openim\n")
	p(b, "// The commands of the catalog, in catalog order. Each constant's name is its wire")
	p(b, "// name without the \"callback\" prefix and \"Command\" suffix.")
	p(b, "const (")
	for i, c := range m.cmds {
		e := c.e
		text := fmt.Sprintf("%s is %s (%s phase, %s; webhooks.yml key %s). %s %s",
			c.name, e.Command, e.Phase, e.Mode, e.ConfigKey, sentence(e.Trigger), availability(e))
		if len(c.legacies) > 0 {
			text += " Lookup also resolves the legacy name " + strings.Join(c.legacies, ", ") + "."
		}
		comment(b, "\t", strings.TrimSpace(text))
		p(b, "\t%s Command = %d", c.name, i+1)
	}
	p(b, ")\n")
	p(b, "// numCommands is the number of commands in the catalog.")
	p(b, "const numCommands = %d\n", len(m.cmds))
	p(b, "// allCommands lists every command in catalog order.")
	p(b, "var allCommands = [numCommands]Command{")
	for _, c := range m.cmds {
		p(b, "\t%s,", c.name)
	}
	p(b, "}\n")
	p(b, "// commandInfo holds each command's static facts, indexed by Command.")
	p(b, "var commandInfo = [numCommands + 1]struct {")
	p(b, "\tname, configKey string")
	p(b, "\tphase           Phase")
	p(b, "\techoes          bool")
	p(b, "\tneutral         string")
	p(b, "}{")
	for _, c := range m.cmds {
		phase := "Before"
		if c.e.Phase == "after" {
			phase = "After"
		}
		p(b, "\t%s: {%q, %q, %s, %v, %s},", c.name, c.e.Command, c.e.ConfigKey, phase, len(c.echo) > 0, strconv.Quote(zeroJSON(c.resp)))
	}
	p(b, "}\n")
	p(b, "// lookup resolves a wire name, including legacy names.")
	writeNameSwitch(b, "lookup", func() {
		for _, c := range m.cmds {
			p(b, "\tcase %q:", c.e.Command)
			p(b, "\t\treturn %s, true", c.name)
		}
		for _, c := range m.cmds {
			for _, l := range c.legacies {
				p(b, "\tcase %q: // legacy name", l)
				p(b, "\t\treturn %s, true", c.name)
			}
		}
	})
	p(b, "// retired resolves a name OpenIM no longer sends, whose request no current")
	p(b, "// type decodes, to its successor.")
	writeNameSwitch(b, "retired", func() {
		for _, r := range m.retired {
			p(b, "\tcase %q:", r.name)
			comment(b, "\t\t", r.doc)
			p(b, "\t\treturn %s, true", r.successor.name)
		}
	})
	for _, side := range []string{"Req", "Resp"} {
		fn, iface := "newRequest", "Request"
		if side == "Resp" {
			fn, iface = "newReply", "Reply"
		}
		p(b, "func %s(c Command) %s {", fn, iface)
		p(b, "\tswitch c {")
		for _, c := range m.cmds {
			p(b, "\tcase %s:", c.name)
			p(b, "\t\treturn new(%s%s)", c.name, side)
		}
		p(b, "\t}")
		p(b, "\treturn nil")
		p(b, "}\n")
	}
	p(b, "// decodeRequest decodes body as c's request with limits.")
	p(b, "func decodeRequest(c Command, body []byte, lim jsonx.Limits) (Request, error) {")
	p(b, "\tswitch c {")
	for _, c := range m.cmds {
		p(b, "\tcase %s:", c.name)
		p(b, "\t\tr := new(%sReq)", c.name)
		p(b, "\t\treturn r, r.decode(body, lim)")
	}
	p(b, "\t}")
	p(b, "\treturn nil, nil")
	p(b, "}")
	src := b.String()
	b.Reset()
	b.WriteString(strings.Replace(src, "package openim\n", "package openim\n\nimport \"github.com/imhook/imhook/sdk/openim/internal/jsonx\"\n", 1))
}

// zeroJSON is the encoding of s's zero value, as encoding/json writes it.
func zeroJSON(s *structDef) string {
	var parts []string
	if s.resp {
		parts = append(parts, `"actionCode":0`, `"errCode":0`, `"errMsg":""`, `"errDlt":""`, `"nextCode":0`)
	}
	for _, f := range s.fields {
		if f.embedded != nil {
			continue // a nil embedded pointer contributes no keys
		}
		var v string
		switch {
		case f.t.nullable():
			v = "null"
		case f.t.k == kString:
			v = `""`
		case f.t.k == kBool:
			v = "false"
		default:
			v = "0"
		}
		parts = append(parts, strconv.Quote(f.json)+":"+v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// ---- ztypes.go ----

func writeTypes(m *model, b *bytes.Buffer) {
	b.WriteString(header)
	p(b, "package openim\n")
	for _, c := range m.cmds {
		e := c.e
		text := fmt.Sprintf("%s is the body OpenIM's %s POSTs to {url}/%s (%s phase, %s; webhooks.yml key %s) when: %s %s",
			c.req.name, e.Service, e.Command, e.Phase, e.Mode, e.ConfigKey, sentence(e.Trigger), availability(e))
		comment(b, "", strings.TrimSpace(text))
		writeNotes(b, e.Notes)
		writeStruct(b, c.req)
		text = fmt.Sprintf("%s is the reply to %s. What OpenIM does with it: %s", c.resp.name, e.Command, sentence(e.ResponseHandling))
		if len(c.echo) > 0 {
			var names []string
			for _, ef := range c.echo {
				names = append(names, ef[0].gname)
			}
			text += fmt.Sprintf("\nBecause OpenIM copies fields from this reply unconditionally, Neutral fills %s from the request.", strings.Join(names, ", "))
		}
		comment(b, "", text)
		writeStruct(b, c.resp)
	}
	for _, s := range m.nested {
		comment(b, "", s.doc)
		writeStruct(b, s)
	}
}

func writeNotes(b *bytes.Buffer, notes []string) {
	if len(notes) == 0 {
		return
	}
	p(b, "//\n// # Notes\n//")
	for _, n := range notes {
		p(b, "//   - %s", strings.TrimSpace(n))
	}
}

func writeStruct(b *bytes.Buffer, s *structDef) {
	p(b, "type %s struct {", s.name)
	if s.resp {
		p(b, "\tCommonResp")
	}
	for _, f := range s.fields {
		if f.embedded != nil {
			p(b, "\t// %s is embedded: OpenIM flattens its fields into the body and omits them all when the message has none.", f.gname)
			p(b, "\t*%s", f.gname)
			continue
		}
		if f.note != "" {
			comment(b, "\t", fmt.Sprintf("%s quirk: %s", f.gname, sentence(f.note)))
		}
		p(b, "\t%s %s `json:%q`", f.gname, f.t.Go(), f.json)
	}
	p(b, "}\n")
}

// ---- zcodec.go ----

func writeCodec(m *model, b *bytes.Buffer) {
	b.WriteString(header)
	p(b, "package openim\n")
	p(b, "import \"github.com/imhook/imhook/sdk/openim/internal/jsonx\"\n")
	for _, c := range m.cmds {
		for _, s := range []*structDef{c.req, c.resp} {
			iface := "Request"
			if s.resp {
				iface = "Reply"
			}
			p(b, "// Command returns %s.", c.name)
			p(b, "func (*%s) Command() Command { return %s }\n", s.name, c.name)
			if s.resp {
				p(b, "// Common returns the reply's common fields, or nil for a nil reply.")
				p(b, "func (r *%s) Common() *CommonResp {", s.name)
				p(b, "\tif r == nil {")
				p(b, "\t\treturn nil")
				p(b, "\t}")
				p(b, "\treturn &r.CommonResp")
				p(b, "}\n")
			}
			p(b, "// DecodeJSON implements %s: it resets r and decodes data strictly (see the package doc).", iface)
			p(b, "func (r *%s) DecodeJSON(data []byte) error { return r.decode(data, jsonx.Limits{}) }\n", s.name)
			p(b, "func (r *%s) decode(data []byte, lim jsonx.Limits) error {", s.name)
			p(b, "\t*r = %s{}", s.name)
			p(b, "\tvar d jsonx.Decoder")
			p(b, "\td.Reset(data, lim)")
			p(b, "\tr.decodeJSON(&d)")
			p(b, "\td.End()")
			p(b, "\treturn decodeError(&d, data)")
			p(b, "}\n")
			if !s.resp {
				p(b, "func (r *%s) bodyCommand() string { return r.CallbackCommand }\n", s.name)
			}
			p(b, "// AppendJSON implements %s: it appends exactly what encoding/json.Marshal writes for r.", iface)
			p(b, "func (r *%s) AppendJSON(dst []byte) []byte { return r.appendJSON(dst) }\n", s.name)
			writeStructCodec(b, s)
		}
	}
	for _, s := range m.nested {
		writeStructCodec(b, s)
	}
}

func writeStructCodec(b *bytes.Buffer, s *structDef) {
	keys := lowerFirst(s.name) + "Keys"
	var quoted []string
	for _, n := range s.names() {
		quoted = append(quoted, strconv.Quote(n))
	}
	p(b, "// %s lists the keys %s reads, for case-insensitive matching.", keys, s.name)
	p(b, "var %s = []string{%s}\n", keys, strings.Join(quoted, ", "))
	// The switch is written twice: inline in the loop for exact keys (a call
	// per field saved, which matters inside a wasm guest), and in decodeField
	// for case-insensitive matches and embedded structs.
	p(b, "func (r *%s) decodeJSON(d *jsonx.Decoder) {", s.name)
	p(b, "\tif !d.ObjectStart() {")
	p(b, "\t\treturn")
	p(b, "\t}")
	p(b, "\tfor first := true; d.NextKey(&first); {")
	p(b, "\t\tk := d.Key()")
	writeFieldSwitch(b, s, "\t\t", false)
	p(b, "\t\tif d.Failed() {")
	p(b, "\t\t\td.InField(k)")
	p(b, "\t\t\treturn")
	p(b, "\t\t}")
	p(b, "\t}")
	p(b, "}\n")
	p(b, "// decodeOther decodes the value of a key that matched no field exactly.")
	p(b, "func (r *%s) decodeOther(d *jsonx.Decoder, k []byte) {", s.name)
	p(b, "\tif i := jsonx.FoldIndex(k, %s); i >= 0 {", keys)
	p(b, "\t\tr.decodeField(d, []byte(%s[i]))", keys)
	p(b, "\t} else {")
	p(b, "\t\td.Skip()")
	p(b, "\t}")
	p(b, "}\n")
	p(b, "func (r *%s) decodeField(d *jsonx.Decoder, k []byte) bool {", s.name)
	writeFieldSwitch(b, s, "\t", true)
	p(b, "\treturn true")
	p(b, "}\n")
	p(b, "func (r *%s) appendJSON(dst []byte) []byte {", s.name)
	sep := "{"
	if s.resp {
		for _, k := range commonKeys {
			p(b, "\tdst = append(dst, %s...)", strconv.Quote(sep+strconv.Quote(k)+":"))
			if k == "errMsg" || k == "errDlt" {
				p(b, "\tdst = jsonx.AppendString(dst, r.%s)", goName(k))
			} else {
				p(b, "\tdst = jsonx.AppendInt(dst, int64(r.%s))", goName(k))
			}
			sep = ","
		}
	}
	for _, f := range s.fields {
		if f.embedded != nil {
			if sep == "{" {
				panic("embedded field first in " + s.name)
			}
			p(b, "\tif e := r.%s; e != nil {", f.gname)
			for _, ef := range f.embedded.fields {
				p(b, "\t\tdst = append(dst, %s...)", strconv.Quote(","+strconv.Quote(ef.json)+":"))
				for _, l := range appendStmts(ef.t, "e."+ef.gname) {
					p(b, "\t\t%s", l)
				}
			}
			p(b, "\t}")
			continue
		}
		p(b, "\tdst = append(dst, %s...)", strconv.Quote(sep+strconv.Quote(f.json)+":"))
		for _, l := range appendStmts(f.t, "r."+f.gname) {
			p(b, "\t%s", l)
		}
		sep = ","
	}
	if sep == "{" {
		p(b, "\tdst = append(dst, '{')")
	}
	p(b, "\treturn append(dst, '}')")
	p(b, "}\n")
}

// fieldCase is one arm of a field switch: the keys that select it and the
// statements it runs.
type fieldCase struct {
	keys []string
	body []string
}

// writeFieldSwitch writes the switch over s's keys. In decodeField (field is
// true) an unknown key returns false; in the decode loop it goes to decodeOther.
//
// It switches on the key's length and then compares the key a word at a time
// (keyCond), instead of Go's switch on string(k): inside a wasm guest that
// switch calls runtime.memequal, a byte loop, for every key longer than six
// bytes, and matching the 19 keys of the single-chat request took twice as long.
func writeFieldSwitch(b *bytes.Buffer, s *structDef, in string, field bool) {
	var cases []fieldCase
	if s.resp {
		for _, k := range commonKeys {
			switch k {
			case "errMsg", "errDlt":
				cases = append(cases, fieldCase{[]string{k}, []string{"d.String(&r." + goName(k) + ")"}})
			default:
				cases = append(cases, fieldCase{[]string{k}, []string{"d.Int32(&r." + goName(k) + ")"}})
			}
		}
	}
	for _, f := range s.fields {
		if f.embedded != nil {
			body := []string{
				"if r." + f.gname + " == nil {",
				"\tr." + f.gname + " = new(" + f.embedded.name + ")",
				"}",
			}
			if field {
				body = append(body, "return r."+f.gname+".decodeField(d, k)")
			} else {
				body = append(body, "r."+f.gname+".decodeField(d, k)")
			}
			cases = append(cases, fieldCase{f.embedded.names(), body})
			continue
		}
		cases = append(cases, fieldCase{[]string{f.json}, decodeStmts(f.t, "r."+f.gname)})
	}
	otherwise := "r.decodeOther(d, k)"
	if field {
		otherwise = "return false"
	}

	// Group the arms by key length, keeping their order.
	var lengths []int
	byLen := map[int][]int{} // length -> indexes into cases
	for ci, c := range cases {
		for _, k := range c.keys {
			n := len(k)
			if _, ok := byLen[n]; !ok {
				lengths = append(lengths, n)
			}
			if l := byLen[n]; len(l) == 0 || l[len(l)-1] != ci {
				byLen[n] = append(byLen[n], ci)
			}
		}
	}
	slices.Sort(lengths)

	p(b, "%sswitch len(k) {", in)
	for _, n := range lengths {
		p(b, "%scase %d:", in, n)
		for i, ci := range byLen[n] {
			c := cases[ci]
			var conds, names []string
			for _, k := range c.keys {
				if len(k) == n {
					conds = append(conds, keyCond(k))
					names = append(names, strconv.Quote(k))
				}
			}
			cond := strings.Join(conds, " || ")
			if len(conds) > 1 {
				cond = "(" + strings.Join(conds, ") || (") + ")"
			}
			kw := "} else if"
			if i == 0 {
				kw = "if"
			}
			p(b, "%s	%s %s { // %s", in, kw, cond, strings.Join(names, ", "))
			for _, l := range c.body {
				p(b, "%s		%s", in, l)
			}
		}
		p(b, "%s	} else {", in)
		p(b, "%s		%s", in, otherwise)
		p(b, "%s	}", in)
	}
	p(b, "%sdefault:", in)
	p(b, "%s	%s", in, otherwise)
	p(b, "%s}", in)
}

// keyCond returns a Go condition that is true when k, whose length is known to
// be len(key), equals key. It compares the widest words that fit (8, 4, 2 or 1
// bytes), the last one overlapping the one before, so each comparison is one
// load in a wasm guest.
func keyCond(key string) string {
	n := len(key)
	size, fn := 8, "jsonx.Load64"
	switch {
	case n == 0:
		return "true"
	case n == 1:
		return fmt.Sprintf("k[0] == %#02x", key[0])
	case n < 4:
		size, fn = 2, "jsonx.Load16"
	case n < 8:
		size, fn = 4, "jsonx.Load32"
	}
	var offs []int
	for o := 0; o+size <= n; o += size {
		offs = append(offs, o)
	}
	if last := offs[len(offs)-1]; last != n-size {
		offs = append(offs, n-size)
	}
	var conds []string
	for _, o := range offs {
		var w uint64
		for i := size - 1; i >= 0; i-- {
			w = w<<8 | uint64(key[o+i])
		}
		conds = append(conds, fmt.Sprintf("%s(k, %d) == %#x", fn, o, w))
	}
	return strings.Join(conds, " && ")
}

func decodeStmts(t *typ, x string) []string {
	switch t.k {
	case kString:
		return []string{"d.String(&" + x + ")"}
	case kBool:
		return []string{"d.Bool(&" + x + ")"}
	case kInt:
		return []string{"d.Int(&" + x + ")"}
	case kInt32:
		return []string{"d.Int32(&" + x + ")"}
	case kInt64:
		return []string{"d.Int64(&" + x + ")"}
	case kUint32:
		return []string{"d.Uint32(&" + x + ")"}
	case kBytes:
		return []string{"d.Bytes(&" + x + ")"}
	case kBoolMap:
		return []string{"d.BoolMap(&" + x + ")"}
	case kPtr:
		switch t.elem.k {
		case kString:
			return []string{"d.StringPtr(&" + x + ")"}
		case kBool:
			return []string{"d.BoolPtr(&" + x + ")"}
		case kInt32:
			return []string{"d.Int32Ptr(&" + x + ")"}
		case kInt64:
			return []string{"d.Int64Ptr(&" + x + ")"}
		case kStruct:
			return []string{
				"if d.Null() {",
				"\t" + x + " = nil",
				"} else {",
				"\tif " + x + " == nil {",
				"\t\t" + x + " = new(" + t.elem.name + ")",
				"\t}",
				"\t" + x + ".decodeJSON(d)",
				"}",
			}
		}
	case kSlice:
		switch t.elem.k {
		case kString:
			return []string{"d.Strings(&" + x + ")"}
		case kInt64:
			return []string{"d.Int64s(&" + x + ")"}
		case kStruct:
			return []string{
				"if ok, isNull := d.ArrayStart(); isNull {",
				"\t" + x + " = nil",
				"} else if ok {",
				"\ts, i := " + x + ", 0",
				"\tfor ; d.NextElem(i); i++ {",
				"\t\ts = jsonx.Elem(s, i)",
				"\t\ts[i].decodeJSON(d)",
				"\t\tif d.Failed() {",
				"\t\t\td.InIndex(i)",
				"\t\t\tbreak",
				"\t\t}",
				"\t}",
				"\tif !d.Failed() {",
				"\t\t" + x + " = jsonx.Trim(s, i)",
				"\t}",
				"}",
			}
		}
	}
	panic("gen: no decoder for " + t.Go())
}

func appendStmts(t *typ, x string) []string {
	one := func(s string) []string { return []string{"dst = " + s} }
	switch t.k {
	case kString:
		return one("jsonx.AppendString(dst, " + x + ")")
	case kBool:
		return one("jsonx.AppendBool(dst, " + x + ")")
	case kInt, kInt32:
		return one("jsonx.AppendInt(dst, int64(" + x + "))")
	case kInt64:
		return one("jsonx.AppendInt(dst, " + x + ")")
	case kUint32:
		return one("jsonx.AppendUint(dst, uint64(" + x + "))")
	case kBytes:
		return one("jsonx.AppendBytes(dst, " + x + ")")
	case kBoolMap:
		return one("jsonx.AppendBoolMap(dst, " + x + ")")
	case kPtr:
		switch t.elem.k {
		case kString:
			return one("jsonx.AppendStringPtr(dst, " + x + ")")
		case kBool:
			return one("jsonx.AppendBoolPtr(dst, " + x + ")")
		case kInt32:
			return one("jsonx.AppendInt32Ptr(dst, " + x + ")")
		case kInt64:
			return one("jsonx.AppendInt64Ptr(dst, " + x + ")")
		case kStruct:
			return []string{
				"if " + x + " == nil {",
				"\tdst = append(dst, \"null\"...)",
				"} else {",
				"\tdst = " + x + ".appendJSON(dst)",
				"}",
			}
		}
	case kSlice:
		switch t.elem.k {
		case kString:
			return one("jsonx.AppendStrings(dst, " + x + ")")
		case kInt64:
			return one("jsonx.AppendInt64s(dst, " + x + ")")
		case kStruct:
			return []string{
				"if " + x + " == nil {",
				"\tdst = append(dst, \"null\"...)",
				"} else {",
				"\tdst = append(dst, '[')",
				"\tfor i := range " + x + " {",
				"\t\tif i > 0 {",
				"\t\t\tdst = append(dst, ',')",
				"\t\t}",
				"\t\tdst = " + x + "[i].appendJSON(dst)",
				"\t}",
				"\tdst = append(dst, ']')",
				"}",
			}
		}
	}
	panic("gen: no encoder for " + t.Go())
}

// ---- zrules.go ----

// clone returns an expression copying x so two replies never share memory.
func clone(t *typ, x string) string {
	switch t.k {
	case kPtr:
		return "clonePtr(" + x + ")"
	case kSlice, kBytes:
		return "slices.Clone(" + x + ")"
	case kBoolMap:
		return "maps.Clone(" + x + ")"
	}
	return x
}

func cond(c string, t *typ, x string) string {
	switch c {
	case "nonNull":
		return x + " != nil"
	case "nonEmpty":
		switch t.k {
		case kString:
			return x + ` != ""`
		case kPtr:
			return x + " != nil && *" + x + ` != ""`
		}
		return "len(" + x + ") > 0"
	}
	return ""
}

// keyEq compares a key field of two list elements, either of which may be a pointer.
func keyEq(at *typ, a string, bt *typ, b string) string {
	var pre []string
	if at.k == kPtr {
		pre = append(pre, a+" != nil")
		a = "*" + a
	}
	if bt.k == kPtr {
		pre = append(pre, b+" != nil")
		b = "*" + b
	}
	return strings.Join(append(pre, a+" == "+b), " && ")
}

func writeRules(m *model, b *bytes.Buffer) {
	out := b
	b = new(bytes.Buffer)
	defer func() {
		out.WriteString(header)
		p(out, "package openim\n")
		var imports []string
		for _, pkg := range []string{"maps", "slices"} {
			if bytes.Contains(b.Bytes(), []byte(pkg+".")) {
				imports = append(imports, strconv.Quote(pkg))
			}
		}
		if len(imports) > 0 {
			p(out, "import (\n\t%s\n)\n", strings.Join(imports, "\n\t"))
		}
		out.Write(b.Bytes())
	}()
	p(b, "// neutralReply returns c's neutral reply, echoing req where OpenIM copies reply")
	p(b, "// fields unconditionally. It returns nil when c echoes and req is not c's request.")
	p(b, "func neutralReply(c Command, req Request) Reply {")
	p(b, "\tswitch c {")
	for _, c := range m.cmds {
		if len(c.echo) == 0 {
			continue
		}
		p(b, "\tcase %s:", c.name)
		p(b, "\t\tq, _ := req.(*%s)", c.req.name)
		p(b, "\t\tif q == nil {")
		p(b, "\t\t\treturn nil")
		p(b, "\t\t}")
		p(b, "\t\tr := new(%s)", c.resp.name)
		for _, ef := range c.echo {
			p(b, "\t\tr.%s = %s", ef[0].gname, clone(ef[1].t, "q."+ef[1].gname))
		}
		p(b, "\t\treturn r")
	}
	p(b, "\t}")
	p(b, "\treturn newReply(c)")
	p(b, "}\n")

	p(b, "// mergeFields overlays src's modification fields on dst by each command's rules.")
	p(b, "func mergeFields(dst, src Reply) {")
	p(b, "\tswitch d := dst.(type) {")
	for _, c := range m.cmds {
		if len(c.merge) == 0 {
			continue
		}
		p(b, "\tcase *%s:", c.resp.name)
		p(b, "\t\ts, _ := src.(*%s)", c.resp.name)
		p(b, "\t\tif d == nil || s == nil {")
		p(b, "\t\t\treturn")
		p(b, "\t\t}")
		for _, r := range c.merge {
			f := r.field
			switch {
			case r.cond == "always":
				p(b, "\t\td.%s = %s", f.gname, clone(f.t, "s."+f.gname))
			case strings.HasPrefix(r.cond, "keyed:"):
				p(b, "\t\td.%s = merge%s(d.%s, s.%s)", f.gname, f.t.elem.name, f.gname, f.gname)
			default:
				p(b, "\t\tif %s {", cond(r.cond, f.t, "s."+f.gname))
				p(b, "\t\t\td.%s = %s", f.gname, clone(f.t, "s."+f.gname))
				p(b, "\t\t}")
			}
		}
	}
	p(b, "\t}")
	p(b, "}\n")

	p(b, "// applyFields carries rep's modifications into req by each command's rules.")
	p(b, "func applyFields(req Request, rep Reply) {")
	p(b, "\tswitch r := rep.(type) {")
	for _, c := range m.cmds {
		if len(c.apply) == 0 {
			continue
		}
		p(b, "\tcase *%s:", c.resp.name)
		p(b, "\t\tq, _ := req.(*%s)", c.req.name)
		p(b, "\t\tif r == nil || q == nil {")
		p(b, "\t\t\treturn")
		p(b, "\t\t}")
		for _, a := range c.apply {
			f, to := a.field, a.to
			if strings.HasPrefix(a.cond, "keyed:") {
				key := strings.TrimPrefix(a.cond, "keyed:")
				src, dst := structOf(m, f.t.elem.name), structOf(m, to.t.elem.name)
				sk, dk := src.byJSON(key), dst.byJSON(key)
				p(b, "\t\tfor _, u := range r.%s {", f.gname)
				p(b, "\t\t\tfor i := range q.%s {", to.gname)
				p(b, "\t\t\t\tm := &q.%s[i]", to.gname)
				p(b, "\t\t\t\tif !(%s) {", keyEq(sk.t, "u."+sk.gname, dk.t, "m."+dk.gname))
				p(b, "\t\t\t\t\tcontinue")
				p(b, "\t\t\t\t}")
				for _, sf := range src.fields {
					df := dst.byJSON(sf.json)
					if sf.json == key || df == nil {
						continue
					}
					p(b, "\t\t\t\tif u.%s != nil {", sf.gname)
					p(b, "\t\t\t\t\tm.%s = *u.%s", df.gname, sf.gname)
					p(b, "\t\t\t\t}")
				}
				p(b, "\t\t\t}")
				p(b, "\t\t}")
				continue
			}
			val := clone(f.t, "r."+f.gname)
			if f.t.Go() != to.t.Go() {
				val = "*r." + f.gname
			}
			if a.cond == "always" {
				p(b, "\t\tq.%s = %s", to.gname, val)
				continue
			}
			p(b, "\t\tif %s {", cond(a.cond, f.t, "r."+f.gname))
			p(b, "\t\t\tq.%s = %s", to.gname, val)
			p(b, "\t\t}")
		}
	}
	p(b, "\t}")
	p(b, "}\n")

	// Keyed list merges.
	done := map[string]bool{}
	for _, c := range m.cmds {
		for _, r := range c.merge {
			if !strings.HasPrefix(r.cond, "keyed:") || done[r.field.t.elem.name] {
				continue
			}
			name := r.field.t.elem.name
			done[name] = true
			s := structOf(m, name)
			k := s.byJSON(strings.TrimPrefix(r.cond, "keyed:"))
			p(b, "// merge%s overlays src's entries on dst's, matching them by %s; an entry", name, k.json)
			p(b, "// with a new %s is appended.", k.json)
			p(b, "func merge%s(dst, src []%s) []%s {", name, name, name)
			p(b, "\tfor _, u := range src {")
			p(b, "\t\ti := slices.IndexFunc(dst, func(x %s) bool { return %s })", name, keyEq(k.t, "x."+k.gname, k.t, "u."+k.gname))
			p(b, "\t\tif i < 0 {")
			p(b, "\t\t\tdst = append(dst, %s{%s: %s})", name, k.gname, clone(k.t, "u."+k.gname))
			p(b, "\t\t\ti = len(dst) - 1")
			p(b, "\t\t}")
			p(b, "\t\tm := &dst[i]")
			for _, f := range s.fields {
				if f == k {
					continue
				}
				if f.t.nullable() {
					p(b, "\t\tif u.%s != nil {", f.gname)
					p(b, "\t\t\tm.%s = %s", f.gname, clone(f.t, "u."+f.gname))
					p(b, "\t\t}")
				} else {
					p(b, "\t\tm.%s = u.%s", f.gname, f.gname)
				}
			}
			p(b, "\t}")
			p(b, "\treturn dst")
			p(b, "}\n")
		}
	}
}

func structOf(m *model, name string) *structDef {
	for _, s := range m.nested {
		if s.name == name {
			return s
		}
	}
	panic("gen: no struct " + name)
}

// ---- sdk/plugin/zhandlers.go ----

func writeHandlers(m *model, b *bytes.Buffer) {
	b.WriteString(header)
	p(b, "package plugin\n")
	p(b, "import \"github.com/imhook/imhook/sdk/openim\"\n")
	for _, c := range m.cmds {
		e := c.e
		rh := sentence(e.ResponseHandling)
		if e.Phase == "after" {
			rh = "OpenIM ignores the reply of after-commands; return nil to send the neutral reply."
		}
		text := fmt.Sprintf("On%s registers h as the handler of %s (%s phase, webhooks.yml key %s). %s",
			c.name, e.Command, e.Phase, e.ConfigKey, rh)
		if len(c.echo) > 0 {
			text += " Start from openim.Neutral so the echoed fields are kept."
		}
		text += " A nil reply with a nil error sends the neutral reply."
		comment(b, "", text)
		p(b, "func On%s(h func(*Context, *openim.%s) (*openim.%s, error)) {", c.name, c.req.name, c.resp.name)
		p(b, "\tvar reqs batch[openim.%s]", c.req.name)
		p(b, "\tregister(openim.%s, func(c *Context, body []byte, wire bool) (openim.Reply, error) {", c.name)
		// Concrete calls, not through openim.Request: a call through the
		// interface makes the linker keep both decoders of every request
		// type, which made each plugin 0.6 MB larger (and its upload slower).
		p(b, "\t\treq := reqs.next()")
		p(b, "\t\tvar err error")
		p(b, "\t\tif wire {")
		p(b, "\t\t\terr = req.DecodeWire(body)")
		p(b, "\t\t} else {")
		p(b, "\t\t\terr = req.DecodeJSON(body)")
		p(b, "\t\t}")
		p(b, "\t\tif err != nil {")
		p(b, "\t\t\treturn nil, err")
		p(b, "\t\t}")
		p(b, "\t\tresp, err := h(c, req)")
		p(b, "\t\tif resp == nil {")
		p(b, "\t\t\treturn nil, err // a typed nil in an interface would not compare equal to nil")
		p(b, "\t\t}")
		p(b, "\t\treturn resp, err")
		p(b, "\t})")
		p(b, "}\n")
	}
}

// ---- zwire.go ----

// wireStructs returns the nested structs the requests use, directly or through
// other nested structs, in m.nested order.
func wireStructs(m *model) []*structDef {
	used := map[string]bool{}
	var walk func(s *structDef)
	walk = func(s *structDef) {
		for _, f := range s.fields {
			t := f.t
			for t.k == kPtr || t.k == kSlice {
				t = t.elem
			}
			if t.k == kStruct && !used[t.name] {
				used[t.name] = true
				walk(structOf(m, t.name))
			}
		}
	}
	for _, c := range m.cmds {
		walk(c.req)
	}
	var out []*structDef
	for _, s := range m.nested {
		if used[s.name] {
			out = append(out, s)
		}
	}
	return out
}

// wireName is a field's name in wire error paths: its JSON key, or the type
// name of an embedded struct.
func wireName(f *field) string {
	if f.embedded != nil {
		return f.gname
	}
	return f.json
}

func writeWire(m *model, b *bytes.Buffer) {
	b.WriteString(header)
	p(b, "package openim\n")
	p(b, "import \"github.com/imhook/imhook/sdk/openim/internal/wire\"\n")
	for _, c := range m.cmds {
		s := c.req
		n := len(s.fields)
		p(b, "// DecodeWire implements Request: it resets r and decodes data, the wire form of")
		p(b, "// the request (docs/abi.md). Errors match ErrWire.")
		p(b, "func (r *%s) DecodeWire(data []byte) error {", s.name)
		p(b, "\tvar w wire.Reader")
		p(b, "\trd := &w")
		p(b, "\trd.Init(data)")
		p(b, "\tif !rd.Root(%d) {", n)
		p(b, "\t\t*r = %s{}", s.name)
		p(b, "\t\treturn wireError(rd, %q)", s.name)
		p(b, "\t}")
		writeWireDecode(m, b, s, "0", "-1")
		p(b, "\treturn wireError(rd, %q)", s.name)
		p(b, "\t}")
		p(b, "\treturn nil")
		p(b, "}\n")
		p(b, "// AppendWire implements Request: it appends r's wire form (docs/abi.md) to dst.")
		p(b, "// Offsets count from len(dst) on entry, so the appended part is a complete buffer.")
		p(b, "func (r *%s) AppendWire(dst []byte) []byte {", s.name)
		p(b, "\tbase := len(dst)")
		p(b, "\tt := base")
		p(b, "\tdst = wire.Grow(dst, %d)", 8*n)
		writeWireAppend(m, b, s)
		p(b, "\treturn dst")
		p(b, "}\n")
		writeWireNames(b, s)
	}
	for _, s := range wireStructs(m) {
		if len(s.fields) == 0 {
			panic("gen: wire: struct " + s.name + " has no fields") // its list count would be unbounded
		}
		p(b, "func (r *%s) decodeWire(rd *wire.Reader, b, from int) {", s.name)
		writeWireDecode(m, b, s, "b", "from")
		p(b, "\t}")
		p(b, "}\n")
		p(b, "func (r *%s) appendWire(dst []byte, base, t int) []byte {", s.name)
		writeWireAppend(m, b, s)
		p(b, "\treturn dst")
		p(b, "}\n")
		writeWireNames(b, s)
	}
}

func writeWireNames(b *bytes.Buffer, s *structDef) {
	var names []string
	for _, f := range s.fields {
		names = append(names, strconv.Quote(wireName(f)))
	}
	p(b, "var wireNames%s = []string{%s}\n", s.name, strings.Join(names, ", "))
}

// writeWireDecode writes the field decodes of s's table at tb (an expression),
// then opens "if rd.Bad() {" with the Blame in it; the caller closes it.
func writeWireDecode(m *model, b *bytes.Buffer, s *structDef, tb, from string) {
	at := func(i int) string {
		if tb == "0" {
			return strconv.Itoa(8 * i)
		}
		if i == 0 {
			return tb
		}
		return fmt.Sprintf("%s+%d", tb, 8*i)
	}
	for i, f := range s.fields {
		x, a := "r."+f.gname, at(i)
		t := f.t
		switch t.k {
		case kString:
			p(b, "\t%s = rd.Str(%s)", x, a)
		case kBool:
			p(b, "\t%s = rd.Bool(%s)", x, a)
		case kInt, kInt32, kInt64, kUint32:
			p(b, "\t%s = %s(rd.Slot(%s))", x, t.Go(), a)
		case kBytes:
			p(b, "\t%s = rd.Bytes(%s)", x, a)
		case kBoolMap:
			p(b, "\t%s = rd.BoolMap(%s)", x, a)
		case kPtr:
			switch t.elem.k {
			case kString:
				p(b, "\t%s = rd.StrPtr(%s)", x, a)
			case kBool:
				p(b, "\t%s = rd.BoolPtr(%s)", x, a)
			case kInt32:
				p(b, "\t%s = rd.Int32Ptr(%s)", x, a)
			case kInt64:
				p(b, "\t%s = rd.Int64Ptr(%s)", x, a)
			case kStruct:
				ns := structOf(m, t.elem.name)
				p(b, "\t%s = nil", x)
				p(b, "\tif o := rd.Table(%s, %d); o != 0 {", a, len(ns.fields))
				p(b, "\t\t%s = new(%s)", x, ns.name)
				p(b, "\t\t%s.decodeWire(rd, o, %s)", x, a)
				p(b, "\t}")
			default:
				panic("gen: wire: no decoder for " + t.Go())
			}
		case kSlice:
			switch t.elem.k {
			case kString:
				p(b, "\t%s = rd.Strs(%s)", x, a)
			case kInt64:
				p(b, "\t%s = rd.Int64s(%s)", x, a)
			case kStruct:
				ns := structOf(m, t.elem.name)
				size := 8 * len(ns.fields)
				p(b, "\t%s = nil", x)
				p(b, "\tif o, n := rd.List(%s, %d); n >= 0 {", a, size)
				p(b, "\t\ts := make([]%s, n)", ns.name)
				p(b, "\t\tfor i := range s {")
				p(b, "\t\t\ts[i].decodeWire(rd, o+%d*i, %s)", size, a)
				p(b, "\t\t\tif rd.Bad() {")
				p(b, "\t\t\t\trd.Index(i)")
				p(b, "\t\t\t\tbreak")
				p(b, "\t\t\t}")
				p(b, "\t\t}")
				p(b, "\t\t%s = s", x)
				p(b, "\t}")
			default:
				panic("gen: wire: no decoder for " + t.Go())
			}
		default:
			panic("gen: wire: no decoder for " + t.Go())
		}
	}
	p(b, "\tif rd.Bad() {")
	p(b, "\t\trd.Blame(%s, wireNames%s, %s)", tb, s.name, from)
}

// writeWireAppend writes the field encodes of s into the table at t, in a
// buffer that starts at base.
func writeWireAppend(m *model, b *bytes.Buffer, s *structDef) {
	for i, f := range s.fields {
		x, a := "r."+f.gname, "t"
		if i > 0 {
			a = fmt.Sprintf("t+%d", 8*i)
		}
		t := f.t
		switch t.k {
		case kString:
			p(b, "\tdst = wire.PutStr(dst, base, %s, %s)", a, x)
		case kBool:
			p(b, "\twire.Put(dst, %s, wire.B2u(%s))", a, x)
		case kInt, kInt32:
			p(b, "\twire.Put(dst, %s, uint64(int64(%s)))", a, x)
		case kInt64, kUint32:
			p(b, "\twire.Put(dst, %s, uint64(%s))", a, x)
		case kBytes:
			p(b, "\tdst = wire.PutBytes(dst, base, %s, %s)", a, x)
		case kBoolMap:
			p(b, "\tdst = wire.PutBoolMap(dst, base, %s, %s)", a, x)
		case kPtr:
			switch t.elem.k {
			case kString:
				p(b, "\tdst = wire.PutStrPtr(dst, base, %s, %s)", a, x)
			case kBool:
				p(b, "\tif %s != nil {", x)
				p(b, "\t\tdst = wire.PutValue(dst, base, %s, wire.B2u(*%s))", a, x)
				p(b, "\t}")
			case kInt32:
				p(b, "\tif %s != nil {", x)
				p(b, "\t\tdst = wire.PutValue(dst, base, %s, uint64(int64(*%s)))", a, x)
				p(b, "\t}")
			case kInt64:
				p(b, "\tif %s != nil {", x)
				p(b, "\t\tdst = wire.PutValue(dst, base, %s, uint64(*%s))", a, x)
				p(b, "\t}")
			case kStruct:
				p(b, "\tif %s != nil {", x)
				p(b, "\t\tvar o int")
				p(b, "\t\tdst, o = wire.Alloc(dst, base, %s, 0, %d)", a, 8*len(structOf(m, t.elem.name).fields))
				p(b, "\t\tdst = %s.appendWire(dst, base, o)", x)
				p(b, "\t}")
			default:
				panic("gen: wire: no encoder for " + t.Go())
			}
		case kSlice:
			switch t.elem.k {
			case kString:
				p(b, "\tdst = wire.PutStrs(dst, base, %s, %s)", a, x)
			case kInt64:
				p(b, "\tdst = wire.PutInt64s(dst, base, %s, %s)", a, x)
			case kStruct:
				size := 8 * len(structOf(m, t.elem.name).fields)
				p(b, "\tif %s != nil {", x)
				p(b, "\t\tvar o int")
				p(b, "\t\tdst, o = wire.Alloc(dst, base, %s, len(%s), %d*len(%s))", a, x, size, x)
				p(b, "\t\tfor i := range %s {", x)
				p(b, "\t\t\tdst = %s[i].appendWire(dst, base, o+%d*i)", x, size)
				p(b, "\t\t}")
				p(b, "\t}")
			default:
				panic("gen: wire: no encoder for " + t.Go())
			}
		default:
			panic("gen: wire: no encoder for " + t.Go())
		}
	}
}
