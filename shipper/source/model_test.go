package source

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The model-based test of the tailer: random sequences of appends, partial writes,
// rotations (rename, copytruncate with and without writes in its window), truncations,
// deletions while the writer holds the file open, re-creations, held windows (the reader
// stops calling Next, at a line end or in the middle of a file), the deletion of the
// oldest renamed generations beyond logrotate's rotate count (drawn per run: 1 to 3, or
// none), looks of the Set's looker after a rotation (Tailer.look, as on its events,
// while the reader is held or not) and restarts from the acknowledged checkpoint, on a
// real directory, checked against a model of what must be shipped.
//
// The short profile runs with the normal tests (a new base seed every run; the failing
// seed is printed). The long one runs with
//
//	go test -run TestTailModel -model.long ./shipper/source/     (or LOGSPREAD_MODEL_LONG=1)
//
// and one sequence is replayed with -model.seed N (-model.seeds and -model.ops change the
// number of seeds and operations per seed). Odd seeds run the tailer with fsnotify (the
// production default: events, shared listings, the looker's looks on them), even seeds
// poll (the ManualWaker only); -model.watch or -model.poll runs every seed in one mode.
//
// # What the model accepts
//
// Every line written is shipped exactly once, lines of one generation in the order they
// were written, and the logical offsets of a resend carry the bytes first sent there;
// every gap in the offsets (other than a LossGap jump) is counted in lost_bytes_total.
// A line may be missing only where the model says its bytes were destroyed before the
// tailer could read them, judged by physical facts, never by what the tailer chose:
//   - a truncation (no copy, or a write in copytruncate's window) destroys the lines not
//     shipped yet; a truncation of the file the tailer reads, after it read some of
//     its content, must be noticed (files_truncated_total grows before the next drain
//     ends);
//   - a deletion (of the file at the path, or of a renamed generation beyond the rotate
//     count) destroys the lines not shipped yet of a file no descriptor of the tailer
//     holds (at the deletion, or at a restart, which closes them), and what its writer
//     appends to it afterwards; the tailer's descriptors are the followed file's,
//     the live file's while its copy is drained, and those of newer files it saw at the
//     path while it drained an older one (so a file deleted before the tailer got to it
//     must be shipped whole once the tailer has seen it);
//   - a restart whose acknowledged checkpoint names bytes no longer there (its file
//     deleted, or its head or size changed, and no copy holds them) makes the stream jump
//     by LossGap: the lines after the checkpoint may then be missing or shipped a second
//     time after the jump. Such runs are counted and reported (-v).
//
// A line whose end was destroyed may arrive cut and terminated by the tailer.
var (
	modelLong  = flag.Bool("model.long", os.Getenv("LOGSPREAD_MODEL_LONG") != "", "run the long profile of TestTailModel")
	modelSeed  = flag.Uint64("model.seed", 0, "run TestTailModel with this seed only (with -model.seeds N: N seeds from it)")
	modelSeeds = flag.Int("model.seeds", 0, "number of seeds TestTailModel runs")
	modelOps   = flag.Int("model.ops", 0, "operations per seed")
	modelWatch = flag.Bool("model.watch", false, "run every seed of TestTailModel with fsnotify (the shared listings of rotated files, listing.go) as well as the waker (default: odd seeds)")
	modelPoll  = flag.Bool("model.poll", false, "run every seed of TestTailModel without fsnotify, the waker only (default: even seeds)")
	// modelShrink adds the shrink (truncate -s N) and come-back (a renamed generation
	// renamed back to the path) operations. Off by default (seeds 1-2000 pass); the
	// default profile's sequences are unchanged.
	modelShrink = flag.Bool("model.shrink", os.Getenv("LOGSPREAD_MODEL_SHRINK") != "", "add shrink and come-back operations to TestTailModel")
	// modelOldWriter adds writers that keep appending to a renamed generation (an
	// Apache graceful restart's old children writing access.log.1 under logrotate's
	// create mode, issue 10): a rename keeps the writer's descriptor open (at most two
	// old writers; the oldest closes), an operation appends whole lines through it, and
	// the reader acknowledges as it reads (the tailer reads a lingering generation only
	// once what it returned is acknowledged). Off by default: the default profile's
	// sequences are unchanged.
	// modelTrace logs each operation and chunk as it happens (with -v: among the tailer's
	// debug log), to replay a failing seed.
	modelTrace     = flag.Bool("model.trace", false, "log TestTailModel's operations and chunks as they happen (with -test.v)")
	modelOldWriter = flag.Bool("model.oldwriter", os.Getenv("LOGSPREAD_MODEL_OLDWRITER") != "", "add writers that keep appending to a renamed generation to TestTailModel (issue 10)")
)

func TestTailModel(t *testing.T) {
	seeds, ops := 25, 60
	if *modelLong {
		seeds, ops = 1000, 300
	}
	if *modelSeeds > 0 {
		seeds = *modelSeeds
	}
	if *modelOps > 0 {
		ops = *modelOps
	}
	base := uint64(time.Now().UnixNano())
	if *modelSeed != 0 {
		base = *modelSeed
		if *modelSeeds == 0 {
			seeds = 1
		}
	}
	var total modelStats
	for i := range seeds {
		seed := base + uint64(i)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			st := runModel(t, seed, ops, modelWatchSeed(seed))
			total.add(st)
		})
	}
	t.Logf("%d seeds from %d, %d operations each: %s", seeds, base, ops, &total)
}

// modelStats sums what the runs did, for the report of a long profile.
type modelStats struct {
	ops, lines, shipped, destroyed, lost, jumps, ambiguous, truncNoticed int
	count                                                                map[string]int
}

func (s *modelStats) add(o modelStats) {
	s.ops += o.ops
	s.lines += o.lines
	s.shipped += o.shipped
	s.destroyed += o.destroyed
	s.lost += o.lost
	s.jumps += o.jumps
	s.ambiguous += o.ambiguous
	s.truncNoticed += o.truncNoticed
	if s.count == nil {
		s.count = map[string]int{}
	}
	for k, v := range o.count {
		s.count[k] += v
	}
}

func (s *modelStats) String() string {
	return fmt.Sprintf("%d operations %v; %d lines written, %d shipped, %d destroyed before they could be read (%d of them missing), "+
		"%d restarts from a destroyed checkpoint (%d lines after them missing or doubled), %d must-notice truncations",
		s.ops, s.count, s.lines, s.shipped, s.destroyed, s.lost, s.jumps, s.ambiguous, s.truncNoticed)
}

// modelLine is one line the model's writer wrote.
type modelLine struct {
	gen     int
	text    string // with its '\n'
	shipped int    // times it arrived whole
	// mayLose: its bytes were destroyed before they could be read.
	mayLose bool
	// ambiguous: written before a restart from a destroyed checkpoint and not
	// acknowledged: it may be missing, or arrive twice (the second time after the jump).
	ambiguous bool
	// reread: how many shrinks (truncate -s N) of its generation kept it: a file shrunk
	// under the read offset that still starts as it did is read again from its start
	// (the peers' rule; counted in file_reread_bytes_total), so it may arrive once more
	// for each.
	reread int
}

// modelFile is one file (inode) the writer created.
type modelFile struct {
	id          int
	ino         uint64
	deleted     bool
	unreachable bool // deleted while no descriptor of the tailer held it
}

// modelGen is one generation of the log: the content one file holds from its creation (or
// truncation) on.
type modelGen struct {
	id        int
	file      *modelFile
	lines     []int // indexes into model.lines
	destroyed bool  // truncated without a copy
}

type model struct {
	t    *testing.T
	rng  *rand.Rand
	dir  string
	path string
	s    *Set
	w    *ManualWaker
	tl   *Tailer
	fd   *os.File // the writer's descriptor
	// old: writers still holding a renamed generation (-model.oldwriter), oldest first.
	old   []modelOld
	cur   *modelGen
	gens  []*modelGen
	files []*modelFile
	lines []modelLine
	half  string // first part of a line written by a partial write, rest pending
	halfL int    // its line index
	seq   int
	rot   int // rotated names used
	runs  int // restarts so far
	// rereadDup: bytes of lines kept by a shrink that arrived twice (reread).
	rereadDup int64
	// keep is logrotate's rotate count (0: every rotated file is kept): a rename
	// deletes the oldest renamed generations beyond it, read or not (rotated are the
	// renamed ones on disk, oldest first).
	keep    int
	rotated []modelRot

	chunks []Chunk
	acked  int // chunks of this run before it cannot be acknowledged any more

	// The stream as collectors rebuild it: segments by logical offset.
	segs   []*modelSeg
	byText map[string]int

	// mustNotice: a truncation of the file the tailer reads, after it shipped some of its
	// content, happened since the last drain; truncSeen is files_truncated_total then.
	mustNotice bool
	truncSeen  float64

	clock time.Time // file times: one second per write, as a real writer's rotations are
	log   []string
	stats modelStats
}

// modelRot is a generation renamed away (rename) and still on disk.
type modelRot struct {
	name string
	file *modelFile
	run  int // the run it was renamed in
}

// modelOld is a writer that keeps appending to a generation renamed away.
type modelOld struct {
	fd   *os.File
	file *modelFile
	gen  *modelGen
}

// modelSeg is a run of the stream without gaps.
type modelSeg struct {
	off    uint64
	data   []byte
	parsed int // bytes split into lines so far
}

// touch sets the modification time of the writer's file (or of name) to the next tick of
// the model's clock: the tailer orders rotated generations by modification time, and the
// model runs faster than file time stamps (a few milliseconds) advance. The clock starts
// now and runs ahead of the real one (times the tailer takes from it are older).
func (m *model) touch(name string) {
	m.clock = m.clock.Add(time.Second)
	var err error
	if name != "" {
		err = os.Chtimes(name, m.clock, m.clock)
	} else {
		tv := syscall.NsecToTimeval(m.clock.UnixNano())
		err = syscall.Futimes(int(m.fd.Fd()), []syscall.Timeval{tv, tv})
	}
	if err != nil {
		m.t.Fatal(err)
	}
}

// modelWatchSeed reports whether the seed runs the tailer with fsnotify (the production
// default: events, the shared listings and the looker's looks on them) or polling only
// (the ManualWaker: "idle" is exact). Without -model.watch or -model.poll, odd seeds
// watch: each profile runs both, and a seed replays in the mode it failed in.
func modelWatchSeed(seed uint64) bool {
	switch {
	case *modelWatch:
		return true
	case *modelPoll:
		return false
	}
	return seed%2 == 1
}

func runModel(t *testing.T, seed uint64, ops int, watch bool) modelStats {
	t.Helper()
	m := &model{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), clock: time.Now().Truncate(time.Second),
		byText: map[string]int{}}
	m.stats.count = map[string]int{}
	defer func() {
		if t.Failed() {
			t.Logf("model seed %d, fsnotify %v (replay: go test -run TestTailModel -model.seed %d -model.ops %d ./shipper/source/); operations:\n%s",
				seed, watch, seed, ops, strings.Join(m.log, "\n"))
		}
	}()
	m.dir = t.TempDir()
	m.path = filepath.Join(m.dir, "access.log")
	cfg, w := testConfig(t)
	cfg.StateDir = filepath.Join(m.dir, "state")
	cfg.NoWatch = !watch // only the ManualWaker wakes the tailer: "idle" is exact
	cfg.FromBeginning = true
	cfg.RotateWait = time.Hour // a deleted file is followed until its writer moved on
	cfg.ReadBuffer = 4096
	m.w = w
	m.s = newSources(t, cfg)
	if watch && !m.s.listings {
		t.Fatal("with fsnotify (odd seed or -model.watch): the Set keeps no listings")
	}
	m.keep = m.rng.IntN(4)
	m.create()
	m.open()
	defer func() {
		if m.tl != nil {
			m.tl.Close()
		}
		if m.fd != nil {
			m.fd.Close()
		}
		for _, o := range m.old {
			o.fd.Close()
		}
	}()
	for range ops {
		m.stats.ops++
		if *modelOldWriter && len(m.old) > 0 && m.rng.IntN(100) < 20 {
			m.oldAppend()
			if t.Failed() {
				return m.stats
			}
			continue
		}
		switch r := m.rng.IntN(100); {
		case r < 28:
			m.appendLines(1 + m.rng.IntN(5))
		case r < 35:
			m.partial()
		case r < 48:
			m.drain(-1)
		case r < 54:
			m.drain(1 + m.rng.IntN(3)) // the window fills in the middle of the file
		case r < 62:
			m.rename()
		case r < 68:
			m.copyTruncate(m.rng.IntN(4) == 0)
		case r < 71, r < 73 && !*modelShrink:
			m.truncate()
		case r < 73:
			m.shrink()
		case r < 80:
			m.deleteWhileOpen()
		case r < 86, r < 88 && !*modelShrink:
			m.recreate()
		case r < 88:
			m.comeBack()
		default:
			m.restart()
		}
		if t.Failed() {
			return m.stats
		}
	}
	m.finish()
	m.drain(-1)
	for k := 0; (*modelOldWriter || *modelShrink) && k < 8 && len(m.chunks) > m.acked && !t.Failed(); k++ {
		// Everything acknowledged at last: the lingering generations are read on (an old
		// writer's, or, with -model.shrink, one that came back to the path, was written
		// to and renamed away again: the writer's lines appended while it was back).
		n := len(m.chunks)
		if err := m.tl.Ack(m.chunks[n-1].Pos); err != nil {
			t.Fatal(err)
		}
		m.drain(-1)
		if len(m.chunks) == n {
			break
		}
	}
	m.check()
	return m.stats
}

func (m *model) op(name string, format string, args ...any) {
	m.stats.count[name]++
	m.log = append(m.log, name+" "+fmt.Sprintf(format, args...))
	if *modelTrace {
		m.t.Logf("OP %s %s", name, fmt.Sprintf(format, args...))
	}
}

// create opens a new file at path for the writer: a new generation. With keepOld the
// writer's descriptor of the file before is kept as an old writer (-model.oldwriter).
func (m *model) create(keepOld ...bool) {
	if m.fd != nil && len(keepOld) > 0 && keepOld[0] {
		if len(m.old) == 2 {
			m.old[0].fd.Close()
			m.old = m.old[1:]
		}
		m.old = append(m.old, modelOld{fd: m.fd, file: m.cur.file, gen: m.cur})
	} else if m.fd != nil {
		m.fd.Close()
	}
	f, err := os.OpenFile(m.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o644)
	if err != nil {
		m.t.Fatal(err)
	}
	m.fd = f
	fi, err := f.Stat()
	if err != nil {
		m.t.Fatal(err)
	}
	_, ino, _ := fileID(fi)
	mf := &modelFile{id: len(m.files) + 1, ino: ino}
	m.files = append(m.files, mf)
	m.newGen(mf)
	m.touch("")
}

func (m *model) newGen(f *modelFile) {
	g := &modelGen{id: len(m.gens) + 1, file: f}
	m.gens = append(m.gens, g)
	m.cur = g
}

func (m *model) write(s string) {
	if _, err := m.fd.WriteString(s); err != nil {
		m.t.Fatal(err)
	}
	m.touch("")
}

// finish completes a pending partial line: writers rotate at line ends.
func (m *model) finish() {
	if m.half == "" {
		return
	}
	m.write(m.lines[m.halfL].text[len(m.half):])
	m.half = ""
}

func (m *model) newLine() int { return m.newLineOf(m.cur) }

func (m *model) newLineOf(g *modelGen) int {
	m.seq++
	// Lines of varied lengths, unique, telling their generation.
	text := fmt.Sprintf("g%d-l%d-%s\n", g.id, m.seq, strings.Repeat("x", m.rng.IntN(120)))
	m.lines = append(m.lines, modelLine{gen: g.id, text: text, mayLose: g.file.unreachable})
	i := len(m.lines) - 1
	m.byText[text] = i
	g.lines = append(g.lines, i)
	m.stats.lines++
	return i
}

// oldAppend appends whole lines through an old writer to the renamed generation it
// holds (deleted since, beyond the rotate count, or not), or closes it.
func (m *model) oldAppend() {
	j := m.rng.IntN(len(m.old))
	o := m.old[j]
	if m.rng.IntN(8) == 0 {
		m.op("old writer", "closes (generation %d)", o.gen.id)
		o.fd.Close()
		m.old = slices.Delete(m.old, j, j+1)
		return
	}
	n := 1 + m.rng.IntN(3)
	m.op("old append", "%d to generation %d (deleted: %v)", n, o.gen.id, o.file.deleted)
	if o.file == m.cur.file {
		// The generation came back to the path (comeBack): the writer there holds the
		// same file. Its pending partial line is completed first: written between its
		// two halves, the old writer's lines (O_APPEND) would split it in the file
		// itself, a line no tailer can ship whole.
		m.finish()
	}
	var b strings.Builder
	for range n {
		b.WriteString(m.lines[m.newLineOf(o.gen)].text)
	}
	if _, err := o.fd.WriteString(b.String()); err != nil {
		m.t.Fatal(err)
	}
	m.clock = m.clock.Add(time.Second)
	tv := syscall.NsecToTimeval(m.clock.UnixNano())
	if err := syscall.Futimes(int(o.fd.Fd()), []syscall.Timeval{tv, tv}); err != nil {
		m.t.Fatal(err)
	}
}

func (m *model) appendLines(n int) {
	m.op("append", "%d", n)
	m.finish()
	var b strings.Builder
	for range n {
		b.WriteString(m.lines[m.newLine()].text)
	}
	m.write(b.String())
}

func (m *model) partial() {
	m.op("partial", "")
	m.finish()
	i := m.newLine()
	text := m.lines[i].text
	m.half, m.halfL = text[:1+m.rng.IntN(len(text)-1)], i
	m.write(m.half)
}

// destroy marks the lines of g not shipped yet as destroyed.
func (m *model) destroy(g *modelGen) (n int) {
	for _, i := range g.lines {
		if m.lines[i].shipped == 0 && !m.lines[i].mayLose {
			m.lines[i].mayLose = true
			m.stats.destroyed++
			n++
		}
	}
	return n
}

// holds reports whether the tailer holds a descriptor of f: a physical fact, taken under
// the tailer's lock (the tailer runs inside Next, and the Set's looker may hold newer
// generations open on a Waker tick between the model's operations).
// The descriptors are the followed generation's, the live file's kept while its copy is
// drained, and those of newer generations seen ahead (ahead.go).
func (m *model) holds(f *modelFile) bool {
	if m.tl == nil {
		return false
	}
	m.tl.mu.Lock() // the looker may be looking (a Waker tick)
	defer m.tl.unlockLooks()
	fds := []*os.File{m.tl.g.f, m.tl.live}
	for _, a := range m.tl.ahead {
		fds = append(fds, a.f)
	}
	for _, l := range m.tl.linger {
		fds = append(fds, l.g.f)
	}
	if p := m.tl.parked; p != nil {
		fds = append(fds, p.g.f)
	}
	for _, fd := range fds {
		if fd == nil {
			continue
		}
		fi, err := fd.Stat()
		if err != nil {
			m.t.Fatal(err)
		}
		if _, ino, _ := fileID(fi); ino == f.ino {
			return true
		}
	}
	return false
}

// follows reports whether f is the generation the tailer reads.
func (m *model) follows(f *modelFile) bool {
	if m.tl == nil || m.tl.g.f == nil {
		return false
	}
	fi, err := m.tl.g.f.Stat()
	if err != nil {
		m.t.Fatal(err)
	}
	_, ino, _ := fileID(fi)
	return ino == f.ino
}

// shippedSome reports whether some line of g arrived.
func (m *model) shippedSome(g *modelGen) bool {
	for _, i := range g.lines {
		if m.lines[i].shipped > 0 {
			return true
		}
	}
	return false
}

func (m *model) rotatedName() string {
	m.rot++
	return fmt.Sprintf("%s.%d", m.path, m.rot)
}

func (m *model) rename() {
	if m.cur.file.deleted {
		return
	}
	m.finish()
	name := m.rotatedName()
	m.op("rename", "to %s", filepath.Base(name))
	if err := os.Rename(m.path, name); err != nil {
		m.t.Fatal(err)
	}
	m.rotated = append(m.rotated, modelRot{name, m.cur.file, m.runs})
	keepOld := *modelOldWriter && m.rng.IntN(2) == 0
	if keepOld {
		m.op("old writer", "keeps writing %s", filepath.Base(name))
	}
	m.create(keepOld)
	if m.rng.IntN(2) == 0 {
		m.look()
	}
	for m.keep > 0 && len(m.rotated) > m.keep {
		m.deleteRotated(m.rotated[0])
		m.rotated = m.rotated[1:]
	}
}

// look is the Set's looker looking for the tailer (its reader paused or not) on the
// events of a rotation (without fsnotify, the model does it).
func (m *model) look() {
	if m.tl == nil {
		return
	}
	m.op("look", "")
	m.tl.lookFor()
}

// deleteRotated deletes a renamed generation, as logrotate does beyond its rotate count:
// what the tailer had not shipped of it is destroyed unless it holds the file open.
func (m *model) deleteRotated(r modelRot) {
	held := m.holds(r.file)
	m.op("delete rotated", "%s (tailer holds it: %v)", filepath.Base(r.name), held)
	if held && !m.follows(r.file) {
		m.stats.count["delete rotated held ahead"]++
	}
	if err := os.Remove(r.name); err != nil {
		m.t.Fatal(err)
	}
	r.file.deleted = true
	if !held {
		m.unreachable(r.file)
	}
}

// copyTruncate copies the file away and truncates it; with window, lines are written
// between the copy and the truncation: those the tailer did not read before the
// truncation are truly lost. In the window, the tailer may read (some or all of those
// lines: its read offset is then past the copy's end), and the copy may get the
// modification time of the write after it (one tick of a coarse file system clock).
func (m *model) copyTruncate(window bool) {
	if m.cur.file.deleted {
		return
	}
	m.finish()
	name := m.rotatedName()
	m.op("copytruncate", "to %s (write in the window: %v)", filepath.Base(name), window)
	b, err := os.ReadFile(m.path)
	if err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		m.t.Fatal(err)
	}
	m.touch(name)
	if window {
		var w strings.Builder
		var lost []int
		for range 1 + m.rng.IntN(3) {
			i := m.newLine()
			lost = append(lost, i)
			w.WriteString(m.lines[i].text)
		}
		m.write(w.String())
		for _, i := range lost {
			m.lines[i].mayLose = true
			m.stats.destroyed++
		}
		if m.rng.IntN(2) == 0 {
			m.op("copytruncate window", "copy's time is the write's")
			if err := os.Chtimes(name, m.clock, m.clock); err != nil {
				m.t.Fatal(err)
			}
		}
		switch m.rng.IntN(3) {
		case 0:
			m.drain(-1) // the tailer reads the window's lines before the truncation
		case 1:
			m.drain(1 + m.rng.IntN(3))
		}
		if m.t.Failed() {
			return
		}
	}
	m.noteTruncation()
	if err := m.fd.Truncate(0); err != nil {
		m.t.Fatal(err)
	}
	m.touch("")
	m.newGen(m.cur.file)
}

// noteTruncation records that a truncation of the file the tailer reads, after it
// shipped some of the generation, must be noticed (not of a file it only holds open: the
// live file while its copy is drained, a newer file seen ahead; it looks at those when
// their turn comes).
func (m *model) noteTruncation() {
	if m.follows(m.cur.file) && m.shippedSome(m.cur) {
		m.mustNotice = true
	}
}

func (m *model) truncate() {
	if m.cur.file.deleted {
		return
	}
	m.finish()
	m.op("truncate", "")
	m.noteTruncation()
	m.destroy(m.cur)
	m.cur.destroyed = true
	if err := m.fd.Truncate(0); err != nil {
		m.t.Fatal(err)
	}
	m.touch("")
	m.newGen(m.cur.file)
}

// shrink truncates the file to a smaller non-zero size at a line end (truncate -s N):
// its first lines stay (read on, never again), the others are destroyed.
func (m *model) shrink() {
	if m.cur.file.deleted || len(m.cur.lines) < 2 {
		return
	}
	m.finish()
	keep := 1 + m.rng.IntN(len(m.cur.lines)-1)
	var size int64
	for _, i := range m.cur.lines[:keep] {
		size += int64(len(m.lines[i].text))
	}
	m.op("shrink", "to %d bytes (%d of %d lines)", size, keep, len(m.cur.lines))
	gone := &modelGen{lines: m.cur.lines[keep:]}
	m.destroy(gone)
	m.cur.lines = m.cur.lines[:keep:keep]
	for _, i := range m.cur.lines {
		m.lines[i].reread++
	}
	if err := m.fd.Truncate(size); err != nil {
		m.t.Fatal(err)
	}
	m.touch("")
}

// comeBack brings a renamed generation back to the path, the file there renamed away
// (blue/green: mv a.log a.log.green; mv a.log.blue a.log), once the tailer drained what
// was written; the writer reopens the path. The generation was left in this run (the
// tailer remembers the last few it left).
func (m *model) comeBack() {
	if m.cur.file.deleted {
		return
	}
	var back []int
	for j, r := range m.rotated {
		if r.run == m.runs && j >= len(m.rotated)-4 {
			back = append(back, j)
		}
	}
	if len(back) == 0 {
		return
	}
	m.finish()
	m.drain(-1)
	j := back[m.rng.IntN(len(back))]
	r := m.rotated[j]
	name := m.rotatedName()
	m.op("come back", "%s to the path, the file there to %s", filepath.Base(r.name), filepath.Base(name))
	if err := os.Rename(m.path, name); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(r.name, m.path); err != nil {
		m.t.Fatal(err)
	}
	m.rotated = append(slices.Delete(m.rotated, j, j+1), modelRot{name, m.cur.file, m.runs})
	m.fd.Close()
	f, err := os.OpenFile(m.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		m.t.Fatal(err)
	}
	m.fd = f
	for _, g := range m.gens {
		if g.file == r.file {
			m.cur = g
		}
	}
	m.touch("")
}

func (m *model) deleteWhileOpen() {
	if m.cur.file.deleted {
		return
	}
	held := m.holds(m.cur.file)
	m.op("delete", "while open (tailer holds it: %v)", held)
	if held && !m.follows(m.cur.file) {
		m.stats.count["delete held ahead"]++ // a newer file seen while an older one is drained
	}
	if err := os.Remove(m.path); err != nil {
		m.t.Fatal(err)
	}
	m.cur.file.deleted = true
	if !held {
		m.unreachable(m.cur.file)
	}
}

// unreachable marks a deleted file no descriptor of the tailer holds: what it holds and
// what its writer appends to it can no longer be read.
func (m *model) unreachable(f *modelFile) {
	f.unreachable = true
	for _, g := range m.gens {
		if g.file == f {
			m.destroy(g)
		}
	}
}

func (m *model) recreate() {
	if !m.cur.file.deleted {
		return
	}
	m.finish()
	m.op("recreate", "")
	m.create()
}

func (m *model) open() {
	tl, err := m.s.OpenFile(m.path)
	if err != nil {
		m.t.Fatal(err)
	}
	m.tl = tl
}

// restart acknowledges a chunk of this run (not always the last: acknowledgements lag),
// closes the tailer and opens it again from its checkpoint.
func (m *model) restart() {
	ack := -1
	if len(m.chunks) > m.acked {
		ack = len(m.chunks) - 1 - m.rng.IntN(min(len(m.chunks)-m.acked, 4))
	}
	if ack >= 0 {
		if err := m.tl.Ack(m.chunks[ack].Pos); err != nil {
			m.t.Fatal(err)
		}
	}
	cp, _, err := m.s.store.Load(m.path)
	if err != nil {
		m.t.Fatal(err)
	}
	resumable := m.resumable(&cp)
	m.op("restart", "(ack chunk %d, checkpoint at file offset %d of inode %d, resumable: %v)", ack, cp.FileOffset, cp.Ino, resumable)
	m.tl.Close()
	m.tl = nil
	// Closing the descriptors makes deleted files unreachable.
	for _, f := range m.files {
		if f.deleted && !f.unreachable {
			m.unreachable(f)
		}
	}
	if !resumable {
		// The lines after the checkpoint may be missing, or arrive twice.
		m.stats.jumps++
		acked := m.ackedLines(ack)
		for i := range m.lines {
			if l := &m.lines[i]; !acked[i] && !l.ambiguous && !(l.mayLose && l.shipped == 0) {
				l.ambiguous = true
				m.stats.ambiguous++
			}
		}
	}
	m.acked = len(m.chunks)
	m.runs++
	m.open()
	m.mustNotice = false // the tailer closed the file: the truncation is not its to see
}

// ackedLines returns the lines in the chunks up to ack.
func (m *model) ackedLines(ack int) map[int]bool {
	acked := map[int]bool{}
	if ack >= 0 {
		for _, c := range m.chunks[:ack+1] {
			for _, raw := range bytes.SplitAfter(c.Data, []byte{'\n'}) {
				if i, ok := m.byText[string(raw)]; ok {
					acked[i] = true
				}
			}
		}
	}
	return acked
}

// resumable reports whether the bytes before cp are still where cp says: a file with its
// inode, or a copy (another inode), holding at least cp.FileOffset bytes and starting with
// cp's head.
func (m *model) resumable(cp *Checkpoint) bool {
	if !cp.HasFile() {
		return true
	}
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		m.t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "access.log") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(m.dir, e.Name()))
		if err != nil {
			m.t.Fatal(err)
		}
		fi, err := e.Info()
		if err != nil {
			m.t.Fatal(err)
		}
		_, ino, _ := fileID(fi)
		if int64(len(b)) < cp.FileOffset || len(b) < cp.FPLen || (cp.FPLen > 0 && fingerprint(b[:cp.FPLen]) != cp.FP) {
			continue
		}
		if ino == cp.Ino || cp.FPLen > 0 {
			return true
		}
	}
	return false
}

// drain reads until the tailer goes to sleep with nothing left, or (n > 0) n chunks.
func (m *model) drain(n int) {
	if n > 0 {
		m.op("read", "%d chunks", n)
	} else {
		m.op("drain", "")
	}
	slept := m.w.Slept()
	for k := 0; n < 0 || k < n; k++ {
		select {
		case <-slept:
		default:
		}
		ctx, cancel := context.WithCancel(context.Background())
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			select {
			case <-slept:
				cancel()
			case <-stop:
			}
		}()
		c, err := m.tl.Next(ctx, 1+m.rng.IntN(2048)+2)
		close(stop)
		<-done // so that it never takes the next round's signal
		cancel()
		if errors.Is(err, context.Canceled) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			m.t.Fatalf("Next: %v", err)
		}
		if err := checkChunk(&c); err != nil {
			m.t.Fatalf("chunk at %d: %v", c.Offset, err)
		}
		m.chunks = append(m.chunks, c)
		if *modelTrace {
			var ids []string
			for _, raw := range bytes.SplitAfter(c.Data, []byte{'\n'}) {
				if j := bytes.IndexByte(raw, 'x'); j > 0 {
					ids = append(ids, string(raw[:j-1]))
				} else if len(raw) > 0 {
					ids = append(ids, fmt.Sprintf("%.12q", raw))
				}
			}
			m.t.Logf("CHUNK %d at %d+%d lost %d pos ino %d off %d foff %d: %v", len(m.chunks)-1, c.Offset, len(c.Data), c.Lost, c.Pos.Ino, c.Pos.Offset, c.Pos.FileOffset, ids)
		}
		m.add(&c)
		if *modelOldWriter && len(m.chunks) > m.acked && m.rng.IntN(2) == 0 {
			// The sender's acknowledgements, lagging a little.
			if err := m.tl.Ack(m.chunks[len(m.chunks)-1-m.rng.IntN(min(len(m.chunks)-m.acked, 2))].Pos); err != nil {
				m.t.Fatal(err)
			}
		}
		if m.t.Failed() {
			return
		}
	}
	if n < 0 && m.mustNotice {
		if got := testutil.ToFloat64(m.s.m.FilesTruncated); got == m.truncSeen {
			m.t.Fatalf("the file the tailer holds was truncated after it shipped some of it; files_truncated_total is still %v", got)
		}
		m.stats.truncNoticed++
	}
	if n < 0 {
		m.mustNotice = false
		m.truncSeen = testutil.ToFloat64(m.s.m.FilesTruncated)
	}
}

// add puts a chunk into the rebuilt stream (as collectors do: a resend must carry the
// same bytes at the same offsets) and checks the lines it completes.
func (m *model) add(c *Chunk) {
	t := m.t
	i := len(m.segs) - 1
	for i >= 0 && c.Offset < m.segs[i].off {
		i--
	}
	switch {
	case i < 0 && len(m.segs) > 0:
		t.Fatalf("chunk at %d before the stream's first offset %d", c.Offset, m.segs[0].off)
	case i >= 0 && c.Offset <= m.segs[i].off+uint64(len(m.segs[i].data)):
		sg := m.segs[i]
		pos := c.Offset - sg.off
		n := min(uint64(len(c.Data)), uint64(len(sg.data))-pos)
		if !bytes.Equal(sg.data[pos:pos+n], c.Data[:n]) {
			t.Fatalf("chunk at %d resends other bytes than first sent: offsets reused", c.Offset)
		}
		if n < uint64(len(c.Data)) {
			if i != len(m.segs)-1 {
				t.Fatalf("chunk at %d overlaps a later segment", c.Offset)
			}
			sg.data = append(sg.data, c.Data[n:]...)
			m.parse(sg)
		}
	default:
		sg := &modelSeg{off: c.Offset, data: bytes.Clone(c.Data)}
		m.segs = append(m.segs, sg)
		m.parse(sg)
	}
}

// parse checks the complete lines of sg not parsed yet.
func (m *model) parse(sg *modelSeg) {
	for {
		j := bytes.IndexByte(sg.data[sg.parsed:], '\n')
		if j < 0 {
			return
		}
		raw := sg.data[sg.parsed : sg.parsed+j+1]
		sg.parsed += j + 1
		i, ok := m.byText[string(raw)]
		if !ok {
			// A line whose end was destroyed is terminated by the tailer.
			if m.cutLine(raw) {
				continue
			}
			m.t.Fatalf("stream holds a line never written: %q", raw)
		}
		l := &m.lines[i]
		l.shipped++
		if extra := l.reread + map[bool]int{true: 1}[l.ambiguous]; l.shipped > 1+extra {
			m.t.Fatalf("line shipped twice: %q", raw)
		}
		if l.shipped > 1 {
			if !l.ambiguous {
				m.rereadDup += int64(len(l.text))
			}
			continue
		}
		m.stats.shipped++
		// In order within its generation: no later line of it arrived before.
		for _, k := range m.gens[l.gen-1].lines {
			if k > i && m.lines[k].shipped > 0 {
				m.t.Fatalf("generation %d out of order: %q after %q", l.gen, raw, m.lines[k].text)
			}
		}
	}
}

// check compares the rebuilt stream with the model once everything was drained.
func (m *model) check() {
	t := m.t
	var gap uint64
	for k := 1; k < len(m.segs); k++ {
		last := m.segs[k-1]
		if g := m.segs[k].off - last.off - uint64(len(last.data)); g < LossGap/2 {
			gap += g
		}
	}
	for i, l := range m.lines {
		if l.shipped > 0 || (m.half != "" && i == m.halfL) {
			continue
		}
		if !l.mayLose && !l.ambiguous {
			t.Fatalf("line %q (generation %d) never shipped, and the model says it was never destroyed", l.text, l.gen)
		}
		if l.mayLose {
			m.stats.lost++
		}
	}
	if reread := testutil.ToFloat64(m.s.m.RereadBytes); float64(m.rereadDup) > reread {
		t.Fatalf("%d bytes of lines kept by a shrink arrived twice, but only %v bytes counted read again", m.rereadDup, reread)
	}
	// A gap is bytes destroyed before they were read (lost) or read and sent, not
	// acknowledged (the model's reader drops what was not acknowledged at a restart),
	// then destroyed (unacked_destroyed): counted one way or the other.
	lost, unacked := testutil.ToFloat64(m.s.m.LostBytes), testutil.ToFloat64(m.s.m.UnackedDestroyed)
	if float64(gap) > lost+unacked {
		t.Fatalf("gaps of %d bytes in the stream, but only %v lost bytes and %v unacknowledged destroyed bytes counted", gap, lost, unacked)
	}
}

// cutLine reports whether raw, minus its '\n', starts a line that may be lost: a line
// whose end was destroyed, terminated by the tailer.
func (m *model) cutLine(raw []byte) bool {
	p := string(raw[:len(raw)-1])
	for _, l := range m.lines {
		if l.mayLose && strings.HasPrefix(l.text, p) {
			return true
		}
	}
	return false
}
