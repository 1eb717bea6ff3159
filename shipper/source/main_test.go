package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig returns a config for tests: state in a temp dir, a manual waker.
func testConfig(t *testing.T) (Config, *ManualWaker) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	w := NewManualWaker()
	cfg.Waker = w
	return cfg, w
}

func newSources(t *testing.T, cfg Config) *Set {
	t.Helper()
	s, err := New(cfg, testsupport.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// reader reads a source in a goroutine, collecting chunks as they come (so that it never
// lags behind a writer because the test is not looking).
type reader struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex // Guards the fields below.
	buf    bytes.Buffer
	chunks []Chunk
	err    error
	next   uint64 // expected offset of the next chunk
	first  bool
	bad    []string
	multi  bool // a glob's chunks: offsets follow each other per stream only (set before reading)
}

func startReader(t *testing.T, src Source, max int) *reader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{t: t, cancel: cancel, done: make(chan struct{}), first: true}
	go func() {
		defer close(r.done)
		for {
			c, err := src.Next(ctx, max)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					r.mu.Lock()
					r.err = err
					r.mu.Unlock()
				}
				return
			}
			r.add(c)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *reader) add(c Chunk) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.first && c.Offset != r.next {
		r.bad = append(r.bad, fmt.Sprintf("chunk at offset %d, want %d", c.Offset, r.next))
	}
	r.first = false
	r.next = c.End()
	if err := checkChunk(&c); err != nil {
		r.bad = append(r.bad, fmt.Sprintf("chunk at %d: %v", c.Offset, err))
	}
	r.chunks = append(r.chunks, c)
	r.buf.Write(c.Data)
}

// waitFor waits until the reader holds as many bytes as want (ticking w so that polling
// is covered), then compares.
func (r *reader) waitFor(want []byte, w *ManualWaker) {
	r.t.Helper()
	testsupport.EventuallyErr(r.t, func() error {
		r.mu.Lock()
		n, err := r.buf.Len(), r.err
		r.mu.Unlock()
		if err != nil {
			r.t.Fatalf("Next: %v", err)
		}
		if n >= len(want) {
			return nil
		}
		if w != nil {
			w.Tick()
		}
		return fmt.Errorf("waiting for data: have %d want %d", n, len(want))
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bad {
		r.t.Error(b)
	}
	if !bytes.Equal(r.buf.Bytes(), want) {
		r.t.Fatalf("read %d bytes, differ from the %d written; first difference at %d", r.buf.Len(), len(want), firstDiff(r.buf.Bytes(), want))
	}
}

// len returns the number of bytes read so far.
func (r *reader) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Len()
}

// snapshot returns the chunks read so far.
func (r *reader) snapshot() []Chunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.chunks)
}

func (r *reader) stop() {
	r.cancel()
	<-r.done
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkChunk checks a chunk against the batch envelope rules.
func checkChunk(c *Chunk) error {
	if len(c.Data) == 0 && c.Span == 0 {
		if c.Lost == 0 {
			return errors.New("a chunk without data announces no loss")
		}
		return nil // a loss at the end of what the source has (Tailer.lossChunk)
	}
	h := c.Header()
	msg := appendBatchForTest(h, c.Data)
	return verifyBatchForTest(msg)
}
