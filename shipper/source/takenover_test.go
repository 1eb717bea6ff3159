package source

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTailLingerTakenOverNotReadAgain: app.log and app.log.1 both followed (as under
// app.log*: app.log.1 is a rotated name of app.log and a path of its own). app.log's
// stream drains the generation rotated to app.log.1 and lingers on it (rotate_wait);
// app.log.1's stream takes it on where it was left (its claim as a lingering one holds
// only while it is read) and reads what its writer appends. Rotated again, app.log.1's
// stream leaves it (its path names the next generation), and app.log's stream, still
// lingering, took the file again and read what the other had read, from where it had
// left it: those lines twice (TestShipGlobRotatedNamesAlsoMatchKilled/default_names,
// about 1 run in 12 under load). A file another stream took over is that stream's.
func TestTailLingerTakenOverNotReadAgain(t *testing.T) {
	cfg, w := modelConfig(t)
	s := newSources(t, cfg)
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	appendFile(t, p("app.log"), tagged("g1", 0, 9))
	a, err := s.OpenFile(p("app.log"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.OpenFile(p("app.log.1"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	read := func(tl *Tailer) {
		t.Helper()
		for _, c := range readChunks(t, w, tl, 64<<10) {
			for l := range strings.Lines(string(c.Data)) {
				got[l]++
			}
			if err := tl.Ack(c.Pos); err != nil {
				t.Fatal(err)
			}
		}
	}
	read(a)
	read(b)
	mustRename(t, p("app.log"), p("app.log.1"))
	appendFile(t, p("app.log"), tagged("g2", 0, 9))
	read(a) // g1 left (lingering), g2 read
	read(b) // takes g1's file where app.log's stream left it
	appendFile(t, p("app.log.1"), tagged("old", 0, 1))
	read(b) // g1's writer's lines
	mustRename(t, p("app.log.1"), p("app.log.2"))
	mustRename(t, p("app.log"), p("app.log.1"))
	appendFile(t, p("app.log"), tagged("g3", 0, 9))
	read(b) // leaves g1's file: its path names g2's now (app.log's, which it yields to)
	read(a)
	read(a)
	read(b)
	want := map[string]int{}
	for _, s := range []string{tagged("g1", 0, 9), tagged("g2", 0, 9), tagged("g3", 0, 9), tagged("old", 0, 1)} {
		for l := range strings.Lines(s) {
			want[l]++
		}
	}
	for l, n := range got {
		if n != want[l] {
			t.Errorf("%q read %d times, want %d", strings.TrimSpace(l), n, want[l])
		}
	}
	for l := range want {
		if got[l] == 0 {
			t.Errorf("%q never read", strings.TrimSpace(l))
		}
	}
}
