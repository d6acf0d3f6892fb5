package plugins

import "github.com/imhook/imhook/sdk/openim"

// normalizeCommand resolves an OpenIM callback command name, mapping a legacy
// name (callbackGroupMsgReadCommand) to its current wire name. It reports
// false for names OpenIM never sends.
func normalizeCommand(name string) (string, bool) {
	c, ok := openim.Lookup(name)
	if !ok {
		return "", false
	}
	return c.String(), true
}
