package source

import (
	"bytes"
	"compress/bzip2"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// A checkpointed generation gone while the shipper was down is often not deleted but
// compressed (logrotate's compress, with delaycompress one rotation later): a rotated
// name with a compressed suffix, never read (CompressedSuffixes). The tailer still counts
// what it lost exactly: it looks among the compressed rotated names of its path for the
// file holding the checkpointed generation (by device and inode where the compression
// kept them; else by content, decompressed: the checkpoint's head fingerprint and the
// last line read before its file offset, Checkpoint.LastLen and LastCRC), and takes its
// uncompressed size, counted by decompressing the whole stream (gzip, zstd, bzip2), as
// the generation's size. The bytes after the checkpoint are then known exactly,
// including those written after the tailer's last look, and the next generation begins
// right after them, after a crash too (the run before used no offset past the
// generation's end without recording the next generation first). The compressed
// rotated files modified after it (logrotate keeps a compressed file's modification
// time) are the generations that followed it, never read, compressed while the shipper
// was down too (three rotations or more): their uncompressed sizes are counted lost,
// and the stream skips them as well. Only files modified since the checkpoint's last
// look are looked at, at most maxCompressedLooks, so older generations compressed long
// ago are not decoded at every restart. A compressed rotated name in another format (xz,
// lz4 and the others) or one that cannot be decoded may hold it: its size is unknown,
// which is logged and counted (logspread_shipper_gone_size_unknown_total), never taken
// for 0, and after a crash the stream jumps as it does for a deleted generation.

// A compressedGen is what compressedGen found of the checkpointed generation among the
// compressed rotated names.
type compressedGen struct {
	name string // the compressed file holding it ("": none found)
	// size: its uncompressed size; -1: unknown (why says why).
	size int64
	why  string
	// after: the compressed rotated files modified after it: generations that followed
	// it, never read (compressed while the shipper was down too: three rotations or
	// more), with their uncompressed sizes; afterWhy says why the size of one of them is
	// not known ("": all known).
	after    []compressedFile
	afterWhy string
	// byTime: taken for it by its modification time, its head not known
	// (compressedByTime).
	byTime bool
	// unterminated: its last line has no '\n' (the stream gives it one when the tailer
	// leaves the generation).
	unterminated bool
}

// A compressedFile is a compressed rotated file and its uncompressed size.
type compressedFile struct {
	name string
	size int64
}

// maxCompressedLooks bounds the compressed rotated names compressedGen decodes.
const maxCompressedLooks = 16

// compressedGen looks for the generation cp names among the compressed rotated names of
// the path (in its directory and those of Config.RotatedNames).
func (t *Tailer) compressedGen(cp *Checkpoint) compressedGen {
	if cp.FPLen <= 0 {
		// A checkpoint saved before the file's head was read (the file was empty when
		// the tailer opened it, and no acknowledgement moved the checkpoint since): the
		// record of followed sources has the head if a checkpoint saved it there.
		rec, ok := t.s.store.followed.get(t.path)
		if !ok || rec.Stream != cp.Stream || rec.Dev != cp.Dev || rec.Ino != cp.Ino || rec.FPLen <= 0 ||
			rec.Base != cp.Offset-uint64(cp.FileOffset) {
			return t.compressedByTime(cp)
		}
		c := *cp
		c.FPLen, c.FP = rec.FPLen, rec.FP
		cp = &c
	}
	cands := t.compressedSince(cp, time.Unix(0, cp.MTime).Truncate(time.Second))
	cands = cands[:min(len(cands), maxCompressedLooks)]
	found, at := compressedGen{size: -1}, -1
	var undecoded []string
	for i, c := range cands {
		size, unterminated, holds, err := decodedHolds(c.name, cp)
		switch {
		case errors.Is(err, errNotDecoded):
			undecoded = append(undecoded, filepath.Base(c.name))
		case err != nil && holds:
			return compressedGen{name: c.name, size: -1, why: "it cannot be decoded to its end: " + err.Error()}
		case err != nil:
			undecoded = append(undecoded, filepath.Base(c.name))
		case holds && at >= 0 && c.sameID != cands[at].sameID:
			if c.sameID { // the file that kept the generation's identity
				found, at = compressedGen{name: c.name, size: size, unterminated: unterminated}, i
			}
		case holds && at >= 0:
			return compressedGen{name: found.name, size: -1, why: "two compressed files hold its head and last line read: " +
				filepath.Base(found.name) + ", " + filepath.Base(c.name)}
		case holds:
			found, at = compressedGen{name: c.name, size: size, unterminated: unterminated}, i
		}
	}
	switch {
	case at < 0 && len(undecoded) > 0:
		return compressedGen{size: -1, why: "compressed rotated files not decoded may hold it: " + strings.Join(undecoded, ", ")}
	case at < 0:
		return found
	}
	// The generations after it, compressed too: modified after it (logrotate keeps a
	// compressed file's modification time).
	for i, c := range cands {
		if i == at || !c.mtime.After(cands[at].mtime) {
			continue
		}
		size, err := decodedSize(c.name)
		if err != nil {
			found.afterWhy = filepath.Base(c.name) + ": " + err.Error()
			continue
		}
		found.after = append(found.after, compressedFile{name: c.name, size: size})
	}
	return found
}

// A compressedCand is a compressed rotated file of the path.
type compressedCand struct {
	name   string
	mtime  time.Time
	sameID bool // it has the checkpoint's device and inode
	id     [2]uint64
}

// compressedSince lists the compressed rotated files of the path modified at or after
// since (all of them when cp has no modification time).
func (t *Tailer) compressedSince(cp *Checkpoint, since time.Time) []compressedCand {
	var cands []compressedCand
	look := func(dir string, patterns []string) {
		ents, err := os.ReadDir(dir)
		if err != nil || len(patterns) == 0 {
			return
		}
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			suf := compressedSuffix(e.Name())
			if suf == "" || !isRotatedName(patterns, t.base, strings.TrimSuffix(e.Name(), suf)) {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			// A file compressed keeps its modification time (logrotate, gzip) or takes
			// the time it was compressed at: either is not before the generation's last
			// change seen. (Older generations, compressed before, are not looked at.)
			if cp.MTime != 0 && fi.ModTime().Before(since) {
				continue
			}
			dev, ino, _ := fileID(fi)
			cands = append(cands, compressedCand{name: filepath.Join(dir, e.Name()), mtime: fi.ModTime(), sameID: dev == cp.Dev && ino == cp.Ino, id: [2]uint64{dev, ino}})
		}
	}
	look(t.dir, t.s.rotLive)
	for _, r := range t.s.rotOther {
		look(r.at(t.dir), r.names)
	}
	// The oldest first: the checkpointed generation is the oldest that changed since.
	slices.SortFunc(cands, func(a, b compressedCand) int { return a.mtime.Compare(b.mtime) })
	return cands
}

// compressedByTime finds the checkpointed generation among the compressed rotated names
// when its head is not known: the checkpoint was saved when the file was empty, before
// any byte of it was read, and no acknowledgement moved it since (the run before crashed
// within its first checkpoint interval). Every byte of it is after the checkpoint, and
// the compressed rotated files modified after the checkpoint's look (strictly: logrotate
// keeps a compressed file's modification time, and a generation before it was last
// written before the file was created) are it and the generations after it: the oldest
// is taken for it, the others follow it.
func (t *Tailer) compressedByTime(cp *Checkpoint) compressedGen {
	if cp.FileOffset != 0 || cp.MTime == 0 {
		return compressedGen{size: -1}
	}
	var cands []compressedCand
	for _, c := range t.compressedSince(cp, time.Unix(0, cp.MTime)) {
		if c.mtime.After(time.Unix(0, cp.MTime)) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return compressedGen{size: -1}
	}
	cands = cands[:min(len(cands), maxCompressedLooks)]
	found := compressedGen{name: cands[0].name, size: -1, byTime: true}
	for i, c := range cands {
		size, err := decodedSize(c.name)
		switch {
		case err != nil && i == 0:
			found.why = "it cannot be decoded: " + err.Error()
			return found
		case err != nil:
			found.afterWhy = filepath.Base(c.name) + ": " + err.Error()
		case i == 0:
			found.size = size
		default:
			found.after = append(found.after, compressedFile{name: c.name, size: size})
		}
	}
	return found
}

// decodedSize returns the uncompressed size of the compressed file name.
func decodedSize(name string) (int64, error) {
	_, size, err := decodedHead(name, 0)
	return size, err
}

// decoder returns a reader of the uncompressed bytes of the compressed file name (open
// as f), and what to call once done with it; errNotDecoded for a format not decoded.
func decoder(name string, f io.Reader) (io.Reader, func(), error) {
	switch compressedSuffix(name) {
	case ".gz":
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	case ".zst":
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	case ".bz2":
		return bzip2.NewReader(f), func() {}, nil
	}
	return nil, nil, errNotDecoded
}

// compressedSuffix returns the suffix of CompressedSuffixes that name ends with ("":
// none).
func compressedSuffix(name string) string {
	for _, s := range CompressedSuffixes {
		if strings.HasSuffix(name, s) {
			return s
		}
	}
	return ""
}

// errNotDecoded: a compressed format the tailer does not decode (xz, lz4 and the
// others).
var errNotDecoded = errors.New("compressed format not decoded")

// decodedHolds decodes the compressed file name and reports whether it holds the
// generation cp names (its head fingerprint, and the last line read before the
// checkpoint's file offset, where known, at its place), with its uncompressed size.
// holds is reported as soon as the bytes up to the checkpoint's file offset are checked,
// even when the rest cannot be decoded (err then says why).
// unterminated: its last byte is not a '\n'.
func decodedHolds(name string, cp *Checkpoint) (size int64, unterminated, holds bool, err error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, false, false, err
	}
	defer f.Close()
	r, done, err := decoder(name, f)
	if err != nil {
		return 0, false, false, err
	}
	defer done()
	w := &holdsWriter{cp: cp, head: make([]byte, 0, cp.FPLen)}
	if cp.LastLen > 0 && int64(cp.LastLen) <= cp.FileOffset {
		w.last = make([]byte, 0, cp.LastLen)
	}
	_, err = io.Copy(w, r)
	if errors.Is(err, errNotIt) {
		return 0, false, false, nil
	}
	holds = w.n >= cp.FileOffset && w.headOK && (w.last == nil || crc32.Checksum(w.last, castagnoli) == cp.LastCRC)
	return w.n, w.n > 0 && w.lastByte != '\n', holds, err
}

// errNotIt stops decoding a compressed file whose head is not the generation's.
var errNotIt = errors.New("another generation")

// A holdsWriter counts the bytes decoded, and keeps those that tell the generation: its
// head (up to the checkpoint's FPLen) and its last line read before the checkpoint.
type holdsWriter struct {
	cp     *Checkpoint
	n      int64
	head   []byte
	headOK bool
	last   []byte // (nil: not known)
	// lastByte: the last byte decoded.
	lastByte byte
}

func (w *holdsWriter) Write(b []byte) (int, error) {
	at := w.n
	w.n += int64(len(b))
	if len(b) > 0 {
		w.lastByte = b[len(b)-1]
	}
	if len(w.head) < w.cp.FPLen {
		k := min(len(b), w.cp.FPLen-len(w.head))
		w.head = append(w.head, b[:k]...)
		if len(w.head) == w.cp.FPLen {
			if w.headOK = fingerprint(w.head) == w.cp.FP; !w.headOK {
				return 0, errNotIt
			}
		}
	}
	if w.last != nil {
		from := w.cp.FileOffset - int64(w.cp.LastLen)
		if lo, hi := max(at, from), min(w.n, w.cp.FileOffset); lo < hi {
			w.last = append(w.last, b[lo-at:hi-at]...)
		}
	}
	return len(b), nil
}

// compressedMissed matches the creations of the path still owed after a look (files
// created and rotated away between two looks: never seen; their events may come late,
// after the tailer left the generation it followed then) with the compressed rotated
// files that hold them (logrotate's compress, with delaycompress one rotation later: a
// tailer paused, or behind, across several rotations): the compressed rotated files
// modified since the oldest of the generations followed at the last looks began,
// other than those generations, those drained and those seen ahead (told by their
// heads), oldest first. Each is moved to gone with its uncompressed size (decoded),
// counted lost in its turn, as the restart path counts the generations compressed
// while the shipper was down (compressedGen).
//
// With byListing (events may have been lost: an fsnotify queue overflow drops them
// all, creations included, so nothing is owed; or there are none, polling) every such
// file is taken, owed or not: the listing accounts for what the events would have. At
// most maxCompressedLooks are decoded per look; byListing stays set until one lists
// them all.
func (t *Tailer) compressedMissed() {
	listing := t.byListing
	t.byListing = false
	if len(t.followedKeys) == 0 {
		return
	}
	if t.compressedLooked == nil || len(t.compressedLooked) > maxKnown {
		t.compressedLooked = map[[2]uint64]bool{}
	}
	// (Not before the tailer began: files modified before are older generations.)
	since := slices.MinFunc(t.followedSince, time.Time.Compare)
	if since.Before(t.openedAt) {
		since = t.openedAt
	}
	keys := slices.Clone(t.followedKeys)
	for _, a := range slices.Concat(t.ahead, t.gone) {
		keys = append(keys, fileKey{dev: a.dev, ino: a.ino, fpLen: a.fpLen, fp: a.fp})
	}
	keys = append(keys, t.done...)
	headLen := 0
	for _, k := range keys {
		headLen = max(headLen, k.fpLen)
	}
	looks := 0
	for _, c := range t.compressedSince(&Checkpoint{MTime: since.UnixNano()}, since) {
		if t.owed <= 0 && !listing {
			return
		}
		if looks >= maxCompressedLooks {
			t.byListing = listing // the rest at the next look
			return
		}
		if t.compressedLooked[c.id] {
			continue
		}
		looks++
		head, size, err := decodedHead(c.name, headLen)
		if err != nil {
			continue // (counted missed, its size unknown; looked at again next time)
		}
		t.compressedLooked[c.id] = true
		if slices.ContainsFunc(keys, func(k fileKey) bool {
			return k.fpLen > 0 && len(head) >= k.fpLen && fingerprint(head[:k.fpLen]) == k.fp
		}) {
			continue // a generation followed, or one seen ahead, compressed since
		}
		t.gone = append(t.gone, aheadFile{name: c.name, size: size, mtime: c.mtime, compressed: true})
		if t.owed > 0 {
			t.owed--
		}
	}
}

// noteFollowed notes the generation followed, with its head and when it began
// (followedKeys).
func (t *Tailer) noteFollowed() {
	if !t.g.has || t.g.key.fpLen <= 0 {
		return
	}
	k, began := t.g.key, t.g.began
	if began.IsZero() {
		began = t.g.mtime
	}
	if i := slices.IndexFunc(t.followedKeys, func(o fileKey) bool { return o.dev == k.dev && o.ino == k.ino }); i >= 0 {
		t.followedKeys[i] = k
		return
	}
	t.followedKeys = append(t.followedKeys, k)
	t.followedSince = append(t.followedSince, began)
	if len(t.followedKeys) > maxFollowedKeys {
		t.followedKeys, t.followedSince = t.followedKeys[1:], t.followedSince[1:]
	}
}

// decodedHead decodes the compressed file name: its first n bytes (fewer if it is
// shorter) and its uncompressed size.
func decodedHead(name string, n int) ([]byte, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r, done, err := decoder(name, f)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	head := make([]byte, n)
	k, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, 0, err
	}
	rest, err := io.Copy(io.Discard, r)
	return head[:k], int64(k) + rest, err
}

// compressedCopy looks, for a followed file truncated whose copy holding the bytes not
// read was not found (lost: what was seen of them), among the compressed rotated names
// for copytruncate's copy compressed before the tailer looked (compress, with
// delaycompress one rotation later: a tailer paused or behind across several
// rotations), as the restart path does for a checkpointed generation (compressedGen):
// then the bytes not read are the copy's uncompressed size past the read offset, and
// the copies compressed after it (the periods of the file after the truncation, copied
// and compressed before the tailer looked: after) are counted with their uncompressed
// sizes too. Compressed files are not read.
func (t *Tailer) compressedCopy(lost int64) (int64, int64) {
	if t.g.key.fpLen <= 0 || t.g.mtime.IsZero() {
		return lost, 0
	}
	cp := &Checkpoint{Dev: t.g.key.dev, Ino: t.g.key.ino, FPLen: t.g.key.fpLen, FP: t.g.key.fp,
		FileOffset: t.g.readOff, MTime: t.g.mtime.UnixNano()}
	z := t.compressedGen(cp)
	if z.name == "" || z.size < t.g.readOff {
		return lost, 0
	}
	var after int64
	for _, a := range z.after {
		after += a.size
	}
	t.log.Warn("file truncated (copytruncate); its copy was compressed before the tailer looked: compressed files are not read, its bytes not read are lost, counted with its uncompressed size, and so are those of the copies compressed after it",
		"compressed_to", z.name, "size", z.size, "file_offset", t.g.readOff, "compressed_after", len(z.after), "after_size", after,
		"after_unknown", z.afterWhy, "reason", "copy compressed before the tailer looked")
	return z.size - t.g.readOff, after
}

// loseCompressedBlind counts lost, for a file empty whenever the tailer looked whose
// copy (copytruncate's, seen as gi) is about to be drained, the compressed rotated files
// modified after the tailer's last look and before that copy: copies of the periods
// of the file before it, written, copied and compressed (compress, with delaycompress
// one rotation later) while the tailer did not look (paused, behind). Compressed files
// are not read: their uncompressed sizes are counted (compressedByTime).
func (t *Tailer) loseCompressedBlind(gi fs.FileInfo) {
	if t.g.mtime.IsZero() {
		return
	}
	t.loseCompressedCopies(t.compressedByTime(&Checkpoint{MTime: t.g.mtime.UnixNano()}), gi)
}

// loseCompressedCopies counts lost the compressed rotated files z names (compressedByTime)
// modified before gi: loseCompressedBlind's count, for z found once.
func (t *Tailer) loseCompressedCopies(z compressedGen, gi fs.FileInfo) {
	if z.name == "" {
		return
	}
	files := append([]compressedFile{{name: z.name, size: z.size}}, z.after...)
	var n int64
	var names []string
	for _, f := range files {
		if f.size < 0 || !gi.ModTime().After(t.fileMTime(f.name)) {
			continue
		}
		n += f.size
		names = append(names, filepath.Base(f.name))
	}
	if n == 0 {
		return
	}
	t.log.Warn("file changed before any byte was read; copies of it (copytruncate) were compressed before the tailer looked: compressed files are not read, their bytes are lost, counted with their uncompressed sizes",
		"compressed", strings.Join(names, ","), "size", n, "unknown", z.why+z.afterWhy, "reason", "copies compressed before the tailer looked")
	t.lose(n, "copies of the file compressed before the tailer looked (compressed files are not read)")
}

// loseCompressedAtOnce is loseCompressedBlind for a file empty whenever the tailer
// looked, changed since, with no plain copy to drain: copytruncate's copies compressed
// at once (compress without delaycompress) while the tailer did not look. Only while
// the file (seen as fi) is still the one at the path (a file rotated by rename was
// compressed from the inode the tailer holds, and is read from it), and does not start
// with the newest compressed copy's head (then it still holds those bytes).
func (t *Tailer) loseCompressedAtOnce(fi fs.FileInfo) {
	if t.g.mtime.IsZero() || t.g.nlink == 0 {
		return
	}
	pi, err := os.Stat(t.path)
	if err != nil || !os.SameFile(pi, fi) {
		return
	}
	z := t.compressedByTime(&Checkpoint{MTime: t.g.mtime.UnixNano()})
	if z.name == "" {
		return
	}
	newest := z.name
	if len(z.after) > 0 {
		newest = z.after[len(z.after)-1].name
	}
	head, size, err := decodedHead(newest, FingerprintLen)
	if err != nil || size == 0 {
		return
	}
	if fi.Size() >= size {
		b := make([]byte, len(head))
		if _, err := t.g.f.ReadAt(b, 0); err == nil && bytes.Equal(b, head) {
			return
		}
	}
	t.loseCompressedCopies(z, fi) // (z found above: not listed and decoded again)
}

// fileMTime returns the modification time of name (zero if it cannot be told).
func (t *Tailer) fileMTime(name string) time.Time {
	fi, err := os.Stat(name)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}
