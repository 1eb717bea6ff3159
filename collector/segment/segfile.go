package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// errNotRegular reports a segment name that holds something else than a regular file.
var errNotRegular = errors.New("not a regular file")

// Limits of the names a file system holds (Linux's NAME_MAX and PATH_MAX).
const (
	defaultNameMax = 255
	pathMax        = 4096
)

// Permissions of what RootFS creates: the owner writes, its group (for example adm or
// the logspread group) reads the merged logs, others get nothing. The umask may remove
// more.
const (
	FileMode os.FileMode = 0o640
	DirMode  os.FileMode = 0o750
)

// File is the part of *os.File a Writer uses. Tests substitute a file that fails
// (ENOSPC) to exercise the retry path.
type File interface {
	// WriteAt writes p at off. The writer never uses O_APPEND: a retried frame is
	// written again at the same offset, over any partial attempt.
	WriteAt(p []byte, off int64) (int, error)
	// Truncate cuts the file back to size (the end of the last good frame).
	Truncate(size int64) error
	// Datasync makes the written data durable (fdatasync where available).
	Datasync() error
	// Stat returns the file's metadata; its identity (device and inode) tells
	// whether the segment's name still points to it (os.SameFile).
	Stat() (fs.FileInfo, error)
	// Close closes the file.
	Close() error
}

// FS holds the segment files of one output directory. All names are slash-separated
// and relative to it (MultiFS adds absolute names for absolute templates). A Writer
// uses Create, Open, Stat, List, CheckName, MkdirAll and SyncDir; Size, Truncate and
// Remove serve to cut a torn frame off a segment after a crash (the collector's
// recovery). RootFS is the FS of a real directory; tests wrap it to inject faults.
type FS interface {
	// Create creates name exclusively (O_EXCL); it fails with an error satisfying
	// errors.Is(err, fs.ErrExist) when name exists.
	Create(name string) (File, error)
	// Open opens the existing regular file name for writing (never creating it), so
	// a writer can append frames to the segment it wrote last; an error satisfying
	// errors.Is(err, fs.ErrNotExist) when it does not exist.
	Open(name string) (File, error)
	// Stat returns the metadata of name itself (a symlink is not followed).
	Stat(name string) (fs.FileInfo, error)
	// List returns the names of the entries of directory dir, sorted; none (and no
	// error) when dir does not exist.
	List(dir string) ([]string, error)
	// CheckName checks that the file system can hold name, and every name a
	// collision suffix makes of it: each component within its NAME_MAX, the whole
	// path within PATH_MAX. The error wraps ErrBadName.
	CheckName(name string) error
	// MkdirAll creates directory dir and its parents.
	MkdirAll(dir string) error
	// SyncDir fsyncs directory dir ("." for the root) so a new entry is durable.
	SyncDir(dir string) error
	// Size returns the size of file name; an error satisfying
	// errors.Is(err, fs.ErrNotExist) when it does not exist.
	Size(name string) (int64, error)
	// Truncate cuts file name back to size and makes that durable.
	Truncate(name string, size int64) error
	// Remove removes file name.
	Remove(name string) error
}

// RootFS returns the FS of root: no name, symlink or ".." can leave it (os.Root).
// Names are checked against the limits of the file system root is on.
func RootFS(root *os.Root) FS {
	dir, err := filepath.Abs(root.Name())
	if err != nil {
		dir = root.Name()
	}
	return rootFS{root: root, dirLen: len(dir), nameMax: nameMax(dir)}
}

// rootFS is the FS of an *os.Root.
type rootFS struct {
	root    *os.Root
	dirLen  int // length of the absolute path of the root
	nameMax int // the file system's longest name component
}

func (r rootFS) Create(name string) (File, error) {
	f, err := r.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (r rootFS) Open(name string) (File, error) {
	st, err := r.root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &os.PathError{Op: "open", Path: name, Err: errNotRegular}
	}
	f, err := r.root.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (r rootFS) Stat(name string) (fs.FileInfo, error) { return r.root.Lstat(name) }

func (r rootFS) List(dir string) ([]string, error) {
	d, err := r.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

func (r rootFS) CheckName(name string) error { return checkLimits(name, r.dirLen, r.nameMax) }

// checkLimits checks name (relative to a directory of dirLen bytes) against a file
// system's limits, leaving room for a collision suffix in its last component.
func checkLimits(name string, dirLen, nameMax int) error {
	comps := strings.Split(name, "/")
	for i, c := range comps {
		n := len(c)
		if i == len(comps)-1 {
			n += suffixLen
		}
		if n > nameMax {
			return fmt.Errorf("%w: %q: component of %d bytes (%d with a collision suffix) is longer than the file system's %d: %w",
				ErrBadName, name, len(c), n, nameMax, syscall.ENAMETOOLONG)
		}
	}
	if total := dirLen + 1 + len(name) + suffixLen; total >= pathMax {
		return fmt.Errorf("%w: %q: path of %d bytes (with the output directory and a collision suffix) reaches PATH_MAX %d: %w",
			ErrBadName, name, total, pathMax, syscall.ENAMETOOLONG)
	}
	return nil
}

func (r rootFS) MkdirAll(dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	return r.root.MkdirAll(dir, DirMode)
}

func (r rootFS) SyncDir(dir string) error {
	d, err := r.root.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

func (r rootFS) Size(name string) (int64, error) {
	st, err := r.root.Lstat(name)
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, &os.PathError{Op: "size", Path: name, Err: errNotRegular}
	}
	return st.Size(), nil
}

func (r rootFS) Truncate(name string, size int64) error {
	f, err := r.root.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = datasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (r rootFS) Remove(name string) error { return r.root.Remove(name) }

type osFile struct{ *os.File }

func (f osFile) Datasync() error { return datasync(f.File) }

// dirOf returns the directory part of a slash-separated relative name, "." if none.
func dirOf(name string) string { return path.Dir(name) }

// MultiFS returns an FS for relative names (def, the output directory) and absolute
// ones: a name below one of the directories of roots (the Roots of absolute
// templates) goes to the FS of the longest such directory, relative to it. Any other
// absolute name is an error.
func MultiFS(def FS, roots map[string]FS) FS {
	return multiFS{def: def, roots: roots}
}

type multiFS struct {
	def   FS
	roots map[string]FS
}

// resolve returns the FS and relative name for name.
func (m multiFS) resolve(name string) (FS, string, error) {
	if !strings.HasPrefix(name, "/") {
		return m.def, name, nil
	}
	var best FS
	var rel string
	bestLen := -1
	for dir, f := range m.roots { // the longest directory that holds name
		if r, ok := strings.CutPrefix(name, strings.TrimSuffix(dir, "/")+"/"); ok && len(dir) > bestLen {
			best, rel, bestLen = f, r, len(dir)
		} else if name == dir && len(dir) > bestLen {
			best, rel, bestLen = f, ".", len(dir)
		}
	}
	if best == nil {
		return nil, "", &os.PathError{Op: "open", Path: name, Err: errors.New("outside every output directory")}
	}
	return best, rel, nil
}

func (m multiFS) Create(name string) (File, error) {
	f, rel, err := m.resolve(name)
	if err != nil {
		return nil, err
	}
	return f.Create(rel)
}

func (m multiFS) Open(name string) (File, error) {
	f, rel, err := m.resolve(name)
	if err != nil {
		return nil, err
	}
	return f.Open(rel)
}

func (m multiFS) Stat(name string) (fs.FileInfo, error) {
	f, rel, err := m.resolve(name)
	if err != nil {
		return nil, err
	}
	return f.Stat(rel)
}

func (m multiFS) List(dir string) ([]string, error) {
	f, rel, err := m.resolve(dir)
	if err != nil {
		return nil, err
	}
	return f.List(rel)
}

func (m multiFS) CheckName(name string) error {
	f, rel, err := m.resolve(name)
	if err != nil {
		return err
	}
	return f.CheckName(rel)
}

func (m multiFS) MkdirAll(dir string) error {
	f, rel, err := m.resolve(dir)
	if err != nil {
		return err
	}
	return f.MkdirAll(rel)
}

func (m multiFS) SyncDir(dir string) error {
	f, rel, err := m.resolve(dir)
	if err != nil {
		return err
	}
	return f.SyncDir(rel)
}

func (m multiFS) Size(name string) (int64, error) {
	f, rel, err := m.resolve(name)
	if err != nil {
		return 0, err
	}
	return f.Size(rel)
}

func (m multiFS) Truncate(name string, size int64) error {
	f, rel, err := m.resolve(name)
	if err != nil {
		return err
	}
	return f.Truncate(rel, size)
}

func (m multiFS) Remove(name string) error {
	f, rel, err := m.resolve(name)
	if err != nil {
		return err
	}
	return f.Remove(rel)
}
