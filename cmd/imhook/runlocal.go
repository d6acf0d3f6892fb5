package main

import (
	"context"
	"fmt"
	"io"
)

// runMain runs a plugin locally. Placeholder until the sandbox lands.
func runMain(_ context.Context, _ []string, _ io.Reader, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "imhook run: not built yet")
	return 1
}
