package shipper

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/shipper/source"
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// shipCompressed ships the content of one file from the beginning with sc and waits until
// the receiver has all of it, byte for byte, and the shipper has it acknowledged.
func shipCompressed(t *testing.T, sc func(*Config), data []byte) (*receiver, *runningShipper) {
	t.Helper()
	sock := sockPath(t)
	startTestDaemon(t, sock)
	r := startReceiver(t, "unix:"+sock, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	writeFile(t, path, data)
	tl := openTailer(t, s, path)
	c := testSendConfig("unix:"+sock, "www")
	sc(&c)
	rs := startShipper(t, c, tl)
	r.expect(data)
	rs.waitAcked(t, uint64(len(data)))
	return r, rs
}

func accessLines(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "203.0.113.%d - - [28/Nov/2026:10:00:%02d +0000] \"GET /page/%d HTTP/1.1\" 200 %d\n", i%250, i%60, i%977, 500+i%5000)
	}
	return b.Bytes()
}

// TestShipCompressed: by default every batch is a batch v2 (one zstd frame, checked by
// the receiver), catching up makes batches far above one read, and the compressed bytes
// are a fraction of the lines.
func TestShipCompressed(t *testing.T) {
	data := accessLines(60000) // ~5 MB
	r, rs := shipCompressed(t, func(*Config) {}, data)
	r.mu.Lock()
	batches, compressed, maxRaw := r.batches, r.compressed, r.maxRaw
	r.mu.Unlock()
	if compressed != batches || batches == 0 {
		t.Errorf("%d of %d batches compressed, want all", compressed, batches)
	}
	if maxRaw <= 64<<10 || maxRaw > 1<<20 {
		t.Errorf("largest batch %d raw bytes, want above one read (64 KiB) and at most 1 MiB", maxRaw)
	}
	sent, zbytes := testutil.ToFloat64(rs.m.BytesSent), testutil.ToFloat64(rs.m.BytesCompressed)
	if sent != float64(len(data)) || zbytes <= 0 || zbytes > sent/4 {
		t.Errorf("sent %v line bytes as %v compressed bytes, want %d lines at most a quarter", sent, zbytes, len(data))
	}
}

// TestShipCompressionNone: --batch-compression none sends batch v1, uncompressed, cut
// at BatchBytes as before.
func TestShipCompressionNone(t *testing.T) {
	data := accessLines(20000)
	r, _ := shipCompressed(t, func(c *Config) { c.Compression = CompressNone }, data)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.compressed != 0 || r.maxRaw > 64<<10 {
		t.Errorf("%d compressed batches, largest %d bytes; want none, at most 64 KiB", r.compressed, r.maxRaw)
	}
}

// TestShipCompressedCut: lines that compress poorly make a 1 MiB batch's frame larger
// than one Spread message; the batch is cut at chunk ends into frames that fit, and
// everything arrives once.
func TestShipCompressedCut(t *testing.T) {
	var b bytes.Buffer
	rnd := make([]byte, 60)
	for range 40000 {
		rand.Read(rnd)
		b.WriteString(hex.EncodeToString(rnd) + "\n")
	}
	r, rs := shipCompressed(t, func(*Config) {}, b.Bytes())
	if cuts := testutil.ToFloat64(rs.m.BatchesCut); cuts == 0 {
		t.Error("no batch was cut, want cuts (hex compresses about 2:1, 1 MiB does not fit)")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.compressed != r.batches {
		t.Errorf("%d of %d batches compressed, want all", r.compressed, r.batches)
	}
}

// TestShipCompressedFragmentsBetween: batches gathered in the batcher's buffer (each
// chunk read straight into it) stay exact when a chunk that cannot join them comes
// in the middle: pieces of lines longer than a read, between runs of short lines,
// arrive byte for byte, with every batch compressed.
func TestShipCompressedFragmentsBetween(t *testing.T) {
	var b bytes.Buffer
	short := accessLines(300)
	for i := range 20 {
		b.Write(short)
		b.WriteString(strings.Repeat(fmt.Sprintf("long line %d ", i), 1000) + "\n") // ~13 KB: fragments of 4 KiB
	}
	b.Write(short)
	r, _ := shipCompressed(t, func(c *Config) { c.BatchBytes = 4 << 10 }, b.Bytes())
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.compressed != r.batches || r.maxRaw <= 4<<10 {
		t.Errorf("%d of %d batches compressed, largest %d raw bytes; want all, and batches of many reads", r.compressed, r.batches, r.maxRaw)
	}
}

// TestShipIncompressible: with reads as large as a message allows, a chunk of random
// bytes does not fit once framed; it is sent uncompressed (v1), counted, and arrives.
func TestShipIncompressible(t *testing.T) {
	var b bytes.Buffer
	rnd := make([]byte, MaxBatchBytes-10) // with its '\n', one read; framed, above a message
	for range 5 {
		rand.Read(rnd)
		for i, c := range rnd {
			if c == '\n' {
				rnd[i] = ' '
			}
		}
		b.Write(rnd)
		b.WriteByte('\n')
	}
	r, rs := shipCompressed(t, func(c *Config) { c.BatchBytes = MaxBatchBytes }, b.Bytes())
	if n := testutil.ToFloat64(rs.m.BatchesUncompressed); n == 0 {
		t.Error("no batch sent uncompressed, want some")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.compressed == r.batches || r.maxRaw > uint32(spreadlink.MaxBody) {
		t.Errorf("%d of %d batches compressed (largest %d raw bytes); want some uncompressed", r.compressed, r.batches, r.maxRaw)
	}
}

func TestConfigCompression(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{name: "default", edit: func(*Config) {}, ok: true},
		{name: "none", edit: func(c *Config) { c.Compression = CompressNone; c.MaxBatchRaw = 0 }, ok: true},
		{name: "gzip", edit: func(c *Config) { c.Compression = "gzip" }},
		{name: "level best", edit: func(c *Config) { c.CompressionLevel = "best" }, ok: true},
		{name: "level 22", edit: func(c *Config) { c.CompressionLevel = "22" }},
		{name: "raw bound below a read", edit: func(c *Config) { c.MaxBatchRaw = c.BatchBytes - 1 }},
		{name: "raw bound above 4 MiB", edit: func(c *Config) { c.MaxBatchRaw = MaxCompressedRaw + 1 }},
	} {
		c := testSendConfig("4803", "www")
		tc.edit(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v", tc.name, err)
		}
	}
}

// TestBatcherKeepsLost: a chunk that follows bytes its source skipped (Chunk.Lost: a
// journal's dropped or corrupt bytes, a tailer's jump) keeps them when the batcher
// cuts it into several batches: the first batch carries them, so the sender announces
// them before it; the others carry none. Before, every batch lost them.
func TestBatcherKeepsLost(t *testing.T) {
	cfg := DefaultConfig()
	b, err := newBatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	rnd := make([]byte, 30000)
	cur := source.Chunk{Stream: 7, Offset: 1000, Lost: 123}
	for i := range 8 { // random hex: about 2:1, so 8 reads of 60 KB do not fit one message
		rand.Read(rnd)
		line := []byte(hex.EncodeToString(rnd) + "\n")
		cur.Data = append(cur.Data, line...)
		cur.Span += uint64(len(line))
		cur.Lines++
		cur.Pos = source.Checkpoint{Stream: 7, Offset: cur.End()}
		if i == 0 {
			b.reset(&cur)
		} else {
			b.add(&cur)
		}
	}
	var parts []source.Chunk
	post := func(it pumpItem) bool {
		parts = append(parts, it.ch)
		b.done <- struct{}{}
		return true
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if !b.emit(context.Background(), cur, post, 0, m) {
		t.Fatal("emit ended early")
	}
	if len(parts) < 2 {
		t.Fatalf("%d batches, want the chunk cut into several", len(parts))
	}
	for i, p := range parts {
		want := uint64(0)
		if i == 0 {
			want = 123
		}
		if p.Lost != want {
			t.Errorf("batch %d (offset %d) carries Lost %d, want %d", i, p.Offset, p.Lost, want)
		}
	}
}
