package source

import (
	"time"
)

// A restart whose checkpointed generation is gone: no file in any generation has the
// checkpoint's identity (device, inode, head), and no copy holds it. Such a generation
// was rotated away and deleted (or compressed: compressed files are never read) while
// the shipper was down. The tailer continues as a rewind does (Tailer.Rewind): it
// drains the rotated generations changed since the checkpoint, oldest first, then the
// file at path, and the stream skips exactly the part of it that is gone:
//
//   - a generation the run before entered after the checkpointed one is recorded with
//     its offsets (genLog): the first one still on disk takes them, the bytes in
//     between (the rest of the gone generation, and of any generation between them
//     that is gone too) are counted lost;
//   - otherwise no run returned a byte of a later generation, and the gone generation
//     used the offsets up to the furthest of: its recorded end (the run before moved on
//     from it), the end of what the last run returned (Checkpoint.Reach, saved when it
//     stopped), and the checkpoint plus what the checkpoint knew of it (its size at the
//     last look, Checkpoint.Size). The next generation begins there, and the bytes of
//     the gone generation after the checkpoint are counted lost: exactly, as far as the
//     tailer saw them (bytes written after its last look were never seen);
//     A generation compressed while the shipper was down (logrotate's compress) is found
//     in its compressed rotated name, and its size is its uncompressed size
//     (compressed.go): known exactly, after a crash too;
//   - when neither is known (the run before crashed after it read past the checkpoint,
//     or a checkpoint written before sizes were recorded) the stream jumps by LossGap
//     past every offset used: what the checkpoint knew of the gone bytes after it is
//     announced lost (it may have been sent before the crash: UnackedDestroyed, each
//     collector counts what it lacks), the offsets after them unused (jumpPast).
//
// Bytes of the gone generation the run before returned (up to its Reach, its recorded
// end) were sent, or held for sending, and not acknowledged: counted in
// UnackedDestroyed, not lost for a collector that has them; only those seen and never
// returned were destroyed before they were read (LostBytes).

// goneMsg starts the log of a restart whose checkpointed file is not found: it was
// deleted, compressed, or moved where no rotated name (Config.RotatedNames) looks (such
// as a logrotate olddir not configured) while the shipper was down; which, it cannot
// tell.
const goneMsg = "checkpointed file not found at the path or any rotated name (deleted, compressed, or moved where --rotated-names does not look, such as a logrotate olddir, while the shipper was down)"

// goneGen is what a restart knows of a gone checkpointed generation while the
// generation after it is looked for (the offsets of that one decide the gap).
type goneGen struct {
	restart bool  // a restart, not a rewind: the gap is counted lost
	known   int64 // bytes of the gone generation after the checkpoint it knew of; -1: unknown
}

// resumeGone resumes after a restart from cp, whose generation is gone; jump is past
// every offset used before. The generations that followed it are drained first (the
// rotated ones changed since the checkpoint), then the file at path.
func (t *Tailer) resumeGone(cp *Checkpoint, jump uint64) {
	var since time.Time
	if cp.MTime != 0 {
		since = time.Unix(0, cp.MTime)
	}
	t.history = t.snapshotUpTo(since)
	t.histBorn = cp.Born
	known := int64(-1)
	if size := cp.knownSize(); size >= 0 {
		known = size - cp.FileOffset
	}
	base := cp.Offset - min(cp.Offset, uint64(cp.FileOffset))
	later, end := t.gens.after(cp.Dev, cp.Ino, base)
	t.s.m.FilesGone.Inc()
	attrs := []any{"file_offset", cp.FileOffset, "offset", cp.Offset}
	// Compressed while the shipper was down (logrotate's compress): its uncompressed
	// size is its size (compressed.go).
	exact := false
	var after int64 // bytes of the generations after it, compressed too, never read
	switch z := t.compressedGen(cp); {
	case z.size >= cp.FileOffset:
		exact, known = z.afterWhy == "", z.size-cp.FileOffset
		if z.unterminated && !cp.Stopped {
			// A run that left it (then crashed) gave its last line a '\n' there.
			known++
		}
		attrs = append(attrs, "compressed_to", z.name, "size", z.size, "unread_bytes", known,
			"note", "compressed files are not read; its bytes after the checkpoint are counted from its uncompressed size")
		if z.byTime {
			attrs = append(attrs, "identified_by", "modification time: the oldest compressed rotated file modified after the checkpoint, saved when the file was empty (its head was not known)")
		}
		for _, f := range z.after {
			after += f.size
			attrs = append(attrs, "compressed_after", f.name, "compressed_after_size", f.size)
		}
		if z.afterWhy != "" {
			after = 0 // (not counted in part)
			t.s.m.GoneSizeUnknown.Inc()
			attrs = append(attrs, "compressed_after_size", "unknown: "+z.afterWhy)
		}
	case z.why != "":
		t.s.m.GoneSizeUnknown.Inc()
		if z.name != "" {
			attrs = append(attrs, "compressed_to", z.name)
		}
		attrs = append(attrs, "compressed_size", "unknown: "+z.why)
		fallthrough
	default:
		if known >= 0 {
			attrs = append(attrs, "size", cp.Size, "unread_bytes", known)
		} else {
			attrs = append(attrs, "size", "unknown (checkpoint written before sizes were recorded)")
		}
		if cp.MTime != 0 {
			// Bytes written after the last look (the file was modified then) were never seen.
			attrs = append(attrs, "modified_at_last_look", time.Unix(0, cp.MTime).UTC().Format(time.RFC3339Nano),
				"note", "bytes written to it after the shipper last looked at it are unknown: not read, not counted")
		}
	}
	switch {
	case later:
		t.goneJump, t.pastGone = jump, goneGen{restart: true, known: known}
		t.log.Warn(goneMsg+"; draining the generations that followed it, then the file at path: the first one read before continues at the offsets it had, the bytes in between are counted lost",
			attrs...)
	case known >= 0 && (cp.Stopped || exact) || end > 0:
		// (After a crash, a generation whose whole size is known used no offset past its
		// end: the run before records the next generation before it returns a byte of it.)
		next := max(cp.Offset+uint64(max(known, 0)), end)
		if cp.Stopped {
			next = max(next, cp.Reach)
		}
		t.log.Warn(goneMsg+"; its bytes after the checkpoint are lost, the generations that followed it are drained, then the file at path",
			append(attrs, "lost_bytes", next-cp.Offset+uint64(after))...)
		// What the run before returned (up to its reach when it stopped, its recorded
		// end) was sent, not acknowledged; after a crash any of it may have been.
		sent := end
		if cp.Stopped {
			sent = max(sent, cp.Reach)
		} else {
			sent = next
		}
		t.loseAfter(next, sent, "the rest of the checkpointed file, not found at the path or any rotated name after the shipper was down")
		if exact && after > 0 {
			t.lose(after, "generations that followed the checkpointed file, compressed while the shipper was down (compressed files are not read)")
		}
		if cp.Stopped && cp.ReachInLine && end <= max(cp.Reach, cp.Offset+uint64(max(known, 0))) {
			// The run before sent a piece of a line and its rest is gone: the line ends
			// here, so that the next generation's first line is not joined to it.
			t.endLine(1)
		}
	default:
		why := "the run before stopped without saying which offsets it used after the checkpoint (a crash)"
		if known < 0 {
			why = "its size is unknown"
		}
		t.log.Warn(goneMsg+"; "+why+": the stream jumps past every offset used before, the generations that followed it are drained, then the file at path",
			append(attrs, "jump", jump-t.c.off)...)
		// The bytes it held after the checkpoint at the last look may have been sent
		// before the crash: announced lost (collectors count what they lack); the
		// offsets after them are unused as far as anyone can tell.
		t.jumpPast(jump, t.c.off+uint64(max(known, 0)), "the rest of the checkpointed file, not found at the path or any rotated name after the shipper was down", true)
	}
}

// enteredAfterGone is entered for the first generation entered after a resume (a rewind
// or a restart) that found the checkpointed generation gone: it begins at the offset it
// had when it was read before (the record of generations), or, when it was never read,
// at goneJump (past every offset used).
func (t *Tailer) enteredAfterGone(k fileKey, fileOff int64) {
	jump, g := t.goneJump, t.pastGone
	t.goneJump, t.pastGone = 0, goneGen{}
	e, found, _ := t.gens.lookup(k.dev, k.ino, t.headNow(), t.c.off)
	recorded := found && !offBefore(e.Base, t.c.off) && fileOff == 0
	if recorded {
		jump = e.Base
	}
	if jump > t.c.off {
		switch {
		case recorded && g.restart:
			// The run before read the gone generation and went on to this one at these
			// offsets: the bytes between were sent (or counted lost) by it.
			t.skipSent(int64(jump-t.c.off), "the rest of the checkpointed file, not found at the path or any rotated name after the shipper was down (the next generation read before continues at the offsets it had)", true)
		case recorded:
			t.skipSent(int64(jump-t.c.off), "re-reading: a generation read before is gone; the stream continues at the offset the next one had", false)
		default:
			t.log.Warn("a generation read before is gone; the stream jumps past every offset used before",
				"file", t.g.name, "offset", t.c.off, "jump", jump-t.c.off)
			held := t.reach // returned in this run (a rewind)
			if g.restart {
				// Seen by the runs before, possibly sent: what the checkpoint knew of the
				// gone generation, and the generations recorded after it (gone too: this
				// one is not among them), as far as they were seen.
				held = max(held, t.c.off+uint64(max(g.known, 0)), t.usedEnd())
			}
			t.jumpInto(jump, held, "a generation read before is gone", g.restart)
		}
		t.c.off = jump
	}
	if !recorded && fileOff == 0 {
		t.rereadOld()
		t.loseDue()
	}
	if recorded {
		// Entered at its start at the offsets it had: only up to where the run before
		// left it, when it went on with others there (leaveWhereLeft), as a generation
		// the walk from a checkpoint still there enters (enteredHow). Read to its end,
		// what its old writer appended after took the offsets of the generations that
		// followed it (-model.shrink -model.oldwriter seed 9341: offsets reused).
		t.leaveWhereLeftAt(e.Base, 0)
		t.leaveAtStart(e.Base)
	}
	t.g.base = t.c.off - uint64(fileOff)
	t.g.recorded = true
	t.record()
}

// endLine terminates the line in progress at the next offset, kept bytes of it sent
// before, whose rest is lost (its file is gone): the next chunk is its end, a '\n'
// alone (FlagFragment|FlagLast, one byte of the stream), as when the tailer leaves a
// file whose last line is unterminated.
func (t *Tailer) endLine(kept uint64) {
	t.c.frag, t.c.lineKept, t.c.terminate = true, min(max(kept, 1), uint64(t.c.max-1)), true
}

// after returns what the old entries say of the stream after the generation dev/ino
// that begins at base: later, whether a generation whose content was seen begins after
// it (its offsets are recorded), and end, the furthest end recorded for it (0: none).
func (l *genLog) after(dev, ino, base uint64) (later bool, end uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.entries {
		if !x.old {
			continue
		}
		if offAfter(x.Base, base) && x.FPLen > 0 {
			later = true
		}
		if x.Dev == dev && x.Ino == ino && x.Base == base {
			end = max(end, x.End)
		}
	}
	return later, end
}

// stopSave saves the last position acknowledged as the stop checkpoint: with Reach, the
// offset past every byte returned in this run (or in the runs before it, when this one
// did not return bytes as far: their stop checkpoint's), and the followed file's size as last
// seen when it is still the checkpointed one. A restart that finds the file gone then
// knows exactly which offsets were used after the checkpoint.
func (t *Tailer) stopSave() {
	last := t.lastAck.Load()
	if last == nil {
		return
	}
	cp := *last
	cp.Stopped, cp.Reach = true, max(t.reach, cp.Offset)
	cp.ReachInLine = cp.LineOff > 0
	if t.reach > cp.Offset {
		cp.ReachInLine = t.reachInLine
	}
	if t.stopReach > cp.Reach {
		// This run did not return bytes as far as the runs before it (none, or only
		// some of theirs again): the stream still ends where they left it, possibly
		// inside a line (a piece sent whose rest is gone: the next run ends it there).
		cp.Reach, cp.ReachInLine = t.stopReach, t.stopInLine
	}
	if cp.HasFile() && t.g.has && t.g.key.dev == cp.Dev && t.g.key.ino == cp.Ino && t.g.maxSize > cp.Size &&
		(t.g.key.fpLen == cp.FPLen && t.g.key.fp == cp.FP ||
			len(t.g.headB) >= cp.FPLen && cp.FPLen > 0 && fingerprint(t.g.headB[:cp.FPLen]) == cp.FP) {
		cp.Size = t.g.maxSize
	}
	if err := t.s.store.saveStop(cp); err != nil && stateFull(err) {
		t.log.Debug("cannot save the stop checkpoint (state directory full)", "err", err) // logged once: stateHealth
	} else if err != nil {
		t.log.Warn("cannot save the stop checkpoint; a restart that finds the file gone jumps past every offset used", "err", err)
	}
}
