package source

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/logspread/logspread/internal/atomicfile"
)

// A genEntry records where a file generation a tailer moved to begins in its stream: the
// logical offset of the file's byte 0 (Base) and the file's identity (its head, once
// known).
type genEntry struct {
	Stream uint64 `json:"stream"`
	Base   uint64 `json:"base"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	FPLen  int    `json:"fp_len,omitempty"`
	FP     uint64 `json:"fp,omitempty"`
	// Line: the head holds a whole line; only such a head tells a copy of the
	// generation (another inode) apart from other files starting alike.
	Line bool `json:"line,omitempty"`
	// End: the offset just past the generation's last byte in the stream, recorded when
	// the tailer moved on from it (0: not known). A generation that ends at or before a
	// checkpoint was wholly acknowledged: a walk from the checkpoint does not read it again.
	End uint64 `json:"end,omitempty"`
	// From: the file offset of the first byte the generation sent, when it was entered
	// past its start as the continuation of its copy (copytruncate's, drained first):
	// its bytes from there were sent at Base+From on.
	From uint64 `json:"from,omitempty"`
	// Left, with End: the file offset the tailer left the generation at (every byte
	// before it read), and TailFP the fingerprint of the TailN bytes before it (0:
	// recorded before it was kept). A generation that comes back to the path with
	// bytes appended (a symlink switched back, a file renamed back) is read on from
	// there after a restart, not again from its start, nor taken for one read whole.
	Left   int64  `json:"left,omitempty"`
	TailN  int    `json:"tail_n,omitempty"`
	TailFP uint64 `json:"tail_fp,omitempty"`
	// Name, with End, for a path that leads through symlinks: the name the generation
	// had when it was left (Tailer.targetName). A symlink's old target (a deployment's
	// previous release, its log left when the link was switched) is no rotated name of
	// the path: a restart finds it there to read on what its old writer appended
	// (Tailer.lingerAgain).
	Name string `json:"name,omitempty"`
	// Ends: the head's first line ends (at most maxLineEnds), each with the fingerprint
	// of the head up to it: a copy of the generation made before the head was first seen
	// (copytruncate's window: the tailer read lines written after the copy) holds fewer
	// bytes than the head, and is told by them.
	Ends []lineEnd `json:"ends,omitempty"`
	// Mark, on a line that names no generation: what a run knew of the offsets the
	// stream used (returned, counted lost or jumped over), Sent being past all of them.
	// markClosed: the run closed cleanly, so no run used an offset at or past Sent.
	// markOpen: a run resumed after a closed mark and may use offsets past Sent: the
	// frontier is unknown until it closes cleanly (a crash leaves it so).
	Mark string `json:"mark,omitempty"`
	Sent uint64 `json:"sent,omitempty"`
	// Gap, on a line that names no generation: offsets [GapFrom, GapTo) a run moved the
	// stream past, written when it did (durably, before any chunk after them): gapUnused,
	// a jump announced as unused (Tailer.jumpPast: no bytes), or gapCounted, bytes counted
	// gone (Tailer.lose, skipSent: lost, or destroyed unacknowledged). A later run that
	// walks over them again (its checkpoint is before them, the run that made them
	// crashed) announces the jump as unused again, never as bytes, and does not count the
	// bytes again.
	Gap     string `json:"gap,omitempty"`
	GapFrom uint64 `json:"gap_from,omitempty"`
	GapTo   uint64 `json:"gap_to,omitempty"`
	// Wait, on a line that names a file but no generation of the stream: waitEmpty, an
	// empty generation the tailer lingers on without having read a byte of it (passed
	// over, empty, for a newer one, or left empty; its writer may still hold it: an
	// Apache graceful restart's old children that had not written yet), Born its birth
	// time (0: not known); waitOver, no longer (it was entered, or RotateWait passed).
	// A restart lingers on it again (Tailer.resumeWaits): nothing else records it.
	//
	// waitAhead: a file seen ahead at a symlinked path (a release's log the link led to
	// while the tailer drained an earlier target: aheadFile.target), Name where it was,
	// Size its size when last recorded, FPLen and FP its head then (0: empty), Born its
	// birth time (0: not known). Once the link is switched on, the file is at no rotated
	// name of the path and not at the path: nothing else tells a restart, or a rewind,
	// that it is there to drain (Tailer.resumeAheads). waitAheadOver: no longer ahead
	// (entered, at stream offset Base or later; or counted lost, or left to another
	// stream): a resume from an offset at or before Base drains it again, as the walk
	// from a checkpoint reads every generation entered after it.
	Wait string `json:"wait,omitempty"`
	Born int64  `json:"born,omitempty"`
	Size int64  `json:"size,omitempty"`
	// Seen: the generation's size at the tailer's last recorded look (file offset, from
	// its start), written in the entry before its first read and refreshed by Grown
	// lines (Tailer.refreshSeen). A generation entered and never left (no End: the run
	// crashed in it) held at least that many bytes at those offsets, and the run may
	// have returned them: a later run that finds it destroyed counts them as possibly
	// sent (genLog.usedEnd, Tailer.skipSent), never as offsets unused. A lower bound:
	// bytes written after the last recorded look were never counted.
	Seen int64 `json:"seen,omitempty"`
	// Grown, on a line that names no generation itself (Dev and Ino 0: an older version
	// skips it): a larger Seen for the entry of the generation Grown.Dev/Ino based at
	// Grown.Base (genLog.grow).
	Grown *genEntry `json:"grown,omitempty"`
	// Trimmed, on a line that names no generation itself (Dev and Ino 0, so that a
	// record written by this version loads in an older one, which skips it): a
	// generation read and left wholly below the acknowledged offset whose entry the
	// record dropped when it grew long (genLog.trimmed). Only what tells the file and
	// its copies again is kept: its identity, head, line ends, end and where it was left.
	Trimmed *genEntry `json:"trimmed,omitempty"`
	// Due, on a line that names no generation itself (Dev and Ino 0: an older version
	// skips it): a rotated generation a run learned it must still drain after the one
	// it read (listed newer at a resume or when it left a generation, or seen ahead),
	// not entered yet (genLog.due): its identity, head (with its line ends), the size it
	// was seen at (Seen), its birth (Born) and modification (MTime) times for its turn,
	// and the name it had (Name). A later run that finds it deleted, no run having
	// entered it, counts its bytes lost in its turn (Tailer.loseDue). With Wait waitOver
	// it is no longer due (entered, or counted); one with Dev and Ino 0 so, none is (the
	// walk reached the file at the path).
	Due *genEntry `json:"due,omitempty"`
	// MTime, in a Due line: the generation's modification time when it was listed (Unix
	// nanoseconds).
	MTime int64 `json:"mtime,omitempty"`
	// old: recorded before the tailer last resumed (a restart or a rewind). The walk
	// from the checkpoint must give those generations the offsets they had.
	old bool
}

// start returns the offset in the stream of the first byte the generation sent. Base, the
// offset of the file's byte 0, is below 0 (wrapped) for a generation entered past its
// start at a lower offset (a file another stream left, handed over at the offset it
// shipped): Base is compared as a signed distance (offBefore), start as an offset.
func (x *genEntry) start() uint64 { return x.Base + x.From }

// offBefore reports whether the stream offset a is before b, either of them possibly a
// Base below 0 (wrapped): offsets and bases are within 2^63 of each other.
func offBefore(a, b uint64) bool { return int64(a-b) < 0 }

// offAfter reports whether the stream offset a is after b (see offBefore).
func offAfter(a, b uint64) bool { return int64(a-b) > 0 }

// A lineEnd is the length of a head up to the end of one of its lines, and the
// fingerprint of those bytes.
type lineEnd struct {
	N  int    `json:"n"`
	FP uint64 `json:"fp"`
}

// maxLineEnds is how many line ends of a head a genEntry keeps.
const maxLineEnds = 16

// lineEnds returns the line ends of head before its last byte (FNV-1a runs over the head
// once), at most maxLineEnds.
func lineEnds(head []byte) []lineEnd {
	var ends []lineEnd
	h := fnv.New64a()
	from := 0
	for i := 0; i < len(head)-1 && len(ends) < maxLineEnds; i++ {
		if head[i] != '\n' {
			continue
		}
		h.Write(head[from : i+1])
		from = i + 1
		ends = append(ends, lineEnd{N: i + 1, FP: h.Sum64()})
	}
	return ends
}

// prefixOf reports whether head, shorter than x's head, is x's head up to one of its
// line ends (the whole of a file that short).
func (x *genEntry) prefixOf(head []byte) bool {
	if len(head) == 0 || len(head) >= x.FPLen {
		return false
	}
	for _, e := range x.Ends {
		if e.N == len(head) {
			return fingerprint(head) == e.FP
		}
	}
	return false
}

// maxGenEntries is how many entries a record holds before those below the acknowledged
// offset are dropped (the file rewritten).
const maxGenEntries = 64

// keptEnds is how many generations ended below the acknowledged offset a trimmed record
// keeps.
const keptEnds = 8

// maxTrimmed bounds the generations read and left that a record keeps once their entries
// are dropped (genLog.trimmed): logrotate's copytruncate with rotate 30 keeps 30 copies,
// two a rotation (the generation, and its copy drained from where it was read); a few
// hundred cover months of daily rotations. The oldest go first. Each is one line of the
// record (under a kilobyte) and about as much memory.
const maxTrimmed = 256

// A genLog is a tailer's record of the file generations it moved to, durable before any
// byte of the generation is returned. A restart walks again from its checkpoint through
// the generations that followed; the record lets it give each generation the offsets it
// had, and never reuse offsets for other bytes when a generation that was read after the
// checkpoint was destroyed since (truncated, or deleted): without it the next
// generation would be read at the destroyed one's offsets, and collectors would drop its
// lines as duplicates. No descriptor is held between records: each append opens the file
// and closes it (the cost is one open and close beside the fsync each record takes), so
// the only descriptors a stream holds for long are its files', within MaxOpenFiles. A
// record that cannot be written (no descriptor free, EMFILE) is kept and written by the
// next add or save; the tailer returns no byte of a generation until it is durable
// (Tailer.saveGens). Its methods are safe for concurrent use.
type genLog struct {
	name   string
	stream uint64
	left   *leftIndex // the state directory's generations left, told of each one (nil: none)

	mu      sync.Mutex // Guards the fields below.
	entries []genEntry // oldest first
	horizon uint64     // past the offsets of the old entries' generations; 0 without old entries
	// sent is past every offset any run of the stream used, when sentKnown: the stream
	// is new, or the run before closed cleanly (its closed mark). After a crash it is not
	// known.
	sent      uint64
	sentKnown bool
	// created: the file exists and its directory entry is durable (no directory sync
	// needed before the next synced append).
	created bool
	// unused and counted: the gaps recorded (genEntry.Gap), by kind, sorted and
	// disjoint, the last maxRanges of each.
	unused, counted []OffsetRange
	// waits: the empty generations lingered on (genEntry.Wait), oldest first.
	waits []genEntry
	// aheads: the files seen ahead at a symlinked path (genEntry.Wait waitAhead; with
	// waitAheadOver when no longer ahead, Base where), oldest first, at most maxAheads.
	aheads []genEntry
	// trimmed: the generations read and left wholly below the acknowledged offset
	// (their end recorded there, with where they were left and a head) whose entries
	// were dropped from entries (add), oldest first, one per file and head, at most
	// maxTrimmed. Without them a restart took copytruncate's old copies of such a
	// generation (access.log.16 after sixteen copies) for generations not read yet,
	// born after the one followed (Tailer.bornAfter), and read them whole again. They
	// tell only that a file is such a generation or a copy of it (shippedBefore,
	// copyReadBefore, namesFile), and where it was left, to read on what an old writer
	// appended since (lastLeft, the left index): never where the stream is.
	trimmed []genEntry
	// unsaved: entries at the end of entries not durable yet (an append failed; -1: the
	// whole file must be written again). The next add or save writes them first.
	unsaved int
	// queued: gap lines held for the next synced write (queueGap): a jump's gap goes
	// out in one write with the entry of the generation entered past it; and the lines
	// saying generations are no longer due (settleDue, clearDue), with the entry of the
	// generation that settles them.
	queued []genEntry
	// due: the rotated generations a run must still drain and no run entered
	// (genEntry.Due), oldest listed first, at most maxDue.
	due []genEntry
	// grownLines: Grown lines appended since the file was last written whole; past
	// maxGrownLines the next one rewrites it.
	grownLines int
}

// maxGrownLines bounds the Grown lines a record holds (one per checkpoint save while the
// generation followed grows) before it is written again whole.
const maxGrownLines = 256

// Marks of the record (genEntry.Mark).
const (
	markClosed = "closed"
	markOpen   = "open"
)

// Kinds of waits of the record (genEntry.Wait).
const (
	waitEmpty = "empty"
	waitOver  = "over"
)

// maxWaits bounds the empty generations lingered on that the record keeps.
const maxWaits = 16

// Kinds of files seen ahead of the record (genEntry.Wait).
const (
	waitAhead     = "ahead"
	waitAheadOver = "ahead_over"
)

// maxAheads bounds the files seen ahead at a symlinked path that the record keeps (one a
// release a deployment switched to while the tailer was behind: a few at a time).
const maxAheads = 64

// noteAheadLocked puts e (a waitAhead or waitAheadOver line) in place of the record's
// line of its file, the oldest dropped past maxAheads. l.mu is held (or l not shared
// yet).
func (l *genLog) noteAheadLocked(e genEntry) {
	l.aheads = slices.DeleteFunc(l.aheads, func(x genEntry) bool { return x.Dev == e.Dev && x.Ino == e.Ino })
	l.aheads = append(l.aheads, e)
	if len(l.aheads) > maxAheads {
		l.aheads = slices.Delete(l.aheads, 0, len(l.aheads)-maxAheads)
	}
}

// addAhead records durably that the file e names (Dev, Ino, Name, Size, head, Born) was
// seen ahead at a symlinked path (genEntry.Wait waitAhead): one synced append per file.
func (l *genLog) addAhead(e genEntry) error {
	e.Stream, e.Wait = l.stream, waitAhead
	l.mu.Lock()
	defer l.mu.Unlock()
	l.noteAheadLocked(e)
	return l.writeWaitLocked(e)
}

// growAhead records that the file dev/ino seen ahead (and not over) holds size bytes,
// when that is more than recorded: a line not synced (lost in a crash, the size before
// stays a lower bound of what a restart counts lost if the file is gone).
func (l *genLog) growAhead(dev, ino uint64, size int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.IndexFunc(l.aheads, func(x genEntry) bool { return x.Dev == dev && x.Ino == ino && x.Wait == waitAhead })
	if i < 0 || l.aheads[i].Size >= size {
		return nil
	}
	l.aheads[i].Size = size
	if l.unsaved != 0 || l.grownLines >= maxGrownLines {
		l.unsaved = -1
		return l.saveLocked()
	}
	l.grownLines++
	return l.write(l.aheads[i], false)
}

// endAhead records durably that the file dev/ino, if recorded as seen ahead, is no
// longer (genEntry.Wait waitAheadOver): entered at stream offset at (or later), counted
// lost, or another stream's.
func (l *genLog) endAhead(dev, ino, at uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.IndexFunc(l.aheads, func(x genEntry) bool { return x.Dev == dev && x.Ino == ino && x.Wait == waitAhead })
	if i < 0 {
		return nil
	}
	e := genEntry{Stream: l.stream, Wait: waitAheadOver, Dev: dev, Ino: ino, Name: l.aheads[i].Name, Base: at,
		Size: l.aheads[i].Size, FPLen: l.aheads[i].FPLen, FP: l.aheads[i].FP, Born: l.aheads[i].Born}
	l.noteAheadLocked(e)
	return l.writeWaitLocked(e)
}

// enteredBefore reports whether an old entry records the file dev/ino entered at a
// stream offset before off, with the head the file has now (head returns its first
// bytes; an entry without a head, none read then, is not told from another file given
// the inode since): a run before read it there.
func (l *genLog) enteredBefore(dev, ino, off uint64, head func() []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	var h []byte
	for x := range l.allLocked {
		if !x.old || x.Mark != "" || x.Gap != "" || x.Dev != dev || x.Ino != ino || x.FPLen == 0 || !offBefore(x.start(), off) {
			continue
		}
		if h == nil {
			h = head()
		}
		if len(h) >= x.FPLen && fingerprint(h[:x.FPLen]) == x.FP {
			return true
		}
	}
	return false
}

// aheadsFrom returns the files recorded as seen ahead that a resume at stream offset off
// must know of: those still ahead, and those entered at off or later (the walk from off
// reads them again); oldest first.
func (l *genLog) aheadsFrom(off uint64) []genEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []genEntry
	for _, x := range l.aheads {
		if x.Wait == waitAhead || !offBefore(x.Base, off) {
			out = append(out, x)
		}
	}
	return out
}

// dropWaitLocked forgets the wait on file dev/ino; it reports whether there was one.
// l.mu is held (or l not shared yet).
func (l *genLog) dropWaitLocked(dev, ino uint64) bool {
	n := len(l.waits)
	l.waits = slices.DeleteFunc(l.waits, func(w genEntry) bool { return w.Dev == dev && w.Ino == ino })
	return len(l.waits) < n
}

// addWait records durably that the tailer lingers on file dev/ino (born at born), an
// empty generation not entered (genEntry.Wait).
func (l *genLog) addWait(dev, ino uint64, born int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropWaitLocked(dev, ino)
	e := genEntry{Stream: l.stream, Wait: waitEmpty, Dev: dev, Ino: ino, Born: born}
	l.waits = append(l.waits, e)
	if len(l.waits) > maxWaits {
		l.waits = slices.Delete(l.waits, 0, len(l.waits)-maxWaits)
	}
	return l.writeWaitLocked(e)
}

// endWait records that the tailer no longer lingers on file dev/ino as an empty
// generation, if it did: it entered it (the entry of it says the rest), or left it.
func (l *genLog) endWait(dev, ino uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dropWaitLocked(dev, ino) {
		return nil
	}
	return l.writeWaitLocked(genEntry{Stream: l.stream, Wait: waitOver, Dev: dev, Ino: ino})
}

// writeWaitLocked appends the wait line e durably (the whole file written again when
// entries are not durable yet). l.mu is held.
func (l *genLog) writeWaitLocked(e genEntry) error {
	if l.unsaved != 0 {
		l.unsaved = -1
		return l.saveLocked()
	}
	return l.write(e, true)
}

// waiting returns the empty generations lingered on, as recorded (genEntry.Wait).
func (l *genLog) waiting() []genEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.waits)
}

// Kinds of gaps of the record (genEntry.Gap).
const (
	gapUnused  = "unused"
	gapCounted = "counted"
)

// genFile returns the name of path's record of generations.
func (s *Store) genFile(path string) string {
	return strings.TrimSuffix(s.File(path), ".json") + ".gens"
}

// openGenLog loads the record of generations of stream; lines that do not decode (a torn
// last line) and entries of another stream (the source was reset) are skipped. Every
// loaded entry is old. fresh: the stream is new (no offset of it was ever used). When the
// last mark says the run before closed cleanly, an open mark is made durable before the
// tailer returns anything, so that a crash of this run leaves the frontier unknown.
func openGenLog(name string, stream uint64, fresh bool) (*genLog, error) {
	l := &genLog{name: name, stream: stream, sentKnown: fresh}
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err // a *fs.PathError naming the file
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e genEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Stream != stream {
			continue
		}
		switch {
		case e.Mark != "":
			l.sent, l.sentKnown = e.Sent, e.Mark == markClosed
		case e.Gap != "" && e.GapFrom < e.GapTo:
			l.addGapLocked(e.Gap, OffsetRange{From: e.GapFrom, To: e.GapTo})
		case e.Wait == waitAhead || e.Wait == waitAheadOver:
			l.noteAheadLocked(e)
		case e.Wait != "":
			l.dropWaitLocked(e.Dev, e.Ino)
			if e.Wait == waitEmpty {
				l.waits = append(l.waits, e)
			}
		case e.Grown != nil:
			l.growLocked(*e.Grown)
			l.grownLines++
		case e.Trimmed != nil:
			if t := *e.Trimmed; t.Stream == stream && trimmable(t, t.End) {
				l.addTrimmedLocked(t)
			}
		case e.Due != nil:
			l.loadDueLocked(*e.Due)
		case e.Dev != 0 || e.Ino != 0:
			l.entries = append(l.entries, e)
		}
	}
	l.resumed()
	if l.sentKnown && !fresh {
		if err := l.write(genEntry{Stream: stream, Mark: markOpen, Sent: l.sent}, true); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

// addGapLocked adds r to the gaps of kind. l.mu is held (or l not shared yet).
func (l *genLog) addGapLocked(kind string, r OffsetRange) {
	switch kind {
	case gapUnused:
		AddRange(&l.unused, r)
	case gapCounted:
		AddRange(&l.counted, r)
	}
}

// gaps returns the gaps recorded by every run: the jumps announced as unused and the
// bytes counted gone.
func (l *genLog) gaps() (unused, counted []OffsetRange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.unused), slices.Clone(l.counted)
}

// noteGap records durably that the stream moved past r (kind gapUnused or gapCounted).
// A record not written is written by the next add or save (the whole file again).
func (l *genLog) noteGap(kind string, r OffsetRange) error {
	if r.From >= r.To {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addGapLocked(kind, r)
	if l.unsaved != 0 {
		l.unsaved = -1
		return l.saveLocked()
	}
	return l.write(genEntry{Stream: l.stream, Gap: kind, GapFrom: r.From, GapTo: r.To}, true)
}

// queueGap records that the stream moved past r (kind gapUnused or gapCounted), durably
// with the next synced write: the entry of the generation the tailer enters past it
// (add), or the save before the next read (Tailer.saveGens). A run killed after that
// write leaves both the gap and the generation that followed it; killed before it, it
// had read nothing past the gap.
func (l *genLog) queueGap(kind string, r OffsetRange) {
	if r.From >= r.To {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addGapLocked(kind, r)
	l.queued = append(l.queued, genEntry{Stream: l.stream, Gap: kind, GapFrom: r.From, GapTo: r.To})
}

// skippedBetween reports whether a run before moved the stream past every offset in
// [from, to): the gaps recorded (jumps announced unused, bytes counted gone) cover it.
// (Generations read there by a run before that, destroyed since, are why it jumped.)
func (l *genLog) skippedBetween(from, to uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := append(slices.Clone(l.unused), l.counted...)
	slices.SortFunc(rs, func(a, b OffsetRange) int { return cmp.Compare(a.From, b.From) })
	at := from
	for _, r := range rs {
		if r.From <= at && r.To > at {
			at = r.To
		}
	}
	return at >= to
}

// contentBetween returns the files of the old entries whose content was seen that begin
// in [from, to): the generations a run before sent bytes of there.
func (l *genLog) contentBetween(from, to uint64) []fileKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keys []fileKey
	for _, x := range l.entries {
		if x.old && x.Mark == "" && x.Gap == "" && x.FPLen > 0 && !offBefore(x.start(), from) && offBefore(x.start(), to) {
			keys = append(keys, fileKey{x.Dev, x.Ino, x.FPLen, x.FP})
		}
	}
	return keys
}

// frontier returns the offset past every offset a run of the stream used before this one
// (returned, counted lost or jumped over), when it is known.
func (l *genLog) frontier() (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.sentKnown
}

// closeMark records, at a clean close, that no offset at or past off (nor past the
// frontier loaded) was used, when the frontier before this run was known. It is not
// synced: lost in a crash, the frontier is only unknown.
func (l *genLog) closeMark(stream, off uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queued) > 0 {
		_ = l.saveLocked() // the gaps held first, durably (a failure: written again whole by close)
	}
	if !l.sentKnown {
		return
	}
	l.sent = max(l.sent, off)
	if err := l.write(genEntry{Stream: stream, Mark: markClosed, Sent: l.sent}, false); err != nil {
		l.sentKnown = false
	}
}

// resumed marks every entry old: the tailer walks again from a checkpoint.
func (l *genLog) resumed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.horizon = 0
	for i := range l.entries {
		l.entries[i].old = true
		l.horizon = max(l.horizon, l.entries[i].start()+LossGap)
	}
	for i := range l.trimmed {
		l.trimmed[i].old = true
	}
}

// trimmable reports whether the entry x, dropped from a long record, is kept in its
// trimmed generations (genLog.trimmed): a generation with a head, left with what was
// read of it (Left) at an end at or below acked (wholly acknowledged).
func trimmable(x genEntry, acked uint64) bool {
	return x.Mark == "" && x.Gap == "" && x.Wait == "" && x.Trimmed == nil && x.FPLen > 0 && x.Left > 0 &&
		x.End > 0 && !offAfter(x.End, acked)
}

// addTrimmedLocked adds x to the trimmed generations: what tells it and its copies again
// (one per file and head: the furthest left), the oldest dropped past maxTrimmed. l.mu is
// held (or l not shared yet).
func (l *genLog) addTrimmedLocked(x genEntry) {
	t := genEntry{Stream: x.Stream, Base: x.Base, Dev: x.Dev, Ino: x.Ino, FPLen: x.FPLen, FP: x.FP, Line: x.Line,
		End: x.End, From: x.From, Left: x.Left, TailN: x.TailN, TailFP: x.TailFP, Ends: x.Ends, old: x.old}
	if i := slices.IndexFunc(l.trimmed, func(y genEntry) bool {
		return y.Dev == t.Dev && y.Ino == t.Ino && y.FPLen == t.FPLen && y.FP == t.FP
	}); i >= 0 {
		y := l.trimmed[i]
		l.trimmed = slices.Delete(l.trimmed, i, i+1)
		if offAfter(y.End, t.End) || y.End == t.End && y.Left > t.Left {
			t = y
		}
		t.old = t.old && y.old
	}
	l.trimmed = append(l.trimmed, t)
	if len(l.trimmed) > maxTrimmed {
		l.trimmed = slices.Delete(l.trimmed, 0, len(l.trimmed)-maxTrimmed)
	}
}

// allLocked yields the entries, then the trimmed generations (to the questions that
// trimmed answers: whether a file is a generation read and left, or a copy of one).
// l.mu is held.
func (l *genLog) allLocked(yield func(genEntry) bool) {
	for _, x := range l.trimmed {
		if !yield(x) {
			return
		}
	}
	for _, x := range l.entries {
		if !yield(x) {
			return
		}
	}
}

// recordedFrom returns the files of the old entries whose content was seen that begin
// in the stream at or after off, read from their start: the generations a run before
// read after a checkpoint at off, in the order it read them (where each began first):
// one key per head recorded.
// (One entered past its start was another stream's before: handed over, it is found by
// the left index.)
func (l *genLog) recordedFrom(off uint64) []fileKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	var keys []fileKey
	var starts []uint64
	for _, x := range l.entries {
		if !x.old || x.FPLen == 0 || x.From != 0 || x.start() < off {
			continue
		}
		// (By head too: an inode number is given to the next file once its file is
		// deleted, and its entry hid the new file's: -model.oldwriter seed 374.)
		i := slices.IndexFunc(keys, func(k fileKey) bool {
			return k.dev == x.Dev && k.ino == x.Ino && k.fpLen == x.FPLen && k.fp == x.FP
		})
		if i < 0 {
			keys, starts = append(keys, fileKey{x.Dev, x.Ino, x.FPLen, x.FP}), append(starts, x.start())
		} else {
			starts[i] = min(starts[i], x.start())
		}
	}
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(starts[a], starts[b]) })
	out := make([]fileKey, len(keys))
	for i, j := range idx {
		out[i] = keys[j]
	}
	return out
}

// recordedCopyOf returns the generation a run before read from its start at or after off
// (recordedFrom) of which the file dev/ino, starting with head, is a copy: another inode
// starting with its recorded head, a whole line (or the head up to one of its line ends:
// a copy made before the rest of the head was written), as lookup takes a copy.
func (l *genLog) recordedCopyOf(dev, ino uint64, head []byte, off uint64) (fileKey, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.entries {
		x := &l.entries[i]
		if !x.old || x.FPLen == 0 || x.From != 0 || x.start() < off || !x.Line || x.Dev == dev && x.Ino == ino {
			continue
		}
		if len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP || x.prefixOf(head) {
			return fileKey{x.Dev, x.Ino, x.FPLen, x.FP}, true
		}
	}
	return fileKey{}, false
}

// past reports whether off is beyond every offset the old entries' generations had.
func (l *genLog) past(off uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return off >= l.horizon
}

// usedEnd returns the furthest offset old generations are known to have used: their
// recorded ends, where they begin (0 without one), and, for a generation entered and
// never left (no end recorded: a run crashed in it), as far as it was seen to hold bytes
// (Seen; its head for an entry recorded before sizes were, or before its first
// refresh). Offsets past it may have been used too. An entry without a head counts by
// its size too: the run that wrote it was killed before it read the generation (its
// head is recorded first), whose bytes it saw are destroyed all the same. The generation
// of the file dev/ino that starts with head (the one the caller enters, read again at
// other offsets; any entry of the file without a head) does not count by its size: what
// it held is not destroyed.
func (l *genLog) usedEnd(dev, ino uint64, head []byte) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	ended := map[[3]uint64]bool{}
	for _, x := range l.entries {
		if x.old && x.End != 0 {
			ended[[3]uint64{x.Dev, x.Ino, x.Base}] = true
		}
	}
	var r uint64
	for _, x := range l.entries {
		if !x.old {
			continue
		}
		r = max(r, x.Base+x.From, x.End)
		if x.Mark != "" || x.Gap != "" || ended[[3]uint64{x.Dev, x.Ino, x.Base}] ||
			x.Dev == dev && x.Ino == ino && (x.FPLen == 0 || len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP) {
			continue
		}
		if n := max(x.Seen, int64(x.FPLen)); n > int64(x.From) {
			r = max(r, x.Base+uint64(n))
		}
	}
	return r
}

// reached returns the highest offset an old generation begins at: the stream used every
// offset below it.
func (l *genLog) reached() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r uint64
	for _, x := range l.entries {
		if x.old {
			r = max(r, x.Base+x.From)
		}
	}
	return r
}

// nextFrom returns the lowest offset at or after off where an old generation sent its
// first byte (math.MaxUint64 without one).
func (l *genLog) nextFrom(off uint64) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := uint64(math.MaxUint64)
	for _, x := range l.entries {
		if x.old && x.Base+x.From >= off {
			r = min(r, x.Base+x.From)
		}
	}
	return r
}

// nextOther is nextFrom for the generation (dev, ino) whose byte 0 is at base: the
// lowest offset at or after off where another old generation sent its first byte
// (math.MaxUint64 without one); own reports whether an old entry records that
// generation (a run before read it at those offsets).
func (l *genLog) nextOther(off, dev, ino, base uint64) (next uint64, own bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	next = math.MaxUint64
	for _, x := range l.entries {
		switch {
		case !x.old:
		case x.Dev == dev && x.Ino == ino && x.Base == base:
			own = true
		case x.Base+x.From >= off:
			next = min(next, x.Base+x.From)
		}
	}
	return next, own
}

// leftEmptyLocked returns the old generations (device, inode, base) left where they were
// entered: their end is recorded at the offset of their first byte (End 0 is no end,
// unless it was left at the file offset it was entered at), so nothing of them was
// sent. l.mu is held.
func (l *genLog) leftEmptyLocked() map[[3]uint64]bool {
	var m map[[3]uint64]bool
	for _, x := range l.entries {
		if x.old && x.End == x.start() && (x.End != 0 || x.Left > 0 && x.Left == int64(x.From)) {
			if m == nil {
				m = map[[3]uint64]bool{}
			}
			m[[3]uint64{x.Dev, x.Ino, x.Base}] = true
		}
	}
	return m
}

// horizonAt returns the offset past every old generation.
func (l *genLog) horizonAt() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.horizon
}

// lookup returns the latest old entry of the file dev/ino whose head is head's (the
// first bytes of the file now), or of another file with that head (a copy: the head must
// hold a whole line), and whether an old entry of a generation whose content was seen
// begins at or after off. A head is recorded before any byte of a generation is read, so
// an entry without one had nothing sent; nor had one left where it was entered (its end
// recorded at its start: a file handed over at its end to a rotated name's stream).
func (l *genLog) lookup(dev, ino uint64, head []byte, off uint64) (e genEntry, found, beyond bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	empty := l.leftEmptyLocked()
	// Newest first; an entry naming the head of a generation supersedes the one that
	// recorded it before its content was known. One that sent the file from its start
	// comes before one entered past it (a lingering generation read on, or the
	// generation parked for it entered again, at the stream's next offsets): the bytes
	// before its From were not sent at its Base's offsets.
	seen := map[[3]uint64]bool{}
	start := false // e is such an entry
	for i := len(l.entries) - 1; i >= 0; i-- {
		x := l.entries[i]
		if !x.old {
			continue
		}
		if x.Base+x.From >= off && x.FPLen > 0 && !empty[[3]uint64{x.Dev, x.Ino, x.Base}] {
			beyond = true // a generation whose content was seen (lines may have been sent)
		}
		id := [3]uint64{x.Dev, x.Ino, x.Base}
		if seen[id] || start {
			continue
		}
		seen[id] = true
		sameHead := x.FPLen > 0 && len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP
		if !sameHead && x.Line && !(x.Dev == dev && x.Ino == ino) {
			// A copy shorter than the head: made before the tailer first saw it.
			sameHead = x.prefixOf(head)
		}
		if sameHead && (x.Dev == dev && x.Ino == ino || x.Line) && !(found && x.From > 0) {
			e, found, start = x, true, x.From == 0
		}
	}
	return e, found, beyond
}

// shippedBefore reports whether the file dev/ino is an old generation that the stream
// holds wholly before off: recorded with its end, at or before off, and a head the
// file still starts with (head returns its first bytes; called only for a candidate).
// With size >= 0 (the file's size now), a generation that holds more than it held when
// it was left (Left: it came back to the path and was written to) is not held wholly.
func (l *genLog) shippedBefore(dev, ino, off uint64, size int64, head func() []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	var h []byte
	for x := range l.allLocked {
		if !x.old || x.End == 0 || x.End > off || x.FPLen == 0 || x.Dev != dev || x.Ino != ino {
			continue
		}
		if h == nil {
			h = head()
		}
		if len(h) >= x.FPLen && fingerprint(h[:x.FPLen]) == x.FP && (size < 0 || x.Left == 0 || size <= x.Left) {
			return true
		}
	}
	return false
}

// copyReadBefore reports whether the file dev/ino, of size bytes starting with head (its
// first bytes, up to FingerprintLen), is copytruncate's copy of no more than what was read
// of an old generation the stream holds wholly before off: another inode starting with
// that generation's head (a whole line; or, shorter than it, its head up to one of its
// line ends, the whole file), of at most where it was left (Left). It holds nothing
// new; taken for a generation not read yet, it was read whole again past a jump.
func (l *genLog) copyReadBefore(dev, ino, off uint64, size int64, head []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for x := range l.allLocked {
		if !x.old || x.Mark != "" || x.Gap != "" || x.End == 0 || offAfter(x.End, off) || !x.Line || x.FPLen == 0 ||
			x.Left <= 0 || size > x.Left || x.Dev == dev && x.Ino == ino {
			continue
		}
		if len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP || int64(len(head)) == size && x.prefixOf(head) {
			return true
		}
	}
	return false
}

// leftBefore returns the latest old entry of the file dev/ino (whose first bytes are
// head) that was left wholly before off with what was read of it (Left): a generation
// read and left that came back (a symlink switched back, a file renamed back), or one
// that another inode starting with its head (a line) is a copy of. The caller checks the
// bytes before Left (TailFP).
func (l *genLog) leftBefore(dev, ino, off uint64, head []byte) (genEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var e genEntry
	found := false
	for _, x := range l.entries {
		// Another inode with its head, holding a whole line, may be its copy
		// (copytruncate's, made after it came back).
		if !x.old || x.End == 0 || x.End > off || x.Left <= 0 || x.FPLen == 0 || !(x.Dev == dev && x.Ino == ino || x.Line) {
			continue
		}
		if len(head) < x.FPLen || fingerprint(head[:x.FPLen]) != x.FP {
			continue
		}
		same := x.Dev == dev && x.Ino == ino
		if !found || same && !(e.Dev == dev && e.Ino == ino) || x.End > e.End || x.End == e.End && x.Left > e.Left {
			e, found = x, true
		}
	}
	return e, found
}

// continuedAt returns the old entry of the file dev/ino (whose first bytes are head)
// that a walk from off reaches first, when the run before entered it past its start
// (From: a file shrunk in place, or one that came back, read on from where it was
// left): the walk reads it on from From at the offsets it had, not again from its start.
// An entry at its start (From 0) reached first is not returned (entered).
func (l *genLog) continuedAt(dev, ino, off uint64, head []byte) (genEntry, bool) {
	e, found := l.firstAt(dev, ino, off, head)
	return e, found && e.From > 0
}

// continuationAfter returns the first old entry of the file dev/ino (whose first bytes
// are head) that the run before entered past its start (From) after the entry based at
// base: a generation read from its start there, then shrunk (truncate -s N) and read on
// from N at other offsets.
func (l *genLog) continuationAfter(dev, ino, base uint64, head []byte) (genEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var e genEntry
	found := false
	for _, x := range l.entries {
		if !x.old || x.FPLen == 0 || x.Dev != dev || x.Ino != ino || x.From == 0 || !offAfter(x.Base, base) {
			continue
		}
		if len(head) < x.FPLen || fingerprint(head[:x.FPLen]) != x.FP {
			continue
		}
		if !found || x.Base+x.From < e.Base+e.From {
			e, found = x, true
		}
	}
	return e, found
}

// readOnFrom returns the old entry of the file dev/ino (whose first bytes are head) that
// the run before entered at file offset from, past its start, whose first byte sent a
// walk from off reaches first: a lingering generation left at from and read on there.
// Unlike continuationAfter, it may be based where the entry the walk entered the
// generation by is: a lingering generation read on twice, nothing sent between (the
// generation parked for it entered again with nothing new), has one base for both.
func (l *genLog) readOnFrom(dev, ino uint64, from int64, off uint64, head []byte) (genEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var e genEntry
	found := false
	for _, x := range l.entries {
		if !x.old || x.FPLen == 0 || x.Dev != dev || x.Ino != ino || x.From == 0 || int64(x.From) != from || offBefore(x.start(), off) {
			continue
		}
		if len(head) < x.FPLen || fingerprint(head[:x.FPLen]) != x.FP {
			continue
		}
		if !found || offBefore(x.start(), e.start()) {
			e, found = x, true
		}
	}
	return e, found
}

// basedAt reports whether an old entry records the generation of the file dev/ino with
// its byte 0 at stream offset base (entered from its start there, or past it).
func (l *genLog) basedAt(dev, ino, base uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.entries, func(x genEntry) bool {
		return x.old && x.Mark == "" && x.Gap == "" && x.Dev == dev && x.Ino == ino && x.Base == base
	})
}

// readOnBetween reports whether the old entries whose content was seen that begin in
// [from, to), at least one, all entered their file past its start (From): lingering
// generations read on there, no generation read from its start.
func (l *genLog) readOnBetween(from, to uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.entries {
		if !x.old || x.Mark != "" || x.Gap != "" || x.FPLen == 0 || offBefore(x.start(), from) || !offBefore(x.start(), to) {
			continue
		}
		if x.From == 0 {
			return false
		}
		n++
	}
	return n > 0
}

// leftWhere reports whether a run before left the generation dev/ino based at base at
// file offset left (genEntry.Left).
func (l *genLog) leftWhere(dev, ino, base uint64, left int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.entries, func(x genEntry) bool {
		return x.old && x.Dev == dev && x.Ino == ino && x.Base == base && x.Left == left && x.End > 0
	})
}

// firstAt returns the old entry of the file dev/ino (or of a copy of it: another inode
// with its head, a line) whose first byte sent a walk from off reaches first.
func (l *genLog) firstAt(dev, ino, off uint64, head []byte) (genEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var e genEntry
	found := false
	for _, x := range l.entries {
		// Another inode with its head, holding a whole line, is its copy
		// (copytruncate's): read on from the same offset too.
		if !x.old || x.FPLen == 0 || !(x.Dev == dev && x.Ino == ino || x.Line) || x.Base+x.From < off {
			continue
		}
		if len(head) < x.FPLen || fingerprint(head[:x.FPLen]) != x.FP {
			continue
		}
		if !found || x.Base+x.From < e.Base+e.From || x.Base+x.From == e.Base+e.From && x.FPLen > e.FPLen {
			e, found = x, true
		}
	}
	return e, found
}

// shrunkSince returns the old entry of the file dev/ino that a walk from off reaches
// first, when the file (of size bytes, head its first ones) no longer holds all the run
// before read of it: still the head recorded up to one of its line ends only (shorter
// than it, or other bytes after that line end), or shorter than where it was left (Left)
// while still starting with the head.
// n is where the file stops holding what was read (past the entry's From).
func (l *genLog) shrunkSince(dev, ino, off uint64, head []byte, size int64) (e genEntry, n int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	found := false
	for _, x := range l.entries {
		if !x.old || x.FPLen == 0 || x.Dev != dev || x.Ino != ino || x.Base+x.From < off {
			continue
		}
		if !found || x.Base+x.From < e.Base+e.From || x.Base+x.From == e.Base+e.From && x.FPLen > e.FPLen {
			e, found = x, true
		}
	}
	if !found {
		return e, 0, false
	}
	for _, x := range l.entries {
		if x.old && x.FPLen > 0 && x.Dev == dev && x.Ino == ino && x.From == 0 && offAfter(x.Base, e.Base+e.From) &&
			len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP {
			// A run before read it again from its start after the change (rereadLog):
			// walked at the offsets it had then, not taken for the older content shrunk.
			return e, 0, false
		}
	}
	switch {
	case len(head) < e.FPLen || fingerprint(head[:e.FPLen]) != e.FP:
		// (Longer than the head recorded, other bytes after one of its line ends:
		// shrunk there and written past the head's length since.)
		for _, end := range e.Ends {
			if end.N <= len(head) && int64(end.N) > n && fingerprint(head[:end.N]) == end.FP {
				n = int64(end.N)
			}
		}
	case e.Left > 0 && size < e.Left:
		n = size
	}
	return e, n, n > int64(e.From)
}

// leftAt reports whether the generation dev/ino based at base was left by a run before
// at or before off (its end recorded there, with where it was left) and generations
// whose content was seen were recorded after it: a checkpoint at its end is followed by
// them, not by what the file holds past it (the file came back to the path). Left
// before off and read on from there before off (a lingering generation that grew,
// entered again at the stream's next offsets: an entry with From, same base), the
// checkpoint is inside that read, not at a leave.
func (l *genLog) leftAt(dev, ino, base, off uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	left, later := false, false
	var at uint64 // the latest start at or before off of an entry of the generation
	for _, x := range l.entries {
		if x.old && x.Dev == dev && x.Ino == ino && x.Base == base && !offAfter(x.start(), off) && offAfter(x.start(), at) {
			at = x.start()
		}
	}
	for _, x := range l.entries {
		if !x.old {
			continue
		}
		if x.Dev == dev && x.Ino == ino && x.Base == base && x.End > 0 && x.End <= off && x.Left > 0 && x.start() == at {
			left = true
		}
		if x.Base+x.From >= off && x.FPLen > 0 && !(x.Dev == dev && x.Ino == ino) {
			later = true
		}
	}
	return left && later
}

// leftPast returns where the run before left the generation dev/ino based at base
// (genEntry.Left), when it left it at or after off, at a line end (its end recorded there,
// nothing appended to its last line), and went on with generations whose content was
// seen, recorded after it: a walk from a checkpoint at off reads it only up to there.
// The file dev/ino may be a copy of that generation (copytruncate's, made since:
// another inode starting with its head, a whole line; head is its first bytes): read
// past where the generation was left, its later bytes took the offsets of the
// generations that followed.
func (l *genLog) leftPast(dev, ino, base, off uint64, head []byte) (int64, bool) {
	return l.leftPastFrom(dev, ino, base, off, head, false)
}

// leftPastFrom is leftPast; with after, an entry that began before off and ended there
// (an earlier read of the generation with the same base) does not count
// (leaveWhereLeftFrom).
func (l *genLog) leftPastFrom(dev, ino, base, off uint64, head []byte, after bool) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var e genEntry
	found := false
	for _, x := range l.entries {
		if !x.old || x.Base != base || x.Left <= 0 || x.End < off || after && x.End == off && offBefore(x.start(), off) ||
			offAfter(x.start(), off) || x.End != x.Base+uint64(x.Left) {
			continue
		}
		if !(x.Dev == dev && x.Ino == ino) && !(x.Line && len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP) {
			continue
		}
		if !found || x.End < e.End {
			e, found = x, true
		}
	}
	if !found {
		return 0, false
	}
	for _, x := range l.entries {
		if x.old && x.start() >= e.End && x.FPLen > 0 && !(x.Dev == dev && x.Ino == ino) && !(x.Dev == e.Dev && x.Ino == e.Ino) {
			return e.Left, true
		}
	}
	return 0, false
}

// leftAtStart reports whether the run before left the generation of the file dev/ino
// (whose first bytes are head) based at base at its start, nothing of it sent (its end
// recorded there: parked for a lingering generation's growth as soon as it was
// entered), and sent the content of another generation from base on: a walk that enters
// it there reads it after that one, not at those offsets.
func (l *genLog) leftAtStart(dev, ino, base uint64, head []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	left := false
	for _, x := range l.entries {
		if x.old && x.Dev == dev && x.Ino == ino && x.Base == base && x.From == 0 && x.End != 0 && x.End == base && x.FPLen > 0 &&
			len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP {
			left = true
		}
	}
	if !left {
		return false
	}
	return slices.ContainsFunc(l.entries, func(x genEntry) bool {
		return x.old && x.Mark == "" && x.Gap == "" && x.FPLen > 0 && !(x.Dev == dev && x.Ino == ino) && x.start() == base
	})
}

// headOf reports whether b, the first bytes of the file dev/ino, shorter than the head
// fpLen/fp a checkpoint recorded of the generation based at base, is that head up to one
// of its line ends: the line ends of an entry of that generation (or of that head) say so.
func (l *genLog) headOf(dev, ino, base uint64, fpLen int, fp uint64, b []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.entries {
		if !x.old || x.Dev != dev || x.Ino != ino || x.FPLen == 0 || !(x.Base == base || x.FPLen == fpLen && x.FP == fp) {
			continue
		}
		if len(b) == x.FPLen && fingerprint(b) == x.FP || x.prefixOf(b) {
			return true
		}
	}
	return false
}

// namesFile reports whether an entry of the record names the content of the file dev/ino
// that starts with head, born at born (0: not known): an entry of its inode with a head
// the file still starts with, or one of an empty generation lingered on (Wait) born then.
// An entry without a head had nothing sent (superseded by the one that knows it, if any).
// The file system gives a deleted file's inode number to the next file created (ext4
// does at once): by device and inode alone, a new file was taken for a generation
// recorded before.
func (l *genLog) namesFile(dev, ino uint64, head []byte, born int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for x := range l.allLocked {
		switch {
		case x.Dev != dev || x.Ino != ino:
		case x.FPLen > 0:
			if len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP {
				return true
			}
		case x.Wait != "" && x.Born != 0 && x.Born == born:
			return true
		}
	}
	return false
}

// readHead returns the longest head a run before recorded of the generation of the file
// dev/ino based at base (its byte 0 at that stream offset): the head the tailer saw
// before it returned any byte of it (the record is durable first, Tailer.saveGens),
// though a checkpoint saved earlier, while the file was empty, names none. ok is
// false when no such entry names a head.
func (l *genLog) readHead(dev, ino, base uint64) (k fileKey, ends []lineEnd, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.entries {
		if !x.old || x.Dev != dev || x.Ino != ino || x.Base != base || x.From != 0 || x.FPLen <= k.fpLen {
			continue
		}
		k, ends, ok = fileKey{dev, ino, x.FPLen, x.FP}, x.Ends, true
	}
	return k, ends, ok
}

// readOf returns how many of the first bytes of the file dev/ino (head: its first ones,
// size: its size) may be bytes a run before read of a generation it recorded (an old
// entry whose head was seen): the file starts with that head, or with it up to one of
// its line ends (truncated to a smaller size since, truncate -s N, and perhaps written;
// or copytruncate's copy of such a file: another inode, the head a whole line). Read
// again from its start at other offsets, those may arrive twice. Past the head, how
// much of what it holds was read is not known: up to the generation's end recorded,
// else to the file's end.
func (l *genLog) readOf(dev, ino uint64, head []byte, size int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, x := range l.entries {
		if !x.old || x.FPLen == 0 || !(x.Dev == dev && x.Ino == ino || x.Line) {
			continue
		}
		if len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP {
			read := size
			if x.End > 0 && offAfter(x.End, x.Base) && x.End-x.Base < uint64(size) {
				read = int64(x.End - x.Base)
			}
			n = max(n, read, int64(x.FPLen))
			continue
		}
		for _, e := range x.Ends {
			if e.N <= len(head) && int64(e.N) > n && fingerprint(head[:e.N]) == e.FP {
				n = int64(e.N)
			}
		}
	}
	return min(n, size)
}

// replacedAfter reports whether the file dev/ino, whose first bytes are head, holds a
// generation that the run before entered after the one a checkpoint names (based at
// cpBase), at or after the checkpoint's offset off: the checkpointed content was
// truncated and written again after the checkpoint, and the tailer saw it (a short
// checkpointed head, part of a line, may match the new content too). An entry entered
// past its start (From) is none: the generation read on from there at later offsets
// (shrunk in place, truncate -s N, and read on past the old content's offsets; or
// come back to the path), its bytes before From the checkpointed content's.
//
// Only when the new content is the next generation the run before read after the
// checkpointed one: with another file's generation recorded between them (at or after
// off, before the new content's base), the checkpointed file was rotated away and the
// inode number given to a new file (logrotate's compress deleted the rotated generation,
// and ext4 gives its inode to the next file created at the path), and the generations
// between are walked again (still under their rotated names), not skipped as destroyed.
func (l *genLog) replacedAfter(dev, ino uint64, head []byte, cpBase, off uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.entries {
		if !x.old || x.Dev != dev || x.Ino != ino || x.FPLen == 0 || x.From != 0 || offBefore(x.Base, off) || x.Base == cpBase {
			continue
		}
		if len(head) < x.FPLen || fingerprint(head[:x.FPLen]) != x.FP {
			continue
		}
		between := slices.ContainsFunc(l.entries, func(y genEntry) bool {
			return y.old && (y.Dev != dev || y.Ino != ino) && y.FPLen > 0 &&
				!offBefore(y.start(), off) && offBefore(y.start(), x.Base)
		})
		if !between {
			return true
		}
	}
	return false
}

// endedBy reports whether the stream holds what was read of the file dev/ino with the
// head fpLen/fp wholly before off: an old entry of it records its end at or before off,
// and none begins at or after off or ends after it.
func (l *genLog) endedBy(dev, ino uint64, fpLen int, fp uint64, off uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ended := false
	for _, x := range l.entries {
		if !x.old || x.Dev != dev || x.Ino != ino || x.FPLen != fpLen || x.FP != fp {
			continue
		}
		if x.End > off || !offBefore(x.start(), off) {
			return false
		}
		ended = ended || x.End > 0
	}
	return ended
}

// add records e durably. An entry already recorded, or one with a longer head (a
// generation walked again at the offsets it had), is not written again. Once the record is long, entries below acked are
// dropped, then the oldest, always keeping the one that begins furthest in the stream
// (the horizon of a later restart).
func (l *genLog) add(e genEntry, acked uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.left.note(e)
	for i := range l.entries {
		x := &l.entries[i]
		// The same generation at the same offset: a longer head says more (a walk again
		// records a generation before reading its head).
		if x.Stream == e.Stream && x.Base == e.Base && x.Dev == e.Dev && x.Ino == e.Ino &&
			(x.FPLen > e.FPLen || x.FPLen == e.FPLen && x.FP == e.FP && x.Line == e.Line) && x.End >= e.End && x.From == e.From &&
			(x.End > e.End || x.Left >= e.Left) {
			x.old = false
			if e.Seen > x.Seen && x.End == 0 {
				// Seen larger now (walked again): one line says so, with what is held.
				x.Seen = e.Seen
				return l.writeGrownLocked(genEntry{Stream: e.Stream, Base: e.Base, Dev: e.Dev, Ino: e.Ino, Seen: e.Seen}, true)
			}
			return l.saveLocked() // written now if an earlier write failed
		}
	}
	l.entries = append(l.entries, e)
	if len(l.entries) > maxGenEntries {
		top := 0
		for i, x := range l.entries {
			if x.start() > l.entries[top].start() {
				top = i
			}
		}
		// The last ends recorded below acked stay too: a walk from the checkpoint
		// skips those generations where modification times put them after it.
		ends := 0
		for _, x := range l.entries {
			if x.start() < acked && x.End > 0 {
				ends++
			}
		}
		keep := make([]int, 0, len(l.entries)) // indexes in l.entries
		for i, x := range l.entries {
			if x.start() < acked && x.End > 0 {
				ends--
			}
			if x.start() >= acked || i == top || (x.End > 0 && ends < keptEnds) {
				keep = append(keep, i)
			}
		}
		for len(keep) > maxGenEntries/2 {
			i := 0
			if l.entries[keep[0]].start() == l.entries[top].start() {
				i = 1
			}
			keep = slices.Delete(keep, i, i+1)
		}
		// A generation read and left wholly below acked is not forgotten: its copies
		// (copytruncate's access.log.N, rotate 30) stay where they are, and a restart
		// must not take them for generations not read yet (trimmed).
		kept := make([]genEntry, 0, len(keep))
		for i, x := range l.entries {
			if len(keep) > 0 && keep[0] == i {
				kept, keep = append(kept, x), keep[1:]
			} else if trimmable(x, acked) {
				l.addTrimmedLocked(x)
			}
		}
		l.entries = kept
		l.unsaved = -1
		return l.rewrite()
	}
	if l.unsaved >= 0 {
		l.unsaved++
	}
	return l.saveLocked()
}

// pending reports whether entries recorded are not durable yet.
func (l *genLog) pending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unsaved != 0 || len(l.queued) > 0
}

// save writes the entries not durable yet, if any.
func (l *genLog) save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.saveLocked()
}

func (l *genLog) saveLocked() error {
	switch {
	case l.unsaved == 0 && len(l.queued) == 0:
		return nil
	case l.unsaved < 0 || l.unsaved > len(l.entries):
		return l.rewrite()
	}
	if err := l.append(l.entries[len(l.entries)-l.unsaved:], true); err != nil {
		return err
	}
	l.unsaved = 0
	return nil
}

// write appends e to the record, durably when sync. l.mu is held.
func (l *genLog) write(e genEntry, sync bool) error {
	return l.append([]genEntry{e}, sync)
}

// append appends es to the record, durably when sync, through a descriptor opened for
// the append only, after the gap lines held (queued), when sync, in the same write.
// l.mu is held. A failed write leaves the whole file to be written again by the next
// save (a torn line is skipped when the record is loaded).
func (l *genLog) append(es []genEntry, sync bool) error {
	if sync && len(l.queued) > 0 {
		es = append(slices.Clone(l.queued), es...)
	}
	if err := faultState(l.name); err != nil {
		l.unsaved = -1
		return fmt.Errorf("record generation: %w", err)
	}
	f, err := os.OpenFile(l.name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("record generation: %w", err)
	}
	defer f.Close()
	if sync && !l.created {
		if err := atomicfile.SyncDir(filepath.Dir(l.name)); err != nil {
			return fmt.Errorf("record generation: %w", err)
		}
		l.created = true
	}
	var b []byte
	for i := range es {
		line, _ := json.Marshal(&es[i])
		b = append(append(b, line...), '\n')
	}
	if _, err := f.Write(b); err != nil {
		l.unsaved = -1
		return fmt.Errorf("record generation: %w", err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			l.unsaved = -1
			return fmt.Errorf("record generation: %w", err)
		}
		l.queued = nil
	}
	return nil
}

// rewrite writes the entries, the waits, the files seen ahead, the trimmed generations,
// the generations due and the gaps to a new file, atomically.
func (l *genLog) rewrite() error {
	var b []byte
	for i := range l.entries {
		line, _ := json.Marshal(&l.entries[i])
		b = append(append(b, line...), '\n')
	}
	for i := range l.waits {
		line, _ := json.Marshal(&l.waits[i])
		b = append(append(b, line...), '\n')
	}
	for i := range l.aheads {
		line, _ := json.Marshal(&l.aheads[i])
		b = append(append(b, line...), '\n')
	}
	for i := range l.trimmed {
		line, _ := json.Marshal(&genEntry{Stream: l.stream, Trimmed: &l.trimmed[i]})
		b = append(append(b, line...), '\n')
	}
	for i := range l.due {
		line, _ := json.Marshal(&genEntry{Stream: l.stream, Due: &l.due[i]})
		b = append(append(b, line...), '\n')
	}
	for _, g := range [...]struct {
		kind string
		rs   []OffsetRange
	}{{gapUnused, l.unused}, {gapCounted, l.counted}} {
		for _, r := range g.rs {
			line, _ := json.Marshal(&genEntry{Stream: l.stream, Gap: g.kind, GapFrom: r.From, GapTo: r.To})
			b = append(append(b, line...), '\n')
		}
	}
	if err := faultState(l.name); err != nil {
		l.unsaved = -1
		return fmt.Errorf("record generation: %w", err)
	}
	if err := atomicfile.Write(l.name, b, 0o640); err != nil {
		l.unsaved = -1
		return fmt.Errorf("record generation: %w", err)
	}
	l.unsaved, l.created, l.queued, l.grownLines = 0, true, nil, 0
	return nil
}

// grow records that the generation of the file dev/ino based at base, entered and not
// left, was seen to hold seen bytes (genEntry.Seen), when that is more than recorded: a
// Grown line, not synced (written with a checkpoint save: lost only with the machine,
// and then the size recorded before stays a lower bound).
func (l *genLog) grow(base, dev, ino uint64, seen int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := genEntry{Stream: l.stream, Base: base, Dev: dev, Ino: ino, Seen: seen}
	if !l.growLocked(g) {
		return nil
	}
	return l.writeGrownLocked(g, false)
}

// growLocked sets the Seen of the latest entry of the generation g names (its file and
// base), not left, to g.Seen when that is more; it reports whether it did. l.mu is held
// (or l not shared yet).
func (l *genLog) growLocked(g genEntry) bool {
	for i := len(l.entries) - 1; i >= 0; i-- {
		x := &l.entries[i]
		if x.Dev != g.Dev || x.Ino != g.Ino || x.Base != g.Base || x.Gap != "" || x.Mark != "" {
			continue
		}
		if x.End != 0 || x.Seen >= g.Seen {
			return false
		}
		x.Seen = g.Seen
		return true
	}
	return false
}

// writeGrownLocked appends the Grown line of g (the whole file written again when
// entries are not durable yet, or when it holds maxGrownLines of them already). l.mu is
// held.
func (l *genLog) writeGrownLocked(g genEntry, sync bool) error {
	if l.unsaved != 0 || l.grownLines >= maxGrownLines {
		l.unsaved = -1
		return l.saveLocked()
	}
	l.grownLines++
	return l.write(genEntry{Stream: l.stream, Grown: &g}, sync)
}

// close writes the entries not durable yet (a last try; the tailer stops).
func (l *genLog) close() error {
	return l.save()
}

// A leftIndex knows, for the whole state directory, the file generations its streams
// read and left (moved on from, with where: genEntry.Left), by device and inode: a new
// glob match that is one of them (renamed again to a name the pattern matches after its
// stream went on to the new file at its path: logrotate's "extension .log", app.1.log
// -> app.2.log; a renamed directory, site1.old1 -> site1.old2) is not a new file, and is
// not read again from its start. It is loaded from the records of generations (.gens)
// the first time it is asked, so that it holds what runs before left too, and kept up
// to date by every record a stream of this run writes. Its methods are safe for
// concurrent use.
type leftIndex struct {
	dir string // the state directory

	mu     sync.Mutex // Guards the fields below.
	loaded bool
	byID   map[[2]uint64][]leftGen
	order  [][2]uint64 // the identities in the order first recorded (the oldest dropped first)
}

// A leftGen is a generation a stream left: its head and the last bytes read before
// where it was left.
type leftGen struct {
	stream uint64
	fpLen  int
	fp     uint64
	left   int64
	tailN  int
	tailFP uint64
	// ends: the head's line ends (genEntry.Ends): a file shrunk below left that still
	// starts with lines of the head is told by them (keptIn).
	ends []lineEnd
	// kept, on a leftGen readTo returns: the file was shrunk below where it was left
	// (truncate -s N), still starting with lines read; left is the end of the last of
	// them (keptIn), the file's bytes before it read.
	kept bool
	// handed: left in this run by a stream for another to read on (a hand-over the Set
	// dropped past its bound, maxHanded): a stream that takes the file reads on from
	// left even where it would read a file no stream left from its end.
	handed bool
	// born: the file's birth time when it was left (bornOf; 0: not known): a file with
	// another one was given its inode number since (it was deleted), whatever it holds.
	born int64
}

// same reports whether g and o record the same generation left at the same place.
func (g leftGen) same(o leftGen) bool {
	return g.stream == o.stream && g.fpLen == o.fpLen && g.fp == o.fp && g.left == o.left && g.tailN == o.tailN && g.tailFP == o.tailFP &&
		g.handed == o.handed && g.born == o.born
}

// maxLeftIDs bounds the identities a leftIndex keeps (the oldest are dropped first).
const maxLeftIDs = 1 << 14

// maxLeftPerID bounds the generations kept for one identity (an inode reused, or a
// generation that came back and was left again further on).
const maxLeftPerID = 4

func newLeftIndex(dir string) *leftIndex {
	return &leftIndex{dir: dir, byID: map[[2]uint64][]leftGen{}}
}

// note records e, when it is a generation left with what was read of it.
func (x *leftIndex) note(e genEntry) {
	if x == nil || e.Mark != "" || e.Left <= 0 || e.FPLen == 0 || e.TailN <= 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.noteLocked(e)
}

func (x *leftIndex) noteLocked(e genEntry) {
	x.noteGenLocked([2]uint64{e.Dev, e.Ino}, leftGen{stream: e.Stream, fpLen: e.FPLen, fp: e.FP, left: e.Left, tailN: e.TailN, tailFP: e.TailFP, ends: e.Ends})
}

func (x *leftIndex) noteGenLocked(id [2]uint64, g leftGen) {
	gs, ok := x.byID[id]
	if !ok {
		x.order = append(x.order, id)
		for len(x.order) > maxLeftIDs {
			delete(x.byID, x.order[0])
			x.order = x.order[1:]
		}
	}
	if i := slices.IndexFunc(gs, g.same); i >= 0 {
		if gs[i].ends == nil {
			gs[i].ends = g.ends
		}
		return
	}
	gs = append(gs, g)
	if len(gs) > maxLeftPerID {
		gs = gs[len(gs)-maxLeftPerID:]
	}
	x.byID[id] = gs
}

// noteHanded records m, where a stream left the file id for another stream to read on
// (a hand-over the Set no longer keeps). It reads no file (the Set's lock is held): the
// records of generations are loaded when first asked, next to it.
func (x *leftIndex) noteHanded(id [2]uint64, m leftGen) {
	if x == nil || m.left <= 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.noteGenLocked(id, m)
}

// load reads the records of generations of the state directory once. x.mu is held.
func (x *leftIndex) load() {
	if x.loaded {
		return
	}
	x.loaded = true
	names, _ := filepath.Glob(filepath.Join(x.dir, "ckpt-*.gens"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var e genEntry
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				continue
			}
			if e.Trimmed != nil && e.Mark == "" {
				// (A generation a long record dropped: left all the same.)
				e = *e.Trimmed
			}
			if e.Mark != "" || e.Left <= 0 || e.FPLen == 0 || e.TailN <= 0 {
				continue
			}
			x.noteLocked(e)
		}
	}
}

// readTo returns how far a stream read the regular file f (seen as fi) before it left
// it, when f is a generation a stream other than not left: the same device and inode,
// still starting with the head read and holding, before that offset, the last bytes read
// (tail). The furthest such generation is returned; ok is false for a file no stream
// left.
func (x *leftIndex) readTo(f *os.File, fi fs.FileInfo, not uint64) (g leftGen, tail []byte, ok bool) {
	g, tail, ok, _ = x.readToErr(f, fi, not)
	return g, tail, ok
}

// readToErr is readTo, with the error of a read that failed (EIO): f could not be told
// then (ok false).
func (x *leftIndex) readToErr(f *os.File, fi fs.FileInfo, not uint64) (g leftGen, tail []byte, ok bool, err error) {
	if x == nil {
		return g, nil, false, nil
	}
	dev, ino, _ := fileID(fi)
	x.mu.Lock()
	x.load()
	gs := slices.Clone(x.byID[[2]uint64{dev, ino}])
	x.mu.Unlock()
	size := fi.Size()
	for _, c := range gs {
		if c.stream == not || ok && (c.left < g.left || c.left == g.left && (g.handed || !c.handed)) {
			continue // (of two marks at one offset, a hand-over's)
		}
		t, holds, rerr := c.heldInErr(f, size)
		if rerr != nil {
			return leftGen{}, nil, false, rerr
		}
		if holds {
			g, tail, ok = c, t, true
			continue
		}
		k, rerr := c.keptIn(f, size)
		if rerr != nil {
			return leftGen{}, nil, false, rerr
		}
		if k > 0 && !(ok && k <= g.left) {
			// Shrunk below where it was left, still starting with lines read: read
			// on from the end of the last of them, as the stream that left it would.
			t := make([]byte, min(k, 64))
			if _, err := f.ReadAt(t, k-int64(len(t))); err != nil {
				return leftGen{}, nil, false, readErr(err)
			}
			c.left, c.tailN, c.tailFP, c.kept = k, len(t), fingerprint(t), true
			g, tail, ok = c, t, true
		}
	}
	return g, tail, ok, nil
}

// keptIn returns, for a file f of size bytes that no longer holds what g read (heldIn:
// shrunk below where it was left, truncate -s N, perhaps written to since) but still
// starts with lines of the head read, the end of the last of those lines it holds (its
// whole head held: the head's last line end known; past it nothing is told, what follows
// is read again, never skipped), as Tailer.keptOf does for a stream's own generation.
// 0: none kept.
func (g leftGen) keptIn(f io.ReaderAt, size int64) (int64, error) {
	if len(g.ends) == 0 || g.bornElse(f) {
		return 0, nil
	}
	if g.fpLen > 0 && size >= int64(g.fpLen) {
		head := make([]byte, g.fpLen)
		if _, err := f.ReadAt(head, 0); err != nil {
			return 0, readErr(err)
		}
		if fingerprint(head) == g.fp {
			return int64(g.ends[len(g.ends)-1].N), nil
		}
	}
	for i := len(g.ends) - 1; i >= 0; i-- {
		e := g.ends[i]
		if int64(e.N) > size {
			continue
		}
		b := make([]byte, e.N)
		if _, err := f.ReadAt(b, 0); err != nil {
			return 0, readErr(err)
		}
		if fingerprint(b) == e.FP {
			return int64(e.N), nil
		}
	}
	return 0, nil
}

// bornElse reports whether f is, by its birth time, another file than the one g was
// left in (given its inode number since it was deleted), when both are known.
func (g leftGen) bornElse(f io.ReaderAt) bool {
	if g.born == 0 {
		return false
	}
	osf, ok := f.(*os.File)
	if !ok {
		return false
	}
	b := bornOf(osf)
	return b != 0 && b != g.born
}

// heldIn reports whether f (size bytes) is still the generation g left: it starts with
// the head read and holds, before the offset left, the last bytes read (tail, returned).
// Every stream that finds again a file it or another stream left (a hand-over, readTo)
// checks it this way: a file truncated and written again in place with the same head (a
// banner, a CSV header) past that offset does not hold the last bytes read there. A file
// born after the one left (bornElse: given its inode number) is not it, whatever it holds.
func (g leftGen) heldIn(f io.ReaderAt, size int64) (tail []byte, ok bool) {
	tail, ok, _ = g.heldInErr(f, size)
	return tail, ok
}

// heldInErr is heldIn, with the error of a read that failed (not io.EOF: a file
// shorter than size is not g).
func (g leftGen) heldInErr(f io.ReaderAt, size int64) (tail []byte, ok bool, err error) {
	if g.left > size || g.left < int64(g.tailN) || g.bornElse(f) {
		return nil, false, nil
	}
	head := make([]byte, g.fpLen)
	if _, err := f.ReadAt(head, 0); err != nil || fingerprint(head) != g.fp {
		return nil, false, readErr(err)
	}
	tail = make([]byte, g.tailN)
	if _, err := f.ReadAt(tail, g.left-int64(g.tailN)); err != nil || fingerprint(tail) != g.tailFP {
		return nil, false, readErr(err)
	}
	return tail, true, nil
}

// readErr is err unless it is io.EOF (a file shorter than thought: no error, another
// content).
func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// lastLeft returns, for each file the old entries name, the one that left it last
// (genEntry.Left, the largest End at or before off): where a run before left it for good.
func (l *genLog) lastLeft(off uint64) []genEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[[2]uint64]int{}
	var out []genEntry
	// (The trimmed generations too: an old writer may append to one, or to its copy,
	// long after it was left.)
	for x := range l.allLocked {
		if !x.old || x.Mark != "" || x.End == 0 || x.End > off || x.Left <= 0 || x.FPLen == 0 || x.TailN <= 0 {
			continue
		}
		id := [2]uint64{x.Dev, x.Ino}
		if i, ok := last[id]; ok {
			if x.End > out[i].End {
				out[i] = x
			}
			continue
		}
		last[id] = len(out)
		out = append(out, x)
	}
	return out
}
