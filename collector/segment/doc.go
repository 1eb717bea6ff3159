// Package segment writes and reads the collector's segment files: one log's lines in
// a sequence of files of complete compressed frames.
//
// # Writing
//
// A Writer writes one log (a group, or a group and a vhost). Write buffers whole lines;
// the owner writes them as one frame in two steps:
//
//   - Prepare encodes the buffered lines into one complete frame in memory, opens the
//     segment it goes to (creating it if none is open) and returns a Frame: the
//     segment and its size before and after the frame. Nothing is written yet, so the
//     owner can record the frame durably first (the collector saves its write-ahead
//     intent here).
//   - Commit writes the frame, applies the fsync policy and the rotation rules.
//   - Abandon drops what was not written and closes the writer (at a shutdown that
//     gave up on a failing disk).
//
// The writer never writes a frame on its own: Write returns ErrFlushNeeded once the
// buffer reaches its size step (Config.FlushBytes) or while a prepared frame waits,
// and Reopen and Close return it while anything is unwritten. Metrics are built once
// per registry (NewMetrics) and shared by every Writer.
//
// # Segment files
//
// A segment is a sequence of complete frames: zstd frames or gzip members, each holding
// whole lines, or plain lines. A frame is written with a single write at the end of the
// last good frame. If that write fails (ENOSPC), the file is truncated back to the end
// of the last good frame and the frame is kept in memory; the next Prepare and Commit
// write it again at the same offset. So a segment never holds a partial frame followed
// by a good one; only a crash can leave a torn tail. Cat reads a segment back (plain,
// gzip or zstd, detected by magic bytes) and reports a torn tail as a *TornError after
// printing every complete line before it (`logspread cat`).
//
// Every file operation goes through an FS; RootFS confines it to the output directory
// with an os.Root, so no name, symlink or ".." can leave it.
//
// # Names
//
// Names come from a Template such as "{group}/%Y/%m/{group}-%Y%m%d-%H.log.zst".
// An existing file is never overwritten or appended to: if the expanded name exists
// (a restart in the same second, or several size rotations in one template period),
// a suffix ".1", ".2", … is inserted before a trailing ".zst", ".zstd" or ".gz"
// extension ("www.log.zst" → "www.log.1.zst") or appended otherwise. Segments are
// created lazily, when the first frame is written, so rotation never leaves empty
// files. Size rotation counts compressed bytes on disk; time rotation happens at every
// multiple of Config.RotateInterval, checked at every Commit.
package segment
