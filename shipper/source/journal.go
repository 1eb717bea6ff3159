package source

import (
	"bytes"
	"cmp"
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/atomicfile"
)

// Journal record layout: 4 bytes payload length, 4 bytes CRC-32C of the payload (both
// little-endian), then the payload: the bytes of one read from the input.
const recHeader = 8

const segSuffix = ".jnl"

// contSuffix marks a segment that starts inside a line (segments normally start at a line
// start): "%016x.cont.jnl".
const contSuffix = ".cont"

// jseg is one journal segment file, named by the journal offset of its first payload byte.
type jseg struct {
	start   uint64 // journal offset of the first payload byte
	payload uint64 // payload bytes durable in the file
	size    int64  // file bytes durable (headers included)
	cont    bool   // starts inside a line
}

func (s *jseg) end() uint64 { return s.start + s.payload }

// A Journal copies an input (Apache piped logs on stdin) into a bounded on-disk journal at
// once, and is the Source of one stream over what it journaled. Its rules:
//
//   - One goroutine reads the input and appends each read as a record to the current
//     segment file, then fsyncs it (group commit: a busy input gives large reads, so the
//     fsync rate stays bounded). Only fsynced bytes are handed to Next, so anything a
//     collector may have seen survives kill -9 and power loss.
//   - Acknowledged space is reclaimed continuously: Ack deletes every segment wholly
//     acknowledged, and segments are small, so at most one segment of acknowledged bytes
//     stays on disk; Reclaims tells the shipper to save such a position at once rather than
//     at its checkpoint pace. A segment is closed at the first line end after
//     Config.JournalSegment bytes (default: a sixteenth of the bound, at most 16 MiB), so
//     segments start at line starts. Smaller segments were chosen over hole punching: they
//     work on every file system, and a dropped segment (below) is whole lines.
//   - Freeing never needs space the journal cannot get: records end at line ends (the
//     writer keeps a line's start in memory until its end is read, and saves it in
//     partialFile so that a kill does not lose it (see partial.go); a line longer than the
//     read buffer is journaled in parts, in a segment of its own), so the segment closed
//     on a full file system ends at a line end and can be freed once acknowledged; what
//     fits is journaled first (appendDurably splits a record at line ends); Ack gives up
//     the reserve file, or else frees acknowledged segments before their checkpoint is
//     saved, leaving .acked marks (markAcked); the reader closes a freed segment at once.
//   - The journal is full when its segments reach Config.JournalMax, or when the file
//     system refuses a write (ENOSPC, EDQUOT: the current segment is then closed so that
//     acknowledgements can free it). What happens then is Config.JournalFull:
//     JournalBlock (the default) stops reading the input until acknowledgements free space:
//     the writer blocks like Apache's own pipe, and nothing already written is dropped;
//     JournalDropOldest deletes the oldest segment instead, so the input never waits: the
//     bytes of it that Next had not returned are lost, counted in
//     logspread_shipper_journal_dropped_bytes_total, and reported to the sender as
//     Chunk.Lost on the next chunk (whose Offset jumps by as much), so collectors hear of
//     an exact gap. Either way the journal logs at warn level with its fill level when it
//     becomes full, every JournalFullLogEvery while it stays full, and when it has space.
//   - At start, segments are checked record by record; a torn last record of the last
//     segment is cut off (a crash mid-write: never sent); a corrupt one written whole is
//     cut off too, and the stream skips its offsets (see scanSegment, lostSuffix). A
//     segment damaged while the shipper was down (zeroed, overwritten, cut) is cut where
//     the damage starts, and one before the last, or a segment deleted, leaves offsets no
//     segment holds up to the next one: the stream skips them as a hole of exactly that
//     size (lostSuffix). Each damaged file is logged by name and counted
//     (Metrics.JournalDamaged); what the last segment lost is found by the reach, below.
//     An unfinished last line left by the previous run (journaled, or saved in
//     partialFile) is read on when the input is the same pipe, FIFO or socket (inputFile),
//     and gets a '\n' record when it is another input; so does
//     the last line at end of input, so the journal holds whole lines only and the
//     journal offset is the stream's logical offset.
//   - The journal records how far it reached (see inputFile, reachMagic): segments found
//     at start to end before an offset the run before may have used (their tail deleted,
//     cut or zeroed while it was down) make the stream skip past it (cutCheck), so that
//     new input never takes an offset collectors may hold other bytes at. The input
//     file has a copy (inputCopyFile) written with it: when one of them is damaged or
//     gone, the other says the end. When both are, the stop checkpoint (saved at Close
//     with the journal's end and what was sent; a checkpoint has a checksum and a
//     previous copy) says it instead; after a kill nothing does, and the stream jumps
//     past every offset that may have been used (LossGap: a gap of unknown size).
//   - A checkpoint before the first segment on disk means lost bytes (dropped while in
//     flight before a crash), reported as Chunk.Lost, unless it came from a fallback (see
//     Store), whose later acknowledgements freed those segments.
//   - After end of input, Next returns io.EOF once everything journaled has been returned.
//
// The input should be closable (the reader OpenStdin returns, or a pipe): Close closes it to
// stop the reading goroutine.
type Journal struct {
	s      *Set
	log    *slog.Logger
	key    string
	dir    string
	stream uint64
	in     io.Reader
	segMax int64 // segment size target (Config.JournalSegment or picked)
	bound  int64 // Config.JournalMax, or less on a smaller file system

	wg      sync.WaitGroup
	quit    chan struct{}
	once    sync.Once
	changed chan struct{} // writer -> reader: more durable data, eof or error
	space   chan struct{} // Ack -> writer: segments were deleted

	ackMu sync.Mutex // Held by Ack: the reader and the writer (freeClosed) call it.

	mu    sync.Mutex // Guards the fields below.
	segs  []jseg     // in order; the last one is written
	end   uint64     // journal offset past the last durable byte
	acked uint64     // journal offset acknowledged (saved by Ack)
	apos  Checkpoint // the position Ack saved last (start until then)
	total int64      // bytes of all segment files
	eof   bool
	werr  error

	// Writer state, owned by the writer goroutine (and OpenJournal before it starts).
	wf    *os.File // the last segment, appended to
	wlast byte     // last payload byte written ('\n' when none)
	// carry0: the start of a line the previous run read from the same input, saved
	// (partialFile): the writer's first line begins with it.
	carry0  []byte
	pf      *os.File // partialFile, once opened
	pbuf    []byte   // what savePartial writes
	perr    error    // from the last writePartial
	pfailed bool     // saving failed (logged) and has not worked since
	pskip   bool     // not saved: the file system was full (see skipPartial)
	// Drops not logged yet (logged at most every JournalFullLogEvery), and when last logged.
	dropSegs  int
	dropBytes uint64
	dropLog   time.Time
	// When a "journal full" warning was last logged, and the times the journal became
	// full since (logged with the next one).
	fullLog   time.Time
	fullTimes int

	// reserved: the reserve file (reserveFile) is on disk. The writer creates it; Ack
	// deletes it when the file system is too full to save a checkpoint.
	reserved atomic.Bool
	// ackedTo: the end of the acknowledged segments that ackedMarks (files) stand for
	// (see markAcked); guarded by mu.
	ackedTo    uint64
	ackedMarks []string
	// unsaved: the newest acknowledgement Ack could not save (a full file system), tried
	// again by the writer once it closed a segment (then Ack can free it); guarded by mu.
	unsaved *Checkpoint

	// inputFile and its copy (inputCopyFile; nil when it could not be written), which
	// record the reach (see reachMagic): written by the writer (and by OpenJournal before
	// it starts, Close after it stopped).
	rfile   *os.File
	rcopy   *os.File
	cskip   bool   // the copy was given up on a full file system (see skipCopy)
	reachD  uint64 // the durable reach (slot 0)
	rbuf    []byte
	rfailed bool // noteEnd failed (logged) and has not worked since
	// killed (tests): Close leaves the journal as a kill does (no stop record).
	killed bool
	// cuts: the offsets the stream skips because the journal lost its tail (cutCheck),
	// set at open.
	cuts       []cut
	scanned    int    // segment files found at open
	scannedEnd uint64 // where they ended
	// segTorn: the last segment, when scanSegment cut a torn record off it (a crash
	// while writing, or a truncation: cutCheck tells them apart); segDamaged: it cut
	// damage off it (zeroed, overwritten).
	segTorn    string
	segDamaged bool
	// pend: what the end record of a run killed says of the start of a line it had read
	// and not journaled (see partialLost); pendLost: it was lost, and skipped.
	pend     pendingStart
	pendLost bool

	// Reader state, owned by the goroutine calling Next.
	rf     *os.File
	rstart uint64 // start of rf's segment
	rpos   int64  // file offset of the next byte to read in rf
	rrem   int64  // payload bytes left in the current record
	roff   uint64 // journal offset of the next byte to read
	c      cutter
	lost   uint64        // bytes skipped (dropped segments), not yet reported in a Chunk
	unused []OffsetRange // of those, the offsets unused as far as anyone can tell (a cut)
	sent   uint64        // past every byte Next returned (for the stop record)
	resync bool          // skip to the next line end: reading resumed inside a line
	// holeSeen: the end of the last hole (a corrupt record cut) counted as lost.
	holeSeen uint64
	closed   bool
	start    Checkpoint // where it was opened (Rewind(nil))
}

// JournalFullLogEvery is how often a journal that stays full, or keeps becoming full
// again, logs it.
const JournalFullLogEvery = 30 * time.Second

// reserveFile, in the journal directory, holds reserveSize bytes of the file system for
// the checkpoint saves that free acknowledged segments: when the file system is full
// (shared with other files), Ack deletes it to save the checkpoint, then the segments
// acknowledged, and the writer makes it again once there is space. Freeing acknowledged
// space thus never needs space the journal cannot get.
const (
	reserveFile = "reserve"
	reserveSize = 16 << 10
)

// ackedSuffix names a mark left for acknowledged segments freed before their checkpoint
// could be saved (see markAcked): "%016x-%016x.acked", the journal offsets they held.
const ackedSuffix = ".acked"

// parseRangeMark parses the name of a journal mark "%016x-%016x"+suffix (lostSuffix,
// ackedSuffix): ok is false for a name without suffix; a name with it whose offsets do
// not parse gives a > b (ignored by both callers, as an unknown file).
func parseRangeMark(name, suffix string) (a, b uint64, ok bool) {
	r, ok := strings.CutSuffix(name, suffix)
	if !ok {
		return 0, 0, false
	}
	from, to, _ := strings.Cut(r, "-")
	a, aerr := strconv.ParseUint(from, 16, 64)
	b, berr := strconv.ParseUint(to, 16, 64)
	if aerr != nil || berr != nil {
		return 1, 0, true
	}
	return a, b, true
}

// lostSuffix names a mark of journal offsets the stream skips: "%016x-%016x.lost", the
// offsets of a corrupt record cut off (see scanSegment). The segment after it starts
// there; the reader counts the hole as lost bytes and tells collectors.
const lostSuffix = ".lost"

// markAcked frees the segments wholly before off (never the last) when the file system
// is too full even to save the checkpoint that acknowledges them: each is renamed to an
// .acked mark, which a restart reads as "acknowledged, not lost", then truncated to zero
// bytes. Neither needs data space. The marks are removed once a checkpoint is saved. It
// reports whether it freed any. j.mu must not be held.
func (j *Journal) markAcked(off uint64) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	freed := false
	for len(j.segs) > 1 && j.segs[0].end() <= off {
		seg := j.segs[0]
		mark := filepath.Join(j.dir, fmt.Sprintf("%016x-%016x%s", seg.start, seg.end(), ackedSuffix))
		if err := os.Rename(j.segFile(&seg), mark); err != nil {
			j.log.Warn("cannot mark an acknowledged journal segment", "file", j.segFile(&seg), "err", err)
			break
		}
		j.ackedMarks = append(j.ackedMarks, mark)
		j.ackedTo = seg.end()
		if err := os.Truncate(mark, 0); err != nil {
			j.log.Warn("cannot empty an acknowledged journal segment", "file", mark, "err", err)
		}
		j.total -= seg.size
		j.segs = j.segs[1:]
		freed = true
	}
	if freed {
		if err := atomicfile.SyncDir(j.dir); err != nil {
			j.log.Warn("cannot sync the journal directory", "dir", j.dir, "err", err)
		}
		j.s.m.JournalBytes.Set(float64(j.total))
		j.log.Info("file system full: freed acknowledged journal segments before their checkpoint could be saved (marked acknowledged)", "dir", j.dir, "up_to_offset", j.ackedTo)
		j.signal() // the reader closes a freed segment it has open
	}
	return freed
}

// removeMarks deletes the .acked marks once a checkpoint at or after them is saved.
func (j *Journal) removeMarks() {
	j.mu.Lock()
	marks := j.ackedMarks
	j.ackedMarks = nil
	j.mu.Unlock()
	for _, m := range marks {
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			j.log.Warn("cannot delete an acknowledged journal mark", "file", m, "err", err)
		}
	}
}

// keepReserve makes the reserve file if it is not on disk (best effort: on a full file
// system it is tried again before the next read). Only the writer calls it.
func (j *Journal) keepReserve() {
	if j.reserved.Load() {
		return
	}
	name := filepath.Join(j.dir, reserveFile)
	err := func() error {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
		if err != nil {
			return err
		}
		_, err = f.Write(make([]byte, reserveSize))
		if err == nil {
			err = f.Sync()
		}
		return errors.Join(err, f.Close())
	}()
	if err != nil {
		os.Remove(name)
		return
	}
	j.reserved.Store(true)
}

// isNoSpace reports whether err is a full file system or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// logFull logs a "journal full" warning (with fill level and the times the journal became
// full since the last one) unless one was logged less than JournalFullLogEvery ago, and
// reports whether it did. Only the writer calls it.
func (j *Journal) logFull(msg string, attrs ...any) bool {
	now := time.Now()
	if !j.fullLog.IsZero() && now.Sub(j.fullLog) < JournalFullLogEvery {
		return false
	}
	j.log.Warn(msg, append(append(j.fillLevel(), "times_full", j.fullTimes), attrs...)...)
	j.fullLog, j.fullTimes = now, 0
	return true
}

// OpenJournal opens (or recovers) the journal called name in the state directory, starts
// copying in into it, and returns it as a Source resuming at its read checkpoint.
func (s *Set) OpenJournal(name string, in io.Reader) (*Journal, error) {
	key := stdinPrefix + name
	j := &Journal{
		s: s, key: key, in: in,
		log:     s.log.With("source", key),
		dir:     filepath.Join(s.store.Dir(), "journal-"+storeKey(key)),
		quit:    make(chan struct{}),
		changed: make(chan struct{}, 1),
		space:   make(chan struct{}, 1),
		c:       newCutter(s.cfg.ReadBuffer, s.cfg.MaxLine),
		wlast:   '\n',
	}
	if err := os.MkdirAll(j.dir, 0o750); err != nil {
		return nil, fmt.Errorf("create journal dir: %w", err)
	}
	j.bound, j.segMax = j.sizes()
	if fi, err := os.Stat(filepath.Join(j.dir, reserveFile)); err == nil && fi.Size() >= reserveSize {
		j.reserved.Store(true)
	}
	cp, found, fellBack, err := s.store.load(key)
	var reset ResetPoint
	switch {
	case errors.Is(err, ErrCorruptCheckpoint):
		mode, ok := s.cfg.Reset[StdinSource]
		if !ok {
			return nil, &CorruptCheckpointError{Source: StdinSource, Err: err}
		}
		j.log.Warn("checkpoint corrupt; starting the journal over as a new stream", "reset", mode, "err", err)
		reset, cp = mode, Checkpoint{Path: key, Stream: newStreamID()}
	case err != nil:
		return nil, err
	case !found:
		cp = Checkpoint{Path: key, Stream: newStreamID()}
	default:
		if mode, ok := s.cfg.Reset[StdinSource]; ok {
			j.log.Info("checkpoint is good; reset not needed, ignored", "reset", mode)
		}
	}
	j.stream = cp.Stream
	// A run before found bytes lost at its open (Checkpoint.Unannounced) and stopped
	// before a chunk announced them: the first chunk announces them still (not counted
	// again: that run counted them).
	var unannounced uint64
	if found && err == nil && reset == "" && cp.Unannounced && cp.AnnounceFrom < cp.Offset {
		unannounced = cp.Offset - cp.AnnounceFrom
	}
	last, cutTail, err := j.recover(&cp, fellBack, reset, found && err == nil && reset == "")
	if err != nil {
		return nil, err
	}
	if unannounced > 0 {
		j.log.Warn("the run before found bytes lost when it opened and stopped before it told collectors; telling them now",
			"from", cp.Offset-j.lost-unannounced, "to", cp.Offset-j.lost, "lost_bytes", unannounced)
		if !j.resync && len(j.segs) > 0 && j.segs[0].start == cp.Offset && j.segs[0].cont {
			j.resync = true // the first segment starts inside a line whose start was lost
		}
		j.lost += unannounced
	}
	if last >= 0 {
		j.wlast = byte(last)
	}
	if err := j.startSegment(); err != nil {
		return nil, err
	}
	// A line the previous run was reading when it stopped: its start is journaled (a
	// stop by signal, a line longer than the read buffer) or saved (partialFile: a kill).
	// On the same input (Apache respawned its logger on its pipe) the rest of the line
	// follows; on another input it is terminated as it is.
	cur := inputID(in)
	prev := j.previousInput()
	if err := j.initReach(cur); err != nil {
		j.wf.Close()
		return nil, err
	}
	j.roff, j.c.off = cp.Offset, cp.Offset
	j.acked = cp.Offset
	if cp.LineOff > 0 {
		j.c.frag, j.c.lineKept = true, cp.LineOff
		if last < 0 && !cutTail {
			last = 0 // a line was half sent: it is unfinished
		}
	}
	kept := j.loadPartial()
	if (last >= 0 && last != '\n') || len(kept) > 0 {
		if cur != "" && cur == prev {
			j.log.Info("the previous shipper stopped inside a line of this same input; reading on with the rest of it",
				"input", describeInput(cur), "kept_bytes", len(kept))
			j.carry0 = kept
		} else {
			j.log.Warn("previous input ended inside a line; terminating it",
				"input", describeInput(cur), "previous_input", describeInput(prev), "kept_bytes", len(kept))
			rec := append(append(make([]byte, recHeader, recHeader+len(kept)+1), kept...), '\n')
			if err := j.appendRecord(rec); err != nil {
				j.wf.Close()
				j.closeReach()
				return nil, err
			}
		}
	}
	j.start = j.pos()
	if j.lost > 0 && j.lost <= j.start.Offset {
		// Lost before the first chunk, which announces it: a run killed before it sent
		// that chunk leaves the next run to announce it.
		j.start.Unannounced, j.start.AnnounceFrom = true, j.start.Offset-j.lost
	}
	j.apos = j.start
	if err := s.store.Save(j.start); err != nil {
		j.wf.Close()
		j.closeReach()
		return nil, err
	}
	j.removeMarks()
	j.wg.Go(j.write)
	return j, nil
}

// sizes returns the journal's bound and the size after which segments are closed. On a
// file system smaller than Config.JournalMax the bound is three quarters of it, so that
// the bound, which is kept at line ends, is reached before the file system is full.
func (j *Journal) sizes() (bound, seg int64) {
	cfg := &j.s.cfg
	bound = cfg.JournalMax
	if fs, ok := fsSize(j.dir); ok && fs*3/4 < bound {
		bound = max(fs*3/4, MinJournalMax)
		j.log.Warn("--journal-size is larger than the file system of the state directory; bounding the journal by the file system",
			"journal_size", cfg.JournalMax, "file_system_bytes", fs, "bound", bound, "journal_full", cfg.JournalFull)
	}
	if cfg.JournalSegment > 0 {
		return bound, cfg.JournalSegment
	}
	return bound, min(max(bound/16, minJournalSegment), maxJournalSegment)
}

// storeKey names state files of a source key.
func storeKey(k string) string { return key(k) }

func segName(dir string, start uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x%s", start, segSuffix))
}

// segFile returns the file name of seg.
func (j *Journal) segFile(seg *jseg) string {
	if seg.cont {
		return filepath.Join(j.dir, fmt.Sprintf("%016x%s%s", seg.start, contSuffix, segSuffix))
	}
	return segName(j.dir, seg.start)
}

// recover scans the segments, cuts a torn tail, deletes acknowledged segments and returns
// the last journaled byte (-1 if none). It moves cp to the first segment when it points
// before it. When the segments end before offsets the run before may have used (their
// tail was lost; see cutCheck), the journal's end moves past them: cutTail. known: the
// stream was checkpointed before.
func (j *Journal) recover(cp *Checkpoint, fellBack bool, reset ResetPoint, known bool) (last int, cutTail bool, err error) {
	last, err = j.recoverSegs(cp, fellBack, reset)
	if err != nil {
		return -1, false, err
	}
	cutTail, err = j.cutCheck(cp, known, j.scanned)
	if err != nil {
		return -1, false, err
	}
	lostLines, err := j.linesLost()
	if err != nil {
		return -1, false, err
	}
	lostStart, err := j.partialLost()
	if err != nil {
		return -1, false, err
	}
	cutTail = cutTail || lostLines || lostStart
	if cutTail {
		last = -1 // the line the lost tail was in is lost with it: new input starts a line
	}
	j.deleteAcked(cp.Offset)
	return last, cutTail, nil
}

func (j *Journal) recoverSegs(cp *Checkpoint, fellBack bool, reset ResetPoint) (last int, err error) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return -1, fmt.Errorf("read journal dir: %w", err)
	}
	var segs []jseg
	lost := map[uint64]uint64{} // holes the stream skips (lostSuffix): from -> to
	for _, e := range ents {
		if a, b, ok := parseRangeMark(e.Name(), lostSuffix); ok {
			if a < b {
				lost[a] = b
			}
			continue
		}
		if c, ok := parseCut(e.Name()); ok {
			lost[c.from] = c.to
			j.cuts = append(j.cuts, c)
			continue
		}
		if a, b, ok := parseRangeMark(e.Name(), ackedSuffix); ok {
			if a <= b {
				j.ackedTo = max(j.ackedTo, b)
				j.ackedMarks = append(j.ackedMarks, filepath.Join(j.dir, e.Name()))
			}
			continue
		}
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok {
			continue
		}
		name, cont := strings.CutSuffix(name, contSuffix)
		start, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			return -1, fmt.Errorf("%w: %s: bad name", ErrCorruptJournal, e.Name())
		}
		segs = append(segs, jseg{start: start, cont: cont})
	}
	slices.SortFunc(segs, func(a, b jseg) int { return cmp.Compare(a.start, b.start) })
	j.scanned = len(segs)
	last = -1
	var jump uint64
	for i := range segs {
		seg, lb, jmp, err := j.scanSegment(j.segFile(&segs[i]), segs[i], i == len(segs)-1)
		if err != nil {
			return -1, err
		}
		if n := len(j.segs); n > 0 && j.segs[n-1].end() != seg.start && lost[j.segs[n-1].end()] != seg.start {
			prev := j.segs[n-1]
			if prev.end() > seg.start {
				return -1, fmt.Errorf("%w: %s: starts at %d, previous ends at %d",
					ErrCorruptJournal, j.segFile(&seg), seg.start, prev.end())
			}
			// Offsets no segment holds (a segment deleted, or the end of one cut or
			// damaged, while the shipper was down): the stream skips them, exactly (the
			// next segment's name says where it starts), as a hole (lostSuffix).
			from, to := prev.end(), seg.start
			mark := filepath.Join(j.dir, fmt.Sprintf("%016x-%016x%s", from, to, lostSuffix))
			if err := os.WriteFile(mark, nil, 0o640); err != nil {
				return -1, fmt.Errorf("mark missing journal bytes: %w", err)
			}
			if err := atomicfile.SyncDir(j.dir); err != nil {
				return -1, fmt.Errorf("sync journal dir: %w", err)
			}
			lost[from] = to
			j.log.Warn("journal segments do not follow each other: the offsets between them are missing (a segment deleted, cut or damaged while the shipper was down); the stream skips them, and what of them was not acknowledged is lost, a gap of that size collectors are told of",
				"file", j.segFile(&prev), "ends_at", from, "next_file", j.segFile(&seg), "starts_at", to, "missing_bytes", to-from)
		}
		if lb >= 0 {
			last = lb
		}
		j.segs = append(j.segs, seg)
		j.total += seg.size
		jump = jmp
	}
	if jump > 0 {
		// The stream skips the corrupt record's offsets: the next segment starts after
		// them, and a mark tells a later run that the hole is known.
		from := j.segs[len(j.segs)-1].end()
		to := from + jump
		mark := filepath.Join(j.dir, fmt.Sprintf("%016x-%016x%s", from, to, lostSuffix))
		if err := os.WriteFile(mark, nil, 0o640); err != nil {
			return -1, fmt.Errorf("mark corrupt journal bytes: %w", err)
		}
		seg := jseg{start: to}
		f, err := os.OpenFile(j.segFile(&seg), os.O_WRONLY|os.O_CREATE, 0o640)
		if err != nil {
			return -1, fmt.Errorf("create journal segment: %w", err)
		}
		f.Close()
		if err := atomicfile.SyncDir(j.dir); err != nil {
			return -1, fmt.Errorf("sync journal dir: %w", err)
		}
		lost[from] = to
		j.segs = append(j.segs, seg)
	}
	// Marks of holes no segment is before any more are removed.
	defer func() {
		first := j.end
		if len(j.segs) > 0 {
			first = j.segs[0].start
		}
		for from, to := range lost {
			if to <= first {
				os.Remove(filepath.Join(j.dir, fmt.Sprintf("%016x-%016x%s", from, to, lostSuffix)))
			}
		}
		j.cuts = slices.DeleteFunc(j.cuts, func(c cut) bool {
			if c.to > first {
				return false
			}
			os.Remove(filepath.Join(j.dir, c.name()))
			return true
		})
	}()
	if n := len(j.segs); n > 0 {
		j.end = j.segs[n-1].end()
		j.scannedEnd = j.end
		first := j.segs[0]
		switch {
		case reset == ResetEnd:
			j.log.Warn("skipping everything journaled: these bytes are not shipped", "skipped_bytes", j.end-first.start)
			cp.Offset, cp.LineOff = j.end, 0
		case cp.Offset >= first.start:
		case j.ackedTo >= first.start:
			// Freed acknowledged (markAcked) on a full file system; not lost.
			j.log.Info("resuming at the journal's first segment: the segments before it were acknowledged and freed before the checkpoint could be saved",
				"checkpoint", cp.Offset, "journal", first.start)
			cp.Offset, cp.LineOff = first.start, 0
			j.resync = first.cont
		case reset == ResetStart || fellBack:
			j.log.Info("resuming at the journal's first segment (collectors drop what they wrote)", "checkpoint", cp.Offset, "journal", first.start)
			cp.Offset, cp.LineOff = first.start, 0
			j.resync = first.cont
		default:
			j.log.Warn("journal starts after the checkpoint: bytes dropped before they were acknowledged are lost",
				"checkpoint", cp.Offset, "journal", first.start, "lost_bytes", first.start-cp.Offset)
			j.lost = first.start - cp.Offset
			j.s.m.JournalDropped.Add(float64(j.lost))
			cp.Offset, cp.LineOff = first.start, 0
			j.resync = first.cont
		}
	}
	if cp.Offset > j.end && len(j.segs) > 0 {
		j.log.Warn("journal ends before the checkpoint", "checkpoint", cp.Offset, "journal", j.end)
	}
	if cp.Offset >= j.end {
		// Everything is acknowledged: start afresh at the checkpoint.
		for i := range j.segs {
			if err := os.Remove(j.segFile(&j.segs[i])); err != nil && !errors.Is(err, os.ErrNotExist) {
				return -1, fmt.Errorf("remove journal segment: %w", err)
			}
		}
		j.segs, j.total, j.end = nil, 0, cp.Offset
		j.resync = false
	}
	return last, nil
}

// scanSegment checks the records of one segment file. A bad record cuts the file there.
// In a segment before the last, the offsets from there to the next segment are a hole
// the stream skips (recoverSegs), known exactly; what follows is about the last one.
//
// A record whose bytes are all there but whose checksum does not match was durable (a
// record is fsynced whole before it is read) and may have been sent: its offsets must not
// be given to other bytes, or collectors would drop those as duplicates. scanSegment
// then also returns the payload bytes the cut removed (jump: the record's, and any after
// it), which the stream skips. A record the file ends inside was never fsynced whole, so
// never sent: it is cut and its offsets are used again, unless the journal's reach says
// they were used (cutCheck: the file was truncated, not torn). A record of length 0 (none
// is written: the file was zeroed) or longer than any record (overwritten) is damage
// while the shipper was down: it is cut, logged naming the file and counted
// (Metrics.JournalDamaged), and cutCheck makes the stream skip every offset the run
// before may have used there.
func (j *Journal) scanSegment(name string, seg jseg, isLast bool) (_ jseg, last int, jump uint64, _ error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return jseg{}, -1, 0, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return jseg{}, -1, 0, fmt.Errorf("stat journal: %w", err)
	}
	// The longest record the writer makes: a read buffer's line, or the start of a line
	// and its '\n'.
	maxRec := int64(j.s.cfg.ReadBuffer) + 1
	last = -1
	var hdr [recHeader]byte
	var buf []byte
	for seg.size < fi.Size() {
		bad, damaged := "", false
		if fi.Size()-seg.size < recHeader {
			bad = "short record header"
		} else if _, err := f.ReadAt(hdr[:], seg.size); err != nil {
			return jseg{}, -1, 0, fmt.Errorf("read journal %s: %w", name, err)
		} else {
			n := int64(binary.LittleEndian.Uint32(hdr[:]))
			switch {
			case n == 0:
				bad, damaged = "a record of length 0 (none is written: zeroed)", true
			case n > maxRec:
				bad, damaged = fmt.Sprintf("a record header claims %d bytes, more than any record (%d): overwritten", n, maxRec), true
			case seg.size+recHeader+n > fi.Size():
				bad = "short record"
			default:
				buf = slices.Grow(buf[:0], int(n))[:n]
				if _, err := f.ReadAt(buf, seg.size+recHeader); err != nil {
					return jseg{}, -1, 0, fmt.Errorf("read journal %s: %w", name, err)
				}
				if envelope.Checksum(buf) != binary.LittleEndian.Uint32(hdr[4:]) {
					bad = "checksum mismatch"
					jump = uint64(fi.Size() - seg.size - recHeader)
				}
			}
		}
		if bad != "" {
			switch {
			case !isLast:
				// The next segment's name says where the stream goes on: the offsets in
				// between are a hole (see recoverSegs), exactly.
				jump = 0
				j.s.m.JournalDamaged.Inc()
				j.log.Warn("journal segment damaged while the shipper was down; cutting it there: what it held from there on is lost, and the stream skips to the next segment (collectors are told of the gap)",
					"file", name, "at", seg.size, "why", bad, "offset", seg.end(), "cut_bytes", fi.Size()-seg.size)
			case jump > 0:
				j.s.m.JournalDamaged.Inc()
				j.log.Warn("journal's last record is corrupt (it was written whole, and may have been sent); cutting it, and the stream skips its offsets: what of it was not acknowledged is lost, and collectors are told",
					"file", name, "at", seg.size, "why", bad, "offset", seg.end(), "lost_bytes", jump)
			case damaged:
				j.s.m.JournalDamaged.Inc()
				j.segDamaged = true
				j.log.Warn("journal segment damaged while the shipper was down; cutting it there: what it held from there on is lost, and the stream skips every offset the run before may have used (collectors are told of the gap)",
					"file", name, "at", seg.size, "why", bad, "offset", seg.end(), "cut_bytes", fi.Size()-seg.size)
			default:
				j.segTorn = name
				j.log.Warn("journal ends with a torn record (stopped while writing it: never sent); cutting it", "file", name, "at", seg.size, "why", bad,
					"cut_bytes", fi.Size()-seg.size)
			}
			if err := f.Truncate(seg.size); err != nil {
				return jseg{}, -1, 0, fmt.Errorf("truncate journal: %w", err)
			}
			if err := f.Sync(); err != nil {
				return jseg{}, -1, 0, fmt.Errorf("sync journal: %w", err)
			}
			break
		}
		if len(buf) > 0 {
			last = int(buf[len(buf)-1])
		}
		seg.size += recHeader + int64(len(buf))
		seg.payload += uint64(len(buf))
	}
	return seg, last, jump, nil
}

// startSegment makes the segment the writer appends to: a new one at the journal end, or
// the last one if it starts there (it is empty). It closes the previous one.
func (j *Journal) startSegment() error {
	j.mu.Lock()
	n := len(j.segs)
	reuse := n > 0 && j.segs[n-1].start == j.end
	seg := jseg{start: j.end, cont: j.wlast != '\n'}
	if reuse {
		seg = j.segs[n-1]
	}
	j.mu.Unlock()
	name := j.segFile(&seg)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("create journal segment: %w", err)
	}
	if err := atomicfile.SyncDir(j.dir); err != nil {
		f.Close()
		os.Remove(name)
		return fmt.Errorf("sync journal dir: %w", err)
	}
	if j.wf != nil {
		j.wf.Close()
	}
	j.wf = f
	if !reuse {
		j.mu.Lock()
		j.segs = append(j.segs, seg)
		j.mu.Unlock()
	}
	return nil
}

// write is the writer goroutine.
func (j *Journal) write() {
	defer func() { j.wf.Close() }()
	size := j.s.cfg.ReadBuffer
	buf := make([]byte, recHeader+size)
	// buf[recHeader:recHeader+carry] is the start of a line read but not journaled yet.
	// Records end at line ends, so a segment closed at its size or on a full file system
	// ends at one and can be wholly acknowledged and freed: the journal never keeps
	// acknowledged bytes it cannot free. Only a line longer than the buffer is journaled
	// in parts, starting a segment of its own (see appendRoll).
	carry := copy(buf[recHeader:], j.carry0)
	j.carry0 = nil
	defer func() {
		if j.pf != nil {
			j.pf.Close()
		}
		if carry > 0 {
			if err := j.appendRecord(buf[:recHeader+carry]); err != nil {
				j.log.Error("cannot journal the start of a line at shutdown; it is lost", "bytes", carry, "err", err)
			}
		}
	}()
	for {
		if !j.waitSpace() {
			return
		}
		j.keepReserve()
		j.keepCopy()
		// Read no more than the bound has room for, so a read never overshoots it by more
		// than the line it ends in (plus minJournalRead when it is nearly full).
		j.mu.Lock()
		room := j.bound - j.total - recHeader - int64(carry)
		j.mu.Unlock()
		want := int(min(max(room, minJournalRead), int64(size-carry)))
		n, rerr := j.in.Read(buf[recHeader+carry : recHeader+carry+want])
		if n > 0 {
			cut := bytes.LastIndexByte(buf[recHeader+carry:recHeader+carry+n], '\n')
			switch {
			case cut >= 0:
				cut += carry + 1
			case carry+n == size:
				cut = size // a line longer than the buffer: journaled in parts
			default:
				cut = 0 // no line end: all of it is the start of a line
			}
			carry += n
			// The input gave up the start of a line read here: it is saved (partialFile)
			// so that a kill does not lose it, as the start of the line after the lines
			// journaled now. It is written before them and synced after them, so a kill
			// finds it saved once they are journaled (a file's written bytes survive
			// the process), and a power loss finds it saved once they are published.
			partial := carry > cut && cut < size
			if partial {
				j.mu.Lock()
				at := j.end + uint64(cut)
				j.mu.Unlock()
				j.writePartial(buf[recHeader+cut:recHeader+carry], at)
			}
			if cut > 0 {
				if err := j.appendRoll(buf[:recHeader+cut]); err != nil {
					carry = 0 // possibly journaled in part; fail logs it
					j.fail(err)
					return
				}
				carry = copy(buf[recHeader:], buf[recHeader+cut:recHeader+carry])
			}
			if partial {
				// Saved or not, the end record says it is pending (before the fsync: a
				// kill then finds it saved or counts its loss; see partialLost).
				j.mu.Lock()
				end := j.end
				j.mu.Unlock()
				j.noteEnd(end, uint64(carry))
				j.syncPartial(carry)
			}
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
			rec := []byte{0, 0, 0, 0, 0, 0, 0, 0, '\n'}
			if carry > 0 {
				buf[recHeader+carry] = '\n' // the input ended inside a line: terminate it
				rec, carry = buf[:recHeader+carry+1], 0
			}
			if len(rec) > recHeader+1 || j.wlast != '\n' {
				if err := j.appendRoll(rec); err != nil {
					j.fail(err)
					return
				}
			}
			j.mu.Lock()
			j.eof = true
			end := j.end
			j.mu.Unlock()
			j.log.Info("end of input; all of it is journaled", "journal_offset", end)
			j.signal()
			return
		}
		j.fail(fmt.Errorf("read input: %w", rerr))
		return
	}
}

// minJournalRead is the smallest read of the input: near its bound the journal reads this
// much at a time until a line ends.
const minJournalRead = 256

// fillLevel returns the journal's bytes on disk and bound, as log attributes.
func (j *Journal) fillLevel() []any {
	j.mu.Lock()
	total := j.total
	j.mu.Unlock()
	return fillAttrs(total, j.bound)
}

func fillAttrs(total, bound int64) []any {
	return []any{"journal_bytes", total, "journal_size", bound,
		"fill", fmt.Sprintf("%.0f%%", 100*float64(total)/float64(bound))}
}

// waitSpace returns once the journal is below its bound (dropping the oldest segments
// under JournalDropOldest), false when the journal is closed. While it waits it logs,
// at once and every JournalFullLogEvery.
func (j *Journal) waitSpace() bool {
	if !j.full() {
		return true
	}
	if j.s.cfg.JournalFull == JournalDropOldest {
		for j.full() && j.dropOldest("journal size reached") {
		}
		if !j.full() {
			return true
		}
	}
	j.s.m.JournalFull.Inc()
	j.fullTimes++
	logged := j.logFull("journal full; input waits until acknowledgements free space")
	t := time.NewTicker(JournalFullLogEvery)
	defer t.Stop()
	start := time.Now()
	for j.full() {
		select {
		case <-j.space:
		case <-t.C:
			logged = j.logFull("journal still full; input waits", "waiting", time.Since(start).Round(time.Second)) || logged
		case <-j.quit:
			return false
		}
	}
	if logged {
		j.log.Info("journal has space again; reading input", append(j.fillLevel(), "waited", time.Since(start).Round(time.Millisecond))...)
	}
	return true
}

// full reports whether the journal has reached its bound at a line end: a line begun is
// finished first (overshooting by at most that line), so that every segment but the last
// can be wholly acknowledged and freed. Only the writer calls it.
func (j *Journal) full() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.total >= j.bound && j.wlast == '\n'
}

// dropOldest deletes the oldest segment, never the one written; false if there is none.
// The reader notices the jump and counts what it had not returned (see Next).
func (j *Journal) dropOldest(why string) bool {
	j.mu.Lock()
	if len(j.segs) < 2 {
		j.mu.Unlock()
		return false
	}
	seg := j.segs[0]
	name := j.segFile(&seg)
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		j.mu.Unlock()
		j.log.Warn("cannot delete the oldest journal segment", "file", name, "err", err)
		return false
	}
	j.segs = j.segs[1:]
	j.total -= seg.size
	total := j.total
	j.mu.Unlock()
	j.s.m.JournalBytes.Set(float64(total))
	j.dropSegs++
	j.dropBytes += seg.payload
	if now := time.Now(); now.Sub(j.dropLog) >= JournalFullLogEvery {
		j.log.Warn("journal full; dropped the oldest unacknowledged segments (--journal-full drop-oldest): what was not sent from them yet is lost and reported to collectors",
			append(fillAttrs(total, j.bound), "why", why, "segments", j.dropSegs, "segment_bytes", j.dropBytes, "up_to_offset", seg.end())...)
		j.dropLog, j.dropSegs, j.dropBytes = now, 0, 0
	}
	j.signal()
	return true
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

// appendRoll appends one record, then closes the segment if it has reached its size at a
// line end. Before the record, it closes a segment that has twice its size (a line longer
// than a segment: the next one starts inside it), and one that holds lines when the
// record begins a line longer than the writer's buffer: that line gets a segment of its
// own, so the lines before it can be freed once acknowledged, even on a full file system
// while the line is unfinished.
func (j *Journal) appendRoll(rec []byte) error {
	if size, payload := j.segSize(); size >= 2*j.segMax ||
		(payload > 0 && j.wlast == '\n' && rec[len(rec)-1] != '\n') {
		j.roll()
	}
	if err := j.appendDurably(rec); err != nil {
		return err
	}
	if size, _ := j.segSize(); size >= j.segMax && j.wlast == '\n' {
		j.roll() // closed at once, so acknowledgements can free it even if input stops
	}
	return nil
}

// segSize returns the file size and payload of the segment written.
func (j *Journal) segSize() (int64, uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	seg := &j.segs[len(j.segs)-1]
	return seg.size, seg.payload
}

// roll starts a new segment; on failure the writer keeps appending to the current one and
// tries again with the next record.
func (j *Journal) roll() {
	if rollHook != nil {
		rollHook(false)
		defer rollHook(true)
	}
	if err := j.startSegment(); err != nil {
		j.s.m.JournalWriteErrors.Inc()
		j.log.Warn("cannot start a new journal segment; continuing in the current one", "err", err)
		return
	}
	j.freeClosed()
}

// rollHook, when set (by tests, before the journal is opened), runs in the writer before
// it closes a segment (done false) and after (done true).
var rollHook func(done bool)

// freeClosed frees the segment the writer just closed if it is acknowledged already. Ack
// frees only closed segments: an acknowledgement of everything the last segment held,
// made before the writer closed it, is otherwise applied only by the next Ack, and the
// reader, having nothing more to read, makes none. On a full file system the writer then
// waited for good for the space that segment holds. An acknowledgement Ack could not save
// while the segment was the last one (unsaved) is saved now, or the segment freed as
// acknowledged (markAcked), for the same reason.
func (j *Journal) freeClosed() {
	j.mu.Lock()
	j.deleteAcked(j.acked)
	unsaved := j.unsaved
	j.mu.Unlock()
	if unsaved != nil {
		_ = j.Ack(*unsaved)
	}
}

// Retry pacing of appendDurably.
const (
	journalRetryMin = 50 * time.Millisecond
	journalRetryMax = 2 * time.Second
)

// appendDurably appends rec, retrying while the disk refuses it (full disk, I/O
// error): the record stays in memory, whatever part of it reached the file is cut
// off, and input waits (a piped web server then blocks on its pipe, which loses
// nothing). A full file system is a full journal: the current segment is closed so that
// acknowledgements can free it, and under JournalDropOldest the oldest segment goes. It
// gives up only when the journal is closed.
func (j *Journal) appendDurably(rec []byte) error {
	wait := journalRetryMin
	var lastLog time.Time
	logged, full := false, false
	lim := len(rec) - recHeader // payload bytes tried in this attempt
	for attempt := 0; ; attempt++ {
		err := j.appendRecord(rec[:recHeader+lim])
		if err == nil {
			if lim < len(rec)-recHeader {
				// A part fitted: the rest follows, its header over the last bytes written.
				rec = rec[lim:]
				lim = len(rec) - recHeader
				continue
			}
			if logged {
				j.log.Info("journal is writable again", append(j.fillLevel(), "attempts", attempt+1)...)
			}
			return nil
		}
		j.s.m.JournalWriteErrors.Inc()
		j.mu.Lock()
		cur := j.segs[len(j.segs)-1]
		j.mu.Unlock()
		_ = j.wf.Truncate(cur.size) // a failed truncate is retried with the next attempt
		noSpace := isNoSpace(err)
		if noSpace {
			j.skipPartial()
			j.skipCopy()
			if !full {
				full = true
				j.s.m.JournalFull.Inc()
				j.fullTimes++
			}
			if cur.payload > 0 && j.wlast == '\n' {
				// Acknowledgements can free only closed segments, and the segment ends at a
				// line end (records do; a line longer than the buffer has a segment of its
				// own): close it.
				if serr := j.startSegment(); serr != nil {
					j.log.Debug("cannot start a new journal segment on a full file system", "err", serr)
				}
			}
			// At every attempt, not only when a segment was just closed: an
			// acknowledgement Ack could not save while the segment it frees was the last
			// one may be recorded (unsaved) only after the writer closed it (a reader
			// racing the close), and the reader, having read everything, makes no other.
			j.freeClosed()
			// What fits is journaled now, so that it can be sent, acknowledged and freed.
			if n := j.fitPart(rec[recHeader : recHeader+lim]); n > 0 {
				lim = n
				continue
			}
			if j.s.cfg.JournalFull == JournalDropOldest && j.dropOldest("file system full") {
				lim = len(rec) - recHeader
				continue
			}
		}
		switch {
		case noSpace:
			msg := "journal's file system is full; input waits until acknowledgements free space"
			if _, payload := j.segSize(); payload == 0 && j.Fill().Bytes == 0 {
				msg = "journal's file system is full and the journal holds nothing to free; input waits until other files free space"
			}
			logged = j.logFull(msg, "dir", j.dir, "err", err) || logged
		case attempt == 0 || time.Since(lastLog) >= JournalFullLogEvery:
			lastLog, logged = time.Now(), true
			j.log.Warn("cannot write the journal; holding input and retrying", append(j.fillLevel(), "dir", j.dir, "err", err)...)
		}
		select {
		case <-j.quit:
			return err
		case <-j.space:
			wait = journalRetryMin
		case <-time.After(wait):
			wait = min(2*wait, journalRetryMax)
		}
		lim = len(rec) - recHeader
	}
}

// fitPart returns the length of a shorter first part of payload p to journal when the
// file system has no room for all of it, 0 when p cannot be split: up to the last line
// end in its first half, or, when the segment written holds only the line p is in (so it
// can be freed only with that line anyway), its first half.
func (j *Journal) fitPart(p []byte) int {
	half := len(p) / 2
	if i := bytes.LastIndexByte(p[:half], '\n'); i >= 0 {
		return i + 1
	}
	if _, payload := j.segSize(); half > 0 && (payload == 0 || j.wlast != '\n') {
		return half
	}
	return 0
}

// appendRecord fills in rec's header, writes and fsyncs it, then publishes it.
func (j *Journal) appendRecord(rec []byte) error {
	payload := rec[recHeader:]
	j.mu.Lock()
	end := j.end + uint64(len(payload))
	j.mu.Unlock()
	// No byte is journaled (so none is read and sent) at or past the durable reach.
	if err := j.advanceReach(end); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(rec, uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[4:], envelope.Checksum(payload))
	if _, err := j.wf.Write(rec); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := j.wf.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	if len(payload) > 0 {
		j.wlast = payload[len(payload)-1]
	}
	j.noteEnd(end, 0) // before the record is read
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
	// Bytes is what the segment files hold on disk; the journal is full when it reaches
	// Max (Config.JournalMax, or less on a smaller file system).
	Bytes, Max int64
	// Unacknowledged is the journaled bytes of lines not acknowledged yet (sent or not).
	Unacknowledged uint64
	// InputEnded: the input has ended and all of it is journaled.
	InputEnded bool
}

// Fill returns how full the journal is, for reports of how close a shipper that cannot
// send is to blocking its writer, and of what it leaves behind when it stops. Safe for
// concurrent use.
func (j *Journal) Fill() JournalFill {
	j.mu.Lock()
	defer j.mu.Unlock()
	return JournalFill{Bytes: j.total, Max: j.bound, Unacknowledged: j.end - min(j.acked, j.end), InputEnded: j.eof}
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
// journaled was returned. A chunk after bytes the journal dropped (JournalDropOldest, or
// before a restart) carries them in Lost.
func (j *Journal) Next(ctx context.Context, max int) (Chunk, error) {
	if j.closed {
		return Chunk{}, ErrClosed
	}
	if max < 2 {
		return Chunk{}, fmt.Errorf("%w: %d", ErrChunkMax, max)
	}
	for {
		if !j.resync {
			if ch, ok := j.c.cut(max); ok {
				ch.Stream = j.stream
				ch.Pos = j.pos()
				ch.Lost, j.lost = j.lost, 0
				ch.Unused, j.unused = j.unused, nil
				if e := ch.End(); e > j.sent {
					j.sent = e
				}
				j.s.m.count(&ch)
				if j.c.truncated > 0 {
					j.s.m.LinesTruncated.Add(float64(j.c.truncated))
					j.c.truncated = 0
				}
				return ch, nil
			}
		}
		n, err := j.fill(max)
		if err != nil {
			return Chunk{}, err
		}
		if n > 0 {
			j.skipToLine()
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
			if j.lost > 0 {
				j.log.Warn("end of input right after dropped bytes; no line followed them", "lost_bytes", j.lost)
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

// skipToLine drops buffered bytes up to the next line end while resyncing (reading
// resumed inside a line), counting them as lost.
func (j *Journal) skipToLine() {
	if !j.resync {
		return
	}
	avail := j.c.buf[j.c.r:j.c.w]
	n := len(avail)
	if i := bytes.IndexByte(avail, '\n'); i >= 0 {
		n = i + 1
		j.resync = false
	}
	j.c.r += n
	j.c.off += uint64(n)
	j.lost += uint64(n)
	j.s.m.JournalDropped.Add(float64(n))
}

// jump moves the reader to first, the start of the oldest segment left, after segments
// it had not finished were dropped: the line it was in and everything up to first is
// lost.
func (j *Journal) jump(first jseg, hole bool) {
	if j.rf != nil {
		j.rf.Close()
		j.rf = nil
	}
	lost := first.start - j.c.off
	j.c.r, j.c.w = 0, 0
	j.c.frag, j.c.lineKept, j.c.skip, j.c.skipped, j.c.tail = false, 0, false, 0, j.c.tail[:0]
	j.c.terminate = false
	from := j.c.off
	j.c.off, j.roff, j.rrem = first.start, first.start, 0
	j.lost += lost
	j.resync = first.cont
	if c, ok := j.cutBefore(first.start); ok {
		// The journal's lost tail (counted and logged at open): past the bytes it held,
		// the offsets are unused as far as anyone can tell.
		if u := (OffsetRange{From: max(c.held, from), To: c.to}); u.From < u.To {
			j.unused = append(j.unused, u)
		}
		if from < c.from {
			j.s.m.JournalDropped.Add(float64(c.from - from))
			j.log.Warn("journal bytes before its lost tail not sent (the start of a line whose rest was lost, or segments dropped); collectors are told of the gap",
				"lost_bytes", c.from-from, "resume_offset", first.start)
		}
		return
	}
	if hole {
		if first.start > j.holeSeen { // once per hole in a run, however often it is read
			j.holeSeen = first.start
			j.s.m.JournalDropped.Add(float64(lost))
		}
		j.log.Warn("skipping the offsets of a corrupt journal record; collectors are told of the gap", "lost_bytes", lost, "resume_offset", first.start)
		return
	}
	j.s.m.JournalDropped.Add(float64(lost))
	j.log.Warn("journal bytes dropped before they were sent; collectors are told of the gap", "lost_bytes", lost, "resume_offset", first.start)
}

// fill reads durable journal bytes into the cutter; 0, nil means none are available.
func (j *Journal) fill(max int) (int, error) {
	for {
		j.mu.Lock()
		// The segment holding roff, or the first after it: one that starts after roff
		// means dropped segments (before the first) or a hole (a corrupt record cut).
		var first jseg
		dropped, hole := false, false
		for k := range j.segs {
			if j.segs[k].end() > j.roff || k == len(j.segs)-1 {
				if j.segs[k].start > j.roff {
					first, dropped, hole = j.segs[k], true, k > 0
				}
				break
			}
		}
		j.mu.Unlock()
		if dropped {
			j.jump(first, hole)
		}
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
	f, err := os.Open(j.segFile(&seg))
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
	if cp.Offset < first && j.s.cfg.JournalFull != JournalDropOldest {
		return fmt.Errorf("%w: rewind %s to offset %d: the journal starts at %d", ErrConfig, j.key, cp.Offset, first)
	}
	if j.rf != nil {
		j.rf.Close()
		j.rf = nil
	}
	j.rstart, j.rpos, j.rrem = 0, 0, 0
	j.c = newCutter(j.s.cfg.ReadBuffer, j.s.cfg.MaxLine)
	// Under JournalDropOldest the position may have been dropped since: Next then jumps
	// to the first segment and reports what it skips (Chunk.Lost).
	j.roff, j.c.off = cp.Offset, cp.Offset
	j.lost, j.unused, j.resync = 0, nil, false
	if cp.LineOff > 0 {
		j.c.frag, j.c.lineKept = true, cp.LineOff
	}
	return nil
}

// RewindAcked makes Next return the journal again from the last position Ack saved (or
// from where it was opened): a sender that takes the journal over from another (a
// reload in `logspread ship -`) gets again what its predecessor read but did not have
// acknowledged. It must not be called concurrently with Next or Ack.
func (j *Journal) RewindAcked() error {
	j.mu.Lock()
	pos := j.apos
	j.mu.Unlock()
	return j.Rewind(&pos)
}

// Forgot reports whether the state directory no longer has stream (see Store.Forgot).
func (j *Journal) Forgot(stream uint64) bool { return j.s.store.Forgot(stream) }

// Forgotten receives a value (coalesced) after a source of the state directory was
// forgotten (see Store.Forgotten).
func (j *Journal) Forgotten() <-chan struct{} { return j.s.store.Forgotten() }

// Reclaims reports whether acknowledging pos frees journal space (it completes the oldest
// segment): the shipper saves such a position at once instead of at its checkpoint pace,
// so acknowledged space is freed as acknowledgements arrive, with one checkpoint save
// per segment. Safe for concurrent use.
func (j *Journal) Reclaims(pos Checkpoint) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return pos.Path == j.key && len(j.segs) > 1 && j.segs[0].end() <= pos.Offset
}

// Ack implements Source: it saves pos and deletes the segments wholly before it. On a
// full file system it deletes the reserve file to save pos.
func (j *Journal) Ack(pos Checkpoint) error {
	// The writer acknowledges too (freeClosed): one save at a time.
	j.ackMu.Lock()
	defer j.ackMu.Unlock()
	j.mu.Lock()
	saved := pos.Offset < j.apos.Offset || (pos.Offset == j.apos.Offset && pos.LineOff < j.apos.LineOff)
	j.mu.Unlock()
	if saved {
		// An acknowledgement the writer retries (unsaved) after the reader saved a later
		// one: saving it would move the checkpoint back.
		return nil
	}
	err := j.s.store.Save(pos)
	if err != nil && isNoSpace(err) && j.reserved.CompareAndSwap(true, false) {
		name := filepath.Join(j.dir, reserveFile)
		if rerr := os.Remove(name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			j.log.Warn("cannot delete the journal's reserve file", "file", name, "err", rerr)
		}
		j.log.Info("file system full: used the journal's reserve to save the checkpoint that frees acknowledged segments", "dir", j.dir)
		err = j.s.store.Save(pos)
	}
	if err != nil && isNoSpace(err) && j.markAcked(pos.Offset) {
		err = j.s.store.Save(pos)
	}
	j.mu.Lock()
	if err != nil {
		if j.unsaved == nil || pos.Offset >= j.unsaved.Offset {
			j.unsaved = &pos
		}
		j.mu.Unlock()
		return err
	}
	if j.unsaved != nil && pos.Offset >= j.unsaved.Offset {
		j.unsaved = nil
	}
	j.mu.Unlock()
	j.removeMarks()
	j.mu.Lock()
	j.acked = max(j.acked, pos.Offset)
	j.apos = pos // not before it: checked above, and only Ack, serialized, moves it
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
// The reader is woken to close a deleted segment it still has open: its space is freed
// only then.
func (j *Journal) deleteAcked(off uint64) {
	deleted := false
	defer func() {
		j.s.m.JournalBytes.Set(float64(j.total))
		if deleted {
			j.signal()
		}
	}()
	for len(j.segs) > 1 && j.segs[0].end() <= off {
		name := j.segFile(&j.segs[0])
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			j.log.Warn("cannot delete acknowledged journal segment", "file", name, "err", err)
			return
		}
		j.total -= j.segs[0].size
		j.segs = j.segs[1:]
		deleted = true
	}
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
	j.stopReach()
	j.stopSave()
	if j.rf != nil {
		j.rf.Close()
		j.rf = nil
	}
	return err
}

// stopSave saves the last position acknowledged as the stop checkpoint (Stopped): Size
// is the journal's end, Reach the offset past every byte this run returned. It says
// what the input file's stop record says (stopReach), in a file with a checksum and a
// previous good copy (Store), so that a restart that finds the input file damaged
// still knows exactly where the journal ended (see cutCheck). It is fsynced, as the
// stop record is. The writer has stopped.
func (j *Journal) stopSave() {
	if j.killed {
		return
	}
	j.ackMu.Lock()
	defer j.ackMu.Unlock()
	j.mu.Lock()
	cp, end := j.apos, j.end
	j.mu.Unlock()
	cp.Stopped, cp.Reach, cp.Size = true, max(j.sent, cp.Offset), int64(end)
	if err := j.s.store.Save(cp); err != nil {
		j.log.Warn("cannot save the stop checkpoint; a restart that finds the journal's input file damaged jumps past every offset it may have used (a gap of unknown size)",
			"err", err)
	}
}
