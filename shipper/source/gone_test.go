package source

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// goneRun is the first run of TestTailRestartCheckpointedGone: it reads the file a
// (generation A) in small chunks, acknowledges one in the middle and stops (cleanly, or
// as a crash: no stop checkpoint). It returns the chunks read.
func goneRun(t *testing.T, cfg Config, path string, crash bool, rotate func()) []Chunk {
	t.Helper()
	s := newSources(t, cfg)
	tl := openTailer(t, s, path)
	read := readChunks(t, cfg.Waker.(*ManualWaker), tl, 600)
	if rotate != nil {
		rotate()
		read = append(read, readChunks(t, cfg.Waker.(*ManualWaker), tl, 600)...)
	}
	if len(read) < 4 {
		t.Fatalf("first run read %d chunks", len(read))
	}
	if err := tl.Ack(read[len(read)/4].Pos); err != nil {
		t.Fatal(err)
	}
	tl.noStop = crash
	tl.Close()
	s.Close()
	return read
}

// TestTailRestartCheckpointedGone: a restart whose checkpointed file was rotated away and
// deleted while the shipper was down (no generation on disk has its identity) counts the
// rest of that generation exactly (what the checkpoint knew: its size at the last look
// minus the checkpoint, and what the run before returned after it), then drains every
// later generation still on disk, oldest first, before the live file, with offsets
// continuing right after the gone generation's. Variants: several newer generations;
// the live path absent (a file that appears later is read after them); the gone
// generation's rotated copy renamed to a compressed name (skipped, counted); the run
// before read into the next generation (it keeps its offsets); the checkpointed file
// truncated in place and written again, without a copy; a crash (no stop
// checkpoint: which offsets the run before used is unknown, the stream jumps by
// LossGap, but nothing on disk is skipped).
func TestTailRestartCheckpointedGone(t *testing.T) {
	A, B, C, D := lines("A", 1, 40), lines("B", 1, 30), lines("C", 1, 20), lines("D", 1, 10)
	for _, tc := range []struct {
		name  string
		crash bool
		moved bool // the first run read B too (rotated while it ran)
		down  func(t *testing.T, path string)
		live  bool   // D is at path when the shipper restarts (else written after)
		want  string // read after the restart
	}{
		{name: "several newer", live: true, want: B + C + D, down: func(t *testing.T, path string) {
			// logrotate rotate 2, three rotations: A deleted, B in .2, C in .1.
			mustRename(t, path, path+".1")
			appendFile(t, path, B)
			stamp(t, path, 1)
			mustRename(t, path+".1", path+".2")
			mustRename(t, path, path+".1")
			appendFile(t, path, C)
			stamp(t, path, 2)
			mustRemove(t, path+".2")
			mustRename(t, path+".1", path+".2")
			mustRename(t, path, path+".1")
		}},
		{name: "live absent", want: B + C + D, down: func(t *testing.T, path string) {
			mustRename(t, path, path+".1")
			appendFile(t, path, B)
			stamp(t, path, 1)
			mustRemove(t, path+".1")
			mustRename(t, path, path+".2")
			appendFile(t, path+".1", C)
			stamp(t, path+".1", 2)
		}},
		{name: "compressed", live: true, want: B + C + D, down: func(t *testing.T, path string) {
			// The gone generation's rotated copy compressed: renamed to a name never read.
			mustRename(t, path, path+".1.gz")
			appendFile(t, path+".2", B)
			stamp(t, path+".2", 1)
			appendFile(t, path+".1", C)
			stamp(t, path+".1", 2)
		}},
		{name: "moved on", moved: true, live: true, want: B + C + D, down: func(t *testing.T, path string) {
			// A in .1, B at path (read by the first run): A deleted, B rotated to .2.
			mustRemove(t, path+".1")
			mustRename(t, path, path+".2")
			appendFile(t, path+".1", C)
			stamp(t, path+".1", 2)
		}},
		{name: "truncated in place", want: B + D, down: func(t *testing.T, path string) {
			// No copy: the checkpointed content is gone from the same inode.
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, B)
			stamp(t, path, 1)
		}},
		{name: "crash", crash: true, live: true, want: B + C + D, down: func(t *testing.T, path string) {
			mustRemove(t, path)
			appendFile(t, path+".2", B)
			stamp(t, path+".2", 1)
			appendFile(t, path+".1", C)
			stamp(t, path+".1", 2)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, w := modelConfig(t)
			path := filepath.Join(t.TempDir(), "access.log")
			appendFile(t, path, A)
			stamp(t, path, 0)
			var rotate func()
			if tc.moved {
				rotate = func() {
					mustRename(t, path, path+".1")
					appendFile(t, path, B)
					stamp(t, path, 1)
				}
			}
			first := goneRun(t, cfg, path, tc.crash, rotate)
			acked := first[len(first)/4]
			tc.down(t, path)
			if tc.live {
				appendFile(t, path, D)
				stamp(t, path, 3)
			}
			cfg.Waker = w
			s := newSources(t, cfg)
			tl := openTailer(t, s, path)
			got := readChunks(t, w, tl, 64<<10)
			if !tc.live {
				appendFile(t, path, D)
				stamp(t, path, 3)
				got = append(got, readChunks(t, w, tl, 64<<10)...)
			}
			wantRead(t, chunkData(got), tc.want)
			for i := 1; i < len(got); i++ {
				if got[i].Offset != got[i-1].End() {
					t.Fatalf("chunk %d at %d, the one before ends at %d", i, got[i].Offset, got[i-1].End())
				}
			}
			lost, jumps := testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.StreamJumps)
			if n := testutil.ToFloat64(s.m.FilesGone); n != 1 {
				t.Errorf("checkpointed_files_gone_total %v, want 1", n)
			}
			// The rest of A after the checkpoint: the run before returned it (sent, not
			// acknowledged), so it is not lost for a collector that has it: announced
			// (Chunk.Lost, a loss notice: each collector counts what it lacks), counted
			// apart from the bytes destroyed before they were read (none here).
			gone := uint64(len(A)) - acked.End()
			unacked := testutil.ToFloat64(s.m.UnackedDestroyed)
			if tc.crash {
				// Which offsets the run before used is unknown: the stream jumps, and of
				// the offsets skipped only the bytes the checkpoint knew of are announced
				// lost; the rest are unused (never a 4 GiB loss notice).
				wantUnused := []OffsetRange{{From: acked.End() + gone, To: got[0].Offset}}
				if got[0].Offset < first[len(first)-1].End()+LossGap/2 || jumps != 1 || lost != 0 || unacked != float64(gone) ||
					got[0].Lost != got[0].Offset-acked.End() || !slices.Equal(got[0].Unused, wantUnused) {
					t.Fatalf("after a crash: B at %d (the run before returned up to %d), %v jumps, %v lost bytes (want 0), %v unacknowledged destroyed (want %d: the size the checkpoint knew), announced lost %d, unused %v (want %v)",
						got[0].Offset, first[len(first)-1].End(), jumps, lost, unacked, gone, got[0].Lost, got[0].Unused, wantUnused)
				}
				return
			}
			// B begins where A ended: the gap announced is exactly the rest of A.
			if got[0].Offset != uint64(len(A)) || jumps != 0 || lost != 0 || unacked != float64(gone) || got[0].Lost != gone || len(got[0].Unused) != 0 {
				t.Fatalf("B at %d, want %d (right after A); %v jumps, %v lost bytes, %v unacknowledged destroyed, announced lost %d, unused %v; want 0, 0, %d, %d, none",
					got[0].Offset, len(A), jumps, lost, unacked, got[0].Lost, got[0].Unused, gone, gone)
			}
			if tc.moved && first[len(first)-1].End() != uint64(len(A)+len(B)) {
				t.Fatalf("the first run read up to %d", first[len(first)-1].End())
			}
			if tc.name == "compressed" {
				if b, err := os.ReadFile(path + ".1.gz"); err != nil || string(b) != A {
					t.Fatalf("compressed generation changed: %v", err)
				}
			}
		})
	}
}

// TestTailRestartGoneSizeFromLastLook: the bytes of the gone generation that the tailer
// saw but did not return (a partial last line, held) are counted too: the checkpoint
// holds the size at the last look, and the next generation begins after them.
func TestTailRestartGoneSizeFromLastLook(t *testing.T) {
	cfg, w := modelConfig(t)
	path := filepath.Join(t.TempDir(), "access.log")
	A := lines("A", 1, 20)
	partial := "10.0.0.1 - - unterminated"
	appendFile(t, path, A+partial)
	stamp(t, path, 0)
	s := newSources(t, cfg)
	tl := openTailer(t, s, path)
	read := readChunks(t, w, tl, 64<<10)
	if chunkData(read) != A {
		t.Fatalf("read %q", chunkData(read))
	}
	if err := tl.Ack(read[len(read)-1].Pos); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	s.Close()
	cp, _, err := s.store.Load(path)
	if err != nil || !cp.Stopped || cp.Size != int64(len(A)+len(partial)) || cp.Reach != uint64(len(A)) {
		t.Fatalf("stop checkpoint %+v, %v: want size %d, reach %d", cp, err, len(A)+len(partial), len(A))
	}
	mustRemove(t, path)
	B := lines("B", 1, 5)
	appendFile(t, path, B)
	stamp(t, path, 1)
	cfg.Waker = w
	s = newSources(t, cfg)
	got := readChunks(t, w, openTailer(t, s, path), 64<<10)
	wantRead(t, chunkData(got), B)
	if got[0].Offset != uint64(len(A)+len(partial)) || testutil.ToFloat64(s.m.LostBytes) != float64(len(partial)) {
		t.Fatalf("B at %d, want %d; lost %v, want %d", got[0].Offset, len(A)+len(partial), testutil.ToFloat64(s.m.LostBytes), len(partial))
	}
}

// TestTailRestartGoneOldCheckpoint: a checkpoint written before sizes were recorded (no
// size, no stop mark) still loads; a restart that finds its file gone cannot know what
// it held, so the stream jumps by LossGap, and the generations on disk are still drained.
func TestTailRestartGoneOldCheckpoint(t *testing.T) {
	cfg, w := modelConfig(t)
	path := filepath.Join(t.TempDir(), "access.log")
	A := lines("A", 1, 10)
	appendFile(t, path, A)
	stamp(t, path, 0)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	dev, ino, _ := fileID(fi)
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	// A version 1 checkpoint file (the bare checkpoint) as an older shipper wrote it.
	old := `{"version":1,"path":"` + path + `","stream":77,"dev":` + utoa(dev) + `,"ino":` + utoa(ino) +
		`,"fp_len":64,"fp":` + utoa(fingerprint([]byte(A[:64]))) + `,"file_offset":100,"offset":100,"mtime":` +
		utoa(uint64(fi.ModTime().UnixNano())) + "}\n"
	store, err := OpenStore(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store.File(path), []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	store.Close()
	mustRename(t, path, path+".1.gz")
	B, C := lines("B", 1, 5), lines("C", 1, 5)
	appendFile(t, path+".1", B)
	stamp(t, path+".1", 1)
	appendFile(t, path, C)
	stamp(t, path, 2)
	s := newSources(t, cfg)
	got := readChunks(t, w, openTailer(t, s, path), 64<<10)
	wantRead(t, chunkData(got), B+C)
	if got[0].Offset != 100+LossGap || got[0].Stream != 77 || testutil.ToFloat64(s.m.StreamJumps) != 1 {
		t.Fatalf("B at %d of stream %d, want %d of 77", got[0].Offset, got[0].Stream, 100+LossGap)
	}
}

// TestGlobRestartMatchGone: a glob's match whose checkpointed generation is gone is
// continued like a named file: its later generations drained before its live file, or
// alone when its path is gone too, at offsets right after the gone generation.
func TestGlobRestartMatchGone(t *testing.T) {
	for _, live := range []bool{true, false} {
		t.Run(map[bool]string{true: "live", false: "path gone"}[live], func(t *testing.T) {
			cfg, w := modelConfig(t)
			cfg.ChunkMax = 600
			dir := t.TempDir()
			path := filepath.Join(dir, "a.log")
			A, B, C := lines("A", 1, 30), lines("B", 1, 20), lines("C", 1, 10)
			appendFile(t, path, A)
			stamp(t, path, 0)
			s := newSources(t, cfg)
			g, err := s.OpenGlob(filepath.Join(dir, "*.log"))
			if err != nil {
				t.Fatal(err)
			}
			r := startReader(t, g, cfg.ChunkMax)
			r.waitFor([]byte(A), w)
			r.stop()
			cs := r.snapshot()
			if err := g.Ack(cs[0].Pos); err != nil {
				t.Fatal(err)
			}
			g.Close()
			s.Close()
			mustRemove(t, path)
			appendFile(t, path+".1", B)
			stamp(t, path+".1", 1)
			want := B
			if live {
				appendFile(t, path, C)
				stamp(t, path, 2)
				want += C
			}
			cfg.Waker = w
			s = newSources(t, cfg)
			g, err = s.OpenGlob(filepath.Join(dir, "*.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			r = startReader(t, g, cfg.ChunkMax)
			r.waitFor([]byte(want), w)
			if c := r.snapshot()[0]; c.Offset != uint64(len(A)) || c.Stream != cs[0].Stream {
				t.Fatalf("B at %d of stream %d, want %d of %d", c.Offset, c.Stream, len(A), cs[0].Stream)
			}
			// The rest of A was returned by the run before (sent, not acknowledged): not
			// lost, announced (collectors count what they lack).
			lost, gone := testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.FilesGone)
			unacked := testutil.ToFloat64(s.m.UnackedDestroyed)
			if lost != 0 || unacked != float64(uint64(len(A))-cs[0].End()) || gone != 1 {
				t.Fatalf("lost %v bytes, want 0; unacknowledged destroyed %v, want %d; %v files gone, want 1", lost, unacked, uint64(len(A))-cs[0].End(), gone)
			}
		})
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, name string) {
	t.Helper()
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
}

func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

// TestStopCheckpointFallback: a stop checkpoint (saved without fsyncs) that a power loss
// tore falls back to the previous copy, whose stop mark, if it has one (a run before
// the last stopped there), is dropped: it says nothing of the offsets the last run used.
func TestStopCheckpointFallback(t *testing.T) {
	cfg, _ := testConfig(t)
	store, err := OpenStore(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cp := Checkpoint{Version: checkpointVersion, Path: "/var/log/x.log", Stream: 9, Dev: 1, Ino: 2, FileOffset: 10, Offset: 10, Size: 40}
	stop := cp
	stop.Stopped, stop.Reach = true, 30
	for _, prev := range []Checkpoint{cp, stop} {
		if err := store.Save(prev); err != nil {
			t.Fatal(err)
		}
		if err := store.saveStop(stop); err != nil {
			t.Fatal(err)
		}
		got, _, err := store.Load(cp.Path)
		if err != nil || !reflect.DeepEqual(got, stop) {
			t.Fatalf("stop checkpoint loaded as %+v, %v", got, err)
		}
		if err := os.WriteFile(store.File(cp.Path), make([]byte, 100), 0o640); err != nil {
			t.Fatal(err)
		}
		got, _, err = store.Load(cp.Path)
		if err != nil || got.Stopped || got.Reach != 0 || got.Offset != cp.Offset || got.Size != cp.Size {
			t.Fatalf("torn stop checkpoint fell back to %+v, %v; want the previous position without a stop mark", got, err)
		}
	}
}

// TestTailRestartGoneAfterLinePiece: the run before sent pieces of a line longer than the
// chunk bound, not its end, and stopped; the file was deleted while the shipper was down.
// The restart ends that line first (a '\n' alone, the last piece, right after the gone
// bytes, which are counted lost exactly) so that the next generation's first line is
// not joined to the piece at collectors; the stop checkpoint says its reach ends inside
// a line. Variant: the run after the restart stops before it sent that end (its start
// checkpoint names no file, the line still open): the next run sends it first.
func TestTailRestartGoneAfterLinePiece(t *testing.T) {
	for _, stopFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "stopped before the end"}[stopFirst], func(t *testing.T) {
			cfg, w := modelConfig(t)
			path := filepath.Join(t.TempDir(), "access.log")
			A := lines("A", 1, 5)
			long := strings.Repeat("x", 250) // written in part: no '\n' yet
			appendFile(t, path, A+long)
			stamp(t, path, 0)
			s := newSources(t, cfg)
			tl := openTailer(t, s, path)
			first := readChunks(t, w, tl, 100)
			last := first[len(first)-1]
			if last.Flags&envelope.FlagFragment == 0 || last.Flags&envelope.FlagLast != 0 || last.End() <= uint64(len(A)) {
				t.Fatalf("the first run's last chunk %+v is not a piece of the long line", last)
			}
			acked := first[1]
			if err := tl.Ack(acked.Pos); err != nil {
				t.Fatal(err)
			}
			tl.Close()
			s.Close()
			cp, _, err := s.store.Load(path)
			if err != nil || !cp.Stopped || !cp.ReachInLine || cp.Reach != last.End() {
				t.Fatalf("stop checkpoint %+v, %v: want its reach %d inside a line", cp, err, last.End())
			}
			mustRemove(t, path)
			B := lines("B", 1, 5)
			appendFile(t, path, B)
			stamp(t, path, 1)
			end := uint64(len(A) + len(long)) // where the gone generation ended
			cfg.Waker = w
			s = newSources(t, cfg)
			var lost, unacked float64 // counted by the run that found the file gone
			if stopFirst {
				tl = openTailer(t, s, path)
				tl.Close()
				s.Close()
				lost, unacked = testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.UnackedDestroyed)
				cp, _, err := s.store.Load(path)
				if err != nil || cp.Offset != end || cp.LineOff == 0 || cp.HasFile() {
					t.Fatalf("checkpoint of the run that sent nothing %+v, %v: want offset %d, the line still open", cp, err, end)
				}
				s = newSources(t, cfg)
			}
			got := readChunks(t, w, openTailer(t, s, path), 64<<10)
			if !stopFirst {
				lost, unacked = testutil.ToFloat64(s.m.LostBytes), testutil.ToFloat64(s.m.UnackedDestroyed)
			}
			wantRead(t, chunkData(got), "\n"+B)
			if c := got[0]; c.Offset != end || c.Flags != envelope.FlagFragment|envelope.FlagLast || c.Span != 1 {
				t.Fatalf("first chunk after the restart %+v: want the line's end alone at %d", c, end)
			}
			if got[1].Offset != end+1 {
				t.Fatalf("B at %d, want %d", got[1].Offset, end+1)
			}
			// Of the gone generation after the checkpoint, the bytes up to the reach of
			// the run before were sent (not lost for a collector that has them); only
			// the rest of the line, seen and never sent, was destroyed before it was
			// read out. All of it is announced (collectors count what they lack).
			if lost != float64(end-last.End()) || unacked != float64(last.End()-acked.End()) || testutil.ToFloat64(s.m.StreamJumps) != 0 {
				t.Fatalf("lost %v bytes, want %d (seen after the reach of the run before); unacknowledged destroyed %v, want %d (sent after the checkpoint); %v jumps",
					lost, end-last.End(), unacked, last.End()-acked.End(), testutil.ToFloat64(s.m.StreamJumps))
			}
			if n := got[0].Lost; !stopFirst && n != end-acked.End() {
				t.Fatalf("first chunk announces %d bytes lost, want %d (the gone generation after the checkpoint)", n, end-acked.End())
			}
		})
	}
}

// TestTailRewindOverJumpAnnouncesUnused: after a restart that found its checkpointed
// file gone after a crash (the stream jumped past every offset it may have used, the
// offsets past the bytes the checkpoint knew of announced as unused), a rewind to the
// checkpoint (a collector that lacks the stream from there) walks over the same jump:
// it announces the same offsets as unused again and the same bytes as lost, never the
// whole jump as lost bytes (a collector that missed the first announcement would count
// a 4 GiB gap), and does not count the destroyed bytes a second time.
func TestTailRewindOverJumpAnnouncesUnused(t *testing.T) {
	cfg, w := modelConfig(t)
	path := filepath.Join(t.TempDir(), "access.log")
	A, B := lines("A", 1, 40), lines("B", 1, 10)
	appendFile(t, path, A)
	stamp(t, path, 0)
	first := goneRun(t, cfg, path, true, nil)
	acked := first[len(first)/4]
	mustRemove(t, path)
	appendFile(t, path, B)
	stamp(t, path, 1)
	cfg.Waker = w
	s := newSources(t, cfg)
	tl := openTailer(t, s, path)
	got := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(got), B)
	gone := uint64(len(A)) - acked.End()
	wantUnused := []OffsetRange{{From: acked.End() + gone, To: got[0].Offset}}
	if got[0].Offset < acked.End()+LossGap || got[0].Lost != got[0].Offset-acked.End() || !slices.Equal(got[0].Unused, wantUnused) {
		t.Fatalf("after the restart: B at %d, announced lost %d, unused %v; want past %d, %d, %v",
			got[0].Offset, got[0].Lost, got[0].Unused, acked.End()+LossGap, got[0].Offset-acked.End(), wantUnused)
	}
	unacked := testutil.ToFloat64(s.m.UnackedDestroyed)
	if err := tl.Rewind(&acked.Pos); err != nil {
		t.Fatal(err)
	}
	again := readChunks(t, w, tl, 64<<10)
	wantRead(t, chunkData(again), B)
	if c := again[0]; c.Offset != got[0].Offset || c.Lost != got[0].Lost || !slices.Equal(c.Unused, wantUnused) {
		t.Fatalf("after the rewind: B at %d, announced lost %d, unused %v; want %d, %d, %v (as after the restart)",
			c.Offset, c.Lost, c.Unused, got[0].Offset, got[0].Lost, wantUnused)
	}
	if v := testutil.ToFloat64(s.m.UnackedDestroyed); v != unacked || v != float64(gone) {
		t.Errorf("unacknowledged destroyed bytes %v after the rewind, %v before; want %d (counted once)", v, unacked, gone)
	}
	if v := testutil.ToFloat64(s.m.LostBytes); v != 0 {
		t.Errorf("lost bytes %v, want 0", v)
	}
}
