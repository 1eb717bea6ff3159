package source

import (
	"path/filepath"
	"slices"
	"testing"
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
