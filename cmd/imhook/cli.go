package main

import (
	"context"
	"fmt"
	"io"
)

// tenantMain is the tenant client. Placeholder until the admin API lands.
func tenantMain(_ context.Context, _ []string, _ io.Reader, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "imhook tenant: not built yet")
	return 1
}

// pluginMain is the plugin client. Placeholder until the admin API lands.
func pluginMain(_ context.Context, _ []string, _ io.Reader, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "imhook plugin: not built yet")
	return 1
}
