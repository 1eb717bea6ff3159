//go:build !unix

package source

import "io/fs"

// fileID has no identity to offer on this platform: rotation is then detected only by
// size and fingerprint.
func fileID(fi fs.FileInfo) (dev, ino, nlink uint64) { return 0, 0, 1 }

// maxOpenFiles returns n, or a default when n is 0.
func maxOpenFiles(n int) int {
	if n > 0 {
		return n
	}
	return 512
}
