package plugins

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"

	"github.com/imhook/imhook/sdk/abi"
)

// logAttrsGroup holds a guest's attributes in the host's log: inside a group
// of their own, a guest's key can never stand in for one the host adds
// (tenant, plugin, operation_id...).
const logAttrsGroup = "attrs"

// splitLogLine splits a guest's log line at abi.LogAttrSeparator into its
// message and its key=value pairs, as a group of string attributes. A line
// without the separator is all message, as are those of plugins built before
// it existed; so is a line whose pairs do not parse, with the separator
// written as a space.
func splitLogLine(line []byte) (string, slog.Attr) {
	msg, rest, ok := bytes.Cut(line, []byte{abi.LogAttrSeparator})
	if !ok {
		return string(line), slog.GroupAttrs(logAttrsGroup)
	}
	var attrs []slog.Attr
	for s := string(rest); s != ""; {
		key, v, ok := strings.Cut(s, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \"\x1f") {
			return logText(line), slog.GroupAttrs(logAttrsGroup)
		}
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil || len(q) < len(v) && v[len(q)] != ' ' {
				return logText(line), slog.GroupAttrs(logAttrsGroup)
			}
			s = strings.TrimPrefix(v[len(q):], " ")
			v, _ = strconv.Unquote(q)
		} else {
			v, s, _ = strings.Cut(v, " ")
		}
		attrs = append(attrs, slog.String(key, v))
	}
	return string(msg), slog.GroupAttrs(logAttrsGroup, attrs...)
}

// logText is a guest's log line as one text, the separator written as a
// space: "msg k=v k2=v2".
func logText(line []byte) string {
	s := string(line)
	if i := strings.IndexByte(s, abi.LogAttrSeparator); i >= 0 {
		s = s[:i] + " " + s[i+1:]
	}
	return s
}
