package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
)

// collectorModel reads a source as a collector sees it: each line is kept by its
// stream and logical offset (a line sent again at the same place is the same line,
// dropped as collectors drop it), and only the chunks read while ack is on are
// acknowledged (a SIGKILL loses what was read after the last acknowledgement).
type collectorModel struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex // Guards the fields below.
	ack   bool
	lines map[[2]uint64]string // stream, offset -> line
	reach map[uint64]uint64    // stream -> the end of the last chunk
	// unacked: the lines read while ack was off (forgetUnacked).
	unacked map[[2]uint64]bool
	err     error
}

func newCollectorModel() *collectorModel {
	return &collectorModel{ack: true, lines: map[[2]uint64]string{}, reach: map[uint64]uint64{}, unacked: map[[2]uint64]bool{}}
}

// read reads src until stop.
func (m *collectorModel) read(src Source, chunkMax int) {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go func() {
		defer close(m.done)
		for {
			c, err := src.Next(ctx, chunkMax)
			if err == nil {
				err = checkChunk(&c)
			}
			m.mu.Lock()
			if err == nil && m.ack {
				err = src.Ack(c.Pos)
			}
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					m.err = err
				}
				m.mu.Unlock()
				return
			}
			off := c.Offset
			for l := range strings.Lines(string(c.Data)) {
				m.lines[[2]uint64{c.Stream, off}] = l
				if !m.ack {
					m.unacked[[2]uint64{c.Stream, off}] = true
				}
				off += uint64(len(l))
			}
			m.reach[c.Stream] = max(m.reach[c.Stream], c.End())
			m.mu.Unlock()
		}
	}()
}

func (m *collectorModel) stop() {
	if m.cancel != nil {
		m.cancel()
		<-m.done
		m.cancel = nil
	}
}

// forgetUnacked drops the lines read while ack was off: the collector never got them
// (they were in flight when the shipper was killed).
func (m *collectorModel) forgetUnacked() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.unacked {
		delete(m.lines, k)
	}
	clear(m.unacked)
}

func (m *collectorModel) setAck(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ack = on
}

// counts returns how many times each line was written (by distinct stream and offset).
func (m *collectorModel) counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := map[string]int{}
	for _, l := range m.lines {
		n[l]++
	}
	return n
}

// wait waits until every line of want was written, then checks that each was written
// exactly once (by stream and offset) and nothing else was.
func (m *collectorModel) wait(t *testing.T, w *ManualWaker, want string) {
	t.Helper()
	testsupport.EventuallyErr(t, func() error {
		w.Tick()
		m.mu.Lock()
		err := m.err
		m.mu.Unlock()
		if err != nil {
			t.Fatalf("Next or Ack: %v", err)
		}
		n := m.counts()
		for l := range strings.Lines(want) {
			if n[l] == 0 {
				return fmt.Errorf("waiting for %q (%d lines written)", l, len(n))
			}
		}
		return nil
	})
	wl := map[string]int{}
	for l := range strings.Lines(want) {
		wl[l]++
	}
	var bad []string
	for l, n := range m.counts() {
		if n != wl[l] {
			bad = append(bad, fmt.Sprintf("%q written %d times, want %d", strings.TrimSuffix(l, "\n"), n, wl[l]))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Fatalf("collector: %d lines wrong:\n%s", len(bad), strings.Join(bad[:min(len(bad), 20)], "\n"))
	}
}

// rotateNumbered rotates dir/app.log as logrotate does with "extension .log":
// app.N.log -> app.N+1.log, app.log -> app.1.log, and a new empty app.log.
func rotateNumbered(t *testing.T, dir string) {
	t.Helper()
	testsupport.RotateNames(t, dir, "app.log", func(k int) string { return fmt.Sprintf("app.%d.log", k) })
}

// TestGlobRotatedNamesAlsoMatchCrash: a glob whose rotated names also match it (logrotate's
// "extension .log" under logs/*.log: app.log -> app.1.log -> app.2.log), with the shipper
// killed (no stop checkpoints, acknowledgements after the last save lost) and restarted
// between rotations, and rotations while it is down. Several streams then name files by
// identity in their checkpoints (the live name's stream, and the streams of rotated names
// that took over the files it left): on restart each file is read by the stream whose
// checkpoint names it, at the offset it shipped, whatever order the names are listed in,
// and a stream that entered a file past its start never goes below offset 0. Each line
// is written once by a collector (distinct stream and offset).
//
// Under app.log* with the default rotated names, each rotated name is both a glob match
// and a rotated name of app.log ("default names"); step m appends a line to every
// match (writers that still hold the generations): a generation app.log's stream left
// and another stream took on is read by that stream only (m-after-crash: app.log's
// stream, resumed lingering on a generation the stream of its new name took over,
// read the line appended to it again, about 1 run in 12 of the cmd test).
func TestGlobRotatedNamesAlsoMatchCrash(t *testing.T) {
	for _, nm := range []struct {
		name, pattern string
		rotated       func(k int) string
	}{
		{"extension", "*.log", func(k int) string { return fmt.Sprintf("app.%d.log", k) }},
		{"default names", "app.log*", func(k int) string { return fmt.Sprintf("app.log.%d", k) }},
	} {
		t.Run(nm.name, func(t *testing.T) { globRotatedNamesCrash(t, nm.pattern, nm.rotated) })
	}
}

// globRotatedNamesCrash is TestGlobRotatedNamesAlsoMatchCrash for the glob pattern, the
// generations renamed to rotated(1), rotated(2), ...
func globRotatedNamesCrash(t *testing.T, pattern string, rotated func(k int) string) {
	for _, tc := range []struct {
		name  string
		steps string
	}{
		// The live name's stream moved on to a new file, the file it left taken over by
		// app.1.log's stream; both rotated again while down: app.1.log names the file
		// app.log's checkpoint names.
		{"down-rotation", "w r w crash r w"},
		{"down-rotation-twice", "w r w crash r r w"},
		{"two-down", "w r w r w crash r w crash r w"},
		// Acknowledgements lost: checkpoints behind the hand-over.
		{"noack", "w r w noack w crash ack r w"},
		{"noack-rotated", "w r w noack r w crash ack r w"},
		{"noack-twice", "w r w r noack w r w crash ack r w crash r w"},
		{"noack-down", "w noack r w r w crash ack w r w"},
		{"stop", "w r w stop r w stop r w"},
		{"mixed", "w r noack w r w crash r ack w r w stop r w crash w"},
		{"m-after-crash", "w r w r w crash r r w r w m w m"},
		{"m-noack", "w r w m noack r w crash ack r w m w m"},
		// A line appended to a generation another stream took on where app.log's
		// stream left it (from=left), then rotated on: the glob's match of its next
		// name read on from where app.log's stream had left it, not where the stream
		// that took it on did (that line twice, 2 of 2 runs on c4fd589).
		{"m-rotate", "w r w m r w"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs, p, cfg, w := appLogs(t)
			m := newCollectorModel()
			run := newGlobRun(t, cfg, p(pattern), m)
			open, closeAll := run.open, run.close
			rotate := func() { testsupport.RotateNames(t, logs, "app.log", rotated) }
			open()
			want, gen, up := "", 0, true
			for _, op := range strings.Fields(tc.steps) {
				switch op {
				case "w":
					gen++
					l := tagged(fmt.Sprintf("g%d", gen), 1, 20)
					appendFile(t, p("app.log"), l)
					want += l
					if up {
						m.wait(t, w, want)
					}
				case "r":
					rotate()
					if up {
						w.Tick()
					}
				case "crash", "stop":
					closeAll(op == "crash")
					up = false
					// The next rotations and writes happen while the shipper is down; it
					// restarts after them (at the next ack, or the end).
				case "m":
					// A line appended to every match (their writers still hold them).
					ms, err := filepath.Glob(p(pattern))
					if err != nil {
						t.Fatal(err)
					}
					gen++
					for _, name := range ms {
						l := fmt.Sprintf("mark %d %s\n", gen, filepath.Base(name))
						appendFile(t, name, l)
						want += l
					}
					if up {
						m.wait(t, w, want)
					}
				case "noack":
					m.setAck(false)
				case "ack":
					m.setAck(true)
				default:
					t.Fatalf("step %q", op)
				}
				if !up && (op == "w" || op == "m") {
					open()
					up = true
					m.wait(t, w, want)
				}
			}
			if !up {
				open()
			}
			m.wait(t, w, want)
			closeAll(false)
		})
	}
}

// TestRotatedNameTookUnacknowledgedGeneration: app.log's stream read a generation without
// its lines being acknowledged and left it (rotated to app.1.log); app.1.log's stream,
// followed only then, took the file where app.log's stream left it, its start
// checkpoint naming it at its end; the shipper was killed. On restart app.1.log's stream
// resumes there and leaves the file at once (handed over at its end): app.log's stream,
// whose own record says it sent the file's lines at offsets after its checkpoint, sends
// them again at those offsets, not past a jump, whichever stream reaches the file first.
// Reached after app.1.log's stream left it, app.log's stream took the hand-over and
// jumped by LossGap: the lines after it were all sent twice (at their offsets and past
// the jump; TestGlobRotatedNamesAlsoMatchCrash/noack-twice failed so about one run in 30
// under load, when the glob found app.1.log only after app.log's stream had left it);
// reached before, it yielded the file to that stream. Either way the generation's lines
// were counted as destroyed and never sent again: a collector that lacked them (in
// flight when the shipper was killed) never got them.
func TestRotatedNameTookUnacknowledgedGeneration(t *testing.T) {
	// down-rotation: rotated again while down (app.1.log's stream drains the file at
	// app.2.log and leaves it); none: the file is still app.1.log's (its stream keeps
	// following it).
	for _, down := range []bool{true, false} {
		t.Run(map[bool]string{true: "down-rotation", false: "none"}[down], func(t *testing.T) {
			testRotatedNameTookUnacknowledged(t, down)
		})
	}
}

func testRotatedNameTookUnacknowledged(t *testing.T, downRotation bool) {
	logs := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(logs, name) }
	cfg, w := testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	cfg.FromBeginning = true
	m := newCollectorModel()
	want := ""
	write := func(tag string) {
		l := tagged(tag, 1, 20)
		appendFile(t, p("app.log"), l)
		want += l
	}

	// Run 1: app.log alone; g1 and g2 acknowledged, g3 and g4 read only.
	write("g1")
	s := openSet(t, cfg)
	a, err := s.OpenFile(p("app.log"))
	if err != nil {
		t.Fatal(err)
	}
	m.read(a, cfg.ChunkMax)
	m.wait(t, w, want)
	for _, tag := range []string{"g2", "g3", "g4"} {
		if tag == "g3" {
			m.setAck(false)
		}
		rotateNumbered(t, logs)
		write(tag)
		m.wait(t, w, want)
	}
	b, err := s.OpenFile(p("app.1.log"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p("app.1.log"))
	if err != nil {
		t.Fatal(err)
	}
	if dev, ino, _ := fileID(fi); b.start.Dev != dev || b.start.Ino != ino || b.start.FileOffset != fi.Size() {
		t.Fatalf("app.1.log's start checkpoint %+v: want g3's file (inode %d) at its end (%d)", b.start, ino, fi.Size())
	}
	m.stop()
	m.forgetUnacked()               // in flight when the shipper was killed
	a.noStop, b.noStop = true, true // killed
	a.Close()
	b.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Down: rotated again (or not), g5 written. Run 2 follows the glob: app.1.log's
	// stream resumes first (its name sorts first).
	if downRotation {
		rotateNumbered(t, logs)
	}
	write("g5")
	m.setAck(true)
	s = openSet(t, cfg)
	g, err := s.OpenGlob(p("*.log"))
	if err != nil {
		t.Fatal(err)
	}
	m.read(g, cfg.ChunkMax)
	t.Cleanup(func() {
		m.stop()
		g.Close()
		s.Close()
	})
	m.wait(t, w, want)
}

// TestGlobLeftGenerationTakenOverNewerAfterCrash: under app.log*, app.log's stream left
// g1's file (app.log.1) at its end; its old writer appended a line to it while the
// shipper was down, and app.log.1's stream of the next run read it on from where it was
// left (the left index) and left it again at the next rotation. Acknowledgements lost,
// the shipper was killed with app.log's checkpoint at the end of g2's file, which
// rotated on while down. The next run walks from that checkpoint through the
// generations rotated since: g1's file, written to after the checkpointed one (its
// modification time later: in about 1% of TestGlobRotatedNamesAlsoMatchCrash/
// default_names/m-noack runs, a clock tick between the two appends of one step), is
// taken for one of them, and its own record said it left it where app.log.1's stream
// then took it: the old writer's line was read again by app.log's stream (the
// hand-over that tells so is not kept across the restart). Another stream's leave
// further on (the left index) says the bytes up to there are that stream's. (On main
// before that, 17 of 20 runs failed: in the others app.log.1's stream still reserved
// the file, walking from its checkpoint, when app.log's stream looked; the walk passed
// it over. TestTailLeftGenerationTakenOverAfterCrash has no such race.)
func TestGlobLeftGenerationTakenOverNewerAfterCrash(t *testing.T) {
	logs, p, cfg, w := appLogs(t)
	m := newCollectorModel()
	run := newGlobRun(t, cfg, p("app.log*"), m)
	open, kill := run.open, func() { run.close(true) }
	rotate := func() {
		testsupport.RotateNames(t, logs, "app.log", func(k int) string { return fmt.Sprintf("app.log.%d", k) })
	}
	want := ""
	add := func(name, lines string) {
		appendFile(t, p(name), lines)
		want += lines
	}

	// Run 1: g1 read, rotated (g1's file at app.log.1), g2 read; all acknowledged.
	open()
	add("app.log", tagged("g1", 1, 4))
	m.wait(t, w, want)
	rotate()
	w.Tick()
	add("app.log", tagged("g2", 1, 4))
	m.wait(t, w, want)
	kill()

	// Down: g1's writer appends to it. Its time is set: run 2 takes it for older than
	// g2's file (app.log's stream does not drain it as newer after g2's, which takes
	// the hand-over of the same run); run 3 for newer (written after g2's file, as
	// when a clock tick falls between the two appends of one step).
	add("app.log.1", "old g1\n")
	g2, err := os.Stat(p("app.log"))
	if err != nil {
		t.Fatal(err)
	}
	setTime := func(name string, d time.Duration) {
		at := g2.ModTime().Add(d)
		if err := os.Chtimes(p(name), at, at); err != nil {
			t.Fatal(err)
		}
	}
	setTime("app.log.1", -time.Second)

	// Run 2: app.log.1's stream reads the old writer's line; then, nothing
	// acknowledged, a rotation (g2's file at app.log.1, g1's at app.log.2), g3 read.
	open()
	m.wait(t, w, want)
	m.setAck(false)
	rotate()
	w.Tick()
	add("app.log", tagged("g3", 1, 4))
	m.wait(t, w, want)
	kill()

	// Down: rotated again, g4 written. Run 3 resumes app.log's stream at the end of
	// g2's file, left there.
	rotate()
	add("app.log", tagged("g4", 1, 4))
	setTime("app.log.3", time.Second)
	m.setAck(true)
	open()
	m.wait(t, w, want)
	// A line read twice may come after the wait: one more line at the path.
	add("app.log", tagged("g4", 5, 5))
	m.wait(t, w, want)
	kill()
}

// TestTailLeftGenerationTakenOverAfterCrash: app.log's stream left g1's file
// (app.log.1) and was killed; g1's old writer appended a line, which the stream of
// app.log.1 (another source) read on from where app.log's stream had left the file,
// then left (app.log.1 replaced). app.log's stream, resumed in g2's file rotated while
// it was down, finds g1's file (app.log.2) again, grown past where its own record says
// it left it: that line is the other stream's, not read again. Without lingering
// (rotate_wait 0) the walk took the file for a generation newer than g2's (written to
// later) and read it on from where its record said (enterLeft); with it, the restart
// lingered on it again as grown while down (resumeLinger).
func TestTailLeftGenerationTakenOverAfterCrash(t *testing.T) {
	for _, wait := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprintf("rotate_wait=%v", wait), func(t *testing.T) { testTailLeftTakenOverAfterCrash(t, wait) })
	}
}

func testTailLeftTakenOverAfterCrash(t *testing.T, rotateWait time.Duration) {
	logs := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(logs, name) }
	appendFile(t, p("app.log"), "")
	cfg, w := testConfig(t)
	cfg.RotateWait = rotateWait
	cfg.FromBeginning = true
	m := newCollectorModel()
	var s *Set
	var src *Tailer
	open := func(name string) {
		s = openSet(t, cfg)
		var err error
		if src, err = s.OpenFile(p(name)); err != nil {
			t.Fatal(err)
		}
	}
	closeAll := func(kill bool) {
		m.stop()
		src.noStop = kill
		src.Close()
		err := s.Close()
		s = nil
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if s != nil {
			closeAll(true)
		}
	})
	want := ""
	add := func(name, lines string) {
		appendFile(t, p(name), lines)
		want += lines
	}

	// Run 1: app.log's stream reads g1, leaves it at app.log.1, reads g2; killed.
	open("app.log")
	m.read(src, cfg.ChunkMax)
	add("app.log", tagged("g1", 1, 4))
	m.wait(t, w, want)
	mustRename(t, p("app.log"), p("app.log.1"))
	w.Tick()
	add("app.log", tagged("g2", 1, 4))
	m.wait(t, w, want)
	closeAll(true)
	g2, err := os.Stat(p("app.log"))
	if err != nil {
		t.Fatal(err)
	}

	// Down: g1's writer appends. Run 2 follows app.log.1 alone: its stream reads that
	// line on from where app.log's stream left the file, and leaves it (app.log.1
	// renamed to app.log.2, another one written).
	add("app.log.1", "old g1\n")
	open("app.log.1")
	m.read(src, cfg.ChunkMax)
	m.wait(t, w, want)
	mustRename(t, p("app.log.1"), p("app.log.2"))
	add("app.log.1", "other 1\n")
	g1, err := os.Stat(p("app.log.2"))
	if err != nil {
		t.Fatal(err)
	}
	_, g1Ino, _ := fileID(g1)
	testsupport.Eventually(t, func() bool {
		w.Tick()
		src.mu.Lock()
		defer src.unlockLooks()
		return src.g.has && src.g.key.ino != g1Ino
	}, "app.log.1's stream leaves g1's file")
	closeAll(false)

	// Down: that other file deleted; rotated (g2's file at app.log.1), g1's file
	// (app.log.2) written to after g2's (its time set: a clock tick between them), g3
	// written. Run 3: app.log's stream again.
	if err := os.Remove(p("app.log.1")); err != nil {
		t.Fatal(err)
	}
	mustRename(t, p("app.log"), p("app.log.1"))
	at := g2.ModTime().Add(time.Second)
	if err := os.Chtimes(p("app.log.2"), at, at); err != nil {
		t.Fatal(err)
	}
	add("app.log", tagged("g3", 1, 1))
	open("app.log")
	src.mu.Lock()
	n := len(src.linger)
	src.unlockLooks()
	if n != 0 {
		t.Errorf("app.log's stream follows %d generations for rotate_wait after the restart, want none (g1's file is app.log.1's stream's)", n)
	}
	m.read(src, cfg.ChunkMax)
	m.wait(t, w, want)
	add("app.log", tagged("g3", 2, 2))
	m.wait(t, w, want)
	closeAll(false)
}

// globRun opens and closes a Set and its Glob of pattern, the runs of a shipper: m reads
// the Glob while it is open. Closed with crash, no tailer saves its checkpoint on the
// way out (a SIGKILL). A run still open when the test ends is closed so.
type globRun struct {
	t       *testing.T
	cfg     Config
	pattern string
	m       *collectorModel
	s       *Set
	g       *Glob
}

func newGlobRun(t *testing.T, cfg Config, pattern string, m *collectorModel) *globRun {
	r := &globRun{t: t, cfg: cfg, pattern: pattern, m: m}
	t.Cleanup(func() {
		if r.s != nil {
			r.close(true)
		}
	})
	return r
}

func (r *globRun) open() {
	r.s = openSet(r.t, r.cfg)
	var err error
	if r.g, err = r.s.OpenGlob(r.pattern); err != nil {
		r.t.Fatal(err)
	}
	r.m.read(r.g, r.cfg.ChunkMax)
}

func (r *globRun) close(crash bool) {
	r.m.stop()
	if crash {
		crashGlob(r.g)
	}
	r.g.Close()
	err := r.s.Close()
	r.s = nil
	if err != nil {
		r.t.Fatal(err)
	}
}

// crashGlob makes g's tailers close as at a SIGKILL: no checkpoint saved on the way out.
func crashGlob(g *Glob) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.children {
		c.noStop = true
	}
}

// appLogs makes a logs directory holding an empty app.log, and a configuration reading
// from the beginning with a short rotate_wait: p names a file in logs.
func appLogs(t *testing.T) (logs string, p func(name string) string, cfg Config, w *ManualWaker) {
	logs = filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	p = func(name string) string { return filepath.Join(logs, name) }
	appendFile(t, p("app.log"), "")
	cfg, w = testConfig(t)
	cfg.RotateWait = 10 * time.Millisecond
	cfg.FromBeginning = true
	return logs, p, cfg, w
}
