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
// checkpointed file is gone, or shrank while the shipper was down), the stream skips the
// offsets the lost bytes had (known from the record of generations, the checkpoint's size
// of the file and the stop checkpoint's Reach), or, when those are not known, jumps
// forward by LossGap, so that collectors never mistake new lines for duplicates. What
// the skipped offsets held is counted by what became of it (Tailer.lose, skipSent,
// jumpPast): bytes destroyed before any run read them are lost (LostBytes); bytes a run
// read (and sent, or after a crash possibly sent) that were not acknowledged are not
// lost for a collector that has them (UnackedDestroyed); both are announced in
// Chunk.Lost, so that the sender's loss notice makes each collector count exactly the
// part it lacks. The offsets of a jump past those known to have held bytes are
// announced as unused (Chunk.Unused: a gap of unknown size, never that many bytes).
// Both are recorded when made (the record of generations, genEntry.Gap), so that a run
// walking over them again from a checkpoint before them (the run that made them crashed
// before its checkpoint passed them) announces the jump as unused again, never as bytes,
// and counts no byte a run counted already. The start checkpoint a source saves when it
// opens is past what it skipped at that resume; until a chunk has announced the skip it
// also says where the run resumed from (Checkpoint.Unannounced, AnnounceFrom), so that a
// run killed before it sent that chunk leaves the announcement to the next run (its
// first chunk's Lost counts from there, the jumps in it unused): the stdin journal's
// bytes dropped before a restart too.
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
// FingerprintLen (at most 1 KiB) bytes, taken over the bytes the file holds, read or not
// (so a checkpoint names what it has not read yet, and a file replaced before any byte
// of it was read is recognised). The tailer follows
// google/mtail's rules, and checks identity whenever it looks, not only at end of file:
// before every read it compares the open file's size with the read offset and its head
// with the fingerprint (an fstat and a read of at most 1 KiB), so a truncation or a new
// file that reuses the inode is recognised while running, after a held window (the sender
// stopped calling Next) and after a restart alike:
//   - the file shrank below the read offset, or its head changed (copytruncate,
//     truncation): if a rotated file (Config.RotatedNames) holds the same head and the same
//     last bytes before the read offset, it is copytruncate's copy: it is drained from the
//     read offset, then the live file is read from 0. Bytes the live file held beyond the
//     copy (written between the copy and the truncation) are truly lost: counted in
//     logspread_shipper_lost_bytes_total, logged with their size, and skipped in the
//     stream's offsets so that collectors count a gap of exactly that size. Without a copy,
//     the pending partial line is emitted and the unread bytes the tailer had seen are lost
//     the same way (a line half sent whose rest is unread ends after them). A file that
//     still starts with lines read when the content at the offset read changed (shrunk
//     below it, truncate -s N; or the last bytes read, or after a restart the last line
//     read before the checkpoint, Checkpoint.LastLen and LastCRC, no longer there:
//     truncated and written again in place with the same head, a banner) is read again
//     from 0, as Filebeat and Fluent Bit read a truncated file: its first bytes cannot be
//     told from the same bytes written again (shrink.go tells how far it still holds what
//     was read, not whether those bytes were written again), so none that cannot be
//     proven shipped is skipped. The bytes read again, at most that many arriving twice
//     (with those a run before returned past the checkpoint: readBefore), are counted in
//     logspread_shipper_file_reread_bytes_total and logged once per event (rereadLog). After a restart the stream goes on after the offsets the run before
//     used (resumeShrunk), or walks again at its offsets a run that saw the change and
//     read the file again (replaced); a generation read again from a checkpoint that it
//     still holds, shrunk since, is sent again from there at its offsets, its new lines
//     after the offsets the old
//     content used (skipOld); a skip not made yet when a checkpoint is saved is kept in
//     it (Checkpoint.Skip), so that a run stopped before it got there hands it on. A copy changed
//     since the tailer last looked holds content it never saw (truncated, written and
//     copied again while it did not look): drained first. A copy is only ever a rotated
//     file modified since the generation began (the tailer's first look at it, kept in
//     checkpoints as Checkpoint.Began; not since its last look, which may have been in
//     copytruncate's window, after the copy), and not after the live file's last change
//     (the copy is made before the truncation); while the known head
//     is part of a line only (which other content may start with too), a change of the
//     file makes the tailer look for such a copy holding what it read. The live file is
//     kept open while its copies are drained, then read from 0 even if it was deleted
//     meanwhile; its head is taken as the tailer goes back to it, so that a truncation
//     before its first read (the next rotation's copy was being made: copytruncate's
//     window) is told, and that copy drained, not skipped for the new content. Since a
//     copy is told from what the file held by the file's last change, a look at the file
//     (its size and time) that a copy, a truncation and new writes came between (logrotate
//     right then, or the shipper stopped there: SIGSTOP) is done again with the file as
//     it is then (relook): taken from the first look, the copy of what the file held was
//     taken for one to come, never drained, and its bytes beyond the read offset counted
//     lost at the next copy;
//   - a file that was empty whenever the tailer looked has no head to check. At each look
//     the tailer notes the rotated files (identity, size, modification time); a rotated
//     file with data that appeared or changed since the last look, and was not modified
//     after the file, is copytruncate's copy of what the file held, drained first, even
//     when the file was written, copied and truncated within one tick of the file system
//     clock. After a restart those notes are gone and times decide: a rotated file
//     modified between the last look (kept in checkpoints, Checkpoint.MTime) and the
//     file's last change is the copy, and one tick of the clock cannot tell an older
//     rotated file apart. The position saved when such a file is resumed with data in it
//     claims no head or size until a byte is read: the copy found first may hold the
//     checkpoint's offset, and the new content's head there would make the next restart
//     after a crash take the file for one shrunk since;
//   - the path names another file (rename-and-create rotation, delete-and-recreate): the old
//     file is read to its end through its open descriptor; once the new file has data, or a
//     newer rotated generation exists, the tailer moves on, and the old file lingers
//     (linger.go): renamed to a rotated name or deleted, it is followed, its descriptor and
//     claim kept, for Config.RotateWait after its last growth (Fluent Bit's rotate_wait),
//     even once the new file has data (an Apache graceful restart's old children go on
//     writing access.log.1). So does the file a symlinked path led to when it was opened,
//     still there, once the path leads to another file (a link retargeted: a deployment's
//     "current" switched to a release whose log has lines, the old release's server
//     appending until it restarts; leftTargetName), under that name, its directory watched
//     while it lingers; it is not looked at once left for good. No rotated name of the
//     path, it is found again after a restart under the name it had (the record of
//     generations keeps it, genEntry.Name) and read on as a renamed one is; a checkpoint
//     in it, or in the file a symlinked path led to while the shipper was down or behind
//     (Checkpoint.Target), resumes there, drains it, and it lingers. A partial line it ends with is terminated as at every leave
//     ('\n' appended): what completes it is read as the next line. When it grows, the tailer, at a line end of the
//     file it reads (the file at the path, or a renamed one followed while the new file
//     is empty) and once every byte returned is acknowledged, parks that file and
//     reads on the lingering one from where it was left, at the stream's next offsets (a
//     generation entered past its start: a record of generations entry with From), then,
//     once more all acknowledged, goes back to the parked file where it left it. While
//     it waits for that acknowledgement it reads the file it is in no further (at a line
//     end), when the other one grew: each file written without pause (a new release's
//     log, and the old one's until its server restarts) would otherwise keep the other's
//     lines unread until it went quiet. Only
//     the lingering descriptor reads it on: a look for newer rotated generations skips
//     it (grown, it is newer by modification time, not a generation not read yet). The
//     checkpoint saved (paced) may still be inside a generation that was left, and
//     others entered after it: the walk from it (below) reads the checkpointed
//     generation, and each one it enters at its recorded offsets, only up to where the
//     run before left it (genEntry.Left; leaveWhereLeft), then leaves it there,
//     lingering, so that what its writer appended after goes after the offsets of the
//     generations that followed, never at them; a checkpoint where the run before
//     parked a file to read a lingering one enters that one at once, at the offsets it
//     had there (resumeLingerRead). A renamed lingering file's writes wake the tailer by fsnotify (the
//     directory's events); a deleted one's make no event and are polled (lingerPoll). It
//     is left for good after RotateWait without growth, when its descriptor is needed for
//     another file (MaxOpenFiles), or at Close; the last maxLeftForGood renamed ones left
//     for good (and, after a restart, those the run before left that have not grown) are
//     still looked at without a descriptor (leftGood), and one that grows lingers again
//     (lingerAgain); the next run finds one renamed that grew
//     since by identity from the record (genEntry.Left, resumeLinger) and reads it on;
//     a deleted one's unread bytes at its close are counted lost and logged. An empty
//     rotated generation newer than the one left, passed over for the next (its writer,
//     an old one, had not written yet; lingerEmpty), lingers too, as one left at its
//     start, and so does one seen ahead, empty, and rotated since, and one that
//     appeared (created at the path and rotated away) while no file was followed, still
//     empty when the walk through those reaches the file at the path (lingerEmptySince);
//     an empty one left lingers as any other. Nothing read of them, the record keeps them as waited on
//     (genEntry.Wait, with the file's birth time) until they are entered or left for
//     good: the next run lingers on them again (resumeWaits). A file
//     renamed to a name that is no rotated name of the path (a glob's match of another
//     name) does not linger: that match's stream reads it on (the left index); nor does
//     a copy, a file whose RotateWait is over, or any with RotateWait 0. A file at the path that is a generation left
//     (same device and inode, same head, the last bytes read still before the offset it
//     was left at: a symlink switched back, a file renamed back) is read on from that
//     offset, not from 0; so is such a file renamed away again before the tailer looked
//     (not done while it holds more than was read), and a copy of it holding all that was
//     read. Back at the path while generations seen ahead of it (at the path while it
//     was read under another name) were renamed away or deleted, it is left for them at
//     a line end (leavesForAhead): they are drained in their turn, then it is entered
//     again where it was left. In this run the last generations left are remembered; after a restart the
//     record of generations keeps where each was left (genEntry.Left, TailFP), and a
//     checkpoint at the end of a generation left, others recorded after it, walks those
//     first (enterLeft). A lingering generation read on (another parked for it) that the
//     path names again takes its turn to its end only: the parked one is entered again
//     and left in turn, then the path's file is read on where it was left. A file seen
//     at a symlinked path (aheadFile.target) that the link left before the tailer got to
//     it (switched on, or away and back: r1 -> r2 -> r3 -> r1, r2 -> r3 -> r2) is an
//     old target: still linked, at no rotated name, it is drained in its turn under the
//     name the path led to, then lingers; the path's file, when the link came back to
//     it, is left at its end as an old target for it and read on where it was left (so
//     too for one deleted since, its release's directory removed, held open with bytes:
//     drained through its descriptor). Each such file is recorded when seen (the record
//     of generations, genEntry.Wait "ahead", with its size; "ahead_over" once entered,
//     and where): a restart, or a rewind, follows it again (resumeAheads), and one gone
//     meanwhile is counted lost with the size recorded, logged. Where the path led when
//     a file was opened at it is resolved with the open (a link switched right after is
//     not taken for where the file was: watchOpened). A directory on the path replaced
//     (a link switched) asks for a look as a rename of the path does, so a held reader's
//     looks see each release; and each link on the path is watched by its own name
//     (links.go): its event notes at once where the path leads, for the next look, so a
//     link switched twice between two looks skips no release; one switched again before
//     even its event was handled (told by the link's own identity) is counted in
//     files_missed_total and logged. While the new file is empty the old one is still
//     followed, since a writer may not have reopened yet;
//   - the open file has no links left (deleted while a writer may hold it open): it is
//     followed like a renamed one until the path has a new file with data or a newer
//     generation appears (then it lingers, as above), or it has not grown for
//     Config.RotateWait (Fluent Bit's rotate_wait); then it is drained and closed. A
//     generation that came before it is no newer one, though an old writer's appends
//     made it newer by its time: one seen ahead before it (aheadHasData), or, while its
//     last line is half written, one born before it (movedOn: statx's btime);
//   - every generation is shipped: when the tailer moves on from a file, it first drains,
//     oldest first (by modification time; by birth time where a modification time is
//     before its file's birth, touched into the past: genBefore), every rotated file in the same directory newer
//     than that file and not read yet (behind, held or down across several rotations), and
//     only then the file at path. A generation seen ahead (below) is newer whatever its
//     modification time (a writer still appending to the older file). The path is looked
//     at before the rotated names, the history below is what that look listed (not the
//     file it saw at the path, found rotated meanwhile), and the file opened at the path
//     is checked against the rotated names listed after the open: a file at the path
//     when one look saw it and rotated before the next is drained, not skipped (in the
//     history, or behind the file created after it). While no file is followed, the
//     rotated files present are
//     remembered, with their heads (a checkpoint without a file keeps the time from which
//     rotated files are new), and any other that appears is such a generation: a file
//     that reuses the inode of a remembered one deleted since has another head, and one
//     remembered empty holds nothing read. Rotated names follow
//     Config.RotatedNames (default NAME.N, NAME-N..., so NAME.1, NAME-20261130,
//     NAME.2026-11-30, and logrotate's "extension .log" names STEM.N.EXT and
//     STEM-NNNNNNNN.EXT, ExtensionRotatedNames: access.1.log), in the live file's directory or, for a pattern with a directory
//     part, in that directory (logrotate's olddir; rotatedDir, watched as well);
//     compressed files (CompressedSuffixes) are never read. Generations
//     are ordered by modification time: two rotations within one tick of the file system
//     clock cannot be told apart;
//   - a newer generation the tailer sees while it still drains an older one (behind,
//     held or paused across rotations) is held open from then on, within MaxOpenFiles
//     (idle ones still linked are closed while other tailers wait for a slot): deleted
//     before the tailer gets to it (logrotate's rotate count exceeded, or a writer still
//     appending to it), it is drained in its turn, by modification time among the
//     rotated generations (one still empty when the generation before it is left is
//     drained once its writer, which still holds it, writes to it). The tailer looks whenever it is asked for a chunk, and each
//     time it wakes inside Next (an event, a tick: a Next waiting for an acknowledgement
//     holds the lock the looker needs), and while
//     its reader does not call Next (a full window) the Set's looker looks for it on each
//     event that may be a rotation and on each Waker tick: the file at the path, and,
//     when needed, the rotated names (those held without a descriptor, and generations
//     created at the path and rotated away between two looks). Seen without a free
//     descriptor slot, only a generation's name and size are known: deleted before the
//     tailer could open it, that many bytes are counted lost and logged (at least: what
//     was written after the last look is not known). Every creation of the path that
//     fsnotify reports is matched with a new file seen (at the path or rotated); those
//     that match none were created and deleted between two looks: counted in
//     logspread_shipper_files_missed_total and logged, their size unknown. A write to
//     the path of such a tailer asks the looker for a look too (at most one per 50 ms,
//     none once Next ran since the write): a followed file seen shorter than a look saw
//     it, or no longer starting with the head read, was truncated, and its copytruncate
//     copy (a rotated file starting with the head and holding the bytes read) is held
//     open; so is, in order, the copy of each later content of the path truncated again
//     while the reader is held (told by the bytes the looks saw it start with; up to 16).
//     The truncation drains them from the descriptor when their name is gone (a rotate
//     count). Files are
//     told apart by device and inode; an inode the tailer saw deleted or rotated, or
//     smaller than it was, is a new file at the path (inodes are reused at once), so a
//     file that reuses the inode of one deleted unseen, and already outgrew it, may be
//     counted missed though it is read (counted, never silent). Without fsnotify such
//     files are never seen, and cannot be counted;
//   - a file present at start without a checkpoint is read from its end unless
//     FromBeginning; files that appear later are read from their beginning;
//   - on restart, a checkpoint resumes exactly when the path still has the checkpointed
//     identity (device, inode, fingerprint); otherwise the directory is searched for that
//     identity (access.log.1), or for copytruncate's copy (same head), which is drained from
//     the checkpoint before the newer generations and the live file (not the copy of a
//     content the record has after the checkpoint with a longer head, the checkpointed
//     one read again from its start: walked at that one's offsets, copyOfLater). When the checkpointed
//     file is gone (deleted or compressed while the shipper was down), the rotated
//     generations changed since the checkpoint (or born after the checkpointed file,
//     whatever their time: its old writer appended after they were created;
//     bornAfterHistory) are drained, oldest first, then the live
//     file (or the path is waited for), and the stream skips exactly the gone bytes after
//     the checkpoint (counted lost, logged with the file's size; the file is counted in
//     logspread_shipper_checkpointed_files_gone_total, since what was written to it after
//     the last look is unknown, unless a compressed rotated name holds it: compressed.go
//     counts it by its uncompressed size, gzip, zstd or bzip2 decoded, and says when a
//     format not decoded, such as xz, leaves it unknown): the first generation
//     the run before had read keeps its offsets; without one, the next begins right after
//     the furthest of the gone file's size at the last look (Checkpoint.Size), what the
//     run before returned (Checkpoint.Reach, saved in the stop checkpoint when a source is
//     closed; a run that returned less keeps the Reach of the one it resumed from) and
//     its recorded end. When what the run before returned ends inside a line
//     (pieces of a line longer than the chunk bound: Checkpoint.ReachInLine), that line
//     is terminated there first ('\n' alone, the last piece), as when a file is left
//     with an unterminated line. After a crash or with a checkpoint without a size,
//     the stream jumps by LossGap past every offset used before (logged,
//     logspread_shipper_stream_jumps_total; the bytes the checkpoint knew of after it
//     are announced lost, the rest of the jump unused) and drains the same generations
//     (gone.go).
//     A rewind (Tailer.Rewind, Glob.RewindStream:
//     read again for a collector that lacks it) whose checkpointed file is gone drains the
//     rotated generations changed since, oldest first, then the live file, and the first
//     one entered takes the offset it had (from the record of generations): the gap is
//     exactly the bytes deleted; only a generation never recorded jumps by LossGap;
//   - a Glob resumes at start every stream of the state directory whose path it matches
//     and whose file is not at the path any more (Glob.resumeKnown), and every file a
//     reload marked (Config.Since) in the same case: the file is found by identity under
//     any name of its directory, not only a rotated one. A stream whose path is gone
//     continues at that name when the pattern matches it and no stream has it (the file
//     is not read again as a new match); otherwise it is followed at its path, drains the
//     file from there, then its rotated generations, and is dropped (a match whose path
//     is gone is left, like a deleted file, RotateWait after its last growth). A match
//     that holds the file of another path's stream is not followed as a stream of its
//     own while it does; so too, while the glob runs, a new match that is the file
//     generation another match's stream follows (renamed to a name the pattern matches),
//     told by the record of followed sources. A new match that is a file generation a
//     stream of the state directory read and left (renamed again to a name the pattern
//     matches after its stream went on to the new file at its path: logrotate's
//     "extension .log", a renamed directory) is no new file either (leftIndex, loaded
//     from the records of generations, kept current by every record): skipped while it
//     holds no more than was read, read on from where it was left once written to
//     (shrunk since with its first lines kept: from the last of them, leftGen.keptIn),
//     the same while running (a match claimed by the stream that drained it, once
//     left) as after a restart; a tailer given such a file at its path enters it there
//     too. A new match that is copytruncate's copy of a child's file (a rotated name of
//     its path, empty or starting with the head it read: Glob.copyOfChild) is left to
//     that child, which drains it; its record of where it left the copy (genEntry.Left)
//     makes it a file read and left. A stream whose file is in none of its directory's
//     names is looked for in the directories of the state directory's other sources
//     (Store.sourceDirs: mv d1/x.log d2/x.log under 'd1/*.log' 'd2/*.log'), the same
//     checks made, and its birth time (Checkpoint.Born) where known: it drains the file
//     there, then hands it over to the match that names it, which waits for it (while
//     running too: a file renamed away to a path another tailer waits for is left
//     RotateWait after its last growth). A match that cannot be told for want of a
//     descriptor is skipped until the next scan, never read as new. Checkpoints older than
//     CheckpointExpiry are not resumed;
//   - one file, one stream (owners.go): a Set follows each path with one tailer (a glob
//     skips a match another source follows at that path), and a file (device, inode) is
//     read by one tailer at any moment: a tailer whose path names a file another one
//     reads (a symlink, a hard link) waits until the path names another file or that
//     reader leaves it (woken by it), and takes it over at the offset it shipped up to
//     when the file still starts with the head it had and holds the last bytes read
//     before that offset and is not a file born since (statx's birth time, where the
//     file system keeps it: a deleted file's inode number given to a new one that starts
//     alike) (else from its start: rewritten in place, or another file); past 1,024
//     hand-overs not taken the oldest is dropped (counted) and its taker reads on from
//     the left index all the same; a claim holds while its owner
//     holds the file open or finds it under its name (not an inode reused). On restart
//     the checkpoints decide: a tailer resumed from a checkpoint reserves the file it
//     names and the generations its record says it read from their start after it
//     (Tailer.walk; by identity and head: a file given the inode number of a reserved
//     one deleted since is no reserved file), finds them by identity under any name of
//     its directory (a glob's
//     rotated names that the pattern matches are no rotated names of the live one), and
//     no other tailer takes them before it left them or reached its path; a glob's
//     children start reading at its first Next, once every source is opened. A
//     generation entered past its start at a lower stream offset (handed over) has a
//     Base below 0: bases are compared as signed distances (genEntry.start, offBefore),
//     and a walk again from before it (a rewind, a restart before its first checkpoint)
//     reads it on from that file offset at the offsets it had (resumeEnteredPast);
//   - a reload's new sources start a file new to the configuration at its mark (identity
//     and size when the reload was taken); a marked file renamed during the swap is found
//     by identity and drained from its mark before the file that replaced it;
//   - offsets are never reused across a restart: a tailer records durably (a small file
//     next to its checkpoint, ckpt-*.gens) where each generation it moves to begins in the
//     stream, before returning any byte of it. Walking again from the checkpoint, a
//     generation read before (the same file with the same head, or a copy of it) gets the
//     offsets it had; when a generation read after the checkpoint was destroyed since
//     (truncated, deleted), what follows jumps past its offsets instead of taking them
//     (lines read again may then arrive twice; none is lost without a gap). The record
//     also holds where each generation ended when the tailer moved on from it: a
//     generation the stream holds wholly before the checkpoint is never read again,
//     even where modification times put it after the checkpoint's file; and a checkpointed
//     file whose content the run before saw truncated and written again after the
//     checkpoint is read from its start at the offsets the new content had, though a
//     short checkpointed head (part of a line) matches the new content too. Only
//     generations never acknowledged are kept, and the last few that ended before the
//     acknowledged offset; of the others, those read and left wholly before it keep a
//     short line each (identity, head, where they were left: the last few hundred), so
//     that copytruncate's old copies (rotate 30) are never taken after a restart for
//     generations not read yet, and what an old writer appends to one is read on from
//     where it was left. The record keeps the fingerprints of the head up to each of
//     its first line ends, so a copy shorter than the recorded head (copytruncate's,
//     made before the tailer first saw that content) is the same generation. A clean
//     close records how far the stream's offsets went (a mark; a run resuming after it
//     marks it open first, so that a crash leaves it unknown): the walk from a
//     checkpoint in copytruncate's copy, and any generation it enters that no run
//     recorded there, goes on after every offset used before, since a run may have read
//     the copied file past the copy's end and sent those bytes (gone since) there;
//     exactly after them when the mark is known, by LossGap after a crash. When what
//     was sent there ended inside a line (a piece of a line longer than the chunk
//     bound, its rest destroyed by the truncation), that line ends first ('\n' alone,
//     its last piece), and the generation begins after it. A copy found while the
//     followed generation is walked again, before a byte of it is read, keeps the
//     offsets that generation had; so does copytruncate's copy of a generation recorded
//     after the checkpoint whose own file holds that content no more, walked in that
//     generation's place whatever its time says (recordedCopyRank). The record also
//     keeps the rotated generations a run knows it must still drain (listed newer than
//     the one it resumed in or left, or seen ahead: genEntry.Due, due.go) until one with
//     their content is entered: a run killed before it got to them leaves them to the
//     next one, which counts one deleted meanwhile (never entered by any run, neither at
//     a rotated name nor copied) lost in its turn, with the size it was seen to have,
//     instead of going from the generation before it to the one after it at the next
//     offsets (bench case 20). A listed copy of a generation entered and never left (a
//     run crashed in it) tells how large that generation was, which the record then
//     says (genEntry.Seen).
//
// # Isolation and bounded resources
//
// A file that cannot be opened or read (permission, I/O error, a directory at the path, a
// race with its deletion) never stops other files or the shipper: the tailer retries it
// with backoff (1 s doubling up to PollInterval, and on every event), counts each change
// of state in logspread_shipper_file_errors_total{reason} and logspread_shipper_files_unreadable,
// and logs it; a permission error with its remedy (permissionRemedy: the user, the
// directory lacking search permission or the file lacking read permission, its mode and
// owner, how to give it, logrotate's create line). A Glob warns, with its remedy too,
// about a directory of its pattern it may not list (filepath.Glob skips it silently). A path that is not a regular file (a FIFO, a socket, a device) is never
// opened for reading: its type is checked before the open, and the open is non-blocking
// with the type checked again on the descriptor (openRegular), so a FIFO, whose open waits
// for a writer, never hangs a tailer, a glob's scan or Close; it is reason not_regular.
// At most Config.MaxOpenFiles descriptors are held (default half the
// descriptor limit, leaving at least ReservedDescriptors for the process's others): while a tailer waits for one, idle files that are still linked are
// closed, and reopened by identity (verified by device, inode, size and head; found again
// by identity if renamed meanwhile) on their next event. No other descriptor is kept per
// file: the record of a stream's generations is opened for each append (genLog), and
// checkpoints and listing sync files for one write. A shortage of descriptors (EMFILE,
// ENFILE) is a failure state of the file like the others (reason fd_limit), never a
// conclusion: a file that could not be looked for by identity is not taken for deleted
// (nor one whose rotated names were renamed while it was looked for: absent means two
// looks in a row saw the same names holding the same files),
// a rotated file that could not be told from copytruncate's copy is not taken for
// another file (the followed file is not read until it is told), and a generation whose
// record could not be written is not read until it is. A tailer
// never waits for a slot while holding one it can give up: the generations it holds
// ahead that are still linked are closed first (tailers each holding a newer file while
// waiting for their older one held every slot between them), and a file is not closed
// idle while deleted generations are held ahead. A Glob begins a match with the file
// listed at the path (or named by its event), not with the file there when its tailer is
// opened (after many others, or retried after a failure): one rotated meanwhile is found
// by identity and drained first; one deleted meanwhile is counted lost with its size at
// the listing; one still there, read from its end (a first start), is read from where it
// ended when listed, not from where it ends when opened. A Glob
// drops a match once its file is deleted and drained (goroutine, buffer and descriptor
// released) and removes its checkpoint once acknowledged; checkpoints of paths gone and
// not followed are removed after Config.CheckpointExpiry. Read buffers are allocated on
// first read, grow with the data and are released while idle.
//
// # Wake-ups
//
// Idle sources sleep on fsnotify events for their name in the parent directory (a shared
// Watcher, rescanning on fsnotify.ErrEventOverflow) and on a slow Waker (a ticker, every
// PollInterval, cheap stat only). Watches follow paths, not the directories first found
// there: every ancestor of a watched directory is watched for the next component's name,
// so a directory that is missing, deleted, renamed or recreated at any level (even while a
// deleted file held open pins the old one, whose watch the kernel keeps alive and silent)
// is watched again, by path, as soon as it appears. A symlinked log is also watched in
// the directory of each link it leads through and of its target, as it resolves now and
// as it resolved when the followed file was opened, so a retargeted link is followed by
// events; a link whose target does not exist yet (a dangling symlinked directory: a
// release's "current" link made before its directory) is watched for where its target
// will appear; a Glob watches each of its directories (current/log for current/log/*.log)
// the same way, where it leads through symlinks (symlinkChain), so its new matches there
// are found by events too. A directory reached by two paths (a symlinked directory and its
// target) has one inotify watch, added by its real path and shared by both, so dropping
// one path (the link retargeted) leaves the other watched (an old release's log still
// drained). A directory that exists but cannot be watched (inotify needs read permission
// on it: a 0711 directory's files are read, not watched; the watch limit) is no missing
// one: it is warned about with its error and remedy, counted (Metrics.WatchErrors),
// polled meanwhile, and watched again when its mode or owner changes (an event in its
// parent). The poll is only the backstop for lost events. Tests inject a ManualWaker.
// The Watcher also keeps the names of each directory it watches, current by the same
// events and synced with their queue before each lookup, so that a tailer looking for
// its rotated generations stats a few names instead of listing a directory of thousands
// (listing.go).
//
// # stdin journal
//
// See Journal: stdin is copied at once into bounded, fsynced on-disk segments, and read back
// from there, so the writer (Apache) is never stalled by a slow or absent Spread daemon.
//
// # State directory
//
// A Set locks its state directory (internal/statelock): one shipper per directory. The
// Store keeps each source's checkpoint with a checksum and its previous copy, and a
// record of followed sources (stream ids and file generations) apart from them; a lost
// or corrupt checkpoint falls back to those, never to "a new file, read from its end"
// (see Store). Config.Reset is the remedy when nothing is left to fall back to.
//
// A full state directory (ENOSPC, EDQUOT) stops no source: a file whose start checkpoint
// cannot be saved is read and shipped all the same (a glob's new match from its
// beginning), its state saved once space is back; failed saves are logged once per change
// of state (stateHealth) and counted. A glob's marker holds a salt that names the stream
// of each match appeared after the pattern's first start (matchStream): a restart that
// finds nothing of such a match (nothing could be saved) reads it from its beginning as
// the same stream, and collectors drop what they wrote. On a full state directory that
// marker is an empty file named for its salt (Store.markGlobNamed: an inode, no data
// block), its content written once there is space; a first start that cannot create
// even that fails with the error (ship waits for space and starts again), and a first
// start closed unread withdraws its marker (the next start is the pattern's first).
package source
