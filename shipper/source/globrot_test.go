package source

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestGlobRotatedNamesAlsoMatch: a glob whose rotated names also match it (logrotate's
// "extension .log" under logs/*.log: app.log -> app.1.log -> app.2.log; renamed
// directories under srv/*/logs/*.log: site1 -> site1.old1 -> site1.old2). The stream of
// the live name drains each renamed generation and goes on to the new file at its path;
// a second rename of a generation it left is no new file: skipped while it holds no
// more than was read, read on from where it was left once written to. Every line is
// read once (a restart between rotations: TestShipGlobRotatedNamesAlsoMatch). Each
// phase ends by appending a marker to every match: a match
// read again from its start would return its old lines before its marker.
func TestGlobRotatedNamesAlsoMatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pattern string
		live    string
		// rotate renames the generations under dir as the rotation does, leaving the
		// live name free.
		rotate func(t *testing.T, dir string, n int)
		// left: the name of the generation left at the n-th rotation before, after n
		// rotations.
		left func(n int) string
	}{
		{
			name: "extension", pattern: "logs/*.log", live: "logs/app.log",
			rotate: func(t *testing.T, dir string, n int) {
				for k := n - 1; k >= 1; k-- {
					mustRename(t, filepath.Join(dir, fmt.Sprintf("logs/app.%d.log", k)), filepath.Join(dir, fmt.Sprintf("logs/app.%d.log", k+1)))
				}
				mustRename(t, filepath.Join(dir, "logs/app.log"), filepath.Join(dir, "logs/app.1.log"))
			},
			left: func(n int) string { return fmt.Sprintf("logs/app.%d.log", n) },
		},
		{
			name: "directory", pattern: "srv/*/logs/*.log", live: "srv/site1/logs/a.log",
			rotate: func(t *testing.T, dir string, n int) {
				for k := n - 1; k >= 1; k-- {
					mustRename(t, filepath.Join(dir, fmt.Sprintf("srv/site1.old%d", k)), filepath.Join(dir, fmt.Sprintf("srv/site1.old%d", k+1)))
				}
				mustRename(t, filepath.Join(dir, "srv/site1"), filepath.Join(dir, "srv/site1.old1"))
				if err := os.MkdirAll(filepath.Join(dir, "srv/site1/logs"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			left: func(n int) string { return fmt.Sprintf("srv/site1.old%d/logs/a.log", n) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := func(name string) string { return filepath.Join(dir, name) }
			if err := os.MkdirAll(filepath.Dir(p(tc.live)), 0o755); err != nil {
				t.Fatal(err)
			}
			cfg, w := testConfig(t)
			cfg.RotateWait = 10 * time.Millisecond
			open := func() (*Set, *Glob, *ackReader) {
				s := openSet(t, cfg)
				g, err := s.OpenGlob(p(tc.pattern))
				if err != nil {
					t.Fatal(err)
				}
				return s, g, startAckReader(t, g, cfg.ChunkMax)
			}
			closeAll := func(s *Set, g *Glob, r *ackReader) {
				r.stop()
				g.Close()
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			// marks appends a marker to every match and returns what it appended.
			round := 0
			marks := func() string {
				round++
				ms, err := filepath.Glob(p(tc.pattern))
				if err != nil {
					t.Fatal(err)
				}
				var all string
				for _, m := range ms {
					line := fmt.Sprintf("mark %d %s\n", round, strings.TrimPrefix(m, dir))
					appendFile(t, m, line)
					all += line
				}
				return all
			}
			// decided waits until the glob decided about name: not a stream of its
			// own (claimed by the stream that reads its file, or read and left).
			decided := func(g *Glob, name string) {
				testsupport.EventuallyErr(t, func() error {
					w.Tick()
					g.mu.Lock()
					defer g.mu.Unlock()
					_, claimed := g.claimed[p(name)]
					_, read := g.read[p(name)]
					if !claimed && !read {
						ps := slices.Sorted(func(yield func(string) bool) {
							for c := range g.children {
								if !yield(strings.TrimPrefix(c, dir)) {
									return
								}
							}
						})
						return fmt.Errorf("%s neither claimed nor read (streams: %q)", name, ps)
					}
					return nil
				})
			}

			s, g, r := open()
			want := ""
			write := func(gen int) {
				lines := tagged(fmt.Sprintf("g%d", gen), 1, 5)
				appendFile(t, p(tc.live), lines)
				want += lines
			}
			write(1)
			r.waitLines(t, w, want)
			for n := 1; n <= 3; n++ {
				tc.rotate(t, dir, n)
				write(n + 1)
				r.waitLines(t, w, want)
			}
			decided(g, tc.left(3))
			want += marks()
			r.waitLines(t, w, want)
			// A generation left, then written to (a writer that still had it open):
			// read on from where it was left.
			late := tagged("late", 1, 3)
			appendFile(t, p(tc.left(3)), late)
			want += late
			r.waitLines(t, w, want)
			want += marks()
			r.waitLines(t, w, want)
			closeAll(s, g, r)
		})
	}
}

// TestGlobLeftGenerationTakenOverReadOnce: under app.log*, the default rotated names are
// glob matches too. app.log's stream drains app.log.1 and lingers on it (rotate_wait),
// or has left it for good and looks at it for growth; its writer appends to it before
// and after the next rotation, and the next generation's writer to it after. Every line
// is read once, whichever stream reads it (the stream of the match app.log.1 may take
// it on where app.log's stream left it).
func TestGlobLeftGenerationTakenOverReadOnce(t *testing.T) {
	for _, wait := range []time.Duration{time.Hour, 10 * time.Millisecond} {
		t.Run(wait.String(), func(t *testing.T) {
			dir := t.TempDir()
			p := func(name string) string { return filepath.Join(dir, name) }
			cfg, w := testConfig(t)
			cfg.RotateWait = wait
			s := openSet(t, cfg)
			g, err := s.OpenGlob(p("app.log*"))
			if err != nil {
				t.Fatal(err)
			}
			r := startAckReader(t, g, cfg.ChunkMax)
			want := ""
			add := func(name, lines string) {
				appendFile(t, p(name), lines)
				want += lines
			}
			add("app.log", tagged("g1", 1, 5))
			r.waitLines(t, w, want)
			rotate := func() {
				for k := 3; k >= 1; k-- {
					if _, err := os.Stat(p(fmt.Sprintf("app.log.%d", k))); err == nil {
						mustRename(t, p(fmt.Sprintf("app.log.%d", k)), p(fmt.Sprintf("app.log.%d", k+1)))
					}
				}
				mustRename(t, p("app.log"), p("app.log.1"))
			}
			rotate()
			add("app.log", tagged("g2", 1, 5))
			r.waitLines(t, w, want)
			add("app.log.1", tagged("old1", 1, 2)) // g1's writer, still holding it
			r.waitLines(t, w, want)
			rotate()
			add("app.log", tagged("g3", 1, 5))
			r.waitLines(t, w, want)
			add("app.log.2", tagged("old2", 1, 2)) // g1's writer again
			add("app.log.1", tagged("old3", 1, 2)) // g2's writer
			r.waitLines(t, w, want)
			// A line read twice may come after the wait: a last line at the path, and
			// every stream looked at again, before the check.
			add("app.log", tagged("end", 1, 1))
			r.waitLines(t, w, want)
			w.Tick()
			add("app.log", tagged("end", 2, 2))
			r.waitLines(t, w, want)
			r.stop()
			g.Close()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGlobCopytruncatedTwiceWhilePaused: under access.log*, reading paused (the reader
// gone, a full window, SIGSTOP) across two copytruncate rotations with a rotate count
// (access.log.1 renamed to access.log.2, then copied again). The second copy holds only
// lines written after the first: the glob follows it as a new file (from its start),
// and access.log's stream drained it too as the next copy made while it did not look:
// its lines twice (a breaker's logrotate run: 100 of 400 lines doubled, 6 of 7). A copy
// another stream reads is that stream's.
func TestGlobCopytruncatedTwiceWhilePaused(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	appendFile(t, p("access.log"), "")
	cfg, w := testConfig(t)
	cfg.NoWatch = true
	s := openSet(t, cfg)
	g, err := s.OpenGlob(p("access.log*"))
	if err != nil {
		t.Fatal(err)
	}
	want := tagged("a", 0, 9)
	appendFile(t, p("access.log"), want)
	r := startAckReader(t, g, cfg.ChunkMax)
	r.waitLines(t, w, want)
	r.stop() // paused
	appendFile(t, p("access.log"), tagged("b", 0, 9))
	copyTruncate(t, p("access.log"), p("access.log.1"))
	appendFile(t, p("access.log"), tagged("c", 0, 9))
	mustRename(t, p("access.log.1"), p("access.log.2"))
	copyTruncate(t, p("access.log"), p("access.log.1"))
	appendFile(t, p("access.log"), tagged("d", 0, 9))
	want += tagged("b", 0, 9) + tagged("c", 0, 9) + tagged("d", 0, 9)
	r2 := startAckReader(t, g, cfg.ChunkMax)
	r2.mu.Lock()
	for l, n := range r.lines {
		r2.lines[l] += n
	}
	r2.mu.Unlock()
	r2.waitLines(t, w, want)
	w.Tick()
	appendFile(t, p("access.log"), tagged("e", 0, 0))
	want += tagged("e", 0, 0)
	r2.waitLines(t, w, want)
	r2.stop()
	g.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
