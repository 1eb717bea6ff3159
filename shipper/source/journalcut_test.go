package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// cutRun is what the first run of a journal-cut test left: the lines it journaled
// (a1 acknowledged, a2 returned, a3 journaled and never returned), where.
type cutRun struct {
	dir     string
	acked   uint64 // the checkpoint: past a1
	afterA2 uint64 // past a2 (returned)
	end     uint64 // past a3: the journal's end
	rec1    int64  // size of the segment's first record (a1)
}

const (
	cutA1 = "a1 acknowledged\n"
	cutA2 = "a2 sent, not acknowledged\n"
	cutA3 = "a3 journaled, never sent\n"
)

// cutFirstRun journals a1, a2, a3 (one record each), returns a1 and a2, acknowledges
// a1, and stops: cleanly (Close), or as a kill leaves it (no stop record).
func cutFirstRun(t *testing.T, cfg Config, kill bool) cutRun {
	t.Helper()
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	pw.WriteString(cutA1)
	c1 := next(t, j, 1000)
	pw.WriteString(cutA2)
	c2 := next(t, j, 1000)
	if string(c1.Data)+string(c2.Data) != cutA1+cutA2 {
		t.Fatalf("got %q %q", c1.Data, c2.Data)
	}
	pw.WriteString(cutA3)
	end := uint64(len(cutA1 + cutA2 + cutA3))
	testsupport.Eventually(t, func() bool { return j.Fill().Unacknowledged == end }, "a3 journaled")
	if err := j.Ack(c1.Pos); err != nil {
		t.Fatal(err)
	}
	r := cutRun{dir: j.Dir(), acked: c1.End(), afterA2: c2.End(), end: end, rec1: recHeader + int64(len(cutA1))}
	j.killed = kill
	pw.Close()
	j.Close()
	s.Close()
	return r
}

// lastSegment returns the journal's last segment file.
func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(segs) == 0 {
		t.Fatal("no journal segment")
	}
	return segs[len(segs)-1]
}

// readJournal reads j to its end.
func readJournal(t *testing.T, j *Journal) []Chunk {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), testsupport.Deadline(t))
	defer cancel()
	var chs []Chunk
	for {
		c, err := j.Next(ctx, 1000)
		if errors.Is(err, io.EOF) {
			return chs
		}
		if err != nil {
			t.Fatal(err)
		}
		chs = append(chs, c)
	}
}

// A journal whose tail was lost while the shipper was down (its last segment deleted,
// or truncated at a record boundary or inside a record) must never give new input an
// offset the run before may have used: collectors would drop the new lines as
// duplicates of the old ones, silently. New input starts at the old end (known exactly
// after a stop or a kill), the bytes between are announced lost (Chunk.Lost), and they
// are counted: those returned before as sent and destroyed before they were
// acknowledged, after a stop the others as dropped before they were sent.
func TestJournalLostTail(t *testing.T) {
	damages := []struct {
		name  string
		cut   func(t *testing.T, r cutRun)
		avail string // what the journal still holds past the checkpoint
	}{
		{"deleted", func(t *testing.T, r cutRun) {
			if err := os.Remove(lastSegment(t, r.dir)); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"truncated at a record boundary", func(t *testing.T, r cutRun) {
			if err := os.Truncate(lastSegment(t, r.dir), r.rec1); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"truncated inside a record", func(t *testing.T, r cutRun) {
			if err := os.Truncate(lastSegment(t, r.dir), r.rec1+recHeader+5); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"truncated after a2", func(t *testing.T, r cutRun) {
			if err := os.Truncate(lastSegment(t, r.dir), r.rec1+recHeader+int64(len(cutA2))); err != nil {
				t.Fatal(err)
			}
		}, cutA2},
	}
	for _, d := range damages {
		for _, kill := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/kill=%v", d.name, kill), func(t *testing.T) {
				cfg, _ := testConfig(t)
				r := cutFirstRun(t, cfg, kill)
				d.cut(t, r)
				s := newSources(t, cfg)
				j, pw := openJournal(t, s)
				pw.WriteString("new line\n")
				pw.Close()
				chs := readJournal(t, j)
				var got strings.Builder
				var lost uint64
				newAt := uint64(0)
				for _, c := range chs {
					if len(c.Unused) > 0 {
						t.Errorf("chunk at %d announces unused offsets %v: the end is known exactly", c.Offset, c.Unused)
					}
					lost += c.Lost
					got.Write(c.Data)
					if strings.HasPrefix(string(c.Data), "new") {
						newAt = c.Offset
					}
				}
				if want := d.avail + "new line\n"; got.String() != want {
					t.Fatalf("got %q, want %q", got.String(), want)
				}
				if newAt != r.end {
					t.Errorf("new input at offset %d, want %d (past every offset the run before used; it ended at %d)", newAt, r.end, r.end)
				}
				held := r.acked + uint64(len(d.avail))
				if want := r.end - held; lost != want {
					t.Errorf("chunks announce %d bytes lost, want %d", lost, want)
				}
				// Counted: a2 (or what of it is gone) was sent; a3 was not (known after a stop).
				wantUnacked, wantDropped := r.afterA2-min(held, r.afterA2), r.end-r.afterA2
				if kill {
					wantUnacked, wantDropped = r.end-held, 0 // which were sent is not known: possibly all
				}
				if got := testutil.ToFloat64(s.m.UnackedDestroyed); got != float64(wantUnacked) {
					t.Errorf("unacknowledged destroyed bytes %v, want %d", got, wantUnacked)
				}
				if got := testutil.ToFloat64(s.m.JournalDropped); got != float64(wantDropped) {
					t.Errorf("journal dropped bytes %v, want %d", got, wantDropped)
				}
			})
		}
	}
}

// A journal that kept its tail resumes exactly, with no gap, after a stop or a kill:
// the reach recorded ahead is not taken for a lost tail.
func TestJournalIntactNoCut(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("kill=%v", kill), func(t *testing.T) {
			cfg, _ := testConfig(t)
			r := cutFirstRun(t, cfg, kill)
			s := newSources(t, cfg)
			j, pw := openJournal(t, s)
			pw.WriteString("new line\n")
			pw.Close()
			var got strings.Builder
			for _, c := range readJournal(t, j) {
				if c.Lost != 0 || len(c.Unused) > 0 {
					t.Errorf("chunk at %d: lost %d, unused %v; want none", c.Offset, c.Lost, c.Unused)
				}
				got.Write(c.Data)
			}
			if want := cutA2 + cutA3 + "new line\n"; got.String() != want {
				t.Errorf("got %q, want %q", got.String(), want)
			}
			if n := testutil.ToFloat64(s.m.UnackedDestroyed) + testutil.ToFloat64(s.m.JournalDropped); n != 0 {
				t.Errorf("%v bytes counted lost, want 0", n)
			}
			if _, err := os.Stat(r.dir); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// After a crash of the system (the end written without fsync is not trusted: another
// boot) a journal cut at a record boundary is found by the durable reach: new input
// starts past it, the bytes known to have been journaled (up to the end recorded, the
// journal's end as far as it reached the disk) are announced lost, the offsets after
// them unused.
func TestJournalLostTailAfterSystemCrash(t *testing.T) {
	cfg, _ := testConfig(t)
	r := cutFirstRun(t, cfg, true)
	// Another boot wrote the end (in the input file and its copy).
	var reach reachRec
	for _, name := range []string{inputFile, inputCopyFile} {
		name = filepath.Join(r.dir, name)
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		rec, ok := parseReach(b[reachSlot:])
		if !ok {
			t.Fatalf("%s: slot 1 damaged", name)
		}
		rec.boot++
		rec.append(b[reachSlot:reachSlot])
		reach, _ = parseReach(b)
		if err := os.WriteFile(name, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Truncate(lastSegment(t, r.dir), r.rec1); err != nil {
		t.Fatal(err)
	}
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	pw.WriteString("new line\n")
	pw.Close()
	chs := readJournal(t, j)
	if len(chs) != 1 {
		t.Fatalf("%d chunks, want 1", len(chs))
	}
	c := chs[0]
	if string(c.Data) != "new line\n" || c.Offset != reach.a || c.Lost != reach.a-r.acked {
		t.Errorf("chunk %q at %d lost %d, want %q at %d (the durable reach) lost %d", c.Data, c.Offset, c.Lost, "new line\n", reach.a, reach.a-r.acked)
	}
	if want := []OffsetRange{{r.end, reach.a}}; len(c.Unused) != 1 || c.Unused[0] != want[0] {
		t.Errorf("unused %v, want %v", c.Unused, want)
	}
	if got := testutil.ToFloat64(s.m.UnackedDestroyed); got != float64(r.end-r.acked) {
		t.Errorf("unacknowledged destroyed bytes %v, want %d", got, r.end-r.acked)
	}
	if got := testutil.ToFloat64(s.m.StreamJumps); got != 1 {
		t.Errorf("stream jumps %v, want 1", got)
	}
}

// The cut is kept (a mark) until it is passed: a second restart before the new input
// was acknowledged announces it again, and does not move new input back onto it.
func TestJournalLostTailTwoRestarts(t *testing.T) {
	cfg, _ := testConfig(t)
	r := cutFirstRun(t, cfg, true)
	if err := os.Remove(lastSegment(t, r.dir)); err != nil {
		t.Fatal(err)
	}
	func() {
		s := newSources(t, cfg)
		j, pw := openJournal(t, s)
		pw.WriteString("second run\n")
		if c := next(t, j, 1000); string(c.Data) != "second run\n" || c.Offset != r.end {
			t.Fatalf("got %q at %d, want %q at %d", c.Data, c.Offset, "second run\n", r.end)
		}
		j.killed = true
		pw.Close()
		j.Close()
		s.Close()
	}()
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	pw.WriteString("third run\n")
	pw.Close()
	var got strings.Builder
	var lost uint64
	for _, c := range readJournal(t, j) {
		lost += c.Lost
		got.Write(c.Data)
	}
	if want := "second run\nthird run\n"; got.String() != want || lost != r.end-r.acked {
		t.Errorf("got %q lost %d, want %q lost %d", got.String(), lost, want, r.end-r.acked)
	}
}

// reachEnd returns the end slot 1 of a journal's reach file says.
func reachEnd(t *testing.T, dir string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, inputFile))
	if err != nil || len(b) < reachSlot+reachLen {
		t.Fatalf("reach file: %v (%d bytes)", err, len(b))
	}
	return binary.LittleEndian.Uint64(b[reachSlot+12:])
}

// The end is recorded after every record, before it is read: what a kill leaves.
func TestJournalRecordsEnd(t *testing.T) {
	cfg, _ := testConfig(t)
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	pw.WriteString("one\n")
	next(t, j, 1000)
	if got := reachEnd(t, j.Dir()); got != 4 {
		t.Errorf("recorded end %d, want 4", got)
	}
}
