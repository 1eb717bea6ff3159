// Package testsupport holds what tests across logspread share: golden files, an embedded
// Spread daemon on a free loopback port or a temporary unix socket, real processes of the
// logspread binary, and waiting for a condition instead of sleeping.
//
// Only _test.go files import it.
package testsupport
