package source

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/atomicfile"
)

// Journal record layout: 4 bytes payload length, 4 bytes CRC-32C of the payload (both
// little-endian), then the payload: the bytes of one read from the input.
const recHeader = 8

const segSuffix = ".jnl"

// jseg is one journal segment file, named by the journal offset of its first payload byte.
type jseg struct {
	start   uint64 // journal offset of the first payload byte
	payload uint64 // payload bytes durable in the file
	size    int64  // file bytes durable (headers included)
}

func (s *jseg) end() uint64 { return s.start + s.payload }

// A Journal copies an input (Apache piped logs on stdin) into a bounded on-disk journal at
// once, and is the Source of one stream over what it journaled. Its rules:
//
//   - One goroutine reads the input and appends each read as a record to the current
//     segment file, then fsyncs it (group commit: a busy input gives large reads, so the
//     fsync rate stays bounded). Only fsynced bytes are handed to Next, so anything a
//     collector may have seen survives kill -9 and power loss.
//   - Segments are closed at Config.JournalSegment bytes. When the segments on disk reach
//     Config.JournalMax, reading the input pauses (with one warning and a counted
//     logspread_shipper_journal_full_total) until acknowledgements free a segment: the
//     writer blocks like Apache's own pipe, but nothing already written is dropped.
//   - Ack saves the read checkpoint and deletes the segments wholly before it.
//   - At start, segments are checked record by record; a torn or corrupt last record of the
//     last segment is cut off (a crash mid-write); damage elsewhere is ErrCorruptJournal.
//     An unfinished last line left by the previous input gets a '\n' record, and so does
//     the last line at end of input, so the journal holds whole lines only and the
//     journal offset is the stream's logical offset.
//   - After end of input, Next returns io.EOF once everything journaled has been returned.
//
// The input should be closable (an *os.File from OpenStdin, or a pipe): Close closes it to
// stop the reading goroutine.
type Journal struct {
	s      *Set
	log    *slog.Logger
	key    string
	dir    string
	stream uint64
	in     io.Reader

	wg      sync.WaitGroup
	quit    chan struct{}
	once    sync.Once
	changed chan struct{} // writer -> reader: more durable data, eof or error
	space   chan struct{} // Ack -> writer: segments were deleted

	mu    sync.Mutex // Guards the fields below.
	segs  []jseg     // in order; the last one is written
	end   uint64     // journal offset past the last durable byte
	acked uint64     // journal offset acknowledged (saved by Ack)
	total int64      // bytes of all segment files
	eof   bool
	werr  error

	// Reader state, owned by the goroutine calling Next.
	rf     *os.File
	rstart uint64 // start of rf's segment
	rpos   int64  // file offset of the next byte to read in rf
	rrem   int64  // payload bytes left in the current record
	roff   uint64 // journal offset of the next byte to read
	c      cutter
	closed bool
	start  Checkpoint // where it was opened (Rewind(nil))
}

// OpenJournal opens (or recovers) the journal called name in the state directory, starts
// copying in into it, and returns it as a Source resuming at its read checkpoint.
func (s *Set) OpenJournal(name string, in io.Reader) (*Journal, error) {
	key := "stdin:" + name
	j := &Journal{
		s: s, key: key, in: in,
		log:     s.log.With("source", key),
		dir:     filepath.Join(s.store.Dir(), "journal-"+storeKey(key)),
		quit:    make(chan struct{}),
		changed: make(chan struct{}, 1),
		space:   make(chan struct{}, 1),
		c:       newCutter(s.cfg.ReadBuffer, s.cfg.MaxLine),
	}
	if err := os.MkdirAll(j.dir, 0o750); err != nil {
		return nil, fmt.Errorf("create journal dir: %w", err)
	}
	cp, found, err := s.store.Load(key)
	if err != nil {
		return nil, err
	}
	if !found {
		cp = Checkpoint{Path: key, Stream: newStreamID()}
	}
	j.stream = cp.Stream
	last, err := j.recover(&cp)
	if err != nil {
		return nil, err
	}
	w, err := j.startSegment()
	if err != nil {
		return nil, err
	}
	j.roff, j.c.off = cp.Offset, cp.Offset
	j.acked = cp.Offset
	if cp.LineOff > 0 {
		j.c.frag, j.c.lineKept = true, cp.LineOff
		if last < 0 {
			last = 0 // a line was half sent: it is unfinished
		}
	}
	if last >= 0 && last != '\n' {
		j.log.Warn("previous input ended inside a line; terminating it")
		if err := j.appendRecord(w, []byte{0, 0, 0, 0, 0, 0, 0, 0, '\n'}); err != nil {
			w.Close()
			return nil, err
		}
	}
	j.start = j.pos()
	if err := s.store.Save(j.start); err != nil {
		w.Close()
		return nil, err
	}
	j.wg.Go(func() { j.write(w) })
	return j, nil
}

// storeKey names state files of a source key.
func storeKey(k string) string { return key(k) }

func segName(dir string, start uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x%s", start, segSuffix))
}

// recover scans the segments, cuts a torn tail, deletes acknowledged segments and returns
// the last journaled byte (-1 if none).
func (j *Journal) recover(cp *Checkpoint) (last int, err error) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return -1, fmt.Errorf("read journal dir: %w", err)
	}
	var starts []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok {
			continue
		}
		start, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			return -1, fmt.Errorf("%w: %s: bad name", ErrCorruptJournal, e.Name())
		}
		starts = append(starts, start)
	}
	slices.Sort(starts)
	last = -1
	for i, start := range starts {
		seg, lb, err := scanSegment(segName(j.dir, start), start, i == len(starts)-1, j.log)
		if err != nil {
			return -1, err
		}
		if n := len(j.segs); n > 0 && j.segs[n-1].end() != start {
			return -1, fmt.Errorf("%w: %s: starts at %d, previous ends at %d",
				ErrCorruptJournal, segName(j.dir, start), start, j.segs[n-1].end())
		}
		if lb >= 0 {
			last = lb
		}
		j.segs = append(j.segs, seg)
		j.total += seg.size
	}
	if n := len(j.segs); n > 0 {
		j.end = j.segs[n-1].end()
		if first := j.segs[0].start; cp.Offset < first {
			j.log.Warn("journal starts after the checkpoint; lines lost", "checkpoint", cp.Offset, "journal", first)
			cp.Offset, cp.LineOff = first, 0
		}
	}
	if cp.Offset > j.end && len(j.segs) > 0 {
		j.log.Warn("journal ends before the checkpoint", "checkpoint", cp.Offset, "journal", j.end)
	}
	if cp.Offset >= j.end {
		// Everything is acknowledged: start afresh at the checkpoint.
		for _, seg := range j.segs {
			if err := os.Remove(segName(j.dir, seg.start)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return -1, fmt.Errorf("remove journal segment: %w", err)
			}
		}
		j.segs, j.total, j.end = nil, 0, cp.Offset
	}
	j.deleteAcked(cp.Offset)
	return last, nil
}

// scanSegment checks the records of one segment file. A bad record in the last segment
// cuts the file there; elsewhere it is ErrCorruptJournal.
func scanSegment(name string, start uint64, isLast bool, log *slog.Logger) (jseg, int, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return jseg{}, -1, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return jseg{}, -1, fmt.Errorf("stat journal: %w", err)
	}
	seg := jseg{start: start}
	last := -1
	var hdr [recHeader]byte
	var buf []byte
	for seg.size < fi.Size() {
		bad := ""
		if fi.Size()-seg.size < recHeader {
			bad = "short record header"
		} else if _, err := f.ReadAt(hdr[:], seg.size); err != nil {
			return jseg{}, -1, fmt.Errorf("read journal %s: %w", name, err)
		} else {
			n := int64(binary.LittleEndian.Uint32(hdr[:]))
			if seg.size+recHeader+n > fi.Size() {
				bad = "short record"
			} else {
				buf = slices.Grow(buf[:0], int(n))[:n]
				if _, err := f.ReadAt(buf, seg.size+recHeader); err != nil {
					return jseg{}, -1, fmt.Errorf("read journal %s: %w", name, err)
				}
				if envelope.Checksum(buf) != binary.LittleEndian.Uint32(hdr[4:]) {
					bad = "checksum mismatch"
				}
			}
		}
		if bad != "" {
			if !isLast {
				return jseg{}, -1, fmt.Errorf("%w: %s at byte %d: %s", ErrCorruptJournal, name, seg.size, bad)
			}
			log.Warn("journal ends with a torn record; cutting it", "file", name, "at", seg.size, "why", bad)
			if err := f.Truncate(seg.size); err != nil {
				return jseg{}, -1, fmt.Errorf("truncate journal: %w", err)
			}
			if err := f.Sync(); err != nil {
				return jseg{}, -1, fmt.Errorf("sync journal: %w", err)
			}
			break
		}
		if len(buf) > 0 {
			last = int(buf[len(buf)-1])
		}
		seg.size += recHeader + int64(len(buf))
		seg.payload += uint64(len(buf))
	}
	return seg, last, nil
}

// startSegment opens the segment the writer appends to: a new one at the journal end, or
// the last one if it starts there (it is empty).
func (j *Journal) startSegment() (*os.File, error) {
	name := segName(j.dir, j.end)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create journal segment: %w", err)
	}
	if err := atomicfile.SyncDir(j.dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync journal dir: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if n := len(j.segs); n == 0 || j.segs[n-1].start != j.end {
		j.segs = append(j.segs, jseg{start: j.end})
	}
	return f, nil
}

// write is the writer goroutine.
func (j *Journal) write(f *os.File) {
	defer func() { f.Close() }() // f changes as segments roll: close the last one
	buf := make([]byte, recHeader+j.s.cfg.ReadBuffer)
	last := byte('\n')
	full := false
	for {
		for j.full() {
			if !full {
				full = true
				j.s.m.JournalFull.Inc()
				j.log.Warn("journal full; pausing input until acknowledgements free space", "max", j.s.cfg.JournalMax)
			}
			select {
			case <-j.space:
			case <-j.quit:
				return
			}
		}
		if full {
			full = false
			j.log.Info("journal has space again; reading input")
		}
		n, rerr := j.in.Read(buf[recHeader:])
		if n > 0 {
			var err error
			if f, err = j.appendRoll(f, buf[:recHeader+n]); err != nil {
				j.fail(err)
				return
			}
			last = buf[recHeader+n-1]
		}
		if rerr == nil {
			continue
		}
		select {
		case <-j.quit:
			return
		default:
		}
		if errors.Is(rerr, io.EOF) {
			if last != '\n' {
				if _, err := j.appendRoll(f, []byte{0, 0, 0, 0, 0, 0, 0, 0, '\n'}); err != nil {
					j.fail(err)
					return
				}
			}
			j.mu.Lock()
			j.eof = true
			j.mu.Unlock()
			j.signal()
			return
		}
		j.fail(fmt.Errorf("read input: %w", rerr))
		return
	}
}

func (j *Journal) full() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.total >= j.s.cfg.JournalMax
}

func (j *Journal) fail(err error) {
	j.log.Error("journal writer stopped", "err", err)
	j.mu.Lock()
	j.werr = err
	j.mu.Unlock()
	j.signal()
}

func (j *Journal) signal() {
	select {
	case j.changed <- struct{}{}:
	default:
	}
}

// appendRoll appends one record and starts a new segment when the current one is full.
// The caller may close f and use the returned file.
func (j *Journal) appendRoll(f *os.File, rec []byte) (*os.File, error) {
	if err := j.appendDurably(f, rec); err != nil {
		return f, err
	}
	j.mu.Lock()
	roll := j.segs[len(j.segs)-1].size >= j.s.cfg.JournalSegment
	j.mu.Unlock()
	if !roll {
		return f, nil
	}
	nf, err := j.startSegment()
	if err != nil {
		// Keep appending to the current segment; the next record tries to roll again.
		j.s.m.JournalWriteErrors.Inc()
		j.log.Warn("cannot start a new journal segment; continuing in the current one", "err", err)
		return f, nil
	}
	f.Close()
	return nf, nil
}

// Retry pacing of appendDurably.
const (
	journalRetryMin = 50 * time.Millisecond
	journalRetryMax = 2 * time.Second
)

// appendDurably appends rec, retrying while the disk refuses it (full disk, I/O
// error): the record stays in memory, whatever part of it reached the file is cut
// off, and input waits (a piped web server then blocks on its pipe, which loses
// nothing). It gives up only when the journal is closed.
func (j *Journal) appendDurably(f *os.File, rec []byte) error {
	wait := journalRetryMin
	for attempt := 0; ; attempt++ {
		err := j.appendRecord(f, rec)
		if err == nil {
			if attempt > 0 {
				j.log.Info("journal is writable again", "attempts", attempt+1)
			}
			return nil
		}
		j.s.m.JournalWriteErrors.Inc()
		if attempt == 0 {
			j.log.Error("cannot write the journal (disk full?); holding input and retrying", "dir", j.dir, "err", err)
		}
		j.mu.Lock()
		good := j.segs[len(j.segs)-1].size
		j.mu.Unlock()
		_ = f.Truncate(good) // a failed truncate is retried with the next attempt
		select {
		case <-j.quit:
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, journalRetryMax)
	}
}

// appendRecord fills in rec's header, writes and fsyncs it, then publishes it.
func (j *Journal) appendRecord(f *os.File, rec []byte) error {
	payload := rec[recHeader:]
	binary.LittleEndian.PutUint32(rec, uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:], envelope.Checksum(payload))
	if _, err := f.Write(rec); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	j.mu.Lock()
	seg := &j.segs[len(j.segs)-1]
	seg.size += int64(len(rec))
	seg.payload += uint64(len(payload))
	j.end += uint64(len(payload))
	j.total += int64(len(rec))
	total := j.total
	j.mu.Unlock()
	j.s.m.JournalWritten.Add(float64(len(payload)))
	j.s.m.JournalBytes.Set(float64(total))
	j.signal()
	return nil
}

// JournalFill says how full a journal is.
type JournalFill struct {
	// Bytes is what the segment files hold on disk; reading the input pauses when it
	// reaches Max (Config.JournalMax).
	Bytes, Max int64
	// Unacknowledged is the journaled bytes of lines not acknowledged yet (sent or not).
	Unacknowledged uint64
}

// Fill returns how full the journal is, for reports of how close a shipper that cannot
// send is to blocking its writer, and of what it leaves behind when it stops. Safe for
// concurrent use.
func (j *Journal) Fill() JournalFill {
	j.mu.Lock()
	defer j.mu.Unlock()
	return JournalFill{Bytes: j.total, Max: j.s.cfg.JournalMax, Unacknowledged: j.end - min(j.acked, j.end)}
}

// Stream returns the stream id.
func (j *Journal) Stream() uint64 { return j.stream }

// Dir returns the journal directory.
func (j *Journal) Dir() string { return j.dir }

func (j *Journal) pos() Checkpoint {
	cp := Checkpoint{Path: j.key, Stream: j.stream, Offset: j.c.off, FileOffset: int64(j.c.off)}
	if j.c.frag {
		cp.LineOff = j.c.lineKept
	}
	return cp
}

// Next implements Source. It returns io.EOF after the end of the input once everything
// journaled was returned.
func (j *Journal) Next(ctx context.Context, max int) (Chunk, error) {
	if j.closed {
		return Chunk{}, ErrClosed
	}
	if max < 2 {
		return Chunk{}, fmt.Errorf("%w: %d", ErrChunkMax, max)
	}
	for {
		if ch, ok := j.c.cut(max); ok {
			ch.Stream = j.stream
			ch.Pos = j.pos()
			j.s.m.count(&ch)
			if j.c.truncated > 0 {
				j.s.m.LinesTruncated.Add(float64(j.c.truncated))
				j.c.truncated = 0
			}
			return ch, nil
		}
		n, err := j.fill(max)
		if err != nil {
			return Chunk{}, err
		}
		if n > 0 {
			continue
		}
		j.mu.Lock()
		eof, werr := j.eof && j.roff >= j.end, j.werr
		j.mu.Unlock()
		if eof {
			if j.c.pending() {
				j.c.terminate = true
				continue
			}
			return Chunk{}, io.EOF
		}
		if werr != nil {
			return Chunk{}, werr
		}
		select {
		case <-ctx.Done():
			return Chunk{}, ctx.Err()
		case <-j.changed:
		}
	}
}

// fill reads durable journal bytes into the cutter; 0, nil means none are available.
func (j *Journal) fill(max int) (int, error) {
	for {
		if j.rrem > 0 {
			buf := j.c.reserve(max)
			buf = buf[:min(int64(len(buf)), j.rrem)]
			n, err := j.rf.ReadAt(buf, j.rpos)
			j.c.w += n
			j.rpos += int64(n)
			j.rrem -= int64(n)
			j.roff += uint64(n)
			if n == len(buf) {
				return n, nil
			}
			return n, fmt.Errorf("read journal %s: %w", j.rf.Name(), err)
		}
		j.mu.Lock()
		i := -1
		for k := range j.segs {
			if j.segs[k].start <= j.roff {
				i = k
			}
		}
		if j.rf != nil && (i < 0 || j.segs[i].start != j.rstart) {
			// Our segment is exhausted and a later one holds roff (or it was deleted).
			j.rf.Close()
			j.rf = nil
		}
		var seg jseg
		hasNext := false
		if i >= 0 {
			seg = j.segs[i]
			hasNext = i < len(j.segs)-1
		}
		j.mu.Unlock()
		if i < 0 {
			return 0, nil
		}
		if j.rf == nil {
			if err := j.openAt(seg); err != nil {
				return 0, err
			}
			if j.rrem > 0 {
				continue // positioned inside a record
			}
		}
		if j.rpos+recHeader <= seg.size {
			var hdr [recHeader]byte
			if _, err := j.rf.ReadAt(hdr[:], j.rpos); err != nil {
				return 0, fmt.Errorf("read journal %s: %w", j.rf.Name(), err)
			}
			j.rpos += recHeader
			j.rrem = int64(binary.LittleEndian.Uint32(hdr[:]))
			continue
		}
		if hasNext && j.roff >= seg.end() {
			j.rf.Close()
			j.rf = nil
			continue
		}
		return 0, nil
	}
}

// openAt opens seg and positions the reader at roff inside it.
func (j *Journal) openAt(seg jseg) error {
	f, err := os.Open(segName(j.dir, seg.start))
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	j.rf, j.rstart, j.rpos, j.rrem = f, seg.start, 0, 0
	o := seg.start
	var hdr [recHeader]byte
	for o < j.roff {
		if _, err := f.ReadAt(hdr[:], j.rpos); err != nil {
			return fmt.Errorf("%w: %s: record at byte %d: %w", ErrCorruptJournal, f.Name(), j.rpos, err)
		}
		l := uint64(binary.LittleEndian.Uint32(hdr[:]))
		if o+l > j.roff {
			skip := j.roff - o
			j.rpos += recHeader + int64(skip)
			j.rrem = int64(l - skip)
			return nil
		}
		j.rpos += recHeader + int64(l)
		o += l
	}
	return nil
}

// Rewind makes Next return the journal again from pos, a Chunk.Pos it returned, or from
// where it was opened when pos is nil. The segments from the last acknowledged position
// on are still on disk, so pos must not lie before it. It must not be called
// concurrently with Next.
func (j *Journal) Rewind(pos *Checkpoint) error {
	if j.closed {
		return ErrClosed
	}
	cp := j.start
	if pos != nil {
		cp = *pos
	}
	if cp.Path != j.key || cp.Stream != j.stream {
		return fmt.Errorf("%w: rewind %s to a position of %s (stream %d)", ErrConfig, j.key, cp.Path, cp.Stream)
	}
	j.mu.Lock()
	first := j.end
	if len(j.segs) > 0 {
		first = j.segs[0].start
	}
	j.mu.Unlock()
	if cp.Offset < first {
		return fmt.Errorf("%w: rewind %s to offset %d: the journal starts at %d", ErrConfig, j.key, cp.Offset, first)
	}
	if j.rf != nil {
		j.rf.Close()
		j.rf = nil
	}
	j.rstart, j.rpos, j.rrem = 0, 0, 0
	j.c = newCutter(j.s.cfg.ReadBuffer, j.s.cfg.MaxLine)
	j.roff, j.c.off = cp.Offset, cp.Offset
	if cp.LineOff > 0 {
		j.c.frag, j.c.lineKept = true, cp.LineOff
	}
	return nil
}

// Ack implements Source: it saves pos and deletes the segments wholly before it.
func (j *Journal) Ack(pos Checkpoint) error {
	if err := j.s.store.Save(pos); err != nil {
		return err
	}
	j.mu.Lock()
	j.acked = max(j.acked, pos.Offset)
	j.deleteAcked(pos.Offset)
	j.mu.Unlock()
	select {
	case j.space <- struct{}{}:
	default:
	}
	return nil
}

// deleteAcked removes the leading segments that end at or before off, never the last.
// j.mu must be held (or the writer not started).
func (j *Journal) deleteAcked(off uint64) {
	for len(j.segs) > 1 && j.segs[0].end() <= off {
		name := segName(j.dir, j.segs[0].start)
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			j.log.Warn("cannot delete acknowledged journal segment", "file", name, "err", err)
			return
		}
		j.total -= j.segs[0].size
		j.segs = j.segs[1:]
	}
	j.s.m.JournalBytes.Set(float64(j.total))
}

// Close stops the writer (closing the input if it is an io.Closer) and closes the files.
func (j *Journal) Close() error {
	if j.closed {
		return nil
	}
	j.closed = true
	var err error
	j.once.Do(func() {
		close(j.quit)
		if c, ok := j.in.(io.Closer); ok {
			err = c.Close()
		}
	})
	j.wg.Wait()
	if j.rf != nil {
		j.rf.Close()
		j.rf = nil
	}
	return err
}
