// Package collector is the storage half of the logspread collector: it turns messages
// delivered by Spread into ordered, de-duplicated, compressed segment files.
//
// # Pieces
//
//   - Sequencer (pure logic): decodes raw messages and batch v1 envelopes
//     (envelope.Decoder), de-duplicates per stream by logical offset at line
//     granularity, detects gaps, reassembles fragmented lines. It is restored
//     from the per-stream offsets the state file stores.
//   - SegmentWriter: writes one log's lines to segment files (zstd, gzip or none),
//     one complete frame per Flush, with size, time and on-demand rotation, names
//     from a Template, all through an os.Root so no name can leave the output
//     directory.
//   - CatSegment: reads a segment back (plain, gzip, zstd; torn last frame reported
//     as ErrTornFrame), for `logspread cat`.
//   - LoadState / SaveState: the atomic, versioned state file (version 2 adds the
//     write-ahead intent; version 1 files are still read).
//
// # Data flow and durability
//
// The owner goroutine feeds each delivered message to Sequencer.Process and writes the
// returned lines with SegmentWriter.Write (buffered in memory). Every FlushInterval
// (default 1s), and whenever a writer reaches its size step, a flush cycle writes
// every writer's buffered lines with a write-ahead intent:
//
//  1. each writer encodes one complete frame in memory and opens its segment
//     (SegmentWriter.Prepare);
//  2. the state file is saved atomically (SaveState) with the stream offsets covered
//     by complete frames on disk, plus the intent: per frame the segment, its size
//     before and after the frame, and per stream the range of the lines it holds;
//  3. the frames are written (SegmentWriter.Commit; fdatasync with FsyncFlush) in the
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
// # Segment files
//
// A segment is a sequence of complete frames: zstd frames or gzip members, each holding
// whole lines, or plain lines. A frame is written with a single write at the end of the
// last good frame. If that write fails (ENOSPC), the file is truncated back to the end
// of the last good frame and the frame is kept in memory; the next Write or Flush
// writes it again at the same offset. So a segment never holds a partial frame followed
// by a good one; only a crash can leave a torn tail, which CatSegment reports.
//
// Names come from a Template such as "{group}/%Y/%m/{group}-%Y%m%d-%H.log.zst".
// An existing file is never overwritten or appended to: if the expanded name exists
// (a restart in the same second, or several size rotations in one template period),
// a suffix ".1", ".2", … is inserted before a trailing ".zst", ".zstd" or ".gz"
// extension ("www.log.zst" → "www.log.1.zst") or appended otherwise. Segments are
// created lazily, when the first frame is written, so rotation never leaves empty
// files. Size rotation counts compressed bytes on disk.
package collector
