// Package testsupport holds what tests across logspread share: golden files, an embedded
// Spread daemon on a free loopback port and a temporary unix socket (StartDaemon), real
// processes of the logspread binary (Binary, StartProcess, Start), and waiting for an
// event instead of sleeping (Eventually, EventuallyErr, Receive, Buffer.WaitMatch,
// Process.WaitLog, WaitMetric).
//
// Waits poll briefly and give up shortly before the test binary's deadline
// (go test -timeout), never after a small fixed budget: on a loaded machine a test gets
// slower, not flaky. A test that must show that something did not happen checks it after
// an event that proves the input was processed (a later marker delivered, a counter
// moved, a full window), or drives time with testing/synctest.
//
// Only _test.go files import it. spreadlink/daemon's own tests cannot (this package
// imports that one) and keep one poll helper of their own.
package testsupport
