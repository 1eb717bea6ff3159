package source

import (
	"strings"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// pausedAcrossCompressedRotations holds the tailer (its lock: the looker cannot look, as
// under SIGSTOP) in the middle of the first generation while logrotate (create,
// compress, delaycompress, rotate 9) rotates the log five times; dropEvents runs before
// the tailer is let go. It returns the generations written, and the chunks read after
// the first one: g1..g3 were created and compressed unseen, g4 (NAME.1) and g5 (the
// path) are read after g0.
func pausedAcrossCompressedRotations(t *testing.T, s *Set, w *ManualWaker, path string, tl *Tailer, first Chunk, dropEvents func()) ([]string, []Chunk) {
	t.Helper()
	gens := []string{string(first.Data)}
	tl.mu.Lock()
	for r := 1; r <= 5; r++ {
		logrotateCompress(t, path, 9)
		gens = append(gens, lines("g"+itoa(r)+"-", 1, 10+r))
		appendFile(t, path, gens[r])
		stamp(t, path, r)
	}
	dropEvents()
	tl.unlockLooks()
	return gens, readChunks(t, w, tl, 64<<10)
}

// checkCompressedLoss checks that g0, g4 and g5 were read, that g1..g3 (compressed
// before their turn) were counted lost with their uncompressed sizes, not as files
// missed, and that the chunk after g0 announces exactly that loss (Chunk.Lost).
func checkCompressedLoss(t *testing.T, s *Set, first Chunk, gens []string, cs []Chunk) {
	t.Helper()
	wantRead(t, string(first.Data)+chunkData(cs), lines("g0-", 1, 40)+gens[4]+gens[5])
	want := uint64(len(strings.Join(gens[1:4], "")))
	lost, missed := testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.FilesMissed)
	if lost != float64(want) || missed != 0 {
		t.Errorf("lost_bytes_total %v, files_missed_total %v; want %v, 0", lost, missed, want)
	}
	var announced uint64
	for _, c := range cs {
		if c.Lost > 0 && c.Offset-c.Lost != uint64(len(lines("g0-", 1, 40))) {
			t.Errorf("chunk at %d announces a loss of %d: want it right after g0", c.Offset, c.Lost)
		}
		announced += c.Lost
	}
	if announced != want {
		t.Errorf("chunks announce %d bytes lost, want %d", announced, want)
	}
}

// TestTailCompressedWhilePausedEventsLost: as TestTailCompressedWhilePaused, but the
// fsnotify queue overflowed while the tailer was stopped (the breaker's case 15): the
// creations' events are gone, nothing is owed, and the Watcher rescans. The
// generations created and compressed meanwhile must be found by listing, counted lost
// with their uncompressed sizes and announced (not lost silently).
func TestTailCompressedWhilePausedEventsLost(t *testing.T) {
	s, w, path, tl, first := behindTailer(t, lines("g0-", 1, 40))
	if tl.sub == nil {
		t.Fatal("no fsnotify subscription")
	}
	gens, cs := pausedAcrossCompressedRotations(t, s, w, path, tl, first, func() {
		// The five creations' events came (the hook counts them); then an overflow:
		// they are dropped, and the Watcher rescans.
		testsupport.Eventually(t, func() bool { return tl.creates.Load() >= 5 }, "the creations' events")
		tl.creates.Store(0)
		tl.sub.rescan()
	})
	checkCompressedLoss(t, s, first, gens, cs)
}

// TestTailCompressedWhilePausedPolling: the same without fsnotify (NoWatch: no events at
// all, only the poll backstop).
func TestTailCompressedWhilePausedPolling(t *testing.T) {
	cfg, w := testConfig(t)
	cfg.FromBeginning = true
	cfg.NoWatch = true
	cfg.RotateWait = 1 << 40
	cfg.MaxOpenFiles = 16
	s := newSources(t, cfg)
	path := t.TempDir() + "/access.log"
	appendFile(t, path, lines("g0-", 1, 40))
	stamp(t, path, 0)
	tl := openTailer(t, s, path)
	first := next(t, tl, 400)
	gens, cs := pausedAcrossCompressedRotations(t, s, w, path, tl, first, func() {})
	checkCompressedLoss(t, s, first, gens, cs)
}

// TestTailLossAtTheEnd: the generations compressed before their turn were the last
// written (nothing written after the rotations, the path's file empty): the loss is at
// the end of what the stream has, and no chunk with data follows it. The tailer returns
// a chunk without data carrying it (Chunk.Lost), so that the sender announces it to
// collectors (else the shipper counted the bytes lost and every collector's gap stayed
// 0: the breaker's case 15 with a few files).
func TestTailLossAtTheEnd(t *testing.T) {
	s, w, path, tl, first := behindTailer(t, lines("g0-", 1, 40))
	var gens []string
	tl.mu.Lock()
	for r := 1; r <= 3; r++ {
		logrotateCompress(t, path, 9)
		g := ""
		if r == 1 {
			g = lines("g1-", 1, 11)
		}
		gens = append(gens, g)
		appendFile(t, path, g)
		stamp(t, path, r)
	}
	tl.unlockLooks()
	// g1 compressed (NAME.2.gz), g2 (NAME.1) and the path empty.
	cs := readChunks(t, w, tl, 64<<10)
	wantRead(t, string(first.Data)+chunkData(cs), lines("g0-", 1, 40))
	if lost := testutil.ToFloat64(s.m.LostBytes); lost != float64(len(gens[0])) {
		t.Errorf("lost_bytes_total %v, want %d", lost, len(gens[0]))
	}
	var announced uint64
	for _, c := range cs {
		announced += c.Lost
	}
	if announced != uint64(len(gens[0])) {
		t.Fatalf("chunks announce %d bytes lost, want %d", announced, len(gens[0]))
	}
	if len(cs) == 0 {
		t.Fatal("no chunk after the first")
	}
	if last := cs[len(cs)-1]; len(last.Data) != 0 || last.Span != 0 || last.Lost == 0 {
		t.Errorf("last chunk: %d bytes, span %d, lost %d; want a chunk without data announcing the loss", len(last.Data), last.Span, last.Lost)
	}
}
