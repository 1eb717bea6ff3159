package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
)

// TestShipStdinJournalStateFileDamaged: real processes (an embedded daemon, a collector,
// `ship -`). Lines A reach the collector; B is journaled while no collector is present;
// the shipper is stopped (SIGTERM, or SIGKILL), and while it is down one file of the
// journal's state is damaged (zeroed, truncated, or overwritten with random bytes) or
// deleted. B ends
// with the start of a line P, unfinished (the journal keeps it in its partial file). After
// the restart, on another pipe, new input C follows (partial.stale: P was ended before
// the stop, so the partial file the damage hits holds no pending start). The account must be exact: every line
// of A and C reaches the collector once, each line of B and P (terminated) once or inside
// a gap, and the gaps the collector counts are exactly the bytes it lacks; none of unknown
// size (some other file of the journal still says where it ended). Damage to one file
// never reports a loss where nothing was lost.
func TestShipStdinJournalStateFileDamaged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	files := []string{"input", "input.copy", "partial", "partial.stale", "segment", "checkpoint", "checkpoint.prev", "followed.log"}
	if f := os.Getenv("LOGSPREAD_DAMAGE_FILES"); f != "" {
		files = filepath.SplitList(f)
	}
	for _, file := range files {
		for _, mode := range []string{"zeroed", "truncated", "garbage", "deleted"} {
			for _, kill := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/kill=%v", file, mode, kill), func(t *testing.T) {
					testShipStdinStateFileDamaged(t, file, mode, kill)
				})
			}
		}
	}
}

func testShipStdinStateFileDamaged(t *testing.T, file, mode string, kill bool) {
	A, B, C := accessLines("a", 0, 299), accessLines("b", 0, 199), accessLines("c", 0, 99)
	P := accessLines("p", 0, 0)
	r := newProcessRig(t, "-")
	c := r.collector("a")
	r.shipStdin()
	r.write(A)
	r.shipped(c, len(A))
	r.collectorGone(c)
	r.write(B)
	r.waitShip("logspread_shipper_journal_written_bytes_total", len(A)+len(B))
	jdir, _ := filepath.Glob(filepath.Join(r.state, "journal-*"))
	if len(jdir) != 1 {
		t.Fatalf("%d journal directories, want 1", len(jdir))
	}
	r.write(P[:len(P)-1])
	// Saved: the partial file holds P's start, and the input file's end record (slot 1,
	// 64 bytes in: magic, stream, end, then the pending length) says it is pending.
	testsupport.EventuallyErr(t, func() error {
		b, err := os.ReadFile(filepath.Join(jdir[0], "partial"))
		if err == nil && !bytes.Contains(b, P[:len(P)-1]) {
			return fmt.Errorf("partial file does not hold P's start: %q", b)
		}
		in, err := os.ReadFile(filepath.Join(jdir[0], "input"))
		if err == nil && (len(in) < 64+28 || binary.LittleEndian.Uint64(in[64+20:]) != uint64(len(P)-1)) {
			return fmt.Errorf("the input file's end record does not say P's start is pending")
		}
		return err
	})
	if file == "partial.stale" {
		// P ends: the partial file is stale (no line start pending) when it is damaged.
		r.write(P[len(P)-1:])
		r.waitShip("logspread_shipper_journal_written_bytes_total", len(A)+len(B)+len(P))
	}
	r.stopUnacked(kill)
	r.stdin.Close()
	var name string
	switch file {
	case "segment":
		segs, _ := filepath.Glob(filepath.Join(jdir[0], "*.jnl"))
		if len(segs) == 0 {
			t.Fatal("no journal segment")
		}
		slices.Sort(segs)
		name = segs[len(segs)-1]
	case "checkpoint", "checkpoint.prev":
		key := filepath.Base(jdir[0])[len("journal-"):]
		name = filepath.Join(r.state, "ckpt-"+key+".json")
		if file == "checkpoint.prev" {
			name += ".prev"
		}
	case "followed.log":
		name = filepath.Join(r.state, file)
	case "partial.stale":
		name = filepath.Join(jdir[0], "partial")
	default:
		name = filepath.Join(jdir[0], file)
	}
	if _, err := os.Stat(name); err != nil {
		t.Skipf("no %s: %v", file, err)
	}
	if mode == "deleted" {
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	} else {
		testsupport.DamageFile(t, name, mode)
	}

	c.start()
	r.shipStdin()
	s := r.s
	r.write(C)
	r.stdin.Close()
	if code := s.Wait(t); code != 0 {
		t.Logf("ship exited %d:\n%s", code, s.Stderr)
	}
	t.Logf("shipper log:\n%s", s.Stderr)
	gapBytes, unknown := c.gaps()
	got := c.stop()
	lines := map[string]int{}
	for _, l := range bytes.SplitAfter(got, []byte("\n")) {
		if len(l) > 0 {
			lines[string(l)]++
		}
	}
	for _, l := range bytes.SplitAfter(slices.Concat(A, C), []byte("\n")) {
		if len(l) > 0 && lines[string(l)] != 1 {
			t.Fatalf("line %q written %d times, want once", l, lines[string(l)])
		}
	}
	missing := 0
	for _, l := range bytes.SplitAfter(slices.Concat(B, P), []byte("\n")) {
		switch n := lines[string(l)]; {
		case len(l) == 0:
		case n == 0:
			missing += len(l)
		case n > 1:
			t.Fatalf("line %q written %d times, want once", l, n)
		}
	}
	// P's '\n' is journaled only by the run after the one that read P: a gap that holds
	// P lacks it.
	if _, ok := lines[string(P)]; !ok && gapBytes == float64(missing-1) {
		missing--
	}
	if unknown != 0 || gapBytes != float64(missing) {
		t.Errorf("collector counted %v bytes of gaps and %v of unknown size; it lacks %d bytes of B and P: want a gap of exactly that, none of unknown size",
			gapBytes, unknown, missing)
	}
}
