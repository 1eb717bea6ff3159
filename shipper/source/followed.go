package source

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/atomicfile"
)

// followedName is the name of the record of followed sources in the state directory.
const followedName = "followed.log"

// A followedRec is what the state directory remembers of a source apart from its
// checkpoint: its stream id and, for a file, the identity of the file generation it
// follows and the logical offset of that file's first byte (Base).
type followedRec struct {
	Path   string `json:"path"`
	Forget bool   `json:"forget,omitempty"` // the source was removed from the state directory
	Stream uint64 `json:"stream,omitempty"`
	Dev    uint64 `json:"dev,omitempty"`
	Ino    uint64 `json:"ino,omitempty"`
	FPLen  int    `json:"fp_len,omitempty"`
	FP     uint64 `json:"fp,omitempty"`
	Base   uint64 `json:"base,omitempty"`
}

// checkpoint returns the checkpoint at the start of the recorded file generation (for a
// journal, or a file not seen yet: at Base, with no file). Resuming there resends the
// generation with the offsets it had, so collectors drop what they already wrote.
func (r *followedRec) checkpoint(path string) Checkpoint {
	return Checkpoint{Version: checkpointVersion, Path: path, Stream: r.Stream, Dev: r.Dev, Ino: r.Ino,
		FPLen: r.FPLen, FP: r.FP, Offset: r.Base}
}

// A followedLog is the record of followed sources: an append-only file of JSON lines, each
// prefixed with its CRC-32C, one line whenever a source gets a stream id or moves to
// another file generation (a rotation, a truncation), not on every checkpoint. It is
// loaded at start and compacted when most of its lines are outdated. Its methods are
// safe for concurrent use.
type followedLog struct {
	name string
	log  *slog.Logger

	mu      sync.Mutex // Guards the fields below.
	f       *os.File   // opened for appending on the first note
	recs    map[string]followedRec
	streams map[uint64]int       // stream id -> records holding it
	byID    map[[2]uint64]string // file generation (device, inode) -> the last path recorded with it
	lines   int
	// unsaved: paths whose record is known (in recs) but could not be written (a full
	// file system): written at their next note, or by the next compaction.
	unsaved map[string]bool
}

func openFollowed(name string, log *slog.Logger) (*followedLog, error) {
	l := &followedLog{name: name, log: log, recs: map[string]followedRec{}, unsaved: map[string]bool{}, streams: map[uint64]int{}, byID: map[[2]uint64]string{}}
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err // a *fs.PathError naming the file
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	bad := 0
	for sc.Scan() {
		l.lines++
		rec, ok := parseFollowed(sc.Bytes())
		if !ok {
			bad++
			continue
		}
		if rec.Forget {
			delete(l.recs, rec.Path)
		} else {
			l.recs[rec.Path] = rec
		}
	}
	if bad > 0 {
		log.Warn("record of followed sources has damaged lines; skipped", "file", name, "lines", bad)
	}
	for _, rec := range l.recs {
		l.streams[rec.Stream]++
		l.index(&rec)
	}
	if l.lines > 2*len(l.recs)+64 || bad > 0 {
		if err := l.compact(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// parseFollowed parses one line: 8 hex digits of CRC-32C, a space, the JSON record.
func parseFollowed(line []byte) (followedRec, bool) {
	crc, js, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(crc) != 8 {
		return followedRec{}, false
	}
	want, err := strconv.ParseUint(string(crc), 16, 32)
	if err != nil || envelope.Checksum(js) != uint32(want) {
		return followedRec{}, false
	}
	var rec followedRec
	if json.Unmarshal(js, &rec) != nil || rec.Path == "" || (!rec.Forget && rec.Stream == 0) {
		return followedRec{}, false
	}
	return rec, true
}

func appendFollowed(dst []byte, rec *followedRec) []byte {
	js, _ := json.Marshal(rec) // a struct of strings and numbers always encodes
	dst = fmt.Appendf(dst, "%08x ", envelope.Checksum(js))
	return append(append(dst, js...), '\n')
}

// compact rewrites the file with one line per source. l.mu must be held (or l unshared).
func (l *followedLog) compact() error {
	if err := faultState(l.name); err != nil {
		return fmt.Errorf("compact the record of followed sources: %w", err)
	}
	var b []byte
	for _, rec := range l.recs {
		b = appendFollowed(b, &rec)
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	if err := atomicfile.Write(l.name, b, 0o640); err != nil {
		return fmt.Errorf("compact the record of followed sources: %w", err)
	}
	clear(l.unsaved)
	l.lines = len(l.recs)
	return nil
}

// get returns the record of path.
func (l *followedLog) get(path string) (followedRec, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec, ok := l.recs[path]
	return rec, ok
}

// holding returns the path whose recorded file generation is dev, ino, and that record.
func (l *followedLog) holding(dev, ino uint64) (followedRec, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.byID[[2]uint64{dev, ino}]
	if !ok {
		return followedRec{}, false
	}
	rec, ok := l.recs[p]
	return rec, ok && rec.Dev == dev && rec.Ino == ino
}

// paths returns the recorded paths that keep accepts.
func (l *followedLog) paths(keep func(path string) bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ps []string
	for p := range l.recs {
		if keep(p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// note records cp's stream and file generation if they are new: a new source, another
// stream, another file or base offset, or a longer fingerprint than the recorded empty
// one (or the full one).
func (l *followedLog) note(cp *Checkpoint) error {
	rec := followedRec{Path: cp.Path, Stream: cp.Stream}
	if cp.HasFile() {
		rec.Dev, rec.Ino, rec.FPLen, rec.FP = cp.Dev, cp.Ino, cp.FPLen, cp.FP
		rec.Base = cp.Offset - uint64(cp.FileOffset)
	} else if !strings.HasPrefix(cp.Path, stdinPrefix) {
		rec.Base = cp.Offset // a file not there yet is read from its start, at this offset
	} // a journal's offsets are its own: the stream id is all it needs
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.recs[cp.Path]
	if ok && old.Stream == rec.Stream && old.Dev == rec.Dev && old.Ino == rec.Ino && old.Base == rec.Base &&
		!(rec.FPLen > old.FPLen && (old.FPLen == 0 || rec.FPLen == FingerprintLen)) {
		if l.unsaved[cp.Path] {
			if err := l.append(&old); err != nil {
				return err
			}
			delete(l.unsaved, cp.Path)
		}
		return nil
	}
	if ok && old.Stream == rec.Stream && old.Dev == rec.Dev && old.Ino == rec.Ino && old.Base == rec.Base {
		// Only the fingerprint grew; keep the longer one.
		old.FPLen, old.FP = rec.FPLen, rec.FP
		rec = old
	}
	// Not written (a full file system), the record is kept all the same: the source is
	// followed with it in this run (its stream known: Forgot), and it is written again
	// with the source's next note (every checkpoint saved notes it).
	err := l.append(&rec)
	if err != nil {
		l.unsaved[cp.Path] = true
	} else {
		delete(l.unsaved, cp.Path)
	}
	if ok {
		l.unindex(old.Stream)
		l.unindexID(&old)
	}
	l.recs[cp.Path] = rec
	l.streams[rec.Stream]++
	l.index(&rec)
	return err
}

// index records the file generation of rec; l.mu is held (or l unshared).
func (l *followedLog) index(rec *followedRec) {
	if rec.Dev != 0 || rec.Ino != 0 {
		l.byID[[2]uint64{rec.Dev, rec.Ino}] = rec.Path
	}
}

// unindexID drops the file generation of rec from the index; l.mu is held.
func (l *followedLog) unindexID(rec *followedRec) {
	if id := [2]uint64{rec.Dev, rec.Ino}; l.byID[id] == rec.Path {
		delete(l.byID, id)
	}
}

// unindex drops one record of stream from the index; l.mu is held.
func (l *followedLog) unindex(stream uint64) {
	if l.streams[stream]--; l.streams[stream] <= 0 {
		delete(l.streams, stream)
	}
}

// knows reports whether a source of the state directory has stream: it may still
// return chunks of it.
func (l *followedLog) knows(stream uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.streams[stream] > 0
}

// forget records that path was removed.
func (l *followedLog) forget(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.recs[path]
	if !ok {
		return nil
	}
	if err := l.append(&followedRec{Path: path, Forget: true}); err != nil && !l.unsaved[path] {
		return err // (a record never written needs no forgetting)
	}
	delete(l.unsaved, path)
	delete(l.recs, path)
	l.unindex(old.Stream)
	l.unindexID(&old)
	return nil
}

// append writes one line and fsyncs it; l.mu must be held.
func (l *followedLog) append(rec *followedRec) error {
	if l.lines > 2*len(l.recs)+64 {
		if err := l.compact(); err != nil {
			return err
		}
	}
	if l.f == nil {
		_, serr := os.Stat(l.name)
		f, err := os.OpenFile(l.name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return err // a *fs.PathError naming the file
		}
		if errors.Is(serr, fs.ErrNotExist) {
			if err := atomicfile.SyncDir(filepath.Dir(l.name)); err != nil {
				f.Close()
				return fmt.Errorf("create %s: %w", l.name, err)
			}
		}
		l.f = f
	}
	fi, serr := l.f.Stat()
	if err := faultState(l.name); err != nil {
		return err
	}
	if _, err := l.f.Write(appendFollowed(nil, rec)); err != nil {
		// A short write (a full file system) leaves a torn line: the file is cut back
		// to where it ended, else the next record would be appended to the torn one
		// and both lost at the next load.
		if serr == nil {
			l.f.Truncate(fi.Size())
		}
		return err // a *fs.PathError naming the file
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	l.lines++
	return nil
}

func (l *followedLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// pathOf returns the path recorded with stream ("" when none is).
func (l *followedLog) pathOf(stream uint64) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, rec := range l.recs {
		if rec.Stream == stream {
			return p
		}
	}
	return ""
}
