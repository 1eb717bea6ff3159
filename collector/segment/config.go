package segment

import (
	"fmt"
	"time"
)

// Compression selects how segment files are compressed.
type Compression string

// Compression values.
const (
	// CompressZstd writes each frame as one complete zstd frame (the default).
	CompressZstd Compression = "zstd"
	// CompressGzip writes each frame as one complete gzip member.
	CompressGzip Compression = "gzip"
	// CompressNone writes the lines as they are.
	CompressNone Compression = "none"
)

// FsyncPolicy says when segment data is forced to stable storage.
type FsyncPolicy string

// FsyncPolicy values.
const (
	// FsyncNone leaves write-back to the kernel.
	FsyncNone FsyncPolicy = "none"
	// FsyncFlush calls fdatasync after every frame written (and fsyncs the directory
	// after a segment is created), so a Commit that returned nil is durable.
	FsyncFlush FsyncPolicy = "flush"
)

// Config configures Writers: how they compress, cut frames, rotate and sync. The
// names of the segments come from a Template, one per log.
type Config struct {
	// Compression is zstd (default), gzip or none.
	Compression Compression
	// FlushBytes is the size step: at most this many bytes are buffered (one larger
	// Write into an empty buffer excepted): raw lines by their size, frames accepted as
	// they are (WriteFrame) by their compressed size. A Write or WriteFrame that would
	// pass it returns ErrFlushNeeded. Default 4 MiB.
	FlushBytes int
	// RotateBytes rotates a segment once its size on disk (compressed bytes) reaches
	// it; checked after every frame. Zero disables size rotation.
	RotateBytes int64
	// RotateInterval rotates at every multiple of the interval in the configured time
	// zone (1h rotates on the hour, 24h at midnight). Zero disables time rotation.
	RotateInterval time.Duration
	// Fsync is none (default) or flush.
	Fsync FsyncPolicy
	// UTC expands strftime fields and aligns RotateInterval in UTC instead of local time.
	UTC bool
	// Location, if set, is the time zone of the strftime fields and RotateInterval
	// (it overrides UTC). Tests use it to cross a zone change.
	Location *time.Location
	// Now is the clock; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
}

// DefaultConfig returns the defaults: zstd, 4 MiB flush step, no rotation,
// no fsync, local time.
func DefaultConfig() Config {
	return Config{
		Compression: CompressZstd,
		FlushBytes:  4 << 20,
		Fsync:       FsyncNone,
	}
}

// Validate checks c and returns an error wrapping ErrBadConfig.
func (c Config) Validate() error {
	switch c.Compression {
	case CompressZstd, CompressGzip, CompressNone:
	default:
		return fmt.Errorf("%w: compression %q (want zstd, gzip or none)", ErrBadConfig, c.Compression)
	}
	switch c.Fsync {
	case FsyncNone, FsyncFlush:
	default:
		return fmt.Errorf("%w: fsync %q (want none or flush)", ErrBadConfig, c.Fsync)
	}
	if c.FlushBytes < 1 || c.FlushBytes > 64<<20 {
		return fmt.Errorf("%w: flush bytes %d outside 1..64MiB", ErrBadConfig, c.FlushBytes)
	}
	if c.RotateBytes < 0 {
		return fmt.Errorf("%w: negative rotate bytes %d", ErrBadConfig, c.RotateBytes)
	}
	if c.RotateInterval < 0 || (c.RotateInterval > 0 && c.RotateInterval < time.Second) {
		return fmt.Errorf("%w: rotate interval %v (want 0 or at least 1s)", ErrBadConfig, c.RotateInterval)
	}
	return nil
}
