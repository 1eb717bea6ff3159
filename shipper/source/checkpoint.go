package source

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/atomicfile"
)

// FingerprintLen is the most bytes of a file's head that its fingerprint hashes.
const FingerprintLen = 1024

// LossGap is how far a stream's logical offset jumps when a restart cannot resume exactly
// at its checkpoint: more than any unacknowledged window, so that no offset is reused.
const LossGap uint64 = 1 << 32

// checkpointVersion is the version written in checkpoint files: a JSON envelope holding
// the checkpoint and its CRC-32C. Version 1 files (the bare checkpoint, no checksum) still
// load.
const checkpointVersion = 2

// legacyCheckpointVersion is the version of checkpoint files without a checksum.
const legacyCheckpointVersion = 1

// A Checkpoint says where a source resumes: the first byte not yet acknowledged.
type Checkpoint struct {
	Version int    `json:"version"`
	Path    string `json:"path"`   // source path, or "stdin:NAME" for a journal
	Stream  uint64 `json:"stream"` // random stream id, created once per source

	// File identity; all zero when no file was open.
	Dev   uint64 `json:"dev,omitempty"`
	Ino   uint64 `json:"ino,omitempty"`
	FPLen int    `json:"fp_len,omitempty"` // bytes hashed, at most FingerprintLen
	FP    uint64 `json:"fp,omitempty"`     // FNV-1a 64 of the first FPLen bytes

	FileOffset int64  `json:"file_offset"` // byte offset in the file (journal offset for stdin)
	Offset     uint64 `json:"offset"`      // logical offset in the stream
	LineOff    uint64 `json:"line_off,omitempty"`
	// MTime (Unix nanoseconds) is the modification time of the file when the tailer last
	// looked at it, or, with no file, the time from which rotated files are new
	// generations: a restart drains the rotated files changed after it that it would
	// otherwise not know of (a copy made before any byte was read, generations rotated
	// while no file was followed).
	MTime int64 `json:"mtime,omitempty"`
	// Began (Unix nanoseconds) is the modification time of the file when the tailer
	// first looked at the generation (its first look after a truncation): a copytruncate
	// copy of the generation is not older. Absent (0) in checkpoints written before it
	// was recorded: MTime bounds the search for the copy instead.
	Began int64 `json:"began,omitempty"`
	// LineOff is the number of bytes of a fragmented line already sent before Offset:
	// non-zero only when resuming in the middle of an over-long line. With no file (the
	// line's file was gone at a restart, and the run stopped before it ended the line)
	// the line's rest is lost: the next run terminates it first.

	// Size is the file's size when the tailer last looked at it (the largest seen): a
	// restart that finds the file gone knows that Size-FileOffset bytes after the
	// checkpoint are lost. Absent (0) in checkpoints written before it was recorded: a
	// Size below FileOffset, or 0, is unknown.
	Size int64 `json:"size,omitempty"`
	// Stopped marks the checkpoint saved when the source was closed (the end of a run,
	// a reload): Reach is then the logical offset past every byte that run returned, so
	// that a restart which finds the checkpointed file gone knows which offsets the
	// stream used after the checkpoint and continues right after them (exactly) instead
	// of jumping by LossGap. A run that returned nothing past the Reach of the stop
	// checkpoint it resumed from saves that Reach (and its ReachInLine) again: the
	// stream still ends there. Any later save (the next run's first) drops both, and so
	// does a fallback to the previous copy (Store.Load). It is saved without fsyncs
	// (Store.saveStop). A stdin journal's stop checkpoint (fsynced, Journal.stopSave) has
	// Size set to the journal's end: a restart that finds the journal's input file
	// damaged still knows exactly which offsets the stream used (see Journal.cutCheck).
	Stopped bool   `json:"stopped,omitempty"`
	Reach   uint64 `json:"reach,omitempty"`
	// ReachInLine, with Stopped, says that Reach ends inside a line: the last bytes that
	// run returned were a piece of a line longer than the chunk bound, its end not sent.
	// A restart that finds the file gone and continues at Reach terminates that line
	// first (its end is lost), so that the next generation's first line is not joined to
	// it. Absent (false) in stop checkpoints written before it was recorded.
	ReachInLine bool `json:"reach_in_line,omitempty"`
	// HeadEnds: the head's first line ends (the length of the head up to each, and the
	// fingerprint of those bytes; at most 16). A file shrunk below the checkpoint while
	// the shipper was down (truncate -s N) to fewer bytes than the head is known by them
	// to still start with lines read: it is read again from its start, the bytes read
	// again counted (Tailer.rereadLog). Absent in checkpoints written before they were
	// recorded (such a file is then read from its start too).
	HeadEnds []lineEnd `json:"head_ends,omitempty"`
	// LastLen and LastCRC: the last line read before FileOffset (its length with its
	// '\n', at most 64 KiB, and the CRC-32C of its bytes), when FileOffset ends a line
	// the tailer read or resumed after. A restart checks that the file still holds it
	// there: a file truncated and written again in place while the shipper was down,
	// starting with the same head (a banner, a CSV or W3C header) and now at least as
	// long, is not the content read, and is read again from its start
	// (Tailer.resumeShrunk). Absent (0) in checkpoints written before they were recorded,
	// or when that line is not known (then only the head is checked).
	LastLen int    `json:"last_len,omitempty"`
	LastCRC uint32 `json:"last_crc,omitempty"`
	// Born is the file's birth time (statx's btime, Unix nanoseconds; bornOf) when the
	// tailer opened it: a restart that finds a file with the checkpoint's device and
	// inode in another source's directory (Glob.resumeKnown, movedIn) takes it for the
	// checkpointed file only if it was born then, not a file given the deleted one's
	// inode number since that starts with the same bytes. Absent (0) where the file
	// system does not keep it, and in checkpoints written before it was recorded.
	Born int64 `json:"born,omitempty"`
	// Skip, SkipAt and SkipEnd: a skip the stream has yet to make in the checkpointed
	// generation, which shrank (truncate -s N) below what a run before read of it: once
	// the file is read up to file offset SkipAt (at or past FileOffset), the stream goes
	// on at logical offset SkipEnd, after the offsets the old content used (0: not
	// known, a run crashed: past every offset used, by LossGap; Tailer.skipOld). A
	// restart from such a checkpoint makes the same skip; computed again from the file,
	// shrunk already, it would not know of the old content and reuse its offsets.
	Skip    bool   `json:"skip,omitempty"`
	SkipAt  int64  `json:"skip_at,omitempty"`
	SkipEnd uint64 `json:"skip_end,omitempty"`
	// Unannounced and AnnounceFrom: a start checkpoint (saved when the source opened)
	// past offsets the stream skipped at that resume (bytes destroyed, a generation
	// gone, a jump by LossGap), which no chunk has announced yet: the run resumed from
	// AnnounceFrom (the checkpoint it loaded, acknowledged). A restart from it announces
	// them with its first chunk (Chunk.Lost counts from AnnounceFrom, and the unused
	// parts, which the record of generations keeps, are in Chunk.Unused), so that a run
	// killed before it sent that chunk does not leave the skip unannounced: collectors
	// would never count that gap, or count a jump's unused offsets as lost bytes. The
	// checkpoint of an acknowledged chunk has neither (the announcement was ordered
	// before the chunk). Absent (false) in checkpoints written before they were recorded.
	Unannounced  bool   `json:"unannounced,omitempty"`
	AnnounceFrom uint64 `json:"announce_from,omitempty"`
	// Target, for a path that leads through symlinks: the name the checkpointed file had
	// when it was last seen (where the path resolved when it was opened there, or the
	// name it was followed under away from the path: an old target lingering). A restart
	// that finds the path leading to another file (a deployment's "current" link switched
	// to another release, while the shipper was down or behind) finds the checkpointed
	// file there, by its identity, and drains it (atName, in Tailer.resume): it is no rotated
	// name of the path, and was otherwise taken for gone. Absent for a path without
	// symlinks, and in checkpoints written before it was recorded.
	Target string `json:"target,omitempty"`
}

// holdsLast reports whether f still holds, before the checkpoint's file offset, the
// last line read there (LastLen, LastCRC); true when that line is not known.
func (c *Checkpoint) holdsLast(f io.ReaderAt) bool {
	if c.LastLen <= 0 || int64(c.LastLen) > c.FileOffset {
		return true
	}
	ok, err := holdsLine(f, c.FileOffset, c.LastLen, c.LastCRC)
	return err != nil || ok // unreadable: told by the next read, not taken for new content
}

// knownSize returns the size the checkpoint knew of its file, or -1 when it is unknown
// (a checkpoint written before sizes were recorded).
func (c *Checkpoint) knownSize() int64 {
	if c.Size < c.FileOffset || c.Size == 0 && !c.Stopped {
		return -1
	}
	return c.Size
}

// stdinPrefix starts the path of a journal's checkpoint ("stdin:NAME").
const stdinPrefix = "stdin:"

// HasFile reports whether the checkpoint names a file identity.
func (c *Checkpoint) HasFile() bool { return c.Dev != 0 || c.Ino != 0 }

// fingerprint returns the FNV-1a 64 hash of b.
func fingerprint(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// fingerprintFile hashes the first n bytes of f; ok is false when f is shorter.
func fingerprintFile(f *os.File, n int) (uint64, bool, error) {
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, false, nil
		}
		return 0, false, err
	}
	return fingerprint(b), true, nil
}

// newStreamID returns a random non-zero stream id.
func newStreamID() uint64 {
	for {
		var b [8]byte
		rand.Read(b[:])
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// A Store keeps the checkpoints of the sources in a state directory, and what it needs to
// trust them:
//
//   - one checkpoint file per source (ckpt-KEY.json, KEY a hash of the source path, never
//     the path itself), a JSON envelope with the checkpoint's CRC-32C, replaced atomically;
//   - the previous good copy (ckpt-KEY.json.prev): every save first moves the current file
//     there, so a checkpoint that is corrupt (zeroed by a crash, damaged) or missing falls
//     back to the one before it, with a warning and
//     logspread_shipper_checkpoint_fallbacks_total. Resuming from an older checkpoint
//     resends lines collectors already wrote; they drop them by offset;
//   - the record of followed sources (followed.log, see followedLog): the stream id of every
//     source and the identity and logical offset of the file generation it follows, kept
//     apart from the checkpoints. A source whose checkpoint and previous copy are both gone
//     resumes from there: at the start of the file it followed (with the same stream and
//     offsets, so collectors drop what they wrote), never at the end of the file as a new
//     source would.
//
// A checkpoint that is corrupt with no usable fallback is ErrCorruptCheckpoint: the
// shipper stops and says how to reset that source (Config.Reset).
//
// Its methods are safe for concurrent use for different paths; saves of one path must be
// ordered by the caller.
type Store struct {
	dir      string
	log      *slog.Logger
	m        *Metrics // nil: not counted
	followed *followedLog
	left     *leftIndex // the generations the streams left (a glob match that is one is not new)
	health   *stateHealth

	forgot chan struct{} // capacity 1: signalled after Remove (see Forgotten)
	// missingTold: a checkpoint file found missing was logged (the others at debug level).
	missingTold atomic.Bool

	mu  sync.Mutex      // Guards the field below.
	bad map[string]bool // paths whose checkpoint file was found corrupt: not moved to .prev
}

// OpenStore creates dir if needed and returns a Store in it.
func OpenStore(dir string) (*Store, error) {
	return openStore(dir, slog.New(slog.DiscardHandler), nil)
}

func openStore(dir string, log *slog.Logger, m *Metrics) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty state dir", ErrConfig)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	fl, err := openFollowed(filepath.Join(dir, followedName), log)
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, log: log, m: m, health: &stateHealth{log: log, m: m}, followed: fl, left: newLeftIndex(dir), bad: map[string]bool{}, forgot: make(chan struct{}, 1)}, nil
}

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

// key returns the hash naming path's files in the state directory.
func key(path string) string {
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:16])
}

// File returns the checkpoint file of path.
func (s *Store) File(path string) string {
	return filepath.Join(s.dir, "ckpt-"+key(path)+".json")
}

// globFile returns the marker of a glob pattern (cleaned, absolute) in the state
// directory: it exists once the pattern was followed from it.
func (s *Store) globFile(pattern string) string {
	return filepath.Join(s.dir, "glob-"+key(pattern))
}

// A globMark is what the state directory says of a glob pattern (Store.followedGlob).
type globMark struct {
	// before: the pattern was followed from this state directory before (a marker).
	before bool
	// salt: the salt that names the streams of its matches (matchStream); 0 in a marker
	// written before salts were.
	salt uint64
	// named: the salt is held by the name of an empty marker only (markGlobNamed: the
	// state directory was full), the marker's content is yet to be written.
	named bool
}

// followedGlob reports whether pattern was followed from this state directory before
// (markGlob or markGlobNamed), and the salt its marker holds.
func (s *Store) followedGlob(pattern string) (globMark, error) {
	var m globMark
	b, err := os.ReadFile(s.globFile(pattern))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return globMark{}, err
	default:
		m.before = true
		_, rest, _ := strings.Cut(string(b), "\n")
		if v, ok := strings.CutPrefix(strings.TrimSpace(rest), "salt "); ok {
			m.salt, _ = strconv.ParseUint(v, 16, 64)
		}
	}
	if m.salt != 0 {
		return m, nil
	}
	// No marker, or one without a salt: an empty marker named for a salt may hold it
	// (listed only then: a state directory may hold thousands of checkpoints).
	names, err := s.namedGlobMarks(pattern)
	if err != nil {
		return globMark{}, err
	}
	for _, n := range names {
		if salt, err := strconv.ParseUint(strings.TrimPrefix(n, s.namedGlobPrefix(pattern)), 16, 64); err == nil && salt != 0 {
			return globMark{before: true, salt: salt, named: true}, nil
		}
	}
	return m, nil
}

// markGlob records that pattern is followed: the marker holds the pattern (for whoever
// looks, sourceDirs) and salt, which names the streams of its matches that appear later
// (matchStream).
func (s *Store) markGlob(pattern string, salt uint64) error {
	if err := faultState(s.globFile(pattern)); err != nil {
		return err
	}
	return atomicfile.Write(s.globFile(pattern), fmt.Appendf(nil, "%s\nsalt %016x\n", pattern, salt), 0o640)
}

// namedGlobPrefix is what the name of pattern's empty marker begins with, before its
// salt in hexadecimal (glob-KEY.salt-SALT).
func (s *Store) namedGlobPrefix(pattern string) string {
	return filepath.Base(s.globFile(pattern)) + ".salt-"
}

// markGlobNamed records that pattern is followed, with salt, in the name of an empty
// file: what markGlob writes when the state directory is full (ENOSPC, EDQUOT), since
// a file without data needs an inode and a directory entry but no data block, which a
// full tmpfs or ext4 usually still has. It does not hold the pattern: markGlob is
// written once space is back (Glob.mark), and the empty marker removed then.
func (s *Store) markGlobNamed(pattern string, salt uint64) error {
	name := filepath.Join(s.dir, fmt.Sprintf("%s%016x", s.namedGlobPrefix(pattern), salt))
	if err := faultCreate(name); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return atomicfile.SyncDir(s.dir)
}

// namedGlobMarks returns the names of pattern's empty markers (markGlobNamed), sorted.
func (s *Store) namedGlobMarks(pattern string) ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	prefix := s.namedGlobPrefix(pattern)
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// dropNamedGlobMarks removes pattern's empty markers: its marker was written
// (markGlob), or the record that it is followed is withdrawn (unmarkGlob).
func (s *Store) dropNamedGlobMarks(pattern string) error {
	names, err := s.namedGlobMarks(pattern)
	for _, n := range names {
		if rerr := os.Remove(filepath.Join(s.dir, n)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// unmarkGlob withdraws the record that pattern is followed (both markers): a first
// start closed before it read anything (a shipper whose start is retried, waiting for
// space) leaves the pattern's next start a first start, reading the matches there from
// their end, not every match without a checkpoint from its beginning.
func (s *Store) unmarkGlob(pattern string) error {
	err := os.Remove(s.globFile(pattern))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if derr := s.dropNamedGlobMarks(pattern); err == nil {
		err = derr
	}
	return err
}

// sourceDirs returns the directories the sources of the state directory, and sources
// (Config.Sources), follow files in, sorted: those the patterns marked as followed
// (markGlob) and sources match, and those of the paths it keeps a stream of (stdin's
// journal aside). A file moved from one source's
// directory to another's is looked for there by identity (Glob.movedIn).
func (s *Store) sourceDirs(sources []string) []string {
	dirs := map[string]bool{}
	addDirs := func(pattern string) {
		ms, _ := filepath.Glob(filepath.Dir(pattern))
		for _, m := range ms {
			dirs[filepath.Clean(m)] = true
		}
	}
	for _, p := range sources {
		if p != StdinSource {
			addDirs(p)
		}
	}
	if ents, err := os.ReadDir(s.dir); err == nil {
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), "glob-") || !e.Type().IsRegular() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
			if err != nil {
				continue
			}
			pattern, _, _ := strings.Cut(string(b), "\n")
			if pattern != "" {
				addDirs(pattern)
			}
		}
	}
	for _, p := range s.Known(func(p string) bool { return !strings.HasPrefix(p, stdinPrefix) }) {
		dirs[filepath.Dir(p)] = true
	}
	return slices.Sorted(maps.Keys(dirs))
}

// prevFile returns the previous copy of path's checkpoint file.
func (s *Store) prevFile(path string) string { return s.File(path) + ".prev" }

// ckptFile is the envelope of a checkpoint file (version 2). Version 1 files are the bare
// Checkpoint.
type ckptFile struct {
	Version    int             `json:"version"`
	CRC        *uint32         `json:"crc32c,omitempty"`
	Checkpoint json.RawMessage `json:"checkpoint,omitempty"`
}

// decodeCheckpoint parses a checkpoint file of path (version 2, or 1 without a checksum).
func decodeCheckpoint(b []byte, path string) (Checkpoint, error) {
	var env ckptFile
	if err := json.Unmarshal(b, &env); err != nil {
		return Checkpoint{}, err
	}
	var cp Checkpoint
	switch env.Version {
	case checkpointVersion:
		if env.CRC == nil || len(env.Checkpoint) == 0 {
			return Checkpoint{}, errors.New("no checkpoint or checksum")
		}
		if got := envelope.Checksum(env.Checkpoint); got != *env.CRC {
			return Checkpoint{}, fmt.Errorf("checksum %08x, want %08x", got, *env.CRC)
		}
		if err := json.Unmarshal(env.Checkpoint, &cp); err != nil {
			return Checkpoint{}, err
		}
		cp.Version = checkpointVersion
	case legacyCheckpointVersion:
		if err := json.Unmarshal(b, &cp); err != nil {
			return Checkpoint{}, err
		}
		cp.Version = checkpointVersion
	default:
		return Checkpoint{}, fmt.Errorf("version %d", env.Version)
	}
	switch {
	case cp.Path != path:
		return Checkpoint{}, fmt.Errorf("holds path %q, want %q", cp.Path, path)
	case cp.Stream == 0 || cp.FileOffset < 0 || cp.FPLen < 0 || cp.FPLen > FingerprintLen || cp.Size < 0:
		return Checkpoint{}, errors.New("bad fields")
	}
	return cp, nil
}

// encodeCheckpoint returns the file content of cp (version 2).
func encodeCheckpoint(cp Checkpoint) ([]byte, error) {
	cp.Version = checkpointVersion
	inner, err := json.Marshal(&cp)
	if err != nil {
		return nil, err
	}
	crc := envelope.Checksum(inner)
	b, err := json.Marshal(&ckptFile{Version: checkpointVersion, CRC: &crc, Checkpoint: inner})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// readCheckpoint reads and decodes one checkpoint file; found is false when it does not
// exist, and a decoding error is ErrCorruptCheckpoint naming the file.
func readCheckpoint(name, path string) (cp Checkpoint, found bool, err error) {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint: %w", err)
	}
	cp, err = decodeCheckpoint(b, path)
	if err != nil {
		what := "cannot be decoded"
		if len(bytes.Trim(b, "\x00")) == 0 {
			what = fmt.Sprintf("holds %d NUL bytes (zeroed by a crash?)", len(b))
		}
		return Checkpoint{}, true, fmt.Errorf("%w %s: %s: %w", ErrCorruptCheckpoint, name, what, err)
	}
	return cp, true, nil
}

// Load returns the checkpoint of path; found is false when the state directory has never
// followed path. A corrupt or missing checkpoint file falls back to its previous copy,
// then to the record of followed sources (a checkpoint at the start of the followed file
// generation), with a warning each. A corrupt file without either is
// ErrCorruptCheckpoint naming it.
func (s *Store) Load(path string) (cp Checkpoint, found bool, err error) {
	cp, found, _, err = s.load(path)
	return cp, found, err
}

// load is Load; fellBack reports a checkpoint from a fallback (the previous copy or the
// record of followed sources): older than the last one saved, so data the source freed
// after it (journal segments) was acknowledged, not lost.
func (s *Store) load(path string) (cp Checkpoint, found, fellBack bool, err error) {
	cp, found, err = readCheckpoint(s.File(path), path)
	if err == nil && found {
		return cp, true, false, nil
	}
	if err != nil && !errors.Is(err, ErrCorruptCheckpoint) {
		return Checkpoint{}, false, false, err
	}
	corrupt := err
	if corrupt != nil {
		s.mu.Lock()
		s.bad[path] = true
		s.mu.Unlock()
		if s.m != nil {
			s.m.CheckpointsCorrupt.Inc()
		}
	}
	why := "checkpoint file missing"
	if corrupt != nil {
		why = corrupt.Error()
	}
	prev, pfound, perr := readCheckpoint(s.prevFile(path), path)
	switch {
	case perr != nil && !errors.Is(perr, ErrCorruptCheckpoint):
		return Checkpoint{}, false, false, perr
	case perr != nil:
		if s.m != nil {
			s.m.CheckpointsCorrupt.Inc()
		}
		s.log.Warn("previous copy of the checkpoint is corrupt too", "source", path, "err", perr)
	case pfound:
		// The previous copy may be the stop checkpoint of a run before the last one: its
		// Reach says nothing of the offsets the last run used.
		prev.Stopped, prev.Reach, prev.ReachInLine = false, 0, false
		s.fallback()
		s.log.Warn("checkpoint unusable; resuming from its previous copy (collectors drop lines sent twice)",
			"source", path, "why", why, "file", s.prevFile(path), "offset", prev.Offset)
		return prev, true, true, nil
	}
	if rec, ok := s.followed.get(path); ok {
		s.fallback()
		cp := rec.checkpoint(path)
		log := s.log.Warn
		attrs := []any{"source", path, "why", why, "record", s.followed.name, "offset", cp.Offset}
		if corrupt == nil {
			// Missing, not corrupt: what a full state directory leaves of every file
			// followed meanwhile (hundreds at a restart). Told once; counted each.
			if s.missingTold.Swap(true) {
				log = s.log.Debug
			}
			attrs = append(attrs, "note", "other sources whose checkpoint file is missing resume the same way, logged at debug level (logspread_shipper_checkpoint_fallbacks_total counts each)")
		}
		log("checkpoint unusable; resuming at the start of the followed file (collectors drop lines sent twice)", attrs...)
		return cp, true, true, nil
	}
	if corrupt != nil {
		return Checkpoint{}, false, false, corrupt
	}
	return Checkpoint{}, false, false, nil
}

func (s *Store) fallback() {
	if s.m != nil {
		s.m.CheckpointFallbacks.Inc()
	}
}

// Save writes cp atomically (a temporary file written and fsynced, renamed over the
// checkpoint file, the directory fsynced), after moving the current checkpoint file to
// the previous copy. It records a new stream or file generation of cp.Path in the record
// of followed sources first.
func (s *Store) Save(cp Checkpoint) error {
	return s.save(cp, true)
}

// saveStop saves a stop checkpoint (cp.Stopped) as Save does, but without fsyncs: one per
// followed file at every stop and reload would cost seconds with a thousand files. It is
// a hint: lost or torn by a power loss, the restart falls back to the previous copy (the
// last acknowledged position, saved with fsyncs), whose stop mark is dropped, and a
// checkpointed file found gone then makes the stream jump instead of continuing exactly.
func (s *Store) saveStop(cp Checkpoint) error {
	return s.save(cp, false)
}

func (s *Store) save(cp Checkpoint, sync bool) error {
	err := s.saveFile(cp, sync)
	if err != nil {
		s.health.fail("checkpoint of "+cp.Path, err)
	} else {
		s.health.ok()
	}
	return err
}

func (s *Store) saveFile(cp Checkpoint, sync bool) error {
	b, err := encodeCheckpoint(cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := s.followed.note(&cp); err != nil {
		return err
	}
	name := s.File(cp.Path)
	s.mu.Lock()
	bad := s.bad[cp.Path]
	delete(s.bad, cp.Path)
	s.mu.Unlock()
	if !bad {
		if err := s.keepPrev(name, s.prevFile(cp.Path)); err != nil {
			return fmt.Errorf("save checkpoint %s: keep the previous copy: %w", name, err)
		}
	}
	write := atomicfile.Write
	if err := faultState(name); err != nil {
		write = func(string, []byte, os.FileMode) error { return err }
	} else if !sync {
		write = atomicfile.WriteUnsynced
	}
	if err := write(name, b, 0o640); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", name, err)
	}
	return nil
}

// keepPrev makes the checkpoint file name the previous copy prev while name stays: a hard
// link under a temporary name renamed over prev, so that a process killed at any moment of
// a save leaves name (the old checkpoint or the new). Moving name to prev left no
// checkpoint file until the new one was written: a shipper killed in between (SIGKILL
// while saving, which checkpoints often) fell back to the previous copy at every restart
// ("checkpoint file missing"). On a file system without hard links name is moved, as
// before. The directory sync of atomicfile.Write makes the rename durable too.
func (s *Store) keepPrev(name, prev string) error {
	link := filepath.Join(filepath.Dir(prev), "."+filepath.Base(prev)+".link")
	_ = os.Remove(link) // left by a process killed between link and rename
	err := os.Link(name, link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // no checkpoint yet
	case err != nil:
		if err := os.Rename(name, prev); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	err = os.Rename(link, prev)
	// A rename between two names of one file (prev already is name: the save before
	// failed after this step) does nothing: link stays, and goes here.
	os.Remove(link)
	return err
}

// Remove deletes the checkpoint of path, its previous copy and its record: the state
// directory forgets path, which becomes a new source if it is seen again.
func (s *Store) Remove(path string) error {
	for _, name := range []string{s.File(path), s.prevFile(path), s.genFile(path)} {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove checkpoint: %w", err)
		}
	}
	if err := s.followed.forget(path); err != nil {
		return err
	}
	select {
	case s.forgot <- struct{}{}:
	default:
	}
	return nil
}

// Known returns the source paths the state directory knows (has a stream of) that keep
// accepts.
func (s *Store) Known(keep func(path string) bool) []string { return s.followed.paths(keep) }

// savedAt returns when the checkpoint of path was last saved (zero when it has no
// checkpoint file).
func (s *Store) savedAt(path string) time.Time {
	for _, name := range []string{s.File(path), s.prevFile(path)} {
		if fi, err := os.Stat(name); err == nil {
			return fi.ModTime()
		}
	}
	return time.Time{}
}

// moveGens makes the record of generations of from that of to (a stream that continues
// at another path), unless to has one.
func (s *Store) moveGens(from, to string) error {
	if _, err := os.Lstat(s.genFile(to)); err == nil {
		return nil
	}
	if err := os.Rename(s.genFile(from), s.genFile(to)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("move the record of generations of %s: %w", from, err)
	}
	return nil
}

// Forgot reports whether the state directory no longer has stream: no source of it
// follows the stream, and none will return chunks of it again (its checkpoint was
// removed: a deleted match drained and acknowledged, or expired). A source that comes
// back later gets a new stream.
func (s *Store) Forgot(stream uint64) bool { return !s.followed.knows(stream) }

// Forgotten receives a value (coalesced) after the store forgot a source (Remove): a
// stream may have been forgotten.
func (s *Store) Forgotten() <-chan struct{} { return s.forgot }

// Expire removes the checkpoint files last saved before before whose path keep rejects,
// and returns how many it removed. Files that cannot be read or decoded are left alone.
func (s *Store) Expire(before time.Time, keep func(path string) bool) (int, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("list checkpoints: %w", err)
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, "ckpt-") || !strings.HasSuffix(name, ".json") {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(before) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			continue
		}
		var cp struct {
			Path       string          `json:"path"`
			Checkpoint json.RawMessage `json:"checkpoint"` // version 2 holds the path in it
		}
		if json.Unmarshal(b, &cp) == nil && cp.Path == "" && len(cp.Checkpoint) > 0 {
			_ = json.Unmarshal(cp.Checkpoint, &cp)
		}
		if cp.Path == "" || s.File(cp.Path) != filepath.Join(s.dir, name) || keep(cp.Path) {
			continue
		}
		if err := s.Remove(cp.Path); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Close closes the record of followed sources.
func (s *Store) Close() error { return s.followed.close() }

// pathOf returns the source path of stream ("" when the state directory has none).
func (s *Store) pathOf(stream uint64) string { return s.followed.pathOf(stream) }
