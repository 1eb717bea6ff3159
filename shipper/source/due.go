package source

import (
	"bytes"
	"cmp"
	"io/fs"
	"os"
	"slices"
	"time"
)

// Generations due: what a run knows it must still drain, kept in the record of generations.
//
// A run that resumes in a rotated generation (its checkpoint's, or a copy of it) lists
// the rotated generations newer than it, which it drains in order before the file at the
// path; a run that leaves a generation lists them again; a running tailer that is behind
// sees newer generations ahead (ahead.go). A generation that is deleted (logrotate's
// rotate count) before the tailer gets to it is counted lost in its turn by the run that
// knows it. Killed before that (bench case 20: a SIGKILL every few hundred
// milliseconds, a copytruncate with rotate 5 each round), the run took that knowledge
// with it: the next run, which never saw the generation, went from the one before it to
// the one after it at the next offsets, and its bytes were lost without a count.
//
// So each such generation is recorded (genEntry.Due: its identity, head, size seen and
// times) once it is listed or seen ahead, and is no longer due once a generation with
// its content is entered (Tailer.record), once counted lost, or once the walk enters
// the file at the path from its start (the rotated ones not drained then were not newer).
// A later run that enters a generation from its start at offsets no run gave it counts,
// first, each generation due not after it (by birth and modification time) that is gone:
// neither at the path nor at a rotated name (by device, inode and head: an inode number
// is given to the next file created once its file is deleted), nor copied (another file
// with its head), nor named by an entry of the record (entered by a run since). Its bytes
// are counted lost with the size it was seen to have, and the generation is recorded at
// those offsets (with its end), so that a later run walking there again counts them once
// (the record's gaps) and gives the next generation the offsets it had.
//
// A listed copy of a generation a run entered and never left (it crashed in it) is not
// due, but tells how large that generation was (growByCopy).

// maxDue bounds the generations due a record keeps (the oldest listed are dropped
// first); logrotate's rotate counts keep far fewer rotated generations.
const maxDue = 64

// sameDue reports whether the due generations x and y name one file with one head.
func sameDue(x, y genEntry) bool {
	return x.Dev == y.Dev && x.Ino == y.Ino && x.FPLen == y.FPLen && x.FP == y.FP
}

// sameHead reports whether the heads x and y record are one: the same, or the shorter
// one the longer up to one of its line ends.
func sameHead(x, y genEntry) bool {
	if x.FPLen > y.FPLen {
		x, y = y, x
	}
	if x.FPLen == 0 {
		return false
	}
	if x.FPLen == y.FPLen {
		return x.FP == y.FP
	}
	return slices.ContainsFunc(y.Ends, func(e lineEnd) bool { return e.N == x.FPLen && e.FP == x.FP })
}

// headStarts reports whether b (a file's first bytes) starts with the head d records;
// for a b shorter than it (the same file seen again before it grew), whether b is that
// head up to one of its line ends.
func headStarts(b []byte, d genEntry) bool {
	if d.FPLen == 0 {
		return false
	}
	if len(b) >= d.FPLen {
		return fingerprint(b[:d.FPLen]) == d.FP
	}
	return d.prefixOf(b)
}

// loadDueLocked applies the Due line d read from the record. l.mu is held (or l not
// shared yet).
func (l *genLog) loadDueLocked(d genEntry) {
	switch {
	case d.Wait == waitOver && d.Dev == 0 && d.Ino == 0:
		l.due = nil
	case d.Wait == waitOver:
		l.due = slices.DeleteFunc(l.due, func(x genEntry) bool { return sameDue(x, d) })
	case d.FPLen > 0:
		l.putDueLocked(d, nil)
	}
}

// putDueLocked adds d to the generations due, replacing what they said of its file with
// its head; it returns the others it replaced: of its file, with a head head (d's bytes)
// starts with (the file seen again, grown). l.mu is held (or l not shared yet).
func (l *genLog) putDueLocked(d genEntry, head []byte) (replaced []genEntry) {
	l.due = slices.DeleteFunc(l.due, func(x genEntry) bool {
		if sameDue(x, d) {
			return true
		}
		if head != nil && x.Dev == d.Dev && x.Ino == d.Ino && x.FPLen <= len(head) && fingerprint(head[:x.FPLen]) == x.FP {
			replaced = append(replaced, x)
			return true
		}
		return false
	})
	l.due = append(l.due, d)
	if len(l.due) > maxDue {
		l.due = slices.Delete(l.due, 0, len(l.due)-maxDue)
	}
	return replaced
}

// addDue records that d, a file starting with head, is a generation due (genEntry.Due):
// written once per file and head, again when it is seen larger (with the line that says
// the head seen before is no longer due). The line is not synced (as a Grown line): a
// SIGKILL does not lose it, only the machine would, and then the next synced write of
// the record has it. A restart of fifty glob matches would otherwise wait for fifty
// more syncs.
func (l *genLog) addDue(d genEntry, head []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if slices.ContainsFunc(l.due, func(x genEntry) bool {
		return x.Dev == d.Dev && x.Ino == d.Ino && x.FPLen >= d.FPLen && sameHead(x, d) && x.Seen >= d.Seen
	}) {
		return nil
	}
	d.Stream, d.Wait = l.stream, ""
	var es []genEntry
	for _, x := range l.putDueLocked(d, head) {
		es = append(es, dueOver(l.stream, x))
	}
	es = append(es, genEntry{Stream: l.stream, Due: &d})
	if l.unsaved != 0 {
		l.unsaved = -1
		return l.saveLocked()
	}
	return l.append(es, false)
}

// dueOver returns the line that says the generation due x is no longer due.
func dueOver(stream uint64, x genEntry) genEntry {
	return genEntry{Stream: stream, Due: &genEntry{Stream: stream, Dev: x.Dev, Ino: x.Ino, FPLen: x.FPLen, FP: x.FP, Wait: waitOver}}
}

// dueGens returns the generations due.
func (l *genLog) dueGens() []genEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.due)
}

// dueOf returns the generation due of the file dev/ino whose head is fpLen/fp.
func (l *genLog) dueOf(dev, ino uint64, fpLen int, fp uint64) (genEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.due {
		if x.Dev == dev && x.Ino == ino && sameHead(x, genEntry{FPLen: fpLen, FP: fp}) {
			return x, true
		}
	}
	return genEntry{}, false
}

// settleDue drops the generations due that settled reports entered or counted; the
// lines that say so go out with the next synced write (the entry of the generation that
// settles them).
func (l *genLog) settleDue(settled func(genEntry) bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.due = slices.DeleteFunc(l.due, func(x genEntry) bool {
		if !settled(x) {
			return false
		}
		l.queued = append(l.queued, dueOver(l.stream, x))
		return true
	})
}

// clearDue drops every generation due (one line, with the next synced write).
func (l *genLog) clearDue() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.due) == 0 {
		return
	}
	l.due = nil
	l.queued = append(l.queued, genEntry{Stream: l.stream, Due: &genEntry{Stream: l.stream, Wait: waitOver}})
}

// enteredDue reports whether an entry of the record (or a generation it trimmed) names
// the content of the generation due d: its file with its head, or another file with it
// (a copy of it, or it a copy of that one: both heads a whole line).
func (l *genLog) enteredDue(d genEntry) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for x := range l.allLocked {
		if x.FPLen == 0 || x.Mark != "" || x.Gap != "" || !(x.Dev == d.Dev && x.Ino == d.Ino || x.Line && d.Line) {
			continue
		}
		if sameHead(x, d) {
			return true
		}
	}
	return false
}

// growByCopy records that the generations the record says were entered from their start
// and never left (no end: a run crashed in them) with the head of d, a rotated file
// (copytruncate's copy of one of them, made after the tailer last refreshed its size:
// Tailer.refreshSeen), held at least d.Seen bytes (genEntry.Seen, a Grown line). A run
// that finds such a generation destroyed counts its bytes with that size (usedEnd), not
// with the smaller one seen before, which made the bytes after it offsets announced as
// unused: a gap of unknown size at collectors (bench case 20).
func (l *genLog) growByCopy(d genEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	for _, x := range slices.Clone(l.entries) {
		if x.FPLen == 0 || x.End != 0 || x.From != 0 || x.Mark != "" || x.Gap != "" || x.Seen >= d.Seen ||
			!(x.Dev == d.Dev && x.Ino == d.Ino || x.Line && d.Line) || !sameHead(x, d) {
			continue
		}
		g := genEntry{Stream: l.stream, Base: x.Base, Dev: x.Dev, Ino: x.Ino, Seen: d.Seen}
		if l.growLocked(g) {
			err = cmp.Or(err, l.writeGrownLocked(g, false))
		}
	}
	return err
}

// noteDue records as due the rotated generations names (seen as infos) a run must
// drain, unless named by the record already (a generation a run entered, walked again at
// the offsets it had), or without a whole line yet: only a head that holds one tells a
// copy of the file (copytruncate's, another inode) from another file starting alike
// (log lines often share their first bytes); one taken for gone while its copy was
// drained was counted lost and moved the copy's offsets (-model seed
// 1796284541540871898). Seen again with a line, it is due then.
func (t *Tailer) noteDue(names []string, infos []fs.FileInfo) {
	for i, fi := range infos {
		if fi.Size() == 0 {
			continue
		}
		head := readHead(names[i])
		if bytes.IndexByte(head, '\n') < 0 {
			continue
		}
		dev, ino, _ := fileID(fi)
		d := genEntry{Dev: dev, Ino: ino, FPLen: len(head), FP: fingerprint(head), Line: true,
			Ends: lineEnds(head), Seen: max(fi.Size(), int64(len(head))), Born: bornAt(names[i]), MTime: fi.ModTime().UnixNano(), Name: names[i]}
		if t.gens.enteredDue(d) {
			// A generation a run entered, or its copy: not due. A copy tells how large
			// the generation it copies was (genLog.growByCopy).
			_ = t.gens.growByCopy(d)
			continue
		}
		_ = t.gens.addDue(d, head) // (not written: listed again at the next leave)
	}
}

// dueAtResume records, once the tailer resumed from a checkpoint, the rotated
// generations newer than the one it resumed in (or, with none followed, than those
// changed before the checkpoint: the history) as due. Resumed in the file at the path
// with nothing to walk, no rotated generation is newer: none is due any more.
func (t *Tailer) dueAtResume() {
	switch {
	case t.g.has && t.g.atPath && t.g.name == t.path && t.walk == nil && t.history == nil && len(t.linger) == 0:
		if len(t.gens.dueGens()) > 0 {
			t.gens.clearDue()
			_ = t.gens.save()
		}
	case t.g.has && !t.g.atPath, !t.g.has && t.history != nil:
		lookErr, passed := t.lookErr, t.passed
		var prev *gen
		if t.g.has {
			prev = &t.g
		}
		names, infos := t.newerListed(prev)
		t.noteDue(names, infos)
		t.lookErr, t.passed = lookErr, passed
	}
}

// newerListed returns the rotated generations findNewerIn would drain after prev (after
// the history, for nil), in no order.
func (t *Tailer) newerListed(prev *gen) ([]string, []fs.FileInfo) {
	var live [2]uint64
	if pi, err := os.Stat(t.path); err == nil {
		live[0], live[1], _ = fileID(pi)
	}
	names, infos := t.candidates()
	recorded := t.gens.recordedFrom(t.c.off)
	var ns []string
	var is []fs.FileInfo
	for i, fi := range infos {
		if t.newerCandidate(prev, names[i], fi, live, recorded) {
			ns, is = append(ns, names[i]), append(is, fi)
		}
	}
	return ns, is
}

// loseDue counts lost the generations due that are gone and do not come after the
// generation entered (Tailer.enteredHow: from its start, at offsets no run gave it; by
// birth and modification time, genBefore), or all of them
// when that one is the file at the path (the rotated ones still on disk were not newer:
// no longer due).
func (t *Tailer) loseDue() {
	ds := t.gens.dueGens()
	if len(ds) == 0 {
		return
	}
	all := t.g.atPath && t.g.name == t.path
	head := t.headNow()
	k := t.g.key
	slices.SortStableFunc(ds, func(a, b genEntry) int {
		switch {
		case genBefore(a.Born, time.Unix(0, a.MTime), b.Born, time.Unix(0, b.MTime)):
			return -1
		case genBefore(b.Born, time.Unix(0, b.MTime), a.Born, time.Unix(0, a.MTime)):
			return 1
		}
		return 0
	})
	var settled []genEntry
	var names []string
	var infos []fs.FileInfo // the rotated names and the path, listed once (dueHeld)
	for _, d := range ds {
		switch {
		case (d.Dev == k.dev && d.Ino == k.ino || d.Line && len(head) >= d.FPLen) && headStarts(head, d):
			// The one entered (or a copy of it): settled by its entry (record).
		case !all && genBefore(t.g.born, t.g.mtime, d.Born, time.Unix(0, d.MTime)):
			// After the one entered: in its turn. (One the times do not order, copies
			// made in one tick of the file system's clock, is counted now: no run
			// entered the one entered at these offsets, nor any generation after it.)
		case t.gens.enteredDue(d):
			settled = append(settled, d)
		case t.dueHeld(d, &names, &infos):
		default:
			t.loseDueGen(d)
		}
	}
	if all {
		t.gens.clearDue()
		return
	}
	if len(settled) > 0 {
		t.gens.settleDue(func(x genEntry) bool {
			return slices.ContainsFunc(settled, func(d genEntry) bool { return sameDue(x, d) })
		})
	}
}

// dueHeld reports whether the generation due d is still there: held open (seen ahead, a
// copy held: drained through its descriptor), at the path or at a rotated name with its
// head, or copied (another file starting with its head, a whole line). A head that cannot
// be read for want of a descriptor counts as there (not counted lost on a guess). names
// and infos: the rotated names and the path, listed by the first call that needs them.
func (t *Tailer) dueHeld(d genEntry, names *[]string, infos *[]fs.FileInfo) bool {
	if slices.ContainsFunc(t.ahead, func(a aheadFile) bool { return a.f != nil && a.dev == d.Dev && a.ino == d.Ino }) ||
		t.copy.f != nil && t.copy.cdev == d.Dev && t.copy.cino == d.Ino ||
		slices.ContainsFunc(t.later, func(c heldCopy) bool { return c.f != nil && c.cdev == d.Dev && c.cino == d.Ino }) {
		return true
	}
	if *infos == nil {
		*names, *infos = t.candidates()
		if pi, err := os.Stat(t.path); err == nil && pi.Mode().IsRegular() {
			*names, *infos = append(*names, t.path), append(*infos, pi)
		}
		if *infos == nil {
			*infos = []fs.FileInfo{} // (listed: none)
		}
	}
	k := fileKey{d.Dev, d.Ino, d.FPLen, d.FP}
	for i, fi := range *infos {
		dev, ino, _ := fileID(fi)
		if !(dev == d.Dev && ino == d.Ino) && !(d.Line && fi.Size() >= int64(d.FPLen)) {
			continue
		}
		same, err := headIsErr((*names)[i], k)
		if same || err != nil && isFDLimit(err) {
			return true
		}
	}
	return false
}

// loseDueGen counts lost the bytes the generation due d was seen to hold (deleted before
// any run entered it), at the next offsets, and records it there (countedDue). A
// generation seen ahead without a descriptor that it is is not counted again
// (aheadFile.counted).
func (t *Tailer) loseDueGen(d genEntry) {
	from := t.c.off
	if d.Seen > 0 {
		t.log.Warn("a rotated generation a run listed to drain (newer than the one it read) was deleted before any run read it: its bytes are lost (counted with the size it was seen to have; bytes written to it after that are not known)",
			"file", d.Name, "size", d.Seen, "reason", "deleted before its turn")
		t.holdGaps = true
		t.lose(d.Seen, "a rotated generation listed to drain, deleted before its turn")
		t.holdGaps = false
	}
	t.countedDue(d, from)
	is := func(a aheadFile) bool {
		return a.f == nil && a.dev == d.Dev && a.ino == d.Ino && sameHead(d, genEntry{FPLen: a.fpLen, FP: a.fp})
	}
	for i := range t.ahead {
		if is(t.ahead[i]) {
			// Kept (its inode number may be the file at the path's now: reused tells),
			// not counted again (loseAhead).
			t.ahead[i].counted = true
		}
	}
	t.gone = slices.DeleteFunc(t.gone, is)
}

// countedDue records that the generation due d was counted lost at the offsets from
// from to the next one (the gap held for the next synced write, holdGaps): no longer
// due, and recorded there with its end, in one synced write with the gap. A run that
// walks there again counts those bytes once (the record's gaps), and gives the
// generation after it the offsets it has.
func (t *Tailer) countedDue(d genEntry, from uint64) {
	t.gens.settleDue(func(x genEntry) bool { return sameDue(x, d) })
	_ = t.gens.add(genEntry{Stream: t.stream, Base: from, Dev: d.Dev, Ino: d.Ino, FPLen: d.FPLen, FP: d.FP, Line: d.Line, Ends: d.Ends,
		End: t.c.off, Seen: int64(t.c.off - from)}, t.acked.Load())
}

// settleDue drops the generations due whose content the followed generation holds (its
// file with its head, or a copy of it), about to be recorded: the lines that say so go
// out with its entry.
func (t *Tailer) settleDue() {
	k, head := t.g.key, t.g.headB
	if len(head) == 0 {
		return
	}
	t.gens.settleDue(func(d genEntry) bool {
		return (d.Dev == k.dev && d.Ino == k.ino || d.Line && len(head) >= d.FPLen) && headStarts(head, d)
	})
}
