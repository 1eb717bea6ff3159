// Package layering holds the test that checks every package's imports against the
// layering table in docs/ARCHITECTURE.md. It has no code of its own.
package layering
