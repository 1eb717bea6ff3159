//go:build !unix

package source

import "io/fs"

// fileID has no identity to offer on this platform: rotation is then detected only by
// size and fingerprint.
func fileID(fi fs.FileInfo) (dev, ino, nlink uint64) { return 0, 0, 1 }
