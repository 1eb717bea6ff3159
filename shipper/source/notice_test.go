package source

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTailNoticeSurvivesCrash: a run that finds its checkpointed file gone skips the
// bytes after the checkpoint (exactly, after a stop; by LossGap, after a crash) and
// saves its start checkpoint past them; it crashes before it returns a chunk (so
// nothing announced them). The next run's first chunk still announces them: Lost counts
// from the acknowledged checkpoint of the first run, not from the second run's start,
// and the unused part of a jump is announced as unused again, never as lost bytes. On
// main the third run resumed past the skip with Lost 0: collectors were never told.
func TestTailNoticeSurvivesCrash(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash bool // the first run
	}{{"stopped", false}, {"crashed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			path := filepath.Join(t.TempDir(), "access.log")
			A := lines("A", 1, 40)
			appendFile(t, path, A)
			stamp(t, path, 0)
			read := goneRun(t, cfg, path, tc.crash, nil)
			acked := read[len(read)/4].End()
			mustRemove(t, path)
			B := lines("B", 1, 5)
			appendFile(t, path, B)
			stamp(t, path, 1)

			// The second run opens (skipping what is gone) and crashes before Next.
			s := newSources(t, cfg)
			tl := openTailer(t, s, path)
			start := tl.start.Offset
			tl.noStop = true
			tl.Close()
			s.Close()
			if start <= acked {
				t.Fatalf("second run started at %d, want past the checkpoint %d", start, acked)
			}

			// The third run.
			cfg.Waker = w
			s = newSources(t, cfg)
			got := readChunks(t, w, openTailer(t, s, path), 64<<10)
			wantRead(t, chunkData(got), B)
			first := got[0]
			if first.Offset != start || first.Offset-first.Lost != acked {
				t.Fatalf("B at %d announcing %d lost bytes (from %d); want at %d, lost from %d (the first run's checkpoint)",
					first.Offset, first.Lost, first.Offset-first.Lost, start, acked)
			}
			var wantUnused []OffsetRange
			if tc.crash {
				// The bytes the first run knew of after its checkpoint are announced
				// lost (collectors count what they lack); the rest of the jump unused.
				wantUnused = []OffsetRange{{From: uint64(len(A)), To: start}}
			}
			if !slices.Equal(first.Unused, wantUnused) {
				t.Errorf("unused %v, want %v", first.Unused, wantUnused)
			}
			s.Close()
		})
	}
}

// TestJournalNoticeSurvivesKill: a journal run that finds, at open, that its journal
// starts after its checkpoint (segments dropped before they were acknowledged,
// --journal-full drop-oldest) announces those bytes lost with its first chunk; killed
// before it returns one, the next run announces them still: its first chunk's Lost
// counts from the first run's checkpoint. On main the second run's start checkpoint
// was at the journal's first segment already: the third run announced nothing.
func TestJournalNoticeSurvivesKill(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.JournalMax = 16 << 10
	cfg.JournalSegment = 4 << 10
	cfg.JournalFull = JournalDropOldest
	input := numbered(0, 1020)
	func() {
		s := newSources(t, cfg)
		j, pw := openJournal(t, s)
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.WriteString(input[:100000]) // far beyond the bound, with nobody acknowledging
		}()
		testsupport.Done(t, done, "the input waited for a full journal under drop-oldest")
		testsupport.EventuallyErr(t, func() error {
			if n := testutil.ToFloat64(s.m.JournalWritten); n < 100000 {
				return fmt.Errorf("journal wrote %v bytes, want 100000", n)
			}
			return nil
		})
		j.killed = true
		j.Close()
		s.Close()
	}()
	// The second run finds the journal starting after its checkpoint (0) and is killed
	// before it returns a chunk.
	var dropped uint64
	func() {
		s := newSources(t, cfg)
		j, _ := openJournal(t, s)
		dropped = j.start.Offset
		if dropped == 0 || testutil.ToFloat64(s.m.JournalDropped) != float64(dropped) {
			t.Fatalf("second run starts at %d, %v bytes counted dropped; want past 0, all of them", dropped, testutil.ToFloat64(s.m.JournalDropped))
		}
		j.killed = true
		j.Close()
		s.Close()
	}()
	s := newSources(t, cfg)
	j, pw := openJournal(t, s)
	pw.Close()
	c := next(t, j, 1000)
	if c.Offset != dropped || c.Lost != dropped || len(c.Unused) != 0 {
		t.Fatalf("first chunk at %d announcing %d lost bytes, unused %v; want at %d, %d lost (from the checkpoint, 0), none unused",
			c.Offset, c.Lost, c.Unused, dropped, dropped)
	}
	if n := testutil.ToFloat64(s.m.JournalDropped); n != 0 {
		t.Errorf("third run counted %v bytes dropped, want 0 (the second run counted them)", n)
	}
}

// TestGlobNoticeSurvivesCrash: as TestTailNoticeSurvivesCrash, for a glob's match: the
// second run finds the match's checkpointed file gone and is killed before it returns
// a chunk; the third run's first chunk of the match announces the bytes gone after the
// first run's checkpoint. On main it announced nothing (Lost 0).
func TestGlobNoticeSurvivesCrash(t *testing.T) {
	cfg, w := modelConfig(t)
	cfg.ChunkMax = 600
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	A, B := lines("A", 1, 30), lines("B", 1, 20)
	appendFile(t, path, A)
	stamp(t, path, 0)
	run := func(crash bool, read string) []Chunk {
		t.Helper()
		cfg.Waker = w
		s := newSources(t, cfg)
		g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		var cs []Chunk
		if read != "" {
			r := startReader(t, g, cfg.ChunkMax)
			r.waitFor([]byte(read), w)
			r.stop()
			cs = r.snapshot()
		}
		if crash {
			crashGlob(g)
		} else if err := g.Ack(cs[0].Pos); err != nil {
			t.Fatal(err)
		}
		g.Close()
		s.Close()
		return cs
	}
	acked := run(false, A)[0].End()
	mustRemove(t, path)
	appendFile(t, path, B)
	stamp(t, path, 1)
	run(true, "") // opens (the match's file gone), killed before it returns a chunk
	cfg.Waker = w
	s := newSources(t, cfg)
	g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r := startReader(t, g, cfg.ChunkMax)
	r.waitFor([]byte(B), w)
	if c := r.snapshot()[0]; c.Offset != uint64(len(A)) || c.Offset-c.Lost != acked {
		t.Fatalf("B at %d announcing %d lost bytes (from %d); want at %d, lost from %d (the first run's checkpoint)",
			c.Offset, c.Lost, c.Offset-c.Lost, len(A), acked)
	}
}
