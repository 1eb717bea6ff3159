//go:build !unix

package source

import (
	"os"
)

// openRegular opens name for reading, only if it is a regular file (errNotRegular
// otherwise).
func openRegular(name string) (*os.File, error) {
	if fi, err := os.Stat(name); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, notRegular("open", name, fi.Mode())
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil {
		f.Close()
		return nil, err
	} else if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular("open", name, fi.Mode())
	}
	return f, nil
}
