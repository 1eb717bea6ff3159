// Package collector is the storage half of the logspread collector: it turns messages
// delivered by Spread into ordered, de-duplicated, compressed segment files.
//
// # Pieces
//
//   - Sequencer (pure logic): decodes raw messages and batch v1 envelopes
//     (formats.ParseBatch), de-duplicates per stream by logical offset at line
//     granularity, detects gaps, reassembles fragmented lines. Its Snapshot is what
//     the state file stores.
//   - SegmentWriter: writes one log's lines to segment files (zstd, gzip or none),
//     one complete frame per Flush, with size, time and on-demand rotation, names
//     from a Template, all through an os.Root so no name can leave the output
//     directory.
//   - CatSegment: reads a segment back (plain, gzip, zstd; torn last frame reported
//     as ErrTornFrame), for `logspread cat`.
//   - LoadState / SaveState: the atomic, versioned state file.
//
// # Data flow and durability
//
// The owner goroutine feeds each delivered message to Sequencer.Process, writes the
// returned lines with SegmentWriter.Write, calls Flush on every writer periodically
// (default every second; writers also flush at each size step), and after the flushes
// succeeded saves Sequencer.Snapshot with SaveState. With FsyncFlush the saved state
// never claims more than is durable in the segments; a crash loses at most the
// unflushed tail, which the shipper resends and the restored Sequencer de-duplicates.
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
