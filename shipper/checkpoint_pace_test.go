package shipper

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/logspread/logspread/shipper/source"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCheckpointPaced checks CheckpointInterval: after the first save, acknowledged
// positions wait for the next round instead of each being fsynced at once, and the
// last acknowledged position is saved when the shipper stops.
func TestCheckpointPaced(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	path := filepath.Join(t.TempDir(), "access.log")
	content := testContent(3, 20000)
	half := len(content) / 2
	for half > 0 && content[half-1] != '\n' {
		half--
	}
	writeFile(t, path, content[:half])
	s := newSources(t, cfg)
	tl, err := s.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	scfg := testSendConfig("unix:"+sock, "www")
	scfg.CheckpointInterval = time.Hour
	rs := startShipper(t, scfg, tl)
	r.expect(content[:half])
	// Once the first round has saved something, the rest waits for the next round.
	testsupport.EventuallyErr(t, func() error {
		if _, found, err := s.Store().Load(path); err != nil || !found {
			return fmt.Errorf("no checkpoint yet (%v)", err)
		}
		return nil
	})
	appendFile(t, path, string(content[half:]))
	r.expect(content)
	rs.waitAcked(t, uint64(len(content)))
	// The first round saved a position of the first half; the next round is an hour
	// away. (TestAckerPaced checks the pacing itself, on synctest's clock.)
	if cp, _, err := s.Store().Load(path); err != nil || cp.Offset > uint64(half) {
		t.Fatalf("checkpoint %+v %v saved before the interval ended", cp, err)
	}
	if err := rs.stop(); err != nil {
		t.Fatal(err)
	}
	if cp, _, err := s.Store().Load(path); err != nil || cp.Offset != uint64(len(content)) {
		t.Fatalf("after stop: checkpoint %+v %v, want offset %d", cp, err, len(content))
	}
}

// TestAckerPaced runs the acknowledging goroutine on testing/synctest's clock: the first
// acknowledged position is saved at once, later ones wait until CheckpointInterval has
// passed since that save, and a stop saves what is pending without waiting.
func TestAckerPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Group = "www"
		cfg.CheckpointInterval = time.Minute
		sh, err := New(cfg, testsupport.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		src := &ackRecorder{}
		a := newAcker(sh, []source.Source{src})
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.run()
		}()
		defer func() { // also when a check fails: a bubble must end with no goroutine left
			a.stop()
			<-done
		}()
		ack := func(off uint64) {
			a.add(0, source.Checkpoint{Path: "access.log", Offset: off})
			a.kick()
		}
		check := func(when string, want ...uint64) {
			t.Helper()
			synctest.Wait() // the acker has done all it can until time moves on
			if got := src.saved(); !slices.Equal(got, want) {
				t.Fatalf("%s: saved offsets %v, want %v", when, got, want)
			}
		}

		ack(10)
		check("first acknowledgement", 10)
		ack(20)
		ack(30)
		check("acknowledged during the pause", 10)
		time.Sleep(time.Minute - time.Nanosecond)
		check("just before the interval ends", 10)
		time.Sleep(time.Nanosecond)
		check("the next round", 10, 30)
		ack(40)
		check("acknowledged during the second pause", 10, 30)
		a.stop()
		<-done
		check("stopped during the pause", 10, 30, 40)
	})
}

// ackRecorder is a Source that records the offsets acknowledged to it.
type ackRecorder struct {
	mu      sync.Mutex // Guards offsets.
	offsets []uint64
}

func (r *ackRecorder) Next(context.Context, int) (source.Chunk, error) { return source.Chunk{}, io.EOF }
func (r *ackRecorder) Close() error                                    { return nil }

func (r *ackRecorder) Ack(pos source.Checkpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offsets = append(r.offsets, pos.Offset)
	return nil
}

func (r *ackRecorder) saved() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.offsets)
}

// TestAckerReclaimsAtOnce: a position whose save frees space (a reclaimer's, like the
// stdin journal's completed segments) ends the CheckpointInterval pause, so a full
// journal is freed as acknowledgements arrive instead of once per interval; others wait.
func TestAckerReclaimsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Group = "www"
		cfg.CheckpointInterval = time.Minute
		sh, err := New(cfg, testsupport.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		src := &reclaimRecorder{segment: 100}
		a := newAcker(sh, []source.Source{src})
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.run()
		}()
		defer func() {
			a.stop()
			<-done
		}()
		ack := func(off uint64) {
			a.add(0, source.Checkpoint{Path: "-", Offset: off})
			a.kick()
		}
		check := func(when string, want ...uint64) {
			t.Helper()
			synctest.Wait()
			if got := src.saved(); !slices.Equal(got, want) {
				t.Fatalf("%s: saved offsets %v, want %v", when, got, want)
			}
		}
		ack(10)
		check("first acknowledgement", 10)
		ack(50)
		check("within the first segment: paced", 10)
		ack(120)
		check("completes the first segment: at once", 10, 120)
		ack(150)
		check("within the second segment: paced", 10, 120)
		ack(230)
		check("completes the second segment: at once", 10, 120, 230)
		time.Sleep(time.Minute)
		check("nothing pending", 10, 120, 230)
	})
}

// reclaimRecorder is an ackRecorder whose saves free a segment every segment bytes.
type reclaimRecorder struct {
	ackRecorder
	segment uint64
}

func (r *reclaimRecorder) Reclaims(pos source.Checkpoint) bool {
	saved := r.saved()
	last := uint64(0)
	if len(saved) > 0 {
		last = saved[len(saved)-1]
	}
	return pos.Offset/r.segment > last/r.segment
}

// failingAcks is an ackRecorder whose first fails saves fail (EMFILE).
type failingAcks struct {
	ackRecorder
	fails int
}

func (r *failingAcks) Ack(pos source.Checkpoint) error {
	r.mu.Lock()
	if r.fails > 0 {
		r.fails--
		r.mu.Unlock()
		return fmt.Errorf("save checkpoint: %w", syscall.EMFILE)
	}
	r.mu.Unlock()
	return r.ackRecorder.Ack(pos)
}

// TestAckerRetriesFailedSave: a checkpoint that cannot be saved (no descriptor free) is
// counted and saved again a second later, with no new acknowledgement to carry it,
// until it is saved; a later position acknowledged meanwhile replaces it.
func TestAckerRetriesFailedSave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Group = "www"
		cfg.CheckpointInterval = 0
		sh, err := New(cfg, testsupport.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		src := &failingAcks{fails: 2}
		a := newAcker(sh, []source.Source{src})
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.run()
		}()
		defer func() {
			a.stop()
			<-done
		}()
		check := func(when string, errs float64, want ...uint64) {
			t.Helper()
			synctest.Wait()
			if got := src.saved(); !slices.Equal(got, want) {
				t.Fatalf("%s: saved offsets %v, want %v", when, got, want)
			}
			if got := testutil.ToFloat64(sh.m.CheckpointErrors); got != errs {
				t.Fatalf("%s: checkpoint errors %v, want %v", when, got, errs)
			}
		}
		a.add(0, source.Checkpoint{Path: "access.log", Offset: 10})
		a.kick()
		check("first save failed", 1)
		time.Sleep(saveRetry - time.Nanosecond)
		check("before the retry", 1)
		time.Sleep(time.Nanosecond)
		check("retry failed", 2)
		a.add(0, source.Checkpoint{Path: "access.log", Offset: 20})
		time.Sleep(saveRetry)
		check("retried with the later position", 2, 20)
		time.Sleep(time.Hour)
		check("nothing left to save", 2, 20)
	})
}
