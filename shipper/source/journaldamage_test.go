package source

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// afterDamage is what the run after the damage read: its journal's chunks summed up,
// and the Set's log and metrics.
type afterDamage struct {
	s      *Set
	reg    *prometheus.Registry
	logs   *testsupport.Buffer
	got    string        // the bytes read
	lost   uint64        // the bytes announced lost
	unused []OffsetRange // the offsets announced unused
	newAt  uint64        // the offset of the new input
}

// runAfterDamage starts a Set on cfg (the run after the damage), writes "new line\n" to
// a journal of it and closes its input, and reads the journal to its end.
func runAfterDamage(t *testing.T, cfg Config) *afterDamage {
	t.Helper()
	a := &afterDamage{reg: prometheus.NewRegistry(), logs: &testsupport.Buffer{}}
	s, err := New(cfg, slog.New(slog.NewTextHandler(a.logs, nil)), a.reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a.s = s
	j, pw := openJournal(t, s)
	pw.WriteString("new line\n")
	pw.Close()
	chs := readJournal(t, j)
	t.Logf("log:\n%s", a.logs.String())
	var got strings.Builder
	for _, c := range chs {
		a.lost += c.Lost
		a.unused = append(a.unused, c.Unused...)
		if strings.HasPrefix(string(c.Data), "new") {
			a.newAt = c.Offset
		}
		got.Write(c.Data)
	}
	a.got = got.String()
	return a
}

// Journal files damaged while the shipper is down (its segments, its input file, the
// input file's copy, or several; zeroed, truncated or filled with garbage) must never
// lose lines silently: new input never takes an offset the run before may have used
// (collectors would drop it as duplicates), what the damage destroyed is announced to
// collectors as a gap of its size (Chunk.Lost) when it can be known (the input file's
// record of the end, or its copy's, or the stop checkpoint saved at Close, which has a
// checksum and a previous copy), and as a gap of unknown size (Chunk.Unused past what is
// known) only when it cannot (a kill, and both the input file and its copy damaged);
// damage to one of them alone reports no loss where nothing was lost; each damaged file
// is logged by name and counted.
func TestJournalDamagedWhileDown(t *testing.T) {
	for _, what := range []string{"segment", "input", "copy", "both", "inputs", "all"} {
		for _, mode := range []string{"zeroed", "truncated", "garbage"} {
			for _, kill := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/kill=%v", what, mode, kill), func(t *testing.T) {
					testJournalDamaged(t, what, mode, kill)
				})
			}
		}
	}
}

func testJournalDamaged(t *testing.T, what, mode string, kill bool) {
	cfg, _ := testConfig(t)
	r := cutFirstRun(t, cfg, kill)
	// what: segment, input, copy (inputCopyFile), both (segment and input), inputs (input
	// and copy), all.
	segment := what == "segment" || what == "both" || what == "all"
	input := what == "input" || what == "both" || what == "inputs" || what == "all"
	inputCopy := what == "copy" || what == "inputs" || what == "all"
	var damaged []string
	if segment {
		damaged = append(damaged, lastSegment(t, r.dir))
	}
	if input {
		damaged = append(damaged, filepath.Join(r.dir, inputFile))
	}
	if inputCopy {
		damaged = append(damaged, filepath.Join(r.dir, inputCopyFile))
	}
	for _, name := range damaged {
		testsupport.DamageFile(t, name, mode)
	}

	a := runAfterDamage(t, cfg)
	s, reg, logs, lost, unused, newAt := a.s, a.reg, a.logs, a.lost, a.unused, a.newAt
	// Every segment damage destroys a2 and a3 (a third of the segment is a1's record and
	// part of a2's header); the input file holds no line.
	avail := ""
	if !segment {
		avail = cutA2 + cutA3
	}
	if want := avail + "new line\n"; a.got != want {
		t.Fatalf("got %q, want %q", a.got, want)
	}
	held := r.acked + uint64(len(avail))
	if newAt < r.end {
		t.Fatalf("new input at offset %d, before the end of what the run before journaled (%d): collectors drop it as duplicates", newAt, r.end)
	}
	// The run's end is known from the input file or its copy (either intact), or from
	// the stop checkpoint (a stop); after a kill with both damaged it is not.
	known := !(input && inputCopy) || !kill
	if known {
		if newAt != r.end || lost != r.end-held || len(unused) > 0 {
			t.Errorf("new input at %d, %d bytes announced lost, unused %v; want at %d, %d lost (exact), none unused",
				newAt, lost, unused, r.end, r.end-held)
		}
	} else {
		if lost != newAt-held {
			t.Errorf("%d bytes announced lost, want %d (from %d, past every byte kept, to the new input at %d)", lost, newAt-held, held, newAt)
		}
		if len(unused) == 0 || unused[len(unused)-1].To != newAt || unused[0].From > max(held, r.acked) {
			t.Errorf("unused %v, want the offsets from %d to the new input at %d announced unused (a gap of unknown size)", unused, held, newAt)
		}
	}
	if n := testutil.ToFloat64(s.m.UnackedDestroyed) + testutil.ToFloat64(s.m.JournalDropped); known && n != float64(r.end-held) {
		t.Errorf("%v bytes counted lost, want %d", n, r.end-held)
	}
	// Each damaged file is named in a warning and counted.
	for _, name := range damaged {
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), name) {
			t.Errorf("no warning names the damaged file %s", name)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "logspread_shipper_journal_damaged_files_total"); err != nil || n != 1 {
		t.Fatalf("metric logspread_shipper_journal_damaged_files_total: %d series, %v", n, err)
	}
	want := len(damaged)
	if what == "all" && mode == "truncated" && kill {
		// A segment that ends inside a record, with nothing recording where it ended,
		// may as well be torn by the kill: only the input file and its copy are known
		// damaged (the stream jumps past everything all the same).
		want = 2
	}
	if v := gatherValue(t, reg, "logspread_shipper_journal_damaged_files_total"); v != float64(want) {
		t.Errorf("logspread_shipper_journal_damaged_files_total %v, want %d", v, want)
	}
}

// gatherValue returns the value of the counter or gauge name (one series) in reg.
func gatherValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A segment before the last one damaged (zeroed, truncated, overwritten) or deleted while
// the shipper was down no longer stops the shipper (a corrupt journal, with no remedy but
// deleting the journal, which loses every line in it): the next segment's name says where
// the stream goes on, so the offsets in between are skipped as a hole of exactly their
// size, announced lost; the segments after it are shipped, and new input goes on after
// the journal's end.
func TestJournalDamagedMiddleSegment(t *testing.T) {
	for _, mode := range []string{"zeroed", "truncated", "garbage", "deleted"} {
		t.Run(mode, func(t *testing.T) {
			cfg, _ := testConfig(t)
			cfg.JournalSegment = 4096
			var parts [3]string
			for i := range parts {
				var b strings.Builder
				for k := range 50 {
					fmt.Fprintf(&b, "part %d line %02d: %s\n", i, k, strings.Repeat("x", 70))
				}
				parts[i] = b.String()
			}
			var dir string
			func() {
				s := newSources(t, cfg)
				j, pw := openJournal(t, s)
				n := 0
				for _, p := range parts {
					pw.WriteString(p) // one record each, past the segment size: a segment each
					n += len(p)
					testsupport.Eventually(t, func() bool { return j.Fill().Unacknowledged == uint64(n) }, "journaled")
				}
				dir = j.Dir()
				pw.Close()
				j.Close()
				s.Close()
			}()
			segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
			if len(segs) < 3 {
				t.Fatalf("%d segments, want 3 or more", len(segs))
			}
			if mode == "deleted" {
				if err := os.Remove(segs[1]); err != nil {
					t.Fatal(err)
				}
			} else {
				testsupport.DamageFile(t, segs[1], mode)
			}

			a := runAfterDamage(t, cfg)
			reg, logs, lost, newAt := a.reg, a.logs, a.lost, a.newAt
			end := uint64(len(parts[0]) + len(parts[1]) + len(parts[2]))
			if want := parts[0] + parts[2] + "new line\n"; a.got != want {
				t.Fatalf("got %d bytes, want %d (the first and last parts and the new line)", len(a.got), len(want))
			}
			if lost != uint64(len(parts[1])) || newAt != end {
				t.Errorf("%d bytes announced lost, new input at %d; want %d lost (the middle part, exactly), new input at %d", lost, newAt, len(parts[1]), end)
			}
			if mode == "deleted" {
				if want := fmt.Sprintf("missing_bytes=%d", len(parts[1])); !strings.Contains(logs.String(), want) {
					t.Errorf("no warning says %s", want)
				}
			} else if !strings.Contains(logs.String(), segs[1]) {
				t.Errorf("no warning names %s", segs[1])
			}
			if mode != "deleted" {
				if v := gatherValue(t, reg, "logspread_shipper_journal_damaged_files_total"); v != 1 {
					t.Errorf("logspread_shipper_journal_damaged_files_total %v, want 1", v)
				}
			}
		})
	}
}
