package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipHostToCollector: two shippers with --host, and one with --host - (none),
// ship to a collector whose www log is split by {host} and whose api log prefixes
// every line with its host (--host-prefix): each line is in its host's segment once,
// and prefixed with its host, with "_unknown" for the shipper that sends none.
func TestShipHostToCollector(t *testing.T) {
	dir := testsupport.SocketDir(t)
	sock := filepath.Join(dir, "4803")
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	out := filepath.Join(t.TempDir(), "out")
	cfg := filepath.Join(t.TempDir(), "collect.yaml")
	writeConfig(t, cfg, "spread: "+addr+"\ndir: "+out+"\nflush_interval: 20ms\nlogs:\n"+
		"  - group: www\n    path: \"www/{host}.log.zst\"\n"+
		"  - group: api\n    path: \"api.log.zst\"\n    host_prefix: true\n")
	col := testsupport.StartProcess(t, "collect", "--config", cfg, "--state-dir", filepath.Join(t.TempDir(), "state"))
	col.WaitLog(t, "joined all groups")

	ship := func(group, host, lines string) {
		t.Helper()
		cmd := testsupport.Command(t, "ship", "--spread", addr, "--group", group, "--host", host,
			"--state-dir", filepath.Join(t.TempDir(), "state"), "-")
		cmd.Stdin = strings.NewReader(lines)
		p := testsupport.Start(t, cmd)
		if code := p.Wait(t); code != 0 {
			t.Fatalf("ship --host %s exited %d:\n%s", host, code, p.Stderr)
		}
	}
	ship("www", "web1", "a1\na2\n")
	ship("www", "web2.example.com", "b1\n")
	ship("www", "-", "c1\n")
	ship("api", "web1", "x1\n")
	ship("api", "-", "y1\n")
	if bad := testsupport.Command(t, "ship", "--group", "www", "--host", "../etc", "--check-config", "-"); true {
		var stderr bytes.Buffer
		bad.Stderr = &stderr
		if err := bad.Run(); err == nil || !strings.Contains(stderr.String(), "--host") {
			t.Errorf("ship --host ../etc: %v, want an error naming --host:\n%s", err, stderr.String())
		}
	}
	if code := col.Terminate(t); code != 0 {
		t.Fatalf("collect exited %d:\n%s", code, col.Stderr)
	}
	// The summary says what this run wrote (a resent batch may be dropped as a duplicate).
	col.WaitLog(t, `msg="collector stopped; every line received was written" .*lines=6 bytes=18 duplicates_dropped=\d+ gaps=0 gap_bytes=0 bad_messages=0 streams=5`)

	if got, want := segFiles(t, out), []string{"api.log.zst", "www/_unknown.log.zst", "www/web1.log.zst", "www/web2.example.com.log.zst"}; !slices.Equal(got, want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	for prefix, want := range map[string][]string{
		"www/web1.":     {"a1\n", "a2\n"},
		"www/web2.":     {"b1\n"},
		"www/_unknown.": {"c1\n"},
		"api.":          {"web1 x1\n", "_unknown y1\n"},
	} {
		if got := catSegs(t, out, prefix); !slices.Equal(got, want) {
			t.Errorf("%s*: %q, want %q", prefix, got, want)
		}
	}
}
