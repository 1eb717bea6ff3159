package source

import (
	"path/filepath"
	"slices"
)

// Marks say where the files of a reloaded configuration start when they have no
// checkpoint, instead of their end: what they were when the reload was taken (a SIGHUP),
// not when the new sources open, seconds later (after the old sender's drain). Lines
// written in between are sent.
type Marks struct {
	// Files maps a file new to the configuration (a path added, or a match of a pattern
	// added, that no path or pattern of the configuration before matched) to its identity
	// and size when the reload was taken. It starts there if it is still that file (the
	// same device, inode and head, not shorter); renamed since (rotated while the sources
	// were swapped), it is found by identity and drained from there first; a file that
	// replaced it is then read from its beginning.
	Files map[string]FileMark
}

// A FileMark is a file's identity (device, inode and head fingerprint) and size when the
// reload was taken.
type FileMark struct {
	Dev, Ino uint64
	FPLen    int
	FP       uint64
	Size     int64
}

// markFile returns the mark of the regular file name now.
func markFile(name string) (FileMark, bool) {
	f, err := openName(name)
	if err != nil {
		return FileMark{}, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return FileMark{}, false
	}
	dev, ino, _ := fileID(fi)
	m := FileMark{Dev: dev, Ino: ino, Size: fi.Size()}
	if n := int(min(fi.Size(), FingerprintLen)); n > 0 {
		if fp, ok, err := fingerprintFile(f, n); err == nil && ok {
			m.FPLen, m.FP = n, fp
		}
	}
	return m, true
}

// TakeMarks records the files that the paths and patterns of next (a file path or a
// glob; "-" is ignored) match now and that none of prev matches: their identity and
// size. Every other file of next without a checkpoint is read from its beginning by
// sources opened with the marks: a file new to the configuration appeared after the
// reload, and one that a path or pattern of prev matched was followed by the sources
// before (and has a checkpoint) or appeared after they stopped.
func TakeMarks(prev, next []string) *Marks {
	m := &Marks{Files: map[string]FileMark{}}
	old := func(p string) bool {
		for _, o := range prev {
			if o == "-" {
				continue
			}
			if filepath.Clean(o) == p {
				return true
			}
			if ok, err := filepath.Match(filepath.Clean(o), p); err == nil && ok {
				return true
			}
		}
		return false
	}
	for _, p := range next {
		if p == "-" || slices.Contains(prev, p) {
			continue
		}
		names := []string{p}
		if isPattern(p) {
			names, _ = filepath.Glob(p) // a bad pattern is refused when the sources open
		}
		for _, n := range names {
			n = filepath.Clean(n)
			if old(n) {
				continue
			}
			fm, ok := markFile(n)
			if !ok {
				continue // absent now: appears after the reload, read from its beginning
			}
			m.Files[n] = fm
		}
	}
	return m
}

// isPattern reports whether p has glob metacharacters.
func isPattern(p string) bool {
	for _, c := range p {
		switch c {
		case '*', '?', '[':
			return true
		}
	}
	return false
}
