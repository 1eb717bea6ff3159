// Package collector is the storage half of the logspread collector: it turns messages
// delivered by Spread into ordered, de-duplicated, compressed segment files.
//
// # Pieces
//
//   - Sequencer (pure logic): decodes raw messages and batch v1 envelopes
//     (envelope.Decoder), de-duplicates per stream by the ranges of logical offsets
//     it has (a line is written iff its first offset is not had, so a resend that
//     fills a hole is written), counts gaps (loss notices, holes beyond the per-stream
//     limit), reassembles fragmented lines. It is restored from the per-stream
//     written spans the state file stores.
//   - Routing: the lines of a message go to the log of each of its groups; a log
//     whose template holds {vhost} is split by the vhost field of each line, whose
//     name (like every group name) is validated first (ValidateVhost, ValidateGroup).
//   - The writer set: one segment.Writer per log (and vhost), a bounded number open,
//     and the flush cycle below that writes their frames after the write-ahead
//     intent. Segment files themselves (frames, names, rotation, reading back) are
//     package segment's.
//   - LoadState / SaveState, stateStore: the versioned state: an atomic snapshot and a
//     journal of checksummed records of what each save changed (version 6; see
//     statestore.go); version 5 adds each
//     intent frame's segment identity, device and inode, so recovery finds a segment
//     renamed after its frame was written; version 4 the records of expired streams;
//     version 3 stores per stream its base, written spans and groups; version 2 added
//     the write-ahead intent; versions 1 to 5 are still read).
//
// # Streams, holes and gaps
//
// A stream never seen starts at its first line, its base (logged, and counted in
// logspread_collector_streams_started_total and ..._stream_base_bytes_total), or at
// its first loss notice, whose bytes it lacks: counted as a gap (a shipper counts the
// same for this collector in logspread_shipper_collector_lost_bytes_total). A settled
// or unused notice of a stream never seen is ignored. From then on the collector keeps
// the spans of the stream it has: written, or declared lost.
// Offsets not had between spans had are holes: a Spread session lost while batches were
// in flight, or lines of a frame torn by a crash. Holes are not gaps: a resend fills
// them (the lines are written, out of offset order). A hole becomes a counted, logged
// gap (logspread_collector_gaps_by_cause_total, optional "# logspread gap" marker) only
// when a shipper declares its bytes lost with a loss notice (envelope.FlagLost; exactly
// the part not had is counted), when a shipper that acknowledges on order settles them
// (envelope.FlagSettled: it will never send them again; exactly the part not had from
// the stream's base on is counted, cause "missed"), or when a stream has more than
// MaxHoles holes (default 64; the lowest one is given up). The open holes are the logspread_collector_holes
// gauge. An unused notice (envelope.FlagUnused: a shipper restarted after a crash jumped
// past every offset it may have used) makes the part not had had, and is counted as one
// gap of unknown size (logspread_collector_unknown_gaps_total), never in the gap bytes:
// most of those offsets never held a byte.
//
// # Bounded state
//
// Per-stream state is bounded: MaxHoles holes per stream, MaxStreams streams kept in
// full, and ReassemblyBytes of fragmented lines over every stream. A stream idle past
// StreamExpiry, or the least recently active beyond MaxStreams, expires once every
// line it had is in a complete frame (Sequencer.Expire): its holes become counted gaps
// (GapCauseExpiry), a pending fragmented line is dropped, and a record of its base and
// the one span from its lowest to its highest offset had stays (State.Expired). A
// batch of a stream that comes back starts from the record, so nothing below the
// record's end is written twice. Records are bounded by MaxStreams; one dropped is
// logged with the stream's end and counted. The memory of logs without an open writer
// (their last segment, the vhost names validated, the names refused) is bounded by
// MaxLogs. Each bound reached is counted in logspread_collector_limit_reached_total.
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
//  2. the state is saved durably (a journal record of what changed, or a snapshot:
//     stateStore) with the stream spans covered
//     by complete frames on disk (or declared lost), plus the intent: per frame the
//     segment, its size before and after the frame, and per stream the spans of the
//     lines it holds;
//  3. the frames are written (segment.Writer.Commit; fdatasync with FsyncFlush) in the
//     delivery order of their first lines.
//
// The next save supersedes the intent; an idle cycle saves a clean state. A restarted
// collector first applies the intent (recoverIntent): a frame whose segment reached
// its "after" size is complete and its spans count as written; a torn or unwritten
// frame is cut off (the segment truncated back to "before", or removed if the frame
// was its only content) and its spans are holes again, even below lines of the same
// stream kept in another frame (one log per vhost), so a resend writes them. So after
// kill -9 every segment is a sequence of complete frames, no line in a complete frame
// is written twice, and no line is lost that a shipper resends. (A frame holding more
// than 4,096 separate spans of one stream lists the rest as one covering span; after
// a crash tearing another frame of the same flush, lines of that rest may be written
// twice, never skipped.) Frames are never written before their intent is saved: if the
// state file cannot be saved, writes stall (and are retried) like failed segment
// writes.
//
// Segments are sequences of complete frames (see package segment), so after kill -9
// the only damage is a torn last frame, which the intent names and recovery cuts off.
//
// Flush cycles run every FlushInterval, when a writer reaches its size step, and when
// the bytes accepted since the last cycle pass FlushBytes over all logs (lines by
// their size, frames taken as they are by their compressed size), so progress keeps
// pace at high rates.
//
// # Progress reports
//
// A collector has a stable name (Config.Name, `collect --name`; default DefaultName:
// the host name and a hash of the absolute output directory). It multicasts progress
// reports (envelope.Progress, AGREED) to the presence group of every group it collects,
// so shippers can acknowledge only what collectors wrote:
//
//   - after every flush cycle that succeeded (state saved, frames written, fdatasync
//     with FsyncFlush), the streams of that group whose End moved, in several messages
//     when more than envelope.MaxProgressEntries moved. Each entry is the stream's
//     lowest written span [From, End) (StreamState.Front): every byte of it is in a
//     complete frame on disk or was declared lost, and nothing below From is; lines
//     written beyond a hole do not count until it is filled. A collector that first had
//     the stream in its middle (it joined while the stream flowed) says so with a From
//     above the stream's start, and the shipper resends what it owes below;
//   - a hello once its joins of a session are delivered: every stream of the group it
//     has state for (possibly none); and the hello again in a presence group when a
//     shipper (a member whose private name starts with envelope.ShipperPrefix) joins
//     it, so that a shipper started after the collectors learns their names at once;
//   - when it becomes stalled (ProgressStalled with the reason) or unstalled;
//   - on a clean stop: it writes and flushes everything queued before the stop, sends
//     a final report (ProgressFinal), then leaves the presence groups, and writes what
//     arrived until the daemon confirmed the leave before it closes its segments.
//
// Streams map to groups by where their batches arrived (StreamState.Groups).
//
// # Stalls
//
// A segment write, flush or state save that fails makes the collector stalled, with
// the reason shippers and operators act on (envelope.StallReason): permission (EACCES,
// EPERM, EROFS), no_space (ENOSPC, EDQUOT), io (EIO), other. It logs and reports each
// change once, keeps every line it holds, retries with backoff (spreadlink.Backoff up
// to WriteRetryMax), and stops reading once its queue is full (shippers hold their
// windows). The first flush cycle that succeeds unstalls it. At start, Run creates a
// file in the output and state directories and fails with a DirError naming the
// setting if it cannot. Stopped while stalled, it keeps retrying for DrainTimeout
// (the stop timeout, default 20s, below the unit's TimeoutStopSec), then sends no final
// report, logs how many lines and bytes it could not write, and Run returns an error.
package collector
