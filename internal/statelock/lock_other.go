//go:build !unix

package statelock

import "os"

// tryLock does not lock where flock(2) is missing: the directory is not protected.
func tryLock(*os.File) (held bool, err error) { return false, nil }
