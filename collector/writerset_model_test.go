package collector

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York for the zone changes

	"github.com/logspread/logspread/collector/segment"
)

// modelLine is one line the model wrote: the segment name (without collision suffix)
// the template gave at the moment it was written, and whether it may be missing (it
// was buffered when the writer set crashed, or in a deleted segment).
type modelLine struct {
	text  string
	base  string
	maybe bool
	gone  bool // in a segment the test deleted: must be nowhere
}

// writerSetModel drives a real writerSet (with its segment writers, state file and
// recovery) through random operations and keeps the model: for every line, the name of
// the segment it must be in.
type writerSetModel struct {
	t      *testing.T
	rng    *rand.Rand
	cfg    Config
	loc    *time.Location
	now    time.Time
	tmpl   *segment.Template
	w      *writerSet
	lines  []modelLine
	unsure map[int]bool // indexes of lines not known to be in a complete frame
	vhosts []string
	ops    map[string]int
	// last is, per vhost, the name its last line went to; seen, the names it used.
	// A name used again after another (the clock stepped back) may get one more
	// segment, with a collision suffix: reentries counts those, per name.
	last      map[string]string
	seen      map[string]bool // vhost + "\x00" + name
	reentries map[string]int
	rotated   int // logrotate moves so far, to name the moved files
}

// TestWriterSetModel is a model-based test of the collector's segment writer set:
// random lines for many vhosts (more than the open writers: evictions), SIGHUP,
// logrotate (a segment moved away, then SIGHUP), deletions of open segments, clock
// moves across zone changes (America/New_York's DST changes, in the names through %H
// and %z) and steps back, and crashes (the writer set dropped without closing, then
// recovered from its state file). At the end, every line is in exactly one segment,
// the one its template named when it was written (or the file logrotate moved it to);
// the segments of one name, read in byte (shell glob) order, hold its lines in the
// order written; and no eviction, SIGHUP, logrotate move, restart or deletion ever
// starts a second segment of a name: only a name used again after the clock stepped
// back may get one more (with a collision suffix, sorting after the first).
//
// LOGSPREAD_LONG=1 runs the long profile (40 seeds x 20,000 steps), which takes longer than
// go test's default 10-minute timeout:
//
//	LOGSPREAD_LONG=1 go test -run TestWriterSetModel -timeout 60m ./collector/
func TestWriterSetModel(t *testing.T) {
	seeds, steps := 4, 600
	if os.Getenv("LOGSPREAD_LONG") != "" {
		seeds, steps = 40, 20000
	}
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	comps := []segment.Compression{segment.CompressZstd, segment.CompressGzip, segment.CompressNone}
	for seed := range seeds {
		comp := comps[seed%len(comps)]
		t.Run(fmt.Sprintf("seed%d-%s", seed, comp), func(t *testing.T) {
			m := newWriterSetModel(t, uint64(seed), comp, loc)
			for range steps {
				m.step()
			}
			m.finish()
			m.check()
			t.Logf("%d lines, ops %v", len(m.lines), m.ops)
		})
	}
}

func newWriterSetModel(t *testing.T, seed uint64, comp segment.Compression, loc *time.Location) *writerSetModel {
	ext := map[segment.Compression]string{segment.CompressZstd: ".zst", segment.CompressGzip: ".gz", segment.CompressNone: ""}[comp]
	m := &writerSetModel{
		t:         t,
		rng:       rand.New(rand.NewPCG(seed, 14)),
		loc:       loc,
		unsure:    make(map[int]bool),
		ops:       make(map[string]int),
		last:      make(map[string]string),
		seen:      make(map[string]bool),
		reentries: make(map[string]int),
		// An hour before the spring-forward change (2026-03-08 07:00 UTC).
		now: time.Date(2026, time.March, 8, 6, 0, 0, 0, time.UTC),
	}
	for i := range 9 {
		m.vhosts = append(m.vhosts, fmt.Sprintf("v%d.example", i))
	}
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.StateDir = t.TempDir()
	cfg.Logs = []LogConfig{{Group: "www", Template: "{group}/{vhost}-%Y%m%d-%H%z.log" + ext}}
	cfg.Compression = comp
	cfg.Location = loc
	cfg.Now = func() time.Time { return m.now }
	cfg.MaxOpenWriters = 3
	cfg.FlushBytes = 4096
	cfg.DrainTimeout = time.Millisecond
	m.cfg = cfg
	var err error
	if m.tmpl, err = segment.ParseTemplate(cfg.Logs[0].Template); err != nil {
		t.Fatal(err)
	}
	m.open()
	return m
}

// open starts a writer set on the directories, as a (re)started collector does.
func (m *writerSetModel) open() {
	m.t.Helper()
	c, err := New(m.cfg, nil, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	if m.w, err = c.newWriterSet(); err != nil {
		m.t.Fatal(err)
	}
}

// step applies one random operation.
func (m *writerSetModel) step() {
	t := m.t
	t.Helper()
	switch r := m.rng.IntN(100); {
	case r < 70:
		m.ops["line"]++
		v := m.vhosts[m.rng.IntN(len(m.vhosts))]
		// Some vhosts are busy, most lines are short, some long.
		if m.rng.IntN(3) == 0 {
			v = m.vhosts[0]
		}
		text := fmt.Sprintf("%06d %s %s\n", len(m.lines), v, strings.Repeat("x", m.rng.IntN(200)))
		base, err := m.tmpl.Expand(segment.Names{Group: "www", Vhost: v}, m.now.In(m.loc))
		if err != nil {
			t.Fatal(err)
		}
		if m.last[v] != base && m.seen[v+"\x00"+base] {
			m.reentries[base]++
		}
		m.last[v], m.seen[v+"\x00"+base] = base, true
		m.w.chunks = append(m.w.chunks, chunk{key: wkey{log: 0, vhost: v}, b: []byte(text)})
		if err := m.w.writeChunks(t.Context()); err != nil {
			t.Fatal(err)
		}
		m.unsure[len(m.lines)] = true
		m.lines = append(m.lines, modelLine{text: text, base: base})
	case r < 78:
		m.ops["flush"]++
		m.flushed(m.w.flushAll())
	case r < 80:
		m.ops["sighup"]++
		m.flushed(m.w.reopenAll())
	case r < 82:
		m.ops["logrotate"]++
		m.logrotate()
	case r < 95:
		m.ops["clock"]++
		// Mostly seconds to minutes, sometimes hours: across hours, days and the
		// zone changes.
		d := time.Duration(m.rng.IntN(300)) * time.Second
		switch m.rng.IntN(10) {
		case 0, 1:
			d = time.Duration(m.rng.IntN(180)) * time.Minute
		case 2:
			// The clock steps back (NTP), up to two hours: names of periods
			// already used come back.
			d = -time.Duration(m.rng.IntN(120)) * time.Minute
		}
		m.now = m.now.Add(d)
	case r < 98:
		m.ops["delete"]++
		m.deleteSegment()
	default:
		m.ops["crash"]++
		// The process dies: buffered lines are lost (a shipper resends them; here
		// they may be missing), files are closed by the kernel, no state is saved.
		for i := range m.unsure {
			m.lines[i].maybe = true
		}
		clear(m.unsure)
		m.w.abandon()
		m.w.release()
		m.open()
	}
}

// flushed records a flush cycle that succeeded: every line is in a complete frame.
func (m *writerSetModel) flushed(err error) {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
	clear(m.unsure)
}

// deleteSegment deletes one open (or last) segment, as `find -delete` or an
// operator's rm does: its lines are gone, the next ones must reach a new file.
func (m *writerSetModel) deleteSegment() {
	m.t.Helper()
	m.flushed(m.w.flushAll())
	files := m.segments()
	if len(files) == 0 {
		return
	}
	name := files[m.rng.IntN(len(files))]
	text := m.catFile(name)
	for l := range strings.Lines(text) {
		i, _ := strconv.Atoi(l[:6])
		m.lines[i].gone = true
	}
	if err := os.Remove(filepath.Join(m.cfg.Dir, name)); err != nil {
		m.t.Fatal(err)
	}
}

// logrotate moves one segment away, as logrotate does (rename to a name outside the
// template's), then sends SIGHUP: its lines stay in the moved file, the next lines of
// its name go to a new file under the name.
func (m *writerSetModel) logrotate() {
	m.t.Helper()
	m.flushed(m.w.flushAll())
	var files []string
	for _, f := range m.segments() {
		if !strings.Contains(f, ".rotated-") {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return
	}
	name := files[m.rng.IntN(len(files))]
	m.rotated++
	moved := fmt.Sprintf("%s.rotated-%d", name, m.rotated)
	for l := range strings.Lines(m.catFile(name)) {
		i, _ := strconv.Atoi(l[:6])
		m.lines[i].base = moved
	}
	if err := os.Rename(filepath.Join(m.cfg.Dir, name), filepath.Join(m.cfg.Dir, moved)); err != nil {
		m.t.Fatal(err)
	}
	m.flushed(m.w.reopenAll())
}

func (m *writerSetModel) finish() {
	m.t.Helper()
	if err := m.w.finish(); err != nil {
		m.t.Fatal(err)
	}
	m.w.release()
	clear(m.unsure)
}

// segments lists the segment files, relative to the output directory, in byte order.
func (m *writerSetModel) segments() []string {
	m.t.Helper()
	var names []string
	err := filepath.WalkDir(m.cfg.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(m.cfg.Dir, p)
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		m.t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func (m *writerSetModel) catFile(name string) string {
	m.t.Helper()
	f, err := os.Open(filepath.Join(m.cfg.Dir, name))
	if err != nil {
		m.t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := segment.Cat(f, &out); err != nil {
		m.t.Fatalf("%s: %v", name, err)
	}
	return out.String()
}

// suffixRE matches a collision suffix and the compression extension repeated after
// it, if any ("www.log.zst_000001.zst" is a segment of "www.log.zst").
var suffixRE = regexp.MustCompile(`_[0-9]{6}(\.zst|\.gz)?$`)

// check compares the segments with the model.
func (m *writerSetModel) check() {
	t := m.t
	t.Helper()
	got := make(map[string][]string) // base name -> lines, segments in byte order
	files := make(map[string]int)
	for _, name := range m.segments() {
		base := suffixRE.ReplaceAllString(name, "")
		files[base]++
		for l := range strings.Lines(m.catFile(name)) {
			got[base] = append(got[base], l)
		}
	}
	want := make(map[string][]int)
	for i, l := range m.lines {
		if !l.gone {
			want[l.base] = append(want[l.base], i)
		}
	}
	for base, n := range files {
		if n > 1+m.reentries[base] {
			t.Errorf("%s: %d segments, %d reentries after the clock stepped back: evictions, SIGHUPs, logrotate, restarts or deletions started more",
				base, n, m.reentries[base])
		}
		if len(want[base]) == 0 && len(got[base]) > 0 {
			t.Errorf("%s: %d lines, none written for it", base, len(got[base]))
		}
	}
	for base, idx := range want {
		lines := got[base]
		j := 0
		for _, i := range idx {
			l := m.lines[i]
			if j < len(lines) && lines[j] == l.text {
				j++
				continue
			}
			if !l.maybe {
				have := "end of the segments"
				if j < len(lines) {
					have = lines[j]
				}
				t.Fatalf("%s: line %q (written at %d) missing or out of order; found %q", base, l.text, i, have)
			}
		}
		if j != len(lines) {
			t.Fatalf("%s: unexpected line %q (a duplicate, or a line of another name)", base, lines[j])
		}
	}
}
