package source

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	// old: recorded before the tailer last resumed (a restart or a rewind). The walk
	// from the checkpoint must give those generations the offsets they had.
	old bool
}

// maxGenEntries is how many entries a record holds before those below the acknowledged
// offset are dropped (the file rewritten).
const maxGenEntries = 64

// keptEnds is how many generations ended below the acknowledged offset a trimmed record
// keeps.
const keptEnds = 8

// A genLog is a tailer's record of the file generations it moved to, durable before any
// byte of the generation is returned. A restart walks again from its checkpoint through
// the generations that followed; the record lets it give each generation the offsets it
// had, and never reuse offsets for other bytes when a generation that was read after the
// checkpoint was destroyed since (truncated, or deleted): without it the next
// generation would be read at the destroyed one's offsets, and collectors would drop its
// lines as duplicates. Its methods are safe for concurrent use.
type genLog struct {
	name string

	mu      sync.Mutex // Guards the fields below.
	f       *os.File   // opened for appending on the first add
	entries []genEntry // oldest first
	horizon uint64     // past the offsets of the old entries' generations; 0 without old entries
}

// genFile returns the name of path's record of generations.
func (s *Store) genFile(path string) string {
	return strings.TrimSuffix(s.File(path), ".json") + ".gens"
}

// openGenLog loads the record of generations of stream; lines that do not decode (a torn
// last line) and entries of another stream (the source was reset) are skipped. Every
// loaded entry is old.
func openGenLog(name string, stream uint64) (*genLog, error) {
	l := &genLog{name: name}
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e genEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Stream == stream && (e.Dev != 0 || e.Ino != 0) {
			l.entries = append(l.entries, e)
		}
	}
	l.resumed()
	return l, nil
}

// resumed marks every entry old: the tailer walks again from a checkpoint.
func (l *genLog) resumed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.horizon = 0
	for i := range l.entries {
		l.entries[i].old = true
		l.horizon = max(l.horizon, l.entries[i].Base+LossGap)
	}
}

// past reports whether off is beyond every offset the old entries' generations had.
func (l *genLog) past(off uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return off >= l.horizon
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
// an entry without one had nothing sent.
func (l *genLog) lookup(dev, ino uint64, head []byte, off uint64) (e genEntry, found, beyond bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Newest first; an entry naming the head of a generation supersedes the one that
	// recorded it before its content was known.
	seen := map[[3]uint64]bool{}
	for i := len(l.entries) - 1; i >= 0; i-- {
		x := l.entries[i]
		if !x.old {
			continue
		}
		if x.Base+x.From >= off && x.FPLen > 0 {
			beyond = true // a generation whose content was seen (lines may have been sent)
		}
		id := [3]uint64{x.Dev, x.Ino, x.Base}
		if seen[id] || found {
			continue
		}
		seen[id] = true
		sameHead := x.FPLen > 0 && len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP
		if sameHead && (x.Dev == dev && x.Ino == ino || x.Line) {
			e, found = x, true
		}
	}
	return e, found, beyond
}

// shippedBefore reports whether the file dev/ino is an old generation that the stream
// holds wholly before off: recorded with its end, at or before off, and a head the
// file still starts with (head returns its first bytes; called only for a candidate).
func (l *genLog) shippedBefore(dev, ino, off uint64, head func() []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	var h []byte
	for _, x := range l.entries {
		if !x.old || x.End == 0 || x.End > off || x.FPLen == 0 || x.Dev != dev || x.Ino != ino {
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

// replacedAfter reports whether the file dev/ino, whose first bytes are head, holds a
// generation that the run before entered after the one a checkpoint names (based at
// cpBase), at or after the checkpoint's offset off: the checkpointed content was
// truncated and written again after the checkpoint, and the tailer saw it (a short
// checkpointed head, part of a line, may match the new content too).
func (l *genLog) replacedAfter(dev, ino uint64, head []byte, cpBase, off uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.entries {
		if !x.old || x.Dev != dev || x.Ino != ino || x.FPLen == 0 || x.Base < off || x.Base == cpBase {
			continue
		}
		if len(head) >= x.FPLen && fingerprint(head[:x.FPLen]) == x.FP {
			return true
		}
	}
	return false
}

// add records e durably. An entry already recorded, or one with a longer head (a
// generation walked again at the offsets it had), is not written again. Once the record is long, entries below acked are
// dropped, then the oldest, always keeping the one that begins furthest in the stream
// (the horizon of a later restart).
func (l *genLog) add(e genEntry, acked uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.entries {
		x := &l.entries[i]
		// The same generation at the same offset: a longer head says more (a walk again
		// records a generation before reading its head).
		if x.Stream == e.Stream && x.Base == e.Base && x.Dev == e.Dev && x.Ino == e.Ino &&
			(x.FPLen > e.FPLen || x.FPLen == e.FPLen && x.FP == e.FP && x.Line == e.Line) && x.End >= e.End && x.From == e.From {
			x.old = false
			return nil
		}
	}
	l.entries = append(l.entries, e)
	if len(l.entries) > maxGenEntries {
		top := 0
		for i, x := range l.entries {
			if x.Base > l.entries[top].Base {
				top = i
			}
		}
		// The last ends recorded below acked stay too: a walk from the checkpoint
		// skips those generations where modification times put them after it.
		ends := 0
		for _, x := range l.entries {
			if x.Base < acked && x.End > 0 {
				ends++
			}
		}
		keep := make([]genEntry, 0, len(l.entries))
		for i, x := range l.entries {
			if x.Base < acked && x.End > 0 {
				ends--
			}
			if x.Base >= acked || i == top || (x.End > 0 && ends < keptEnds) {
				keep = append(keep, x)
			}
		}
		for len(keep) > maxGenEntries/2 {
			i := 0
			if keep[0].Base == l.entries[top].Base {
				i = 1
			}
			keep = append(keep[:i], keep[i+1:]...)
		}
		l.entries = keep
		return l.rewrite()
	}
	if l.f == nil {
		f, err := os.OpenFile(l.name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("record generation: %w", err)
		}
		l.f = f
		if err := atomicfile.SyncDir(filepath.Dir(l.name)); err != nil {
			return fmt.Errorf("record generation: %w", err)
		}
	}
	b, _ := json.Marshal(&e)
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("record generation: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("record generation: %w", err)
	}
	return nil
}

// rewrite writes the entries to a new file, atomically.
func (l *genLog) rewrite() error {
	var b []byte
	for i := range l.entries {
		line, _ := json.Marshal(&l.entries[i])
		b = append(append(b, line...), '\n')
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	if err := atomicfile.Write(l.name, b, 0o640); err != nil {
		return fmt.Errorf("record generation: %w", err)
	}
	return nil
}

// close closes the append handle.
func (l *genLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
