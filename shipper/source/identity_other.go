//go:build !unix

package source

import "io/fs"

// fileID has no identity to offer on this platform: rotation is then detected only by
// size and fingerprint.
func fileID(fi fs.FileInfo) (dev, ino, nlink uint64) { return 0, 0, 1 }

// DescriptorLimit returns 0: the descriptor limit is unknown on this platform.
func DescriptorLimit() int { return 0 }
