package source

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copiesThenRestart follows path through n copytruncate rotations (path.1 .. path.n,
// logrotate's copytruncate without compression), each generation read and acknowledged,
// then closes the tailer and opens it again (a restart). It returns the stream of what
// was sent, the next modification time stamp, and the tailer of the second run.
func copiesThenRestart(t *testing.T, s *Set, w *ManualWaker, path string, n int, st *stream, down func(sec int)) (int, *Tailer) {
	t.Helper()
	appendFile(t, path, lines("a0", 1, 2))
	stamp(t, path, 0)
	tl := openTailer(t, s, path)
	ack := func() {
		t.Helper()
		got := readChunks(t, w, tl, 64<<10)
		st.add(got...)
		if len(got) > 0 {
			if err := tl.Ack(got[len(got)-1].Pos); err != nil {
				t.Fatal(err)
			}
		}
	}
	sec := 1
	for i := 1; i <= n; i++ {
		ack()
		to := fmt.Sprintf("%s.%d", path, i)
		copyTruncate(t, path, to)
		stamp(t, to, sec)
		stamp(t, path, sec+1)
		st.add(readChunks(t, w, tl, 64<<10)...)
		appendFile(t, path, lines(fmt.Sprintf("a%d", i), 1, 2))
		stamp(t, path, sec+2)
		sec += 3
	}
	ack()
	tl.Close()
	if down != nil {
		down(sec)
		sec++
	}
	tl = openTailer(t, s, path)
	st.add(readChunks(t, w, tl, 64<<10)...)
	return sec, tl
}

// TestCopiesTrimmedRestartThenLeft: after many copytruncate rotations of one file (more
// than the record of generations keeps entries for: rotate 30), all acknowledged, a
// restart, then the file renamed away or deleted, the old copies (access.log.N) are not
// taken for generations not read yet (born after the one left): the record keeps the
// generations it trimmed (genLog.trimmed). Before, the oldest copies were read whole
// again, a month of logs shipped twice.
func TestCopiesTrimmedRestartThenLeft(t *testing.T) {
	for _, n := range []int{16, 40} {
		for _, move := range []string{"rename", "delete"} {
			t.Run(fmt.Sprintf("%d/%s", n, move), func(t *testing.T) {
				cfg, w := modelConfig(t)
				s := newSources(t, cfg)
				path := filepath.Join(t.TempDir(), "access.log")
				st := newStream(t)
				sec, tl := copiesThenRestart(t, s, w, path, n, st, nil)
				var err error
				if move == "rename" {
					err = os.Rename(path, path+".x")
				} else {
					err = os.Remove(path)
				}
				if err != nil {
					t.Fatal(err)
				}
				d := lines("d", 1, 2)
				appendFile(t, path, d)
				stamp(t, path, sec+1)
				got := readChunks(t, w, tl, 64<<10)
				st.add(got...) // fails on a line sent twice
				wantRead(t, chunkData(got), d)
			})
		}
	}
}

// TestCopiesTrimmedRestartCopyGrew: a copy of a generation the record trimmed that grew
// while the shipper was down (written to after it was read: an old writer) is not taken
// for one read wholly, nor read again from its start: what was appended to it is read on
// from where it was left, once (resumeLinger, genLog.lastLeft).
func TestCopiesTrimmedRestartCopyGrew(t *testing.T) {
	for _, n := range []int{4, 16, 40} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			path := filepath.Join(t.TempDir(), "access.log")
			st := newStream(t)
			late := lines("late", 1, 2)
			_, tl := copiesThenRestart(t, s, w, path, n, st, func(sec int) {
				appendFile(t, path+".1", late)
				stamp(t, path+".1", sec)
			})
			st.add(readChunks(t, w, tl, 64<<10)...) // fails on a line sent twice
			for _, l := range strings.SplitAfter(late, "\n") {
				if _, ok := st.line[l]; !ok && l != "" {
					t.Fatalf("line %q not read", l)
				}
			}
		})
	}
}

// TestGensTrimmedRecordFormat: generations dropped from a long record that were read and
// left wholly below the acknowledged offset are kept (genLog.trimmed), at most maxTrimmed,
// one per file and head; they survive a reload, a record without them (written before
// they existed) loads as before, and their lines name no generation at the top level
// (Dev and Ino 0, no mark, gap or wait), so that an older version skips them.
func TestGensTrimmedRecordFormat(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ckpt-x.gens")
	l, err := openGenLog(name, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	const n = maxTrimmed + 100
	for i := range n {
		base := uint64(i) * 100
		e := genEntry{Stream: 1, Base: base, Dev: 1, Ino: 2, FPLen: 10, FP: uint64(i + 1), Line: true,
			End: base + 100, Left: 100, TailN: 10, TailFP: 7}
		if err := l.add(e, base+100); err != nil {
			t.Fatal(err)
		}
		if err := l.add(e, base+100); err != nil { // the same again: one per file and head
			t.Fatal(err)
		}
	}
	if len(l.trimmed) != maxTrimmed {
		t.Fatalf("%d trimmed generations kept, want %d", len(l.trimmed), maxTrimmed)
	}
	if len(l.entries) > maxGenEntries {
		t.Fatalf("%d entries, want at most %d", len(l.entries), maxGenEntries)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	trimmedLines := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e genEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Trimmed == nil {
			continue
		}
		trimmedLines++
		if e.Dev != 0 || e.Ino != 0 || e.Mark != "" || e.Gap != "" || e.Wait != "" || e.Stream != 1 {
			t.Fatalf("trimmed line %s names something at its top level: an older version does not skip it", line)
		}
	}
	if trimmedLines != maxTrimmed {
		t.Fatalf("%d trimmed lines written, want %d", trimmedLines, maxTrimmed)
	}
	l2, err := openGenLog(name, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(l2.trimmed) != maxTrimmed || len(l2.entries) != len(l.entries) {
		t.Fatalf("loaded %d trimmed, %d entries; want %d, %d", len(l2.trimmed), len(l2.entries), maxTrimmed, len(l.entries))
	}
	// The oldest went first; a trimmed generation tells its copies, not ones that grew.
	head := make([]byte, 10)
	if fp, want := l2.trimmed[0].FP, uint64(n-len(l.entries)-maxTrimmed+1); fp != want {
		t.Fatalf("oldest trimmed generation kept has head %d, want %d", fp, want)
	}
	x := l2.trimmed[len(l2.trimmed)-1]
	l2.trimmed[len(l2.trimmed)-1].FP = fingerprint(head)
	if !l2.copyReadBefore(1, 3, x.End, 100, head) || l2.copyReadBefore(1, 3, x.End, 101, head) ||
		l2.copyReadBefore(1, 3, x.End-1, 100, head) {
		t.Fatal("a trimmed generation does not tell its copies (of at most what was read, wholly before the offset)")
	}

	// A record written before trimmed generations existed loads as before.
	old := filepath.Join(t.TempDir(), "ckpt-old.gens")
	if err := os.WriteFile(old, []byte(`{"stream":1,"base":0,"dev":1,"ino":2,"fp_len":10,"fp":5,"line":true,"end":100,"left":100,"tail_n":10,"tail_fp":7}`+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	l3, err := openGenLog(old, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(l3.entries) != 1 || len(l3.trimmed) != 0 {
		t.Fatalf("old record loaded %d entries, %d trimmed; want 1, 0", len(l3.entries), len(l3.trimmed))
	}
}
