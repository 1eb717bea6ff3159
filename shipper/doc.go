// Package shipper holds the sending half of logspread: sources that turn tailed files and
// stdin into batch bodies (Chunk) with exact logical offsets, resumable from durable
// checkpoints, and a Shipper that multicasts them to a Spread group with acknowledgement,
// a bounded window and resend.
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
// # Sending (Shipper)
//
// Shipper.Run starts one pump goroutine per Source. A pump calls Next(ctx, BatchBytes);
// when the chunk holds whole lines and is under half the bound, it keeps calling Next
// for up to BatchDelay and appends the chunks that continue the same stream (next.Offset
// == prev.End(), no fragments) while they fit. It hands each batch to the send loop over
// an unbuffered channel, so waiting pumps are served in turn (fairness) and memory is the
// window plus one chunk per pump.
//
// The send loop (the goroutine calling Run) numbers each batch with a sequence number,
// encodes it (envelope.AppendBatch, type envelope.MessTypeBatch) into the reused buffer of
// its window slot, multicasts it to the group with the configured service (agreed by
// default) and keeps it until acknowledged. After at most AckEvery batches, and whenever
// no further chunk is ready at once (or the window is full, or input ended), it sends an
// ack marker: type envelope.MessTypeAck, body envelope.AppendAck(a marker id, unique in
// the run), same service, to its own private group, without SelfDiscard. The window holds at most Window batches
// and about WindowBytes; while it is full the loop takes no chunks, the pumps block and
// the sources stop reading.
//
// One reader goroutine per connection receives deliveries and queues, in delivery
// order, the markers that came back from our own private group and the membership
// changes of the presence group (below); it never blocks, so the daemon can always
// deliver to us. A marker comes back after every batch sent before it on the session
// has its place in the order (agreed order keeps each sender's FIFO order), so it
// acknowledges every batch sent before it: they leave the window, and an acknowledging
// goroutine calls Ack once per stream with the last acknowledged position (coalesced:
// only the newest position is saved, as Ack fsyncs).
//
// # Presence: no collector, no acknowledgement
//
// Ordered is not written: a batch ordered while no collector is in the group reaches
// nobody. So with SendConfig.RequireCollector (the default) an acknowledgement also
// needs a collector:
//   - Collectors join the group G and then its presence group P =
//     envelope.PresenceGroup(G) ("~G"), and leave P first (a disconnect removes both at
//     one point). A member of P is therefore a member of G. Collectors connect with a
//     private name starting with 'c' (envelope.CollectorPrefix), shippers with 's'; a
//     shipper counts as collectors only the members of P whose private name starts with
//     'c', so other shippers and `logspread tail` (the daemon names it "r…") do not.
//   - The shipper connects with membership notices and joins P before it sends anything
//     on the session, so every batch of the session is ordered after its own join.
//   - Membership changes of P and our markers come in one total order. The loop keeps
//     a generation number gen (bumped at every connect and every time a collector
//     comes back) and a dirty flag: set at connect (until our own join of P shows a
//     collector), by a regular membership of P without a collector, and by a
//     transitional membership (until the next regular one says who stayed).
//   - A marker acknowledges only if it was sent in generation gen and comes back while
//     not dirty, and only the batches last sent in gen: then no moment without a
//     collector happened between the point where gen began (a membership showing a
//     collector, delivered before anything of gen was sent) and the marker, so each of
//     those batches was delivered to a collector that was in G.
//   - While dirty, neither batches nor markers are sent: chunks are taken into the
//     window until it is full (backpressure: files stay on disk, stdin goes to the
//     journal). When a membership shows a collector again, dirty is cleared, gen is
//     bumped, and the whole window is sent, in order, once, followed by a marker.
//     Nothing is sent while dirty because collectors de-duplicate by a per-stream
//     high-water mark: a collector joining meanwhile would see later batches before
//     the earlier ones (a gap) and then drop the resent earlier ones as duplicates.
//   - No livelock or resend storm: the window is sent once per return of a collector
//     (or per connect); markers follow batches only; a marker that does not
//     acknowledge triggers nothing.
//
// Residual cases the presence group cannot see: a collector that crashes (rather than
// stopping) loses what was delivered to it and not yet written; a collector that
// leaves and rejoins faster than batches already in flight are ordered may receive
// such a batch after its rejoin, before the resend (a gap); a daemon that goes down
// may have returned a marker to the shipper before delivering the batches to the
// collector (one daemon for both). With RequireCollector off (the ship command's
// default with --legacy: spreadlogd never joins P), every marker acknowledges, as
// before, and a batch ordered while no collector is in the group reaches nobody.
//
// A connection is replaced when Receive or Multicast fails, or when the oldest
// outstanding marker has not come back within AckTimeout (the watchdog aborts the
// connection, which also frees a send stuck on a daemon that stopped reading). The loop
// reconnects after a backoff from BackoffMin doubling to BackoffMax, minus random jitter
// of up to half, resends every batch in the window in order (counted in
// logspread_shipper_resent_batches_total; with RequireCollector once its own join
// shows a collector) with a marker after them, and goes on.
// Collectors drop what they already had by (stream, offset). A daemon that is down is
// not an error: the first failed attempt is logged once, then retried forever.
//
// Run returns nil when every source returned io.EOF (the stdin journal at end of input)
// and every batch was acknowledged and its position saved. When ctx is cancelled it
// stops taking chunks, waits up to DrainTimeout for the outstanding markers, saves what
// was acknowledged, and returns nil; the rest is sent again by the next run. A source
// error other than io.EOF ends Run with that error after the same drain.
//
// # Legacy mode
//
// With SendConfig.Legacy every line is sent as its own raw message (type 0), as
// mod_log_spread does; chunks are read up to the largest message
// (spreadlink.MaxBody). The first piece of a line longer than that is sent cut and
// '\n'-terminated, the rest of the line is dropped, and
// logspread_shipper_legacy_truncated_lines_total counts it. Ack markers still drive the
// checkpoints, but raw lines carry no offsets: after a reconnect the unacknowledged
// lines are sent again and receivers may write them twice.
package shipper
