package collector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/logspread/logspread/collector/segment"
	"github.com/logspread/logspread/formats/envelope"
	"github.com/prometheus/client_golang/prometheus"
)

// slowStatFS makes every flush cycle with an open segment cost delay (Writer.Prepare
// checks the segment's name with Stat), as a state save of many streams does, and
// counts the frames written.
type slowStatFS struct {
	segment.FS
	delay  time.Duration
	mu     sync.Mutex
	frames int
}

func (f *slowStatFS) Stat(name string) (os.FileInfo, error) {
	time.Sleep(f.delay)
	return f.FS.Stat(name)
}

func (f *slowStatFS) Create(name string) (segment.File, error) {
	sf, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: sf, fs: f}, nil
}

type countingFile struct {
	segment.File
	fs *slowStatFS
}

func (f *countingFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	f.fs.frames++
	f.fs.mu.Unlock()
	return f.File.WriteAt(p, off)
}

// A flush cycle that takes longer than the flush interval does not make the writer
// flush before every message after it: the messages that arrived meanwhile are written
// together in the next cycle, an interval later. (Every tick that came during the
// cycle used to flush again before the next message: one frame and one state save per
// message, so a collector with many streams, whose state save outlasts the interval,
// fell to one message per save and held every shipper's window full under --ack
// written.)
func TestSlowFlushNotPerMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Dir = t.TempDir()
		cfg.Logs = []LogConfig{{Group: "www", Template: "www.log"}}
		cfg.Compression = segment.CompressNone
		cfg.FlushInterval = 20 * time.Millisecond
		c, err := New(cfg, nil, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(cfg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		fsys := &slowStatFS{FS: segment.RootFS(root), delay: 50 * time.Millisecond}
		c.fs = fsys
		w, err := c.newWriterSet()
		if err != nil {
			t.Fatal(err)
		}
		defer w.release()
		q := newMsgQueue(1<<20, c.m)
		push := func(stream uint64) {
			it := newItem()
			it.kind, it.messType, it.logs = itemData, envelope.MessTypeBatch, []int{0}
			it.data = append(it.data[:0], batch(stream, 0, "x\n")...)
			q.push(t.Context(), it, func() {})
		}
		done := make(chan error, 1)
		go func() { done <- w.loop(context.Background(), q, nil) }()

		const n = 32
		push(1)
		time.Sleep(30 * time.Millisecond) // flushed at 20 ms: the segment is open
		push(2)
		time.Sleep(20 * time.Millisecond) // inside the next flush cycle (40 ms to 90 ms)
		for s := uint64(3); s <= n; s++ {
			push(s)
		}
		for i := 0; ; i++ {
			b, _ := os.ReadFile(filepath.Join(cfg.Dir, "www.log"))
			if strings.Count(string(b), "\n") == n {
				break
			}
			if i == 1000 {
				t.Fatalf("www.log holds %q, want %d lines", b, n)
			}
			time.Sleep(cfg.FlushInterval)
		}
		fsys.mu.Lock()
		frames := fsys.frames
		fsys.mu.Unlock()
		// A frame for each of the first two messages, one (or, with a tick between
		// two messages, a few) for the rest: not one per message.
		if frames > 5 {
			t.Errorf("%d messages written in %d frames (flush cycles), want at most 5", n, frames)
		}
		q.close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
