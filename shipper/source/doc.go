// Package source holds the sources of a shipper and their state: a Tailer follows one
// file across rotations and truncations, a Glob follows every file matching a pattern, and
// a Journal spools stdin to disk. Each turns its input into batch bodies (Chunk) with
// exact logical offsets, resumable from durable checkpoints (Checkpoint, kept in a Store).
// A Set opens them and owns what they share: the Store, the fsnotify Watcher, the Waker
// and the metrics. The Source interface is what the sender (package shipper) reads.
//
// # Streams and offsets
//
// Every source is one stream, named by a random 64-bit stream id created the first time the
// source (its path, or the stdin journal name) is seen, and persisted in the state directory
// before any byte is sent. The logical offset counts the bytes of the stream: the bytes read
// from the followed files one after the other, across rotations, plus one synthetic '\n'
// for every unterminated last line of a file that was rotated, truncated or deleted away.
// Offsets are never reused: when a restart cannot continue exactly at its checkpoint (the
// checkpointed file is gone, or shrank while the shipper was down), the stream jumps forward
// by LossGap so that collectors see a gap instead of mistaking new lines for duplicates.
//
// # Chunks
//
// A Chunk holds whole '\n'-terminated lines, cut at a line end, at most max bytes. A line
// longer than max travels as fragments (envelope.FlagFragment, the first with FlagFirst, the
// last with FlagLast). A line longer than Config.MaxLine (bytes with its '\n') keeps its
// first MaxLine-1 bytes, gets a '\n' appended and is marked FlagTruncated; the Span of that
// last piece covers the dropped bytes. Bytes are never altered: empty lines, CR, NUL and
// invalid UTF-8 pass through.
//
// # File identity and rotation
//
// A file is known by device and inode plus a fingerprint: the FNV-1a 64 hash of its first
// FingerprintLen (at most 1 KiB) bytes, taken over bytes already read. The tailer follows
// google/mtail's rules, checked whenever it reaches the end of the file it reads:
//   - the file shrank below the read offset (copytruncate, truncation): the pending partial
//     line is emitted, reading restarts at 0 of the same file;
//   - the path names another file (rename-and-create rotation, delete-and-recreate): the old
//     file is read to its end through its open descriptor; once the new file has data (or
//     the old one has no links left) the pending partial line is emitted with '\n' appended
//     and the tailer switches to the new file at offset 0. While the new file is empty the
//     old one is still followed, since a writer may not have reopened yet;
//   - the path is gone and the open file has no links (deletion): drain, emit the partial
//     line, close the descriptor, wait for the path to reappear (read from 0);
//   - a file present at start without a checkpoint is read from its end unless
//     FromBeginning; files that appear later are read from their beginning;
//   - on restart, a checkpoint resumes exactly when the path still has the checkpointed
//     identity (device, inode, fingerprint); otherwise the directory is searched for that
//     identity (access.log.1), which is drained from the checkpoint before the new file.
//
// A tailer follows one rotated generation at a time: if the path is rotated twice while
// it is still draining an older file (it lags by more than a whole generation), or while
// the shipper is down, the intermediate generation is not searched for and its lines are
// missed. Patterns of rotated names are too varied (and often compressed) to guess safely.
//
// # Wake-ups
//
// Idle sources sleep on fsnotify events for their name in the parent directory (a shared
// Watcher, rescanning on fsnotify.ErrEventOverflow) and on a slow Waker (a ticker, every
// PollInterval, cheap stat only). Tests inject a ManualWaker.
//
// # stdin journal
//
// See Journal: stdin is copied at once into bounded, fsynced on-disk segments, and read back
// from there, so the writer (Apache) is never stalled by a slow or absent Spread daemon.
package source
