package segment

import (
	"errors"
	"os"
	"path"
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
	// Close closes the file.
	Close() error
}

// FS holds the segment files of one output directory. All names are slash-separated
// and relative to it. A Writer uses Create, MkdirAll and SyncDir; Size, Truncate and
// Remove serve to cut a torn frame off a segment after a crash (the collector's
// recovery). RootFS is the FS of a real directory; tests wrap it to inject faults.
type FS interface {
	// Create creates name exclusively (O_EXCL); it fails with an error satisfying
	// errors.Is(err, fs.ErrExist) when name exists.
	Create(name string) (File, error)
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
func RootFS(root *os.Root) FS { return rootFS{root} }

// rootFS is the FS of an *os.Root.
type rootFS struct{ root *os.Root }

func (r rootFS) Create(name string) (File, error) {
	f, err := r.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
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
		return 0, &os.PathError{Op: "size", Path: name, Err: errors.New("not a regular file")}
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
