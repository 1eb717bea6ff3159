package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/atomicfile"
)

// The journal's reach: the offsets a run may have used, kept in inputFile (before the
// input's identity, so that it takes no file system block of its own), and in its copy
// inputCopyFile (the same bytes, written at the same times: one of the two damaged or
// gone loses nothing; the copy is given up while the file system is full) so that a
// restart never gives new input an offset already sent, even when the journal lost its
// tail since (a crash that cut or zeroed the last segment, a segment deleted or cut by
// an operator or a full disk, a corrupt last record cut at restart). Offsets are the
// stream's logical offsets; reusing one makes collectors drop the new line as a
// duplicate of the old one: silent loss. The file starts with two slots of reachSlot
// bytes, each "LSJR", then
// little-endian the stream id (8 bytes), two offsets (8, 8), a boot hash (8), flags (4)
// and a CRC-32C of the bytes after the magic (4); the input's identity follows them. It
// is written in place (a file written before the reach was recorded holds only the
// identity):
//
//   - slot 0, the durable reach: an offset no byte was journaled at or past (so none
//     was sent). The writer moves it reachAhead past the journal's end, fsynced, before
//     it journals a byte at or past it: one fsync every reachAhead bytes, not per line.
//   - slot 1, the end: the journal's end after every record (an offset past every byte
//     journaled, so past every byte sent), and the length of the start of a line read
//     and not journaled yet that begins there (see partialLost; 0 when none), written in
//     place without fsync after the record is fsynced and before it is read, and after
//     the start of a line is saved: a kill (SIGKILL, the OOM killer) keeps it
//     (the page cache survives the process), a crash of the system may not, so it is
//     trusted as exact only in the boot that wrote it (bootHash). At Close it is
//     written with the offset past every byte returned (the second offset) and the
//     stopped flag, and fsynced: exact after any crash.
//
// At open (see Journal.cutCheck), the segments on disk should end at the end (slot 1)
// after a stop or a kill, and never past the durable reach. When they end before it,
// their tail was lost: new input starts past every offset that may have been used, the
// bytes known to have been journaled there are announced lost (after a stop, those
// returned before as sent and destroyed before they were acknowledged, the others as
// dropped before they were sent), and the offsets after them, up to the durable reach
// when the end is not known exactly (a crash of the system), as unused.
const (
	reachMagic = "LSJR"
	reachSlot  = 64 // slot size in the file
	reachLen   = 4 + 8 + 8 + 8 + 8 + 4 + 4
	// reachStopped: slot 1 was written at Close (fsynced; its second offset is past
	// every byte the run returned).
	reachStopped = 1
)

// reachAhead returns how far past the journal's end the durable reach is moved: one
// fsync of the reach file per this many bytes journaled.
func (j *Journal) reachAhead() uint64 { return uint64(max(j.segMax, 1<<20)) }

// A reachRec is one slot of reachFile.
type reachRec struct {
	stream uint64
	a, b   uint64 // slot 0: the durable reach, 0; slot 1: the end, and (stopped) past every byte returned
	boot   uint64
	flags  uint32
}

func (r *reachRec) append(dst []byte) []byte {
	dst = append(dst, reachMagic...)
	dst = binary.LittleEndian.AppendUint64(dst, r.stream)
	dst = binary.LittleEndian.AppendUint64(dst, r.a)
	dst = binary.LittleEndian.AppendUint64(dst, r.b)
	dst = binary.LittleEndian.AppendUint64(dst, r.boot)
	dst = binary.LittleEndian.AppendUint32(dst, r.flags)
	return binary.LittleEndian.AppendUint32(dst, envelope.Checksum(dst[len(dst)-(reachLen-8):]))
}

func parseReach(b []byte) (reachRec, bool) {
	if len(b) < reachLen || string(b[:4]) != reachMagic ||
		envelope.Checksum(b[4:reachLen-4]) != binary.LittleEndian.Uint32(b[reachLen-4:]) {
		return reachRec{}, false
	}
	return reachRec{
		stream: binary.LittleEndian.Uint64(b[4:]),
		a:      binary.LittleEndian.Uint64(b[12:]),
		b:      binary.LittleEndian.Uint64(b[20:]),
		boot:   binary.LittleEndian.Uint64(b[28:]),
		flags:  binary.LittleEndian.Uint32(b[36:]),
	}, true
}

// bootHash identifies the running system's boot (Linux: a hash of boot_id), 0 when it
// is not known: an end written without fsync is then never trusted after a restart.
var bootHash = sync.OnceValue(func() uint64 {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if id := strings.TrimSpace(string(b)); err == nil && id != "" {
		return fingerprint([]byte(id))
	}
	return 0
})

// prevReach is what inputFile and its copy say of the run before.
type prevReach struct {
	found   bool   // either file exists (recording the reach, or damaged)
	damaged string // what is wrong with them, when neither is whole ("" when one is)
	reach   uint64 // slot 0, when reachOK
	reachOK bool
	end     uint64 // slot 1, when endOK: a lower bound of the journal's end then
	endOK   bool
	exact   bool   // end is the end exactly (stopped, or written in this boot)
	stopped bool   // written at Close: sent is known
	sent    uint64 // stopped: past every byte returned; else the start of a line pending at end
}

// loadReach reads the reach that inputFile and its copy (inputCopyFile, written with it)
// record for stream. A damaged file (zeroed, truncated or overwritten while the shipper
// was down: not the two reach slots, nor the input's identity alone that files written
// before the reach was recorded hold) is found, with what is wrong, and nothing of it is
// trusted; a damaged slot is not used. Either is logged, naming the file, and counted.
// What one file lacks the other says: a slot whose bytes pass their checksum in either
// is used (the reach: the further; the end: the further, a stop record before another at
// the same end), so one file damaged or gone loses nothing of what they record.
func (j *Journal) loadReach() (prevReach, error) {
	type reachFile struct {
		name     string
		size     int
		damaged  string
		r0, r1   reachRec
		ok0, ok1 bool
	}
	var files []reachFile
	for _, base := range []string{inputFile, inputCopyFile} {
		name := filepath.Join(j.dir, base)
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return prevReach{}, fmt.Errorf("read journal reach: %w", err)
		}
		f := reachFile{name: name, size: len(b)}
		_, f.damaged = parseInputFile(b)
		if f.damaged == "" && !hasReach(b) {
			continue // written before the reach was recorded
		}
		// A slot whose bytes are all there and pass their checksum is used, even in a
		// file cut short after it.
		f.r0, f.ok0 = parseReach(b)
		if len(b) > reachSlot {
			f.r1, f.ok1 = parseReach(b[reachSlot:])
		}
		if f.damaged == "" {
			switch {
			case !f.ok0 && !f.ok1:
				f.damaged = "both reach records fail their checksum (overwritten?)"
			case !f.ok0:
				f.damaged = "the durable reach record (slot 0) fails its checksum"
			case !f.ok1:
				f.damaged = "the end record (slot 1) fails its checksum"
			}
		}
		files = append(files, f)
	}
	var p prevReach
	var r1 reachRec
	whole := ""
	for _, f := range files {
		p.found = true
		if f.damaged == "" {
			whole = f.name
		}
		if f.ok0 && f.r0.stream == j.stream && (!p.reachOK || f.r0.a > p.reach) {
			p.reach, p.reachOK = f.r0.a, true
		}
		if f.ok1 && f.r1.stream == j.stream && (!p.endOK || f.r1.a > r1.a ||
			f.r1.a == r1.a && f.r1.flags&reachStopped != 0 && r1.flags&reachStopped == 0) {
			r1, p.endOK = f.r1, true
		}
	}
	if p.endOK {
		p.end = r1.a
		p.stopped = r1.flags&reachStopped != 0
		p.exact = p.stopped || r1.boot != 0 && r1.boot == bootHash()
		p.sent = r1.b
	}
	for _, f := range files {
		if f.damaged == "" {
			continue
		}
		j.s.m.JournalDamaged.Inc()
		if whole != "" {
			j.log.Warn("journal file damaged while the shipper was down: what it records of the journal's end is not used; the other file that records it is whole and says it (both are written anew now)",
				"file", f.name, "why", f.damaged, "size", f.size, "whole_file", whole)
			continue
		}
		if p.damaged != "" {
			p.damaged += "; "
		}
		p.damaged += filepath.Base(f.name) + ": " + f.damaged
		j.log.Warn("journal file damaged while the shipper was down: what it records of the journal's end is not used (the end is taken from what else is known: a whole slot of its copy, the stop checkpoint, or else the stream jumps past every offset that may have been used, a gap of unknown size)",
			"file", f.name, "why", f.damaged, "size", f.size)
	}
	return p, nil
}

// parseInputFile splits b, inputFile's content, into the input identity it ends with
// and says what is wrong with it ("" when it is whole): the two reach slots then the
// identity, or (written before the reach was recorded) an identity line alone. Every
// version since writes the slots, so an empty file is a damaged one.
func parseInputFile(b []byte) (ident, damaged string) {
	switch {
	case hasReach(b):
		return strings.TrimSpace(string(b[2*reachSlot:])), ""
	case len(b) == 0:
		return "", "empty (truncated)"
	case len(bytes.Trim(b, "\x00")) == 0:
		return "", fmt.Sprintf("holds %d NUL bytes (zeroed)", len(b))
	case bytes.HasPrefix(b, []byte(reachMagic)):
		return "", fmt.Sprintf("truncated to %d bytes (the reach records take %d)", len(b), 2*reachSlot)
	case isInputID(b):
		return strings.TrimSpace(string(b)), ""
	}
	return "", fmt.Sprintf("%d bytes that are neither reach records nor an input identity (overwritten?)", len(b))
}

// isInputID reports whether b is an input identity line ("DEV:INO\n", see inputID).
func isInputID(b []byte) bool {
	dev, ino, ok := strings.Cut(strings.TrimSuffix(string(b), "\n"), ":")
	digits := func(s string) bool {
		return s != "" && strings.Trim(s, "0123456789") == ""
	}
	return ok && digits(dev) && digits(ino)
}

// hasReach reports whether b, inputFile's content, starts with the reach slots.
func hasReach(b []byte) bool { return len(b) >= 2*reachSlot && string(b[:4]) == reachMagic }

// initReach writes inputFile and its copy (inputCopyFile) anew for this run, fsynced: the
// reach reachAhead past the journal's end, the end, and the identity of the input (cur),
// and keeps them open for the writer's updates. Called at open, before any record of
// this run. They are written in place: on a full file system they need no block they do
// not have. The copy is not required: one that cannot be written is deleted (a copy left
// behind by an earlier run would say less than this run reaches), and the run goes on
// with inputFile alone.
func (j *Journal) initReach(cur string) error {
	j.mu.Lock()
	end := j.end
	j.mu.Unlock()
	j.reachD = end + j.reachAhead()
	b := make([]byte, 2*reachSlot, 2*reachSlot+len(cur)+1)
	r0 := reachRec{stream: j.stream, a: j.reachD}
	r0.append(b[:0])
	r1 := reachRec{stream: j.stream, a: end, boot: bootHash()}
	r1.append(b[reachSlot:reachSlot])
	if cur != "" {
		b = append(append(b, cur...), '\n')
	}
	name := filepath.Join(j.dir, inputFile)
	f, err := writeInPlace(name, b)
	if err != nil {
		return fmt.Errorf("write journal reach %s (the offsets this run may use, so that a restart never uses one twice; free space on the file system of --state-dir): %w", name, err)
	}
	j.rfile = f
	cname := filepath.Join(j.dir, inputCopyFile)
	if j.rcopy, err = writeInPlace(cname, b); err != nil {
		if err := j.dropCopy(cname, err); err != nil {
			j.rfile.Close()
			j.rfile = nil
			return err
		}
	}
	return nil
}

// writeInPlace makes name hold b, fsynced (and its directory when it is new), written
// over the file's bytes, and returns it open.
func writeInPlace(name string, b []byte) (*os.File, error) {
	_, serr := os.Stat(name)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	if _, err = f.WriteAt(b, 0); err == nil {
		if err = f.Truncate(int64(len(b))); err == nil {
			err = f.Sync()
		}
	}
	if err == nil && serr != nil {
		err = atomicfile.SyncDir(filepath.Dir(name))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// dropCopy deletes the copy of inputFile (name) after writing it failed with werr: a
// copy that says less than this run reaches must not outlive it. It fails only when the
// copy cannot be deleted either.
func (j *Journal) dropCopy(name string, werr error) error {
	if j.rcopy != nil {
		j.rcopy.Close()
		j.rcopy = nil
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot write the copy of the journal's input file %s (%w), nor delete it: %w", name, werr, err)
	}
	j.s.m.JournalWriteErrors.Inc()
	j.log.Warn("cannot write the copy of the journal's input file; deleted it (a restart that finds the input file damaged after a kill reports a gap of unknown size)",
		"file", name, "err", werr)
	return nil
}

// writeReach writes b at off in inputFile, then in its copy, and fsyncs them when sync
// is set. A failure of the copy deletes it (see dropCopy).
func (j *Journal) writeReach(b []byte, off int64, sync bool) error {
	_, err := j.rfile.WriteAt(b, off)
	if err == nil && sync {
		err = j.rfile.Sync()
	}
	if err != nil {
		return err
	}
	if j.rcopy == nil {
		return nil
	}
	_, cerr := j.rcopy.WriteAt(b, off)
	if cerr == nil && sync {
		cerr = j.rcopy.Sync()
	}
	if cerr != nil {
		return j.dropCopy(j.rcopy.Name(), cerr)
	}
	return nil
}

// skipCopy deletes the copy of inputFile when the journal's file system is full, as
// skipPartial does the partial file: the journal's records come first, and the copy
// holds a block of its own. Until it is written again (keepCopy) a restart that finds
// inputFile damaged after a kill reports a gap of unknown size. Only the writer calls it.
func (j *Journal) skipCopy() {
	if j.rcopy == nil || j.cskip {
		return
	}
	j.cskip = true
	name := j.rcopy.Name()
	j.rcopy.Close()
	j.rcopy = nil
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		// Left as it is, it would say less than this run reaches: make it say nothing.
		_ = os.Truncate(name, 0)
	}
	j.log.Warn("file system full: deleted the copy of the journal's input file until it has space again (a restart that finds the input file damaged after a kill meanwhile reports a gap of unknown size)",
		"file", name)
}

// keepCopy writes the copy of inputFile again once the file system has space after
// skipCopy (the room writePartial waits for). Only the writer calls it.
func (j *Journal) keepCopy() {
	if !j.cskip || j.rfile == nil {
		return
	}
	if free, ok := fsFree(j.dir); ok && free < reserveSize+2*int64(j.s.cfg.ReadBuffer) {
		return
	}
	fi, err := j.rfile.Stat()
	if err != nil {
		return
	}
	b := make([]byte, fi.Size())
	if _, err := j.rfile.ReadAt(b, 0); err != nil {
		return
	}
	name := filepath.Join(j.dir, inputCopyFile)
	f, err := writeInPlace(name, b)
	if err != nil {
		_ = os.Remove(name)
		return
	}
	j.rcopy, j.cskip = f, false
	j.log.Info("the file system has space again; the copy of the journal's input file is written again", "file", name)
}

// closeReach closes inputFile and its copy.
func (j *Journal) closeReach() {
	if j.rfile != nil {
		j.rfile.Close()
		j.rfile = nil
	}
	if j.rcopy != nil {
		j.rcopy.Close()
		j.rcopy = nil
	}
}

// advanceReach moves the durable reach past end (fsynced) if end passes it: called by
// the writer before it journals bytes up to end.
func (j *Journal) advanceReach(end uint64) error {
	if end < j.reachD || j.rfile == nil {
		return nil
	}
	reach := end + j.reachAhead()
	r := reachRec{stream: j.stream, a: reach}
	j.rbuf = r.append(j.rbuf[:0])
	if err := j.writeReach(j.rbuf, 0, true); err != nil {
		return fmt.Errorf("write journal reach: %w", err)
	}
	j.reachD = reach
	return nil
}

// noteEnd writes the journal's end in slot 1 (no fsync), and pending, the bytes of the
// start of a line read and not journaled (saved in partialFile, or not when it could
// not be), which begins there; a failure is logged once and counted (a kill then leaves
// an older end: a cut of the bytes after it is not seen).
func (j *Journal) noteEnd(end, pending uint64) {
	if j.rfile == nil {
		return
	}
	r := reachRec{stream: j.stream, a: end, b: pending, boot: bootHash()}
	j.rbuf = r.append(j.rbuf[:0])
	if err := j.writeReach(j.rbuf, reachSlot, false); err != nil {
		j.s.m.JournalWriteErrors.Inc()
		if !j.rfailed {
			j.rfailed = true
			j.log.Warn("cannot record the journal's end; a restart after a kill may not see that the journal lost its tail", "file", j.rfile.Name(), "err", err)
		}
		return
	}
	j.rfailed = false
}

// stopReach writes the stop record (slot 1, fsynced): the end, exact, and the offset
// past every byte this run returned. The writer has stopped.
func (j *Journal) stopReach() {
	if j.rfile == nil {
		return
	}
	defer j.closeReach()
	if j.killed {
		return
	}
	j.mu.Lock()
	end := j.end
	j.mu.Unlock()
	r := reachRec{stream: j.stream, a: end, b: max(j.sent, j.start.Offset), boot: bootHash(), flags: reachStopped}
	j.rbuf = r.append(j.rbuf[:0])
	if err := j.writeReach(j.rbuf, reachSlot, true); err != nil {
		j.log.Warn("cannot save the journal's end at stop; a restart after a crash of the system that finds the journal cut jumps past every offset it may have used",
			"file", j.rfile.Name(), "err", err)
	}
}

// A cut is a range of offsets the stream skips because the journal lost its tail
// (found at open, see cutCheck): [from, held) were journaled and are lost, [held, to)
// are unused as far as anyone can tell. It is kept as a mark (cutSuffix) until no
// segment is before it.
type cut struct{ from, held, to uint64 }

// cutSuffix names a cut's mark: "%016x-%016x-%016x.cut" (from, held, to).
const cutSuffix = ".cut"

func (c cut) name() string {
	return fmt.Sprintf("%016x-%016x-%016x%s", c.from, c.held, c.to, cutSuffix)
}

// addCut records the cut c at the journal's end (its from): the empty segment there is
// not kept (the next one starts at the cut's end), an empty file named for the cut marks
// it durably (what names what it marks, in the error), and the journal goes on at c.to.
func (j *Journal) addCut(c cut, what string) error {
	if n := len(j.segs); n > 0 && j.segs[n-1].start == j.end && j.segs[n-1].size == 0 {
		if err := os.Remove(j.segFile(&j.segs[n-1])); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove journal segment: %w", err)
		}
		j.segs = j.segs[:n-1]
	}
	if err := os.WriteFile(filepath.Join(j.dir, c.name()), nil, 0o640); err != nil {
		return fmt.Errorf("mark %s: %w", what, err)
	}
	if err := atomicfile.SyncDir(j.dir); err != nil {
		return fmt.Errorf("sync journal dir: %w", err)
	}
	j.cuts = append(j.cuts, c)
	j.end = c.to
	return nil
}

func parseCut(name string) (cut, bool) {
	r, ok := strings.CutSuffix(name, cutSuffix)
	if !ok {
		return cut{}, false
	}
	var c cut
	if n, err := fmt.Sscanf(r, "%016x-%016x-%016x", &c.from, &c.held, &c.to); err != nil || n != 3 ||
		c.from > c.held || c.held > c.to || c.from == c.to {
		return cut{}, false
	}
	return c, true
}

// cutCheck runs at open once the segments are scanned (found: how many segment files
// there were): when they end (j.end, or the checkpoint past it) before an offset the
// run before may have used (loadReach), the journal lost its tail, and new input must
// start past every such offset. It makes a cut up to there (a mark, then the journal's
// end moves to its end: the next segment starts there), counts and logs it once, and
// reports whether it cut. known: the stream was checkpointed before (a new stream has
// used no offset).
func (j *Journal) cutCheck(cp *Checkpoint, known bool, found int) (bool, error) {
	if !known {
		return false, nil
	}
	p, err := j.loadReach()
	if err != nil {
		return false, err
	}
	if p.endOK && p.exact && !p.stopped {
		// Killed: the end record says what start of a line was pending (see partialLost).
		j.pend = pendingStart{known: true, at: p.end, n: p.sent}
	}
	base := max(j.end, cp.Offset, j.ackedTo)
	fromStop := false
	if !(p.endOK && p.exact) && cp.Stopped && cp.Size >= 0 {
		// The input file does not say exactly where the journal ended (damaged, or
		// gone): the stop checkpoint does (Close saved it, fsynced, like every
		// checkpoint with a checksum and a previous copy; a fallback to that copy drops
		// it): the end, and the offset past every byte that run returned.
		p.end, p.endOK, p.exact, p.stopped, p.sent = uint64(cp.Size), true, true, true, cp.Reach
		fromStop = true
	}
	var next, held uint64
	why := ""
	switch {
	case p.endOK && p.exact:
		next, held = p.end, p.end
		why = "the journal's end recorded at the last stop"
		switch {
		case fromStop:
			why = "the journal's end recorded in the stop checkpoint (the input file does not say it)"
		case !p.stopped:
			why = "the journal's end recorded by the run before (killed)"
		}
	case !p.found && found > 0 && !j.segDamaged:
		return false, nil // written before the reach was recorded: the segments are all there is to go by
	case p.reachOK:
		next = p.reach
		if p.endOK {
			held = p.end
		}
		why = "the journal's reach recorded before the system stopped (its exact end is not known after a crash of the system)"
		if p.damaged != "" {
			why = "the journal's durable reach (the input file is damaged: " + p.damaged + "; its exact end is not known)"
		}
	default:
		next = base + LossGap
		if p.endOK {
			held, next = p.end, max(next, p.end+LossGap)
		}
		why = "the journal's reach record is missing or damaged (deleted with the segments?)"
		if p.damaged != "" {
			why = "the journal's input file is damaged (" + p.damaged + ") and no stop checkpoint says where the journal ended (a kill, or a crash)"
		}
	}
	if next <= base {
		return false, nil
	}
	held = min(max(held, base), next)
	c := cut{from: base, held: held, to: next}
	unacked, dropped := held-base, uint64(0)
	if p.stopped {
		sent := min(max(p.sent, base), held)
		unacked, dropped = sent-base, held-sent
	}
	if err := j.addCut(c, "the journal's lost tail"); err != nil {
		return false, err
	}
	if j.segTorn != "" && held > j.scannedEnd {
		// The record cut off as torn held bytes the run before journaled whole: the
		// segment was truncated (or overwritten) while the shipper was down.
		j.s.m.JournalDamaged.Inc()
		j.log.Warn("journal segment damaged while the shipper was down: it ends inside a record, before the journal's recorded end (truncated, not torn by a crash)",
			"file", j.segTorn, "segment_end", j.scannedEnd, "recorded_end", held)
	}
	j.s.m.UnackedDestroyed.Add(float64(unacked))
	j.s.m.JournalDropped.Add(float64(dropped))
	if next > held {
		j.s.m.StreamJumps.Inc()
	}
	gap := fmt.Sprintf("%d bytes", held-base)
	if next > held {
		gap = fmt.Sprintf("unknown size (at least %d bytes; offsets up to %d skipped)", held-base, next)
	}
	j.log.Warn("the journal ends before offsets the run before may have used: its tail was lost (a segment deleted, truncated or zeroed while the shipper was down, a full disk, or a crash); new input starts after them so that no offset is used twice, and collectors are told of the gap. Do not delete or truncate journal segments; keep the state directory on a file system that keeps fsynced data",
		"dir", j.dir, "segments_end", j.scannedEnd, "checkpoint", cp.Offset, "recorded", why, "gap", gap,
		"lost_from", base, "lost_to", held, "sent_unacknowledged_bytes", unacked, "unsent_bytes", dropped,
		"unused_from", held, "unused_to", next, "next_offset", next)
	return true, nil
}

// cutBefore returns the cut that ends at off, if any.
func (j *Journal) cutBefore(off uint64) (cut, bool) {
	for _, c := range j.cuts {
		if c.to == off {
			return c, true
		}
	}
	return cut{}, false
}
