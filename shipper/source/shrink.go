package source

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"sort"
	"time"
)

// A file shrunk in place (truncate -s N) and written to again before the tailer looked
// holds its first N bytes, read already or the same bytes written again (a rewrite with
// the same banner: content cannot tell), then new content. shrunkAt finds where the file
// stops holding what was read: in the head, the last line end before the first byte
// that differs from the head read; past the head, the last line end of the lines read
// lately (a lineRing) whose line the file still holds there. A file that still holds
// some of it is read again from its start (Tailer.rereadLog: never skipping bytes that
// cannot be proven shipped); the lines remembered also tell a copytruncate copy of such
// a file (findShrunkCopy).

// ringLines is how many of the last lines read a lineRing remembers.
const ringLines = 512

// maxRingLine is the longest line a lineRing checks (longer ones are not remembered).
const maxRingLine = 1 << 16

// lineMark is a line read: its end (the file offset past its '\n'), its length and the
// CRC-32C of its bytes.
type lineMark struct {
	end  int64
	n    uint32
	crc  uint32
	hn   uint8 // bytes of head: the line's first ones (at most 16)
	head [16]byte
}

// A lineRing remembers the last lines read of a generation.
type lineRing struct {
	marks [ringLines]lineMark
	first int // index of the oldest mark
	count int
	// next is the file offset after the last byte noted; cur the CRC of the bytes of the
	// line in progress from its start (curOK: its start was read) and curN their count.
	next  int64
	cur   uint32
	curN  int64
	curOK bool
	curH  [16]byte
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// note records the bytes b read at file offset off.
func (r *lineRing) note(b []byte, off int64) {
	if off != r.next {
		// Read from elsewhere (entered past a start, shrunk, truncated): the marks past
		// off no longer hold, and the line in progress starts unknown unless at 0.
		for r.count > 0 && r.marks[(r.first+r.count-1)%ringLines].end > off {
			r.count--
		}
		r.cur, r.curN, r.curOK = 0, 0, off == 0
	}
	r.next = off + int64(len(b))
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if seg := b; r.curN < int64(len(r.curH)) {
			if i >= 0 {
				seg = b[:i+1]
			}
			copy(r.curH[r.curN:], seg)
		}
		if i < 0 {
			r.cur = crc32.Update(r.cur, castagnoli, b)
			r.curN += int64(len(b))
			return
		}
		r.cur = crc32.Update(r.cur, castagnoli, b[:i+1])
		r.curN += int64(i + 1)
		off += int64(i + 1)
		if r.curOK && r.curN <= maxRingLine {
			r.push(lineMark{end: off, n: uint32(r.curN), crc: r.cur, hn: uint8(min(r.curN, int64(len(r.curH)))), head: r.curH})
		}
		r.cur, r.curN, r.curOK = 0, 0, true
		b = b[i+1:]
	}
}

// at returns the mark of the line remembered that ends at off, if any.
func (r *lineRing) at(off int64) (lineMark, bool) {
	if r == nil || r.count == 0 {
		return lineMark{}, false
	}
	// The ends grow from the oldest mark to the newest (note drops the marks past a
	// read from elsewhere).
	k := sort.Search(r.count, func(k int) bool { return r.marks[(r.first+k)%ringLines].end >= off })
	if k < r.count {
		if m := r.marks[(r.first+k)%ringLines]; m.end == off {
			return m, true
		}
	}
	return lineMark{}, false
}

// holdsLine reports whether f holds, ending at end, n bytes whose CRC-32C is crc.
func holdsLine(f io.ReaderAt, end int64, n int, crc uint32) (bool, error) {
	if n <= 0 || int64(n) > end {
		return false, nil
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, end-int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	return crc32.Checksum(b, castagnoli) == crc, nil
}

func (r *lineRing) push(m lineMark) {
	if r.count == ringLines {
		r.first = (r.first + 1) % ringLines
		r.count--
	}
	r.marks[(r.first+r.count)%ringLines] = m
	r.count++
}

// intactEnd returns the end of the last line remembered that f, of size bytes, still
// holds at its place, at or before size, and the line read after it (nil: none
// remembered); older reports that the lines remembered at or before size all differ
// (the file changed before the oldest of them). It returns 0 when no line remembered
// ends at or before size.
func (r *lineRing) intactEnd(f io.ReaderAt, size int64) (end int64, after *lineMark, older bool) {
	if r == nil {
		return 0, nil, false
	}
	var buf []byte
	checked := false
	for k := r.count - 1; k >= 0; k-- {
		m := r.marks[(r.first+k)%ringLines]
		if m.end > size {
			continue
		}
		checked = true
		if cap(buf) < int(m.n) {
			buf = make([]byte, m.n)
		}
		b := buf[:m.n]
		if _, err := f.ReadAt(b, m.end-int64(m.n)); err != nil {
			return 0, nil, false
		}
		if crc32.Checksum(b, castagnoli) == m.crc {
			if k+1 < r.count {
				after = &r.marks[(r.first+k+1)%ringLines]
			}
			return m.end, after, false
		}
	}
	return 0, nil, checked
}

// shrunkAt returns where the followed file, shrunk to size bytes, stops holding what was
// read, when it still starts with the head read (holding a line end): size when it holds
// nothing else, or the end of the last line read it still holds, the bytes after it new
// (written after the shrink, before this look). It returns 0 when the head is not kept
// (a truncation to 0, or a new content). A result above 0 says only that the file
// starts with lines read: those may have been written again (truncated and rewritten
// with the same banner), so the caller reads it again from its start (rereadLog). When the file stops holding what was read
// before the last lines remembered, and past the head, where is not known: it returns the
// head's last line end (the lines read again may arrive twice) unless nothing tells that
// the file was written after the shrink (then size).
func (t *Tailer) shrunkAt(size int64) int64 {
	k := t.g.key
	if size <= 0 || k.fpLen == 0 || len(t.g.headB) != k.fpLen {
		return 0
	}
	b := make([]byte, min(size, int64(k.fpLen)))
	if _, err := t.g.f.ReadAt(b, 0); err != nil {
		return 0
	}
	p := 0
	for p < len(b) && b[p] == t.g.headB[p] {
		p++
	}
	if p < len(b) {
		// New content from p on: the file was shrunk at a line end before it.
		return int64(bytes.LastIndexByte(t.g.headB[:p], '\n') + 1)
	}
	if bytes.IndexByte(b, '\n') < 0 {
		return 0
	}
	if size <= int64(k.fpLen) {
		return size
	}
	end, after, older := t.g.lines.intactEnd(t.g.f, size)
	switch {
	case end > 0 && end < size:
		// After the last line it still holds: whole lines are new; a piece of a line
		// (truncate -s N in the middle of a line) is the start of the line read after it
		// when it starts the same (then nothing is new), else new.
		rest := make([]byte, size-end)
		if _, err := t.g.f.ReadAt(rest, end); err != nil || bytes.IndexByte(rest, '\n') >= 0 {
			return end
		}
		var old []byte
		switch {
		case after != nil:
			old = after.head[:after.hn]
		case t.g.readOff-end <= int64(t.g.tailN):
			old = t.g.tail[t.g.tailN-int(t.g.readOff-end) : t.g.tailN] // the piece of a line read last
		}
		if n := min(len(rest), len(old)); n > 0 && bytes.Equal(rest[:n], old[:n]) {
			return size
		}
		return end
	case end > 0:
		return end
	case older, size >= t.g.readOff:
		// (Not shorter than the read offset: looked at because the last bytes read are
		// not there; where it stops holding them is not known past the head.)
		return int64(bytes.LastIndexByte(t.g.headB, '\n') + 1)
	}
	return size
}

// findShrunkCopy returns copytruncate's copy of the followed file made after it was
// truncated to a smaller size and written to, all before the tailer looked: a rotated
// file (another inode, not read yet) modified since the generation began and not after
// until (the truncated file's time), that holds what was read up to n (at a line end,
// n > 0, before the read offset) and other bytes after it.
func (t *Tailer) findShrunkCopy(until time.Time) (string, fs.FileInfo, int64) {
	if t.c.pending() {
		return "", nil, 0
	}
	return t.findShrunkCopyOf(&t.g, until)
}

// findShrunkCopyOf is findShrunkCopy for the generation g (the followed one, or one
// lingered on).
func (t *Tailer) findShrunkCopyOf(g *gen, until time.Time) (string, fs.FileInfo, int64) {
	k := g.key
	if k.fpLen == 0 || len(g.headB) != k.fpLen {
		return "", nil, 0
	}
	names, infos := t.candidates()
	for i, name := range names {
		fi := infos[i]
		dev, ino, _ := fileID(fi)
		if fi.Size() == 0 || dev == k.dev && ino == k.ino || modifiedBefore(fi, g.began) ||
			!until.IsZero() && modifiedAfter(fi, until) || t.isDone(name, dev, ino, -1) {
			continue
		}
		f, err := openName(name)
		if err != nil {
			continue
		}
		n := keptIn(f, fi.Size(), g.headB, g.lines)
		f.Close()
		if n > 0 && n < fi.Size() && n < g.readOff {
			return name, fi, n
		}
	}
	return "", nil, 0
}

// lingeringShrunkCopy counts, when the followed generation, entered at its start at the
// stream's next offsets, is copytruncate's copy of a generation lingered on that was
// truncated to a smaller size and written before the copy (it holds what was read of
// that one up to a line end, then other bytes; that one holds less than was read of
// it now): its first bytes, read before, arrive again (findShrunkCopy's rule for the
// followed file). Once per lingering generation (lookLinger counts it when it finds
// the copy first).
func (t *Tailer) lingeringShrunkCopy() {
	if t.g.rereadCounted || t.g.again || len(t.linger) == 0 {
		return
	}
	f := t.g.f
	if f == nil {
		if f = t.openGenName(); f == nil {
			return
		}
		defer f.Close()
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return
	}
	for i := range t.linger {
		l := &t.linger[i].g
		if l.rereadCounted || l.f == nil || l.key.dev == t.g.key.dev && l.key.ino == t.g.key.ino ||
			l.key.fpLen == 0 || len(l.headB) != l.key.fpLen {
			continue
		}
		if li, err := l.f.Stat(); err != nil || li.Size() >= l.readOff {
			continue // (not shrunk)
		}
		if n := keptIn(f, fi.Size(), l.headB, l.lines); n > 0 && n < fi.Size() && n < l.readOff {
			l.rereadCounted, t.g.rereadCounted = true, true
			t.rereadLog("copytruncate's copy of a generation lingered on, truncated to a smaller size and written before the copy; it starts with lines read and is read from its start",
				fi.Size(), 0, n)
			return
		}
	}
}

// keptIn returns how much of what was read (its head, its last lines remembered) f, of
// size bytes, holds before other bytes: the last line end before the first byte that
// differs. It returns 0 when it does not start with a line of the head, or when it holds
// the head and nothing tells where it stops holding what was read.
func keptIn(f io.ReaderAt, size int64, head []byte, lines *lineRing) int64 {
	b := make([]byte, min(size, int64(len(head))))
	if _, err := f.ReadAt(b, 0); err != nil {
		return 0
	}
	p := 0
	for p < len(b) && b[p] == head[p] {
		p++
	}
	switch {
	case p < len(b):
		return int64(bytes.LastIndexByte(head[:p], '\n') + 1)
	case bytes.IndexByte(b, '\n') < 0, size <= int64(len(head)):
		return 0
	}
	end, _, _ := lines.intactEnd(f, size)
	return end
}

// holdsOnlyRead reports whether f, of size bytes (not more than the read offset) and
// starting with the head read, holds past the head only what was read at the same
// offsets: the last line remembered that ends at or before size is intact there, and
// what follows it, if anything, is the start of the line read after it. A file shrunk
// in place and written again before copytruncate copied it starts the same, but holds
// other bytes after the lines kept (findShrunkCopy's copy, not one of bytes read). With
// no line remembered at or before size, nothing tells: it reports true.
func (t *Tailer) holdsOnlyRead(f io.ReaderAt, size int64) bool {
	end, after, older := t.g.lines.intactEnd(f, size)
	switch {
	case older:
		return false
	case end == 0, end == size:
		return true
	}
	rest := make([]byte, size-end)
	if _, err := f.ReadAt(rest, end); err != nil || bytes.IndexByte(rest, '\n') >= 0 {
		return false
	}
	var old []byte
	switch {
	case after != nil:
		old = after.head[:after.hn]
	case t.g.readOff-end <= int64(t.g.tailN):
		old = t.g.tail[t.g.tailN-int(t.g.readOff-end) : t.g.tailN]
	}
	n := min(len(rest), len(old))
	return bytes.Equal(rest[:n], old[:n])
}
