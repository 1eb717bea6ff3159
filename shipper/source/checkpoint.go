package source

import (
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
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/logspread/logspread/internal/atomicfile"
)

// FingerprintLen is the most bytes of a file's head that its fingerprint hashes.
const FingerprintLen = 1024

// LossGap is how far a stream's logical offset jumps when a restart cannot resume exactly
// at its checkpoint: more than any unacknowledged window, so that no offset is reused.
const LossGap uint64 = 1 << 32

// checkpointVersion is the version written in checkpoint files.
const checkpointVersion = 1

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
	// LineOff is the number of bytes of a fragmented line already sent before Offset:
	// non-zero only when resuming in the middle of an over-long line.
}

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

// A Store keeps one checkpoint file per source in a state directory. File names are a hash
// of the source path, never the path itself. Its methods are safe for concurrent use for
// different paths; saves of one path must be ordered by the caller.
type Store struct {
	dir string
}

// OpenStore creates dir if needed and returns a Store in it.
func OpenStore(dir string) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty state dir", ErrConfig)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	return &Store{dir: dir}, nil
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

// Load returns the checkpoint of path; found is false when there is none. A file that
// cannot be decoded, or that belongs to another path, is ErrCorruptCheckpoint naming it.
func (s *Store) Load(path string) (cp Checkpoint, found bool, err error) {
	name := s.File(path)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, false, fmt.Errorf("%w %s: %w", ErrCorruptCheckpoint, name, err)
	}
	switch {
	case cp.Version != checkpointVersion:
		return Checkpoint{}, false, fmt.Errorf("%w %s: version %d", ErrCorruptCheckpoint, name, cp.Version)
	case cp.Path != path:
		return Checkpoint{}, false, fmt.Errorf("%w %s: holds path %q, want %q", ErrCorruptCheckpoint, name, cp.Path, path)
	case cp.Stream == 0 || cp.FileOffset < 0 || cp.FPLen < 0 || cp.FPLen > FingerprintLen:
		return Checkpoint{}, false, fmt.Errorf("%w %s: bad fields", ErrCorruptCheckpoint, name)
	}
	return cp, true, nil
}

// Save writes cp atomically: a temporary file is written and fsynced, renamed over the
// checkpoint file, and the directory is fsynced.
func (s *Store) Save(cp Checkpoint) error {
	cp.Version = checkpointVersion
	b, err := json.Marshal(&cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := atomicfile.Write(s.File(cp.Path), append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", s.File(cp.Path), err)
	}
	return nil
}

// Remove deletes the checkpoint of path.
func (s *Store) Remove(path string) error {
	err := os.Remove(s.File(path))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove checkpoint: %w", err)
	}
	return nil
}

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
			Path string `json:"path"`
		}
		if json.Unmarshal(b, &cp) != nil || cp.Path == "" || s.File(cp.Path) != filepath.Join(s.dir, name) || keep(cp.Path) {
			continue
		}
		if err := s.Remove(cp.Path); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
