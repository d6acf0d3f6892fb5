package main

import (
	"context"
	"fmt"
	"io"
)

// serveMain runs the server. Placeholder until the server lands.
func serveMain(_ context.Context, _ []string, _ io.Reader, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "imhook serve: not built yet")
	return 1
}
