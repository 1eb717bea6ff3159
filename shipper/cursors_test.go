package shipper

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestCursorsFallBack: a collector cursor file that is corrupt (zeroed by a crash,
// garbage, another version, a bad collector name) or missing falls back to the previous
// copy each save keeps, counted and logged; without a usable copy the shipper starts
// without cursors. It never refuses to start (a damaged collectors.json was "invalid
// shipper config" and exit 1), and the corrupt file is moved aside so that the next
// save does not make it the previous copy. A file that cannot be read is an error.
func TestCursorsFallBack(t *testing.T) {
	good := `{"version":1,"collectors":[{"name":"a","streams":{"7":100}}]}` + "\n"
	older := `{"version":1,"collectors":[{"name":"a","streams":{"7":40}}]}` + "\n"
	for _, tc := range []struct {
		name         string
		cur, prev    string // "": absent
		want         uint64 // collector a's cursor of stream 7 (0: none loaded)
		corrupt      float64
		warn         string
		corruptMoved bool
	}{
		{name: "good", cur: good, want: 100},
		{name: "none saved yet", want: 0},
		{name: "zeroed, previous copy", cur: "\x00\x00\x00\x00", prev: older, want: 40, corrupt: 1, warn: "previous copy", corruptMoved: true},
		{name: "garbage, previous copy", cur: "{not json", prev: older, want: 40, corrupt: 1, warn: "previous copy", corruptMoved: true},
		{name: "another version", cur: `{"version":9}`, prev: older, want: 40, corrupt: 1, warn: "previous copy", corruptMoved: true},
		{name: "bad collector name", cur: `{"version":1,"collectors":[{"name":"../x","streams":{}}]}`, prev: older, want: 40, corrupt: 1, warn: "previous copy", corruptMoved: true},
		{name: "missing, previous copy (a crash inside a save)", prev: older, want: 40, warn: "previous copy"},
		{name: "both corrupt", cur: "{", prev: "\x00", corrupt: 2, warn: "starting without them", corruptMoved: true},
		{name: "corrupt, no previous copy", cur: "{", corrupt: 1, warn: "starting without them", corruptMoved: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, CursorsFile)
			for f, b := range map[string]string{name: tc.cur, name + ".prev": tc.prev} {
				if b != "" {
					if err := os.WriteFile(f, []byte(b), 0o640); err != nil {
						t.Fatal(err)
					}
				}
			}
			cfg := DefaultConfig()
			cfg.Group, cfg.StateDir, cfg.Ack, cfg.RequireCollector = "www", dir, AckWritten, true
			logs := &strings.Builder{}
			sh, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			l := newSendLoop(sh, nil, nil)
			if err := l.loadCursors(); err != nil {
				t.Fatalf("loadCursors: %v", err)
			}
			var got uint64
			if c := l.tr.byName["a"]; c != nil {
				got = c.cursor[7]
			}
			if got != tc.want {
				t.Errorf("cursor of a, stream 7: %d, want %d", got, tc.want)
			}
			if n := testutil.ToFloat64(sh.m.CursorsCorrupt); n != tc.corrupt {
				t.Errorf("collector_cursors_corrupt_total %v, want %v", n, tc.corrupt)
			}
			if tc.warn != "" && !strings.Contains(logs.String(), tc.warn) {
				t.Errorf("log lacks %q:\n%s", tc.warn, logs.String())
			}
			if _, err := os.Stat(name + ".corrupt"); (err == nil) != tc.corruptMoved {
				t.Errorf(".corrupt exists: %v, want %v", err == nil, tc.corruptMoved)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		dir := t.TempDir()
		name := filepath.Join(dir, CursorsFile)
		if err := os.Mkdir(name, 0o755); err != nil { // read(2) of a directory: EISDIR
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Group, cfg.StateDir, cfg.Ack, cfg.RequireCollector = "www", dir, AckWritten, true
		sh, err := New(cfg, testsupport.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = newSendLoop(sh, nil, nil).loadCursors()
		if err == nil || errors.Is(err, errCorruptCursors) || !strings.Contains(err.Error(), name) {
			t.Fatalf("loadCursors: %v, want a read error naming %s", err, name)
		}
	})
}

// TestCursorsSaveKeepsPrevious: each save keeps the file it replaces as the previous copy.
func TestCursorsSaveKeepsPrevious(t *testing.T) {
	name := filepath.Join(t.TempDir(), CursorsFile)
	for _, b := range []string{"one\n", "two\n", "three\n"} {
		if err := writeCursors(name, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	for f, want := range map[string]string{name: "three\n", name + ".prev": "two\n"} {
		if b, err := os.ReadFile(f); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", f, b, err, want)
		}
	}
}
