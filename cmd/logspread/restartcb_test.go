package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipShrunkWhileDown: real processes. A file shipped whole is truncated to a
// smaller size (truncate -s N, at a line end) while the shipper is down, and written to
// before it starts again. The first N bytes may be those read or the same bytes written
// again, which content cannot tell: the restart reads the file again from its start
// (before, it read on from N), so the first N bytes arrive a second time, counted in
// logspread_shipper_file_reread_bytes_total, the lines written after the truncation
// once; nothing is counted lost (the bytes destroyed were acknowledged), the stream does
// not jump.
func TestShipShrunkWhileDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	r := startShipReceiver(t, "unix:"+sock, "www")
	path := filepath.Join(dir, "logs", "a.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, accessLines("a", 1, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"ship", "--group", "www", "--spread", "unix:" + sock, "--state-dir", filepath.Join(dir, "state"),
		"--from-beginning", "--metrics-addr", "127.0.0.1:0", path}
	p := testsupport.StartProcess(t, args...)
	addr := p.MetricsAddr(t)
	r.expectLines(t, p, accessLines("a", 1, 10))
	testsupport.WaitMetric(t, addr, "logspread_shipper_acked_bytes_total", func(v float64) bool { return v >= float64(len(accessLines("a", 1, 10))) })
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, p.Stderr)
	}

	// truncate -s N (4 lines), then the writer appends 3 lines.
	if err := os.Truncate(path, int64(len(accessLines("a", 1, 4)))); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, accessLines("n", 1, 3))
	p = testsupport.StartProcess(t, args...)
	addr = p.MetricsAddr(t)
	r.expectLines(t, p, accessLines("a", 1, 10), accessLines("a", 1, 4), accessLines("n", 1, 3))
	p.WaitLog(t, `truncated or rewritten in place while the shipper was down`)
	appendTo(t, path, accessLines("n", 4, 6))
	r.expectLines(t, p, accessLines("a", 1, 10), accessLines("a", 1, 4), accessLines("n", 1, 6))
	if v, want := scrape(t, addr, "logspread_shipper_file_reread_bytes_total"), float64(len(accessLines("a", 1, 4))+len(accessLines("n", 1, 3))); v != want {
		t.Errorf("file_reread_bytes_total %v, want %v", v, want)
	}
	for _, m := range []string{"logspread_shipper_lost_bytes_total", "logspread_shipper_stream_jumps_total"} {
		if v := scrape(t, addr, m); v != 0 {
			t.Errorf("%s %v, want 0", m, v)
		}
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
}

// TestShipComeBackAcrossRestart: real processes. Blue/green renames while the shipper is
// down bring back to the followed path a file it had read and left (mv a.log a.log.blue;
// a new a.log, shipped; the shipper stops; mv a.log a.log.green; mv a.log.blue a.log;
// lines appended). The restart drains the file it stopped in, then reads the file that
// came back on from where it was left (its identity and offset kept in the record of
// generations): every line of both files exactly once, nothing lost, no stream jump.
func TestShipComeBackAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	sock := filepath.Join(testsupport.SocketDir(t), "4803")
	startTestDaemon(t, sock)
	r := startShipReceiver(t, "unix:"+sock, "www")
	path := filepath.Join(dir, "logs", "a.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"ship", "--group", "www", "--spread", "unix:" + sock, "--state-dir", filepath.Join(dir, "state"),
		"--metrics-addr", "127.0.0.1:0", path}
	p := testsupport.StartProcess(t, args...)
	p.WaitLog(t, `msg=following .*from=end`)
	appendTo(t, path, accessLines("a", 1, 200))
	r.expectLines(t, p, accessLines("a", 1, 200))
	if err := os.Rename(path, path+".blue"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, accessLines("b", 1, 200), 0o644); err != nil {
		t.Fatal(err)
	}
	r.expectLines(t, p, accessLines("a", 1, 200), accessLines("b", 1, 200))
	testsupport.WaitMetric(t, p.MetricsAddr(t), "logspread_shipper_acked_bytes_total", func(v float64) bool {
		return v >= float64(2*len(accessLines("a", 1, 200)))
	})
	if code := p.Terminate(t); code != 0 {
		t.Fatalf("ship exited %d:\n%s", code, p.Stderr)
	}

	if err := os.Rename(path, path+".green"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".blue", path); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, accessLines("a", 201, 400))
	p = testsupport.StartProcess(t, args...)
	addr := p.MetricsAddr(t)
	r.expectLines(t, p, accessLines("a", 1, 400), accessLines("b", 1, 200))
	p.WaitLog(t, `a generation a run before read and left \(it came back`)
	appendTo(t, path, accessLines("a", 401, 450))
	r.expectLines(t, p, accessLines("a", 1, 450), accessLines("b", 1, 200))
	for _, m := range []string{"logspread_shipper_lost_bytes_total", "logspread_shipper_stream_jumps_total"} {
		if v := scrape(t, addr, m); v != 0 {
			t.Errorf("%s %v, want 0", m, v)
		}
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
}
