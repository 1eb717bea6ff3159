// Package atomicfile replaces small files (checkpoints, collector state) so that a
// crash at any moment leaves either the old content or the new, never a mix.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces name with data: it writes a temporary file in the same directory,
// fsyncs it, renames it over name, and fsyncs the directory so the rename survives a
// power loss. On error the temporary file is removed and name is untouched.
func Write(name string, data []byte, perm os.FileMode) (err error) {
	return write(name, data, perm, true)
}

// WriteUnsynced is Write without the fsyncs: a process crash still leaves the old
// content or the new, but a power loss may leave either, or an empty or partial file.
// For data whose loss is harmless (a hint a reader can do without) and that is written
// often enough for fsyncs to cost.
func WriteUnsynced(name string, data []byte, perm os.FileMode) error {
	return write(name, data, perm, false)
}

func write(name string, data []byte, perm os.FileMode, sync bool) (err error) {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if sync {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, name); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	if err = SyncDir(dir); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// SyncDir fsyncs a directory, making the creation, removal or renaming of its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
