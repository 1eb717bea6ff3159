package collector

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/logspread/logspread/internal/atomicfile"
)

// The collector's state is two files in the state directory: the snapshot
// (StateFileName, written whole and atomically by SaveState) and beside it the journal
// (StateFileName + JournalSuffix), to which each flush cycle appends one record of
// what changed since the last save: the streams, logs and expired records that
// changed, and the intent of the frames about to be written. A save costs what
// changed, not the number of streams kept. Once the journal outgrows the snapshot
// (twice its size, at least minCompact), the next save writes a new snapshot and
// empties the journal: the cost of snapshots, spread over the records it replaces,
// stays proportional to the changes.
//
// Each record carries a sequence number one above the one before; the snapshot
// holds the number of the last change it includes (version 6, "seq"), and loading
// applies only the records above it, so a crash between a new snapshot and the
// emptying of the journal changes nothing. A record is
//
//	length (4 bytes, little endian) | CRC-32C of the payload (4 bytes) | payload (JSON)
//
// after the journal's header line (journalMagic). A crash can tear only the last
// record, which was never acted on (frames are written after their record is
// durable): loading stops at the first record that is short or fails its checksum,
// and the next save overwrites it.

// JournalSuffix is appended to the state file's name to name its journal.
const JournalSuffix = ".journal"

// journalMagic starts every journal: its format and version.
var journalMagic = []byte("logspread collector state journal v1\n")

// minCompact is the journal size below which a save never writes a new snapshot (a
// variable for tests).
var minCompact int64 = 256 << 10

// maxRecord bounds a journal record's length (a larger one is corrupt).
const maxRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stateDelta is one journal record: the new state of each stream, log and expired
// record that changed (nil: removed), and the intent of the save (nil: none).
type stateDelta struct {
	Streams map[uint64]*StreamState
	Logs    map[string]*LogState
	Expired map[uint64]*StreamState
	Intent  []FrameIntent
}

type deltaFile struct {
	Seq     uint64                  `json:"seq"`
	Streams map[string]*StreamState `json:"streams,omitempty"`
	Logs    map[string]*LogState    `json:"logs,omitempty"`
	Expired map[string]*StreamState `json:"expired,omitempty"`
	Intent  []frameIntentFile       `json:"intent,omitempty"`
}

// stateStore saves the collector's state: whole (snapshot) or as journal records.
// It is owned by the writer goroutine.
type stateStore struct {
	path     string
	seq      uint64   // the sequence number of the last save
	j        *os.File // the journal, open for appending records (nil: not yet)
	jsize    int64    // end of its last good record
	snapSize int64    // the snapshot's size
	buf      []byte
}

func journalPath(path string) string { return path + JournalSuffix }

// openStateStore loads the state at path (snapshot and journal) and returns a store
// that saves after it.
func openStateStore(path string) (*stateStore, State, error) {
	st, seq, snap, err := loadState(path)
	if err != nil {
		return nil, State{}, err
	}
	return &stateStore{path: path, seq: seq, snapSize: snap}, st, nil
}

// wantsFull reports whether the next save should be a snapshot: no journal yet, the
// journal outgrew the snapshot, or the journal's name no longer points to the file
// open (the state directory was moved, removed or replaced: records appended to it
// would be lost, so the snapshot is written, or fails, by name).
func (s *stateStore) wantsFull() bool {
	if s.j == nil || s.jsize > max(minCompact, 2*s.snapSize) {
		return true
	}
	open, err := s.j.Stat()
	if err != nil {
		s.closeJournal()
		return true
	}
	named, err := os.Stat(journalPath(s.path))
	if err != nil || !os.SameFile(open, named) {
		s.closeJournal()
		return true
	}
	return false
}

// saveFull writes st as a new snapshot and empties the journal.
func (s *stateStore) saveFull(st State) error {
	b, err := marshalState(st, s.seq+1)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := atomicfile.Write(s.path, b, 0o640); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	s.seq++
	s.snapSize = int64(len(b))
	// The journal's records are all at or below the snapshot's number now: empty it.
	if err := s.resetJournal(); err != nil {
		s.closeJournal() // the next save writes a snapshot again
		return fmt.Errorf("save state: empty the journal: %w", err)
	}
	return nil
}

// resetJournal opens (creating it if needed) and empties the journal, leaving its
// header, durably.
func (s *stateStore) resetJournal() error {
	if s.j == nil {
		f, err := os.OpenFile(journalPath(s.path), os.O_RDWR|os.O_CREATE, 0o640)
		if err != nil {
			return err
		}
		s.j = f
		if err := atomicfile.SyncDir(filepath.Dir(s.path)); err != nil {
			return err
		}
	}
	if err := s.j.Truncate(0); err != nil {
		return err
	}
	if _, err := s.j.WriteAt(journalMagic, 0); err != nil {
		return err
	}
	if err := s.j.Sync(); err != nil {
		return err
	}
	s.jsize = int64(len(journalMagic))
	return nil
}

// saveDelta appends d to the journal as the next record and makes it durable. On
// error the journal is cut back to its last good record.
func (s *stateStore) saveDelta(d stateDelta) error {
	if s.j == nil {
		return errors.New("save state: no journal")
	}
	f := deltaFile{Seq: s.seq + 1, Intent: intentFile(d.Intent)}
	if len(d.Streams) > 0 {
		f.Streams = make(map[string]*StreamState, len(d.Streams))
		for id, st := range d.Streams {
			f.Streams[streamKey(id)] = st
		}
	}
	if len(d.Expired) > 0 {
		f.Expired = make(map[string]*StreamState, len(d.Expired))
		for id, st := range d.Expired {
			f.Expired[streamKey(id)] = st
		}
	}
	if len(d.Logs) > 0 {
		f.Logs = d.Logs
	}
	s.buf = append(s.buf[:0], make([]byte, 8)...)
	var err error
	if s.buf, err = appendJSON(s.buf, f); err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	payload := s.buf[8:]
	binary.LittleEndian.PutUint32(s.buf[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(s.buf[4:8], crc32.Checksum(payload, castagnoli))
	if _, err := s.j.WriteAt(s.buf, s.jsize); err != nil {
		_ = s.j.Truncate(s.jsize)
		return fmt.Errorf("save state: journal: %w", err)
	}
	if err := s.j.Sync(); err != nil {
		_ = s.j.Truncate(s.jsize)
		return fmt.Errorf("save state: journal: %w", err)
	}
	s.jsize += int64(len(s.buf))
	s.seq++
	return nil
}

// appendJSON appends v's compact JSON encoding to b.
func appendJSON(b []byte, v any) ([]byte, error) {
	w := bytes.NewBuffer(b)
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

func (s *stateStore) closeJournal() {
	if s.j != nil {
		_ = s.j.Close()
		s.j = nil
	}
}

// close releases the journal.
func (s *stateStore) close() { s.closeJournal() }

// loadState reads the snapshot at path and applies the journal's records above its
// sequence number. It returns the state, the number of the last change it holds and
// the snapshot's size.
func loadState(path string) (State, uint64, int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		// No snapshot: a first start (a journal is never written before a snapshot).
		return State{Streams: map[uint64]StreamState{}, Logs: map[string]LogState{}}, 0, 0, nil
	}
	if err != nil {
		return State{}, 0, 0, fmt.Errorf("read state file: %w", err)
	}
	st, seq, err := unmarshalState(b)
	if err != nil {
		return State{}, 0, 0, fmt.Errorf("state file %s: %w", path, err)
	}
	jb, err := os.ReadFile(journalPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return st, seq, int64(len(b)), nil
	}
	if err != nil {
		return State{}, 0, 0, fmt.Errorf("read state journal: %w", err)
	}
	seq, err = applyJournal(&st, seq, jb)
	if err != nil {
		return State{}, 0, 0, fmt.Errorf("state journal %s: %w", journalPath(path), err)
	}
	return st, seq, int64(len(b)), nil
}

// applyJournal applies the records of journal b above seq to st, in order, and
// returns the number of the last one applied. It stops at a torn last record.
func applyJournal(st *State, seq uint64, b []byte) (uint64, error) {
	if len(b) < len(journalMagic) {
		if bytes.HasPrefix(journalMagic, b) {
			return seq, nil // created, header torn: no record
		}
		return seq, fmt.Errorf("%w: not a state journal", ErrCorruptState)
	}
	if !bytes.Equal(b[:len(journalMagic)], journalMagic) {
		if bytes.HasPrefix(b, []byte("logspread collector state journal")) {
			return seq, fmt.Errorf("%w: journal %q", ErrStateVersion, bytes.TrimSpace(b[:len(journalMagic)]))
		}
		return seq, fmt.Errorf("%w: not a state journal", ErrCorruptState)
	}
	b = b[len(journalMagic):]
	for len(b) >= 8 {
		n := binary.LittleEndian.Uint32(b[0:4])
		if n > maxRecord || int(n) > len(b)-8 {
			break // torn
		}
		payload := b[8 : 8+n]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:8]) {
			break // torn
		}
		b = b[8+n:]
		var f deltaFile
		if err := decodeStrict(payload, &f); err != nil {
			return seq, err
		}
		switch {
		case f.Seq <= seq:
			continue // in the snapshot already
		case f.Seq != seq+1:
			return seq, fmt.Errorf("%w: journal record %d follows %d", ErrCorruptState, f.Seq, seq)
		}
		if err := applyDelta(st, &f); err != nil {
			return seq, err
		}
		seq = f.Seq
	}
	return seq, nil
}

// applyDelta applies one journal record to st.
func applyDelta(st *State, f *deltaFile) error {
	for k, ss := range f.Streams {
		id, err := parseStreamKey(k)
		if err != nil {
			return err
		}
		if ss == nil {
			delete(st.Streams, id)
			continue
		}
		if !validRangeSet(ss.Written) {
			return fmt.Errorf("%w: journal record %d: stream %s: written spans not sorted and disjoint", ErrCorruptState, f.Seq, k)
		}
		st.Streams[id] = *ss
	}
	for k, rec := range f.Expired {
		id, err := parseStreamKey(k)
		if err != nil {
			return err
		}
		if rec == nil {
			delete(st.Expired, id)
			continue
		}
		if len(rec.Written) > 1 || !validRangeSet(rec.Written) || len(rec.Groups) > 0 {
			return fmt.Errorf("%w: journal record %d: expired stream %s: want a base and at most one written span", ErrCorruptState, f.Seq, k)
		}
		if st.Expired == nil {
			st.Expired = make(map[uint64]StreamState)
		}
		st.Expired[id] = *rec
	}
	if len(st.Expired) == 0 {
		st.Expired = nil
	}
	for name, ls := range f.Logs {
		if ls == nil {
			delete(st.Logs, name)
			continue
		}
		st.Logs[name] = *ls
	}
	intent, err := decodeIntent(f.Intent)
	if err != nil {
		return fmt.Errorf("journal record %d: %w", f.Seq, err)
	}
	st.Intent = intent
	return nil
}
