package segment

// FileID is a file's identity on its system: device and inode numbers. It survives a
// rename (logrotate), so the collector's recovery finds a segment that was moved
// after its frame was written. The zero FileID is unknown.
type FileID struct {
	Dev, Ino uint64
}

// Known reports whether id is not the zero FileID.
func (id FileID) Known() bool { return id != FileID{} }
