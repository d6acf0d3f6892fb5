package plugins

// normalizeCommand resolves an OpenIM callback command name, mapping a legacy
// name to its current wire name. It reports false for names OpenIM never sends.
//
// TODO(openim): use openim.Lookup once sdk/openim lands; until then any name
// of the form callback<Letters> is accepted as is.
func normalizeCommand(name string) (string, bool) {
	const prefix = "callback"
	if len(name) <= len(prefix) || name[:len(prefix)] != prefix {
		return "", false
	}
	for k := len(prefix); k < len(name); k++ {
		c := name[k]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "", false
		}
	}
	return name, true
}
