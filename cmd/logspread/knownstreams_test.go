package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/spreadlink"
)

// appendLinesTo appends lines to path (created if needed).
func appendLinesTo(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// asLines joins ls as lines.
func asLines(ls ...string) []byte {
	return []byte(strings.Join(ls, "\n") + "\n")
}

// TestShipGlobRestartResumesRenamedMatches: matches of a glob renamed while the shipper
// was down are resumed by the identity of their file after the restart, though their
// live name never comes back: a dated log rotated away (app-2026-11-29.log.1) and a job
// log renamed to a name the glob matches (job-1.log -> job-1-done.log), which is not read
// again as a new match (the restart reads new matches from their beginning). Every line
// arrives exactly once.
func TestShipGlobRestartResumesRenamedMatches(t *testing.T) {
	dir, spread, r := startShipTest(t)
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	app, job, web := filepath.Join(logs, "app-2026-11-29.log"), filepath.Join(logs, "job-1.log"), filepath.Join(logs, "web.log")
	appendLinesTo(t, app, "app1", "app2")
	appendLinesTo(t, job, "job1")
	appendLinesTo(t, web, "web1")
	args := []string{"ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--from-beginning", "--rotate-wait", "100ms", filepath.Join(logs, "*.log")}
	p := testsupport.StartProcess(t, args...)
	want := []string{"app1", "app2", "job1", "web1"}
	r.expectLines(t, p, asLines(want...))
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("exit %d", code)
	}

	// While the shipper is down.
	appendLinesTo(t, app, "app3")
	mustRename(t, app, app+".1")
	appendLinesTo(t, filepath.Join(logs, "app-2026-11-30.log"), "app4")
	appendLinesTo(t, job, "job2")
	mustRename(t, job, filepath.Join(logs, "job-1-done.log"))
	appendLinesTo(t, web, "web2")
	mustRename(t, web, web+".1")
	appendLinesTo(t, web, "web3")
	want = append(want, "app3", "app4", "job2", "web2", "web3")

	p = testsupport.StartProcess(t, args...)
	r.expectLines(t, p, asLines(want...))
	p.WaitLog(t, `msg="match renamed to another match while not followed; its stream continues there" .*path=\S*job-1\.log file=\S*job-1-done\.log`)
	p.WaitLog(t, `msg="resuming a match whose path is gone by the identity of its file" .*path=\S*app-2026-11-29\.log file=\S*app-2026-11-29\.log\.1`)
	appendLinesTo(t, filepath.Join(logs, "job-1-done.log"), "job3")
	want = append(want, "job3")
	r.expectLines(t, p, asLines(want...))
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// startSilentCollector joins group and its presence group as a collector that never
// reports what it wrote: shippers (--ack written) keep what they sent unacknowledged,
// and a reload's old sender waits its drain timeout for acknowledgements.
func startSilentCollector(t *testing.T, addr, group string) *spreadlink.Conn {
	t.Helper()
	c, err := spreadlink.Dial(t.Context(), spreadlink.Config{Address: addr, Name: envelope.RandomPrivateName(envelope.CollectorPrefix)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Abort() })
	for _, g := range []string{group, envelope.PresenceGroup(group)} {
		if err := c.Join(g); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestReloadShipRotatedDuringSwap: files rotated between SIGHUP and the new sources
// opening (the old sender drains for seconds while a collector present does not
// acknowledge) are drained from their rotated names by the new sources: a path kept
// across the reload (from its checkpoint), a match of a glob kept whose live name does
// not come back (from its checkpoint), a path added (from where it stood at the signal),
// and a match of a glob added whose live name does not come back. Every line
// written since the shipper (or the reload, for what was added) started arrives
// exactly once.
func TestReloadShipRotatedDuringSwap(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	silent := startSilentCollector(t, "unix:"+sock, "www")
	k, a := filepath.Join(dir, "k.log"), filepath.Join(dir, "a.log")
	g := filepath.Join(dir, "g")
	if err := os.Mkdir(g, 0o755); err != nil {
		t.Fatal(err)
	}
	c := filepath.Join(g, "c.log")
	h := filepath.Join(dir, "h")
	if err := os.Mkdir(h, 0o755); err != nil {
		t.Fatal(err)
	}
	j := filepath.Join(h, "j.log")
	appendLinesTo(t, j, "j-before-start")
	appendLinesTo(t, k, "k-before-start")
	appendLinesTo(t, a, "a-before-reload")
	appendLinesTo(t, c, "c-before-reload")
	cfg := filepath.Join(dir, "ship.yaml")
	kept := k + ", '" + filepath.Join(h, "*.log") + "'"
	writeConfig(t, cfg, "group: www\nspread: unix:"+sock+"\nrotate_wait: 100ms\npaths: ["+kept+"]\n")
	p := testsupport.StartProcess(t, "ship", "--config", cfg, "--state-dir", filepath.Join(dir, "state"))
	p.WaitLog(t, `(?s)msg=following .*from=end.*msg=following .*from=end`)
	p.WaitLog(t, `connected to the Spread daemon`) // the SIGHUP handler is set
	appendLinesTo(t, j, "j1")
	appendLinesTo(t, k, "k1")
	// k1 was sent (and is not acknowledged): the old sender will wait for it.
	for {
		var m spreadlink.Message
		if err := silent.Receive(&m); err != nil {
			t.Fatal(err)
		}
		if m.Service.IsRegular() && slices.Contains(m.Groups, "www") {
			break
		}
	}

	writeConfig(t, cfg, "group: www\nspread: unix:"+sock+"\nrotate_wait: 100ms\npaths: ["+kept+", "+a+", '"+filepath.Join(g, "*.log")+"']\n")
	p.Signal(t, syscall.SIGHUP)
	p.WaitLog(t, `msg="SIGHUP: applying new settings.*" .*settings=\S*paths`)
	// The swap: the old sender waits for acknowledgements the silent collector never
	// gives. Every file is rotated now.
	appendLinesTo(t, k, "k2")
	mustRename(t, k, k+".1")
	appendLinesTo(t, k, "k3")
	appendLinesTo(t, a, "a1")
	mustRename(t, a, a+".1")
	appendLinesTo(t, a, "a2")
	appendLinesTo(t, c, "c1")
	mustRename(t, c, c+".1")
	appendLinesTo(t, j, "j2")
	mustRename(t, j, j+".1")
	p.WaitLog(t, `msg=following .*from=checkpoint .*file=\S*k\.log\.1`)
	p.WaitLog(t, `msg=following .*from=reload .*file=\S*a\.log\.1`)
	p.WaitLog(t, `msg=following .*from=reload .*file=\S*c\.log\.1`)
	p.WaitLog(t, `msg=following .*from=checkpoint .*file=\S*j\.log\.1`)
	silent.Abort()
	r := startShipReceiver(t, "unix:"+sock, "www")
	r.expectLines(t, p, asLines("k1", "k2", "k3", "a1", "a2", "c1", "j1", "j2"))
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
