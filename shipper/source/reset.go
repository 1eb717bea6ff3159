package source

import (
	"errors"
	"fmt"
	"path/filepath"
)

// A ResetPoint says where a source whose checkpoint is corrupt (with no usable previous
// copy or record) starts over: Config.Reset.
type ResetPoint string

// The reset points.
const (
	// ResetStart reads the file (or the journal on disk) from its start as a new stream:
	// lines shipped before may be written a second time, none is skipped.
	ResetStart ResetPoint = "start"
	// ResetEnd skips what the file (or the journal) holds now, logging how many bytes.
	ResetEnd ResetPoint = "end"
)

// StdinSource is the Config.Reset key of the stdin journal.
const StdinSource = "-"

// A CorruptCheckpointError reports a source whose checkpoint is corrupt and has neither a
// good previous copy nor a record of followed sources to fall back to. It wraps
// ErrCorruptCheckpoint; Config.Reset is the remedy.
type CorruptCheckpointError struct {
	Source string // the path of the source, or StdinSource
	Err    error  // names the file and what is wrong with it
}

func (e *CorruptCheckpointError) Error() string {
	return fmt.Sprintf("source %s: %v, with no good previous copy", e.Source, e.Err)
}

func (e *CorruptCheckpointError) Unwrap() error { return e.Err }

// loadFile returns the checkpoint a tailer of path resumes from: the Store's (with its
// fallbacks), or the one Config.Reset asks for when it is corrupt.
func (s *Set) loadFile(path string) (cp Checkpoint, found bool, err error) {
	cp, found, _, err = s.store.load(path)
	mode, reset := s.cfg.Reset[path]
	if err == nil || !errors.Is(err, ErrCorruptCheckpoint) {
		if reset && err == nil {
			s.log.Info("checkpoint is good; reset not needed, ignored", "source", path, "reset", mode)
		}
		return cp, found, err
	}
	if !reset {
		return Checkpoint{}, false, &CorruptCheckpointError{Source: path, Err: err}
	}
	cp = Checkpoint{Path: path, Stream: newStreamID()}
	if mode == ResetStart {
		s.log.Warn("checkpoint corrupt; reading the file from its start as a new stream (lines shipped before are written again)",
			"source", path, "err", err)
		return cp, true, nil
	}
	f, fi, oerr := openStat(path)
	if oerr != nil {
		return Checkpoint{}, false, oerr
	}
	if f == nil {
		s.log.Warn("checkpoint corrupt; the file is missing, nothing to skip", "source", path, "err", err)
		return cp, true, nil
	}
	defer f.Close()
	cp.Dev, cp.Ino, _ = fileID(fi)
	cp.FileOffset = fi.Size()
	if n := int(min(fi.Size(), FingerprintLen)); n > 0 {
		if fp, ok, ferr := fingerprintFile(f, n); ferr == nil && ok {
			cp.FPLen, cp.FP = n, fp
		}
	}
	s.log.Warn("checkpoint corrupt; skipping to the end of the file as a new stream: the bytes it holds now are not shipped",
		"source", path, "skipped_bytes", fi.Size(), "err", err)
	return cp, true, nil
}

// validReset checks the keys and values of Config.Reset.
func validReset(r map[string]ResetPoint) error {
	for p, m := range r {
		if m != ResetStart && m != ResetEnd {
			return fmt.Errorf("%w: reset %s=%s: want start or end", ErrConfig, p, m)
		}
		if p != StdinSource && (p == "" || filepath.Clean(p) != p) {
			return fmt.Errorf("%w: reset %q: want a clean file path or %s", ErrConfig, p, StdinSource)
		}
	}
	return nil
}
