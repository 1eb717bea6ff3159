// Package shipper holds the sending half of logspread: a Shipper reads the chunks of its
// sources (package shipper/source: tailed files, globs, the stdin journal), multicasts them
// to a Spread group with acknowledgement, a bounded window and resend, and hands the
// acknowledged positions back to the sources, which save them as checkpoints.
//
// # Sending (Shipper)
//
// Shipper.Run starts one pump goroutine per source.Source. A pump calls Next(ctx, BatchBytes);
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
// nobody. So with Config.RequireCollector (the default) an acknowledgement also
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
// # Written acknowledgements (Config.Ack == AckWritten)
//
// Ordered is still not written: a collector may crash, or fail to write, after a batch
// reached it. With AckWritten (which needs RequireCollector and not Legacy) a batch also
// waits for the collectors to say they wrote it:
//   - Collectors multicast progress reports (envelope.MessTypeProgress) in the presence
//     group: their name, a stalled flag with its reason, a final flag on a clean stop, and
//     per stream the lowest range [From, End) they have written without a hole. The reader queues
//     them with the markers and the memberships, in the one total order. A member is
//     known by its private group until its first report names it, and holds the flights
//     in whose set it is until then: collectors therefore say hello (every stream of the
//     group) when they join and also when a shipper joins the presence group, or a
//     shipper that restarted would not learn their names while everything it resends is
//     a duplicate (no stream moves).
//   - When a marker comes back (and acknowledges, by the presence rule above) the flights
//     it covers are ordered, with a set: the collector members present for the whole
//     interval since the previous marker came back (or since the membership after which the
//     generation was sent). Each of them received those flights. An empty set
//     acknowledges nothing: the window is sent again after the current membership.
//   - An ordered flight leaves the window, in order, once every member of its set that is
//     still present has reported a range holding the flight and is not stalled. A
//     member that left no longer holds the window: the checkpoint waits for it instead. So
//     the window, and with it reading, is bounded by the written progress of the
//     collectors that are there: flow control even through a daemon that never slows a
//     sender.
//   - Per collector name the shipper keeps a cursor (per stream, the last end reported, or
//     for a stream it never reported, the lowest offset ordered while it was present),
//     saved in Config.StateDir (CursorsFile, atomically, paced by CheckpointInterval) and
//     loaded at start. Memory holds offsets, not lines. With the end it keeps the From
//     reported when the collector is owed what lies below it (it is required, it had the
//     stream before, or flights below From were ordered while it was present): such a
//     collector first had the stream in its middle (it joined while the stream flowed and
//     wrote the batches in flight before it reported), and it counts as having the
//     stream only up to the checkpoint, and as having written no flight below From,
//     until it reports a range starting at or below the checkpoint; what it lacks is sent
//     again as below. A collector that is not required and first had a stream in its
//     middle is owed only what came after it.
//   - The collectors waited for are the present ones, those that left without a final
//     report (for AbsentTimeout since they left; a member that left before it was named
//     counts as one such collector, taken to be the next one that appears), and
//     RequireCollectors always, even before they first appear. A flight that left the
//     window keeps its source position in a bounded list per stream (thinned to every
//     other entry past maxRetained); the checkpoint handed to Source.Ack is the newest
//     position whose end every collector waited for has written (a required collector that
//     never reported a stream holds it at its start).
//   - When a collector appears (its first report from a new member), and when a report
//     of a present one says it has a stream only from above the checkpoint (it lost what
//     it had below, its state or a stream record it forgot, without a hello naming the
//     stream), the shipper compares its cursor with what was sent: what the window still
//     holds is multicast again (to a collector that appears, but for the flights it gets
//     anyway in the total order: ordered with a set naming a member of it that joined
//     before, or not ordered yet while a member of it has been present since the last
//     marker came back: tracker.reaches; its hello reports where it stood when it saw our
//     join, below what we sent since, and without that rule a restarted shipper sent its
//     first new batch twice); what left the window is read again from the source (a
//     Rewinder: the tailer and the stdin journal go back to the stream's checkpoint; the
//     pump is stopped, the source's flights leave the window unacknowledged, the pump
//     restarts; a StreamRewinder, a glob: only
//     that match's stream goes back, its flights leave the window, and its chunks read
//     before the rewind, still in the pump or on their way, are dropped by their
//     source.Chunk.Epoch, while the glob's other streams go on). What lies below the
//     checkpoint (a collector given up after its absent timeout), or what a source can no
//     longer offer (a match deleted and drained), gets a loss notice (envelope.AppendLoss)
//     and is counted per collector (for the one that lacks it, and for those present
//     with no record of the stream, for which it is the first they get of it). Collectors drop by range what they already have.
//   - A stream that jumps forward (a chunk above the end of what was sent before, such as
//     source.LossGap, or a generation gone when a stream is read again; for the first
//     chunk of a run, what the source says it skipped since the checkpoint it resumed
//     from, source.Chunk.Lost: a journal's dropped or corrupt bytes, a tailer's jump) is
//     preceded by a loss notice in the window, so that collectors count the gap instead
//     of waiting for it to be filled (but for the ranges the source says hold no byte as
//     far as it can tell, source.Chunk.Unused: the offsets of a jump past every offset a
//     crashed run may have used, which get an unused notice, envelope.AppendUnused,
//     counted by collectors as a gap of unknown size, never as that many bytes); what each
//     collector lacks of it, as far as its cursor tells, is counted for it
//     (logspread_shipper_collector_lost_bytes_total): at once for a collector present in
//     this session (one with no record of the stream lacks all of it: a collector has a
//     stream from where it first gets it, and a loss notice it first gets is that); for
//     one not present or not named yet (its hello may come after the notice entered the
//     window, and a cursor loaded from CursorsFile may be older than what it has) by its
//     first report (one not required with no record of the stream: if the notice
//     reaches it), or, when the notice leaves the window first, then: a required
//     collector that never reported the stream lacks all of it, one with a loaded cursor
//     gets a loss notice of its own for what it lacks when it returns, whose parts
//     announced unused in this run get an unused notice instead, never counted. A notice
//     dropped by a rewind and announced again by the re-read is counted once.
//     The first chunk is never compared with the cursors loaded from CursorsFile: that
//     file is saved apart from the checkpoints (paced, and its previous copy is used when
//     it is corrupt), so after a crash it may be older than the checkpoint, and the bytes
//     between were written by every collector waited for. Such a cursor is raised to the
//     checkpoint when the stream's first chunk comes (a collector that had stopped
//     cleanly or timed out keeps its own: it may lack them); a collector present that
//     reported in this run less than the checkpoint gets a loss notice for what it lacks.
//   - When AbsentTimeout ends, the shipper logs and counts what the collector lacks,
//     stops waiting, and the checkpoint may pass it.
//
// Limits: a collector that is not required and appears for the first time is owed only
// what is ordered after it appears; a collector that stops cleanly is not waited for.
// A finite run (stdin at end of input) ends only once the checkpoints passed every line,
// so it waits for absent collectors up to AbsentTimeout and for required ones without
// limit.
//
// # Settled notices (AckOrdered)
//
// With AckOrdered (and not Legacy) a batch acknowledged on order is never sent again,
// so a collector that missed it (its session was lost, a crash tore the frame it was
// in, it was away) keeps a hole nothing fills. The shipper says so: per stream, a
// settled notice (envelope.AppendSettled, [0, end of what was acknowledged)) multicast
// to the group after the batches it covers, at most every CheckpointInterval while
// acknowledgements move, again for every stream when a collector joins the presence
// group, and at the end of a run (logspread_shipper_settled_notices_total). A collector
// counts what it lacks below that offset, from where it first had the stream, as a gap
// of that exact size (cause "missed"). After a shipper crash, lines resent from its
// checkpoint that fall into a gap already counted are dropped as duplicates: each line
// is written once or in a counted gap.
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
// With Config.Legacy every line is sent as its own raw message (type 0), as
// mod_log_spread does; chunks are read up to the largest message
// (spreadlink.MaxBody). The first piece of a line longer than that is sent cut and
// '\n'-terminated, the rest of the line is dropped, and
// logspread_shipper_legacy_truncated_lines_total counts it. Ack markers still drive the
// checkpoints, but raw lines carry no offsets: after a reconnect the unacknowledged
// lines are sent again and receivers may write them twice.
//
// # Compression (batch v2)
//
// With Config.Compression "zstd" (the default) each pump compresses its batches itself
// (one zstd encoder per pump, EncodeAll into a reused buffer, single segment so the
// frame declares its size): the body of every batch is one zstd frame, and the send
// loop frames it with envelope.AppendZstdBatch. The pump merges the chunks of a stream
// for up to BatchDelay and up to MaxBatchRaw (1 MiB) raw bytes, so a shipper catching
// up sends large frames and a live one still sends within BatchDelay. A merged batch
// whose frame does not fit into one Spread message is cut at a chunk end (counted in
// logspread_shipper_batch_cuts_total); a single chunk whose frame does not fit is sent
// uncompressed (logspread_shipper_sent_uncompressed_batches_total). The pump waits
// until the send loop has copied a frame before it reuses its buffer.
package shipper
