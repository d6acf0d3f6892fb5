package webhook

import "bytes"

// Prefix is the path under which callbacks arrive. A tenant's OpenIM
// webhooks.yml url is http://host:port/hooks/{tenant}.
const Prefix = "/hooks/"

// route splits a callback path into its tenant and command. It accepts
//
//	/hooks/{tenant}/{command}   OpenIM v3.4.2 and later
//	/hooks/{tenant}             older OpenIM; the command is in ?command=
//
// and a trailing slash after either (a webhooks.yml url ending in "/" makes
// OpenIM send "//", which fasthttp's path normalisation folds into one).
// command is nil for the second form. The returned slices alias path.
func route(path []byte) (tenant, command []byte, ok bool) {
	if !bytes.HasPrefix(path, []byte(Prefix)) {
		return nil, nil, false
	}
	rest := path[len(Prefix):]
	rest = bytes.TrimSuffix(rest, []byte("/"))
	tenant, command, _ = bytes.Cut(rest, []byte("/"))
	if len(tenant) == 0 || bytes.IndexByte(command, '/') >= 0 {
		return nil, nil, false
	}
	if len(command) == 0 {
		command = nil
	}
	return tenant, command, true
}
