// Package collector is the storage half of the logspread collector: it turns messages
// delivered by Spread into ordered, de-duplicated, compressed segment files.
//
// # Pieces
//
//   - Sequencer (pure logic): decodes raw messages and batch v1 envelopes
//     (envelope.Decoder), de-duplicates per stream by logical offset at line
//     granularity, detects gaps, reassembles fragmented lines. It is restored
//     from the per-stream offsets the state file stores.
//   - Routing: the lines of a message go to the log of each of its groups; a log
//     whose template holds {vhost} is split by the vhost field of each line, whose
//     name (like every group name) is validated first (ValidateVhost, ValidateGroup).
//   - The writer set: one segment.Writer per log (and vhost), a bounded number open,
//     and the flush cycle below that writes their frames after the write-ahead
//     intent. Segment files themselves (frames, names, rotation, reading back) are
//     package segment's.
//   - LoadState / SaveState: the atomic, versioned state file (version 2 adds the
//     write-ahead intent; version 1 files are still read).
//
// # Data flow and durability
//
// The owner goroutine feeds each delivered message to Sequencer.Process and writes the
// returned lines with segment.Writer.Write (buffered in memory). Every FlushInterval
// (default 1s), and whenever a writer reaches its size step, a flush cycle writes
// every writer's buffered lines with a write-ahead intent:
//
//  1. each writer encodes one complete frame in memory and opens its segment
//     (segment.Writer.Prepare);
//  2. the state file is saved atomically (SaveState) with the stream offsets covered
//     by complete frames on disk, plus the intent: per frame the segment, its size
//     before and after the frame, and per stream the range of the lines it holds;
//  3. the frames are written (segment.Writer.Commit; fdatasync with FsyncFlush) in the
//     delivery order of their first lines.
//
// The next save supersedes the intent; an idle cycle saves a clean state. A restarted
// collector first applies the intent (recoverIntent): a frame whose segment reached
// its "after" size is complete and its lines count as written; a torn or unwritten
// frame is cut off (the segment truncated back to "before", or removed if the frame
// was its only content) and its lines do not count, so a resend writes them again. So
// after kill -9 every segment is a sequence of complete frames and no line in a
// complete frame is written twice. Lines of a torn frame below lines of the same
// stream in a complete frame (one log per vhost) are skipped from then on and counted
// as a gap. Frames are never written before their intent is saved: if the state file
// cannot be saved, writes stall (and are retried) like failed segment writes.
//
// Segments are sequences of complete frames (see package segment), so after kill -9
// the only damage is a torn last frame, which the intent names and recovery cuts off.
package collector
