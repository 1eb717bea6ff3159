package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipGenerationComesBack: blue/green renames (mv a.log a.log.blue; a new a.log;
// mv a.log a.log.green; mv a.log.blue a.log) bring a file already shipped back to the
// followed path. It is read on from where it was left: every line of both files exactly
// once, nothing lost, no stream jump.
func TestShipGenerationComesBack(t *testing.T) {
	dir, spread, r := startShipTest(t)
	path := filepath.Join(dir, "logs", "a.log")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, nil, 0o644)
	p := testsupport.StartProcess(t, "ship", "--group", "www", "--spread", spread, "--state-dir", filepath.Join(dir, "state"),
		"--metrics-addr", "127.0.0.1:0", path)
	addr := p.MetricsAddr(t)
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
	if err := os.Rename(path, path+".green"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".blue", path); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, accessLines("a", 201, 400))
	r.expectLines(t, p, accessLines("a", 1, 400), accessLines("b", 1, 200))
	p.WaitLog(t, `a generation drained before \(it came back`)
	for _, m := range []string{"logspread_shipper_lost_bytes_total", "logspread_shipper_stream_jumps_total"} {
		if v := scrape(t, addr, m); v != 0 {
			t.Errorf("%s %v, want 0", m, v)
		}
	}
	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM %d", code)
	}
}
