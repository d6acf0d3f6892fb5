// Package examples holds imhook's example plugins, one main package per
// directory (moderation, policy, readsync, trivial), and the tests that
// build each with the real toolchain (GOOS=wasip1, -buildmode=c-shared) and
// drive it in wazero as the server would.
package examples
