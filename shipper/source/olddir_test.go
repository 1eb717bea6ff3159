package source

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCheckRotatedNameDirectory: a rotated-name pattern may name another directory
// (logrotate's olddir) before the name: a literal one, relative to the live file's or
// absolute, with {name} in the last element.
func TestCheckRotatedNameDirectory(t *testing.T) {
	for _, p := range []string{"{name}.[0-9]*", "../old/{name}.[0-9]*", "old/{name}.*", "/var/log/old/{name}-*", "./{name}.*"} {
		if err := CheckRotatedName(p); err != nil {
			t.Errorf("%q: %v, want accepted", p, err)
		}
	}
	for p, want := range map[string]string{
		"old/*.log":           "must contain {name}",
		"{name}/old.1":        "not in the directory part",
		"old*/{name}.1":       "must be a literal directory",
		"../o[ld]/{name}.1":   "must be a literal directory",
		"old/{name}.[0-9":     "syntax error",
		"../old/{name}/x.1":   "not in the directory part",
		"../old/{name}.1.gz?": "",
	} {
		err := CheckRotatedName(p)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v, want accepted", p, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want an error saying %q", p, err, want)
		}
	}
	cfg := DefaultConfig()
	cfg.StateDir = t.TempDir()
	cfg.RotatedNames = []string{"old*/{name}.1"}
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `"old*/{name}.1"`) {
		t.Errorf("Validate: %v, want ErrConfig naming the pattern", err)
	}
	live, other := splitRotated([]string{"{name}.[0-9]*", "../old/{name}.[0-9]*", "./{name}-*", "../old/{name}-*", "/abs/{name}.*"})
	if !slices.Equal(live, []string{"{name}.[0-9]*", "{name}-*"}) || len(other) != 2 ||
		other[0].rel != "../old" || !slices.Equal(other[0].names, []string{"{name}.[0-9]*", "{name}-*"}) ||
		other[0].at("/var/log/app") != "/var/log/old" || other[1].at("/var/log/app") != "/abs" {
		t.Errorf("splitRotated: %q %+v", live, other)
	}
}

// olddirConfig is modelConfig with rotated generations also in ../old (logrotate's
// olddir).
func olddirConfig(t *testing.T) (Config, *ManualWaker, string, string) {
	cfg, w := modelConfig(t)
	cfg.RotatedNames = append(slices.Clone(DefaultRotatedNames), "../old/{name}.[0-9]*")
	root := t.TempDir()
	logs, old := filepath.Join(root, "logs"), filepath.Join(root, "old")
	for _, d := range []string{logs, old} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, w, filepath.Join(logs, "access.log"), old
}

// TestTailRotatedToOldDirWhileDown: a file rotated into another directory (logrotate's
// olddir) while the shipper was down, after lines were written that it never read, is
// found there by identity at the restart and drained from the checkpoint before the new
// file at the path: every line once, nothing lost, no jump (main: "gone", the unread
// lines lost).
func TestTailRotatedToOldDirWhileDown(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "stopped", true: "crashed"}[crash], func(t *testing.T) {
			cfg, w, path, old := olddirConfig(t)
			s := newSources(t, cfg)
			appendFile(t, path, lines("a", 1, 20))
			tl := openTailer(t, s, path)
			cs := readChunks(t, w, tl, 4096)
			wantRead(t, chunkData(cs), lines("a", 1, 20))
			last := cs[len(cs)-1]
			off := last.End()
			if err := tl.Ack(last.Pos); err != nil {
				t.Fatal(err)
			}
			tl.noStop = crash
			tl.Close()
			appendFile(t, path, lines("a", 21, 50)) // never read
			if err := os.Rename(path, filepath.Join(old, "access.log.1")); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines("b", 1, 10))
			tl = openTailer(t, s, path)
			wantRead(t, readOn(t, w, tl, &off), lines("a", 21, 50)+lines("b", 1, 10))
			appendFile(t, path, lines("b", 11, 12))
			wantRead(t, readOn(t, w, tl, &off), lines("b", 11, 12))
			for name, m := range map[string]float64{
				"lost bytes": testutil.ToFloat64(s.m.LostBytes), "jumps": testutil.ToFloat64(s.m.StreamJumps),
				"gone": testutil.ToFloat64(s.m.FilesGone),
			} {
				if m != 0 {
					t.Errorf("%s %v, want 0", name, m)
				}
			}
		})
	}
}

// TestTailRotatedToOldDirWhileBehind: a rotation into the olddir while the tailer runs
// but has not read the last lines (paused): the rest of the rotated file is drained
// there, then the new file.
func TestTailRotatedToOldDirWhileBehind(t *testing.T) {
	cfg, w, path, old := olddirConfig(t)
	s := newSources(t, cfg)
	appendFile(t, path, lines("a", 1, 20))
	tl := openTailer(t, s, path)
	var off uint64
	wantRead(t, readOn(t, w, tl, &off), lines("a", 1, 20))
	tl.detach() // closed idle: found again by identity
	appendFile(t, path, lines("a", 21, 30))
	if err := os.Rename(path, filepath.Join(old, "access.log.1")); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("b", 1, 10))
	wantRead(t, readOn(t, w, tl, &off), lines("a", 21, 30)+lines("b", 1, 10))
	if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
		t.Errorf("lost bytes %v, want 0", got)
	}
}

// TestTailOldDirNotConfiguredNotFound: without a pattern for the olddir, the restart
// does not find the checkpointed file; it counts what it knew of it (sent by the run
// before, not acknowledged: unacked_destroyed, not lost) and goes on
// with the file at the path (the log says not found, not deleted).
func TestTailOldDirNotConfiguredNotFound(t *testing.T) {
	cfg, w, path, old := olddirConfig(t)
	cfg.RotatedNames = slices.Clone(DefaultRotatedNames)
	s := newSources(t, cfg)
	appendFile(t, path, lines("a", 1, 20))
	tl := openTailer(t, s, path)
	cs := readChunks(t, w, tl, 600)
	if err := tl.Ack(cs[0].Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	if err := os.Rename(path, filepath.Join(old, "access.log.1")); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines("b", 1, 10))
	tl = openTailer(t, s, path)
	got := chunkData(readChunks(t, w, tl, 4096))
	if !strings.HasSuffix(got, lines("b", 1, 10)) {
		t.Fatalf("read %q, want the new file", got)
	}
	// What the checkpoint knew after it was read and sent by the run before (not
	// acknowledged): not lost for a collector that has it, counted apart.
	if got := testutil.ToFloat64(s.m.LostBytes); got != 0 {
		t.Errorf("lost bytes %v, want 0 (the run before sent all of it)", got)
	}
	if got, want := testutil.ToFloat64(s.m.UnackedDestroyed), float64(len(lines("a", 1, 20))-len(cs[0].Data)); got != want {
		t.Errorf("unacknowledged destroyed bytes %v, want %v (what the run before sent after the checkpoint)", got, want)
	}
	if got := testutil.ToFloat64(s.m.FilesGone); got != 1 {
		t.Errorf("checkpointed files gone %v, want 1", got)
	}
}
