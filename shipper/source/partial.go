package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/logspread/logspread/formats/envelope"
)

// The start of a line the journal writer has read but not journaled yet (records end at
// line ends; see Journal) is kept in memory and also saved, fsynced, in the journal
// directory's partialFile after every read that leaves one, so that it survives a kill
// (SIGKILL, the OOM killer): the input has given those bytes up, and a shipper started on
// the same input (Apache respawns its logger on the pipe it keeps) reads the rest of the
// line from it. The next run takes the saved start back as the start of its first line
// when its input is the one the previous run read (inputFile: the same pipe, FIFO or
// socket), and otherwise journals it as a line of its own, terminated. Layout: "LSPL",
// then little-endian the stream id (8 bytes), the journal offset where the line starts
// (8: the journal's end when it was saved; a start saved before a later record is
// stale), the length (4), a CRC-32C of the 20 bytes before it and the payload (4), then
// the payload. It is written in place (one pwrite, then fsync).
const (
	partialFile  = "partial"
	partialMagic = "LSPL"
	partialHdr   = 4 + 8 + 8 + 4 + 4
	// inputFile holds the journal's reach (two slots, see reachMagic), then the identity
	// of the input of the run that last opened the journal (see inputID), or nothing when
	// it was not a pipe, FIFO or socket. Files written before the reach was recorded hold
	// the identity only.
	inputFile = "input"
	// inputCopyFile is a copy of inputFile, written with it, byte for byte: a restart that
	// finds one of them damaged or gone takes what they record from the other (see
	// loadReach, previousInput).
	inputCopyFile = "input.copy"
)

// writePartial writes p, the start of a line read but not journaled, as starting at
// journal offset at (the journal's end once the lines before it are journaled), and
// syncPartial fsyncs it. A failure is logged (once until it works again) and counted:
// the bytes stay in memory and are lost only if the shipper is killed before the line
// ends. Only the writer calls them.
func (j *Journal) writePartial(p []byte, at uint64) {
	if j.pskip {
		if free, ok := fsFree(j.dir); ok && free < reserveSize+2*int64(j.s.cfg.ReadBuffer) {
			j.perr = errPartialSkipped
			return
		}
		j.pskip = false
		j.log.Info("the file system has space again; saving the start of unfinished lines again", "dir", j.dir)
	}
	j.perr = func() error {
		if j.pf == nil {
			f, err := os.OpenFile(filepath.Join(j.dir, partialFile), os.O_RDWR|os.O_CREATE, 0o640)
			if err != nil {
				return err
			}
			j.pf = f
		}
		b := j.pbuf[:0]
		b = append(b, partialMagic...)
		b = binary.LittleEndian.AppendUint64(b, j.stream)
		b = binary.LittleEndian.AppendUint64(b, at)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, envelope.Checksum(append(b[4:partialHdr-4:partialHdr-4], p...)))
		b = append(b, p...)
		j.pbuf = b
		_, err := j.pf.WriteAt(b, 0)
		return err
	}()
}

// syncPartial: see writePartial; n is the length of the start written.
func (j *Journal) syncPartial(n int) {
	err := j.perr
	if err == errPartialSkipped {
		return
	}
	if err == nil {
		err = j.pf.Sync()
	}
	if err != nil {
		j.s.m.JournalWriteErrors.Inc()
		if !j.pfailed {
			j.pfailed = true
			j.log.Warn("cannot save the start of an unfinished line; it is kept in memory only, and lost if the shipper is killed before the line ends",
				"file", filepath.Join(j.dir, partialFile), "bytes", n, "err", err)
		}
		return
	}
	if j.pfailed {
		j.pfailed = false
		j.log.Info("the start of an unfinished line is saved again", "file", filepath.Join(j.dir, partialFile))
	}
}

// errPartialSkipped: writePartial did not save (see skipPartial).
var errPartialSkipped = errors.New("not saved: the file system is full")

// skipPartial stops saving the start of unfinished lines when the journal's file
// system is full, and frees the partial file's space: the journal's own records come
// first (freeing acknowledged space must never wait for it). Saving starts again once
// the file system has room for it and the reserve. Only the writer calls it.
func (j *Journal) skipPartial() {
	if j.pskip {
		return
	}
	j.pskip = true
	if j.pf != nil {
		_ = j.pf.Truncate(0)
	}
	j.log.Warn("file system full: the start of an unfinished line is kept in memory only until it has space again (lost if the shipper is killed before the line ends)", "dir", j.dir)
}

// pendingStart is what the end record (inputFile's slot 1) of a run that was killed
// says of the start of a line it had read and not journaled: n bytes at offset at.
type pendingStart struct {
	known bool
	at, n uint64
}

// parsePartial returns the start of a line partialFile's content b saves at the journal
// offset end for stream, or why it does not: stale (a later record was journaled) or
// damaged.
func parsePartial(b []byte, stream, end uint64) (kept []byte, stale bool, damaged string) {
	if len(b) < partialHdr || string(b[:4]) != partialMagic {
		return nil, false, fmt.Sprintf("%d bytes that are not a saved line start", len(b))
	}
	off := binary.LittleEndian.Uint64(b[12:])
	n := int(binary.LittleEndian.Uint32(b[20:]))
	if binary.LittleEndian.Uint64(b[4:]) != stream || off != end {
		return nil, true, ""
	}
	if n > len(b)-partialHdr || envelope.Checksum(append(bytes.Clone(b[4:partialHdr-4]), b[partialHdr:partialHdr+n]...)) != binary.LittleEndian.Uint32(b[partialHdr-4:]) {
		return nil, false, fmt.Sprintf("the saved start of %d bytes fails its checksum or is cut short", n)
	}
	return b[partialHdr : partialHdr+n], false, ""
}

// linesLost runs at open, after cutCheck, before partialLost: partialFile saves the
// start of a line past the journal's end (within one read of it) when the run before was
// killed after it saved that start and before it journaled the whole lines read with it
// (the start is written first; see write), or the machine lost power before those lines
// were durable. Those lines are lost: the stream skips their offsets, a gap of exactly
// that size collectors are told of (a cut, as for a lost tail), counted as dropped and
// logged; the saved start is then at the journal's end and read on (loadPartial).
func (j *Journal) linesLost() (bool, error) {
	name := filepath.Join(j.dir, partialFile)
	b, err := os.ReadFile(name)
	if err != nil || len(b) < partialHdr || string(b[:4]) != partialMagic {
		return false, nil // none, or damaged: see partialLost, loadPartial
	}
	off := binary.LittleEndian.Uint64(b[12:])
	if off <= j.end || off-j.end > uint64(j.s.cfg.ReadBuffer) {
		return false, nil
	}
	if kept, _, damaged := parsePartial(b, j.stream, off); kept == nil || damaged != "" {
		return false, nil
	}
	c := cut{from: j.end, held: off, to: off}
	if err := j.addCut(c, "lost lines"); err != nil {
		return false, err
	}
	j.s.m.JournalDropped.Add(float64(off - c.from))
	j.log.Warn("the run before was killed after it read lines and before it journaled them: they are lost; the stream skips their offsets, a gap of exactly that size collectors are told of, and the start of the line read after them is read on",
		"file", name, "lost_bytes", off-c.from, "offset", c.from, "next_offset", c.to, "kept_bytes", binary.LittleEndian.Uint32(b[20:]))
	return true, nil
}

// partialLost runs at open, after cutCheck: when the run before was killed with the
// start of a line read and not journaled (its end record says so, and how long: see
// noteEnd), and partialFile does not hold it (damaged or deleted while the shipper was
// down, or not saved: a full file system), those bytes are lost. The stream skips as
// many offsets at the journal's end, a gap of exactly that size collectors are told of
// (a cut, as for a lost tail); they are counted as dropped and logged naming the file. A
// damaged partialFile with no start pending loses nothing (see loadPartial).
func (j *Journal) partialLost() (bool, error) {
	if !j.pend.known || j.pend.n == 0 || j.pend.at != j.end {
		return false, nil
	}
	name := filepath.Join(j.dir, partialFile)
	b, err := os.ReadFile(name)
	why := ""
	switch {
	case errors.Is(err, os.ErrNotExist):
		why = "missing (deleted, or never saved: the file system was full)"
	case err != nil:
		return false, fmt.Errorf("read the saved start of a line: %w", err)
	default:
		_, stale, damaged := parsePartial(b, j.stream, j.end)
		switch {
		case stale:
			why = "it saves an older line start (never saved since: the file system was full?)"
		case damaged != "":
			why = damaged
			j.s.m.JournalDamaged.Inc()
		default:
			return false, nil // saved whole: read on (loadPartial)
		}
	}
	n := j.pend.n
	c := cut{from: j.end, held: j.end + n, to: j.end + n}
	if err := j.addCut(c, "the lost start of a line"); err != nil {
		return false, err
	}
	j.pendLost = true
	j.s.m.JournalDropped.Add(float64(n))
	j.log.Warn("the start of a line the run before had read when it was killed, not journaled yet, is lost: the file that saves it does not hold it; the stream skips its offsets, a gap of exactly that size collectors are told of",
		"file", name, "why", why, "lost_bytes", n, "offset", c.from, "next_offset", c.to)
	return true, nil
}

// loadPartial returns the saved start of a line that begins at the journal's end (nil
// if there is none: never saved, or stale because a later record was journaled). A
// damaged one (the shipper was killed while saving it) is logged with the bytes lost
// when its header tells them; when the run before's end record says no start was
// pending, nothing was lost, and it says so.
func (j *Journal) loadPartial() []byte {
	if j.pendLost {
		return nil // lost, told (partialLost)
	}
	name := filepath.Join(j.dir, partialFile)
	b, err := os.ReadFile(name)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			j.log.Warn("cannot read the saved start of an unfinished line; it is lost", "file", name, "err", err)
		}
		return nil
	}
	j.mu.Lock()
	end := j.end
	j.mu.Unlock()
	kept, stale, damaged := parsePartial(b, j.stream, end)
	switch {
	case stale || len(b) == 0:
		return nil
	case damaged != "" && j.pend.known && j.pend.at == end && j.pend.n == 0:
		j.s.m.JournalDamaged.Inc()
		j.log.Warn("the file that saves the start of an unfinished line is damaged; the run before had no line start pending (its end record says so): nothing is lost",
			"file", name, "why", damaged)
		return nil
	case damaged != "":
		j.log.Warn("the saved start of an unfinished line is damaged (the shipper was stopped while saving it); it is lost",
			"file", name, "why", damaged, "offset", end)
		return nil
	}
	return kept
}

// previousInput returns what inputFile, or its copy when it is damaged or gone, says
// about the previous run's input (initReach records this run's): "" when neither says
// anything (see loadReach).
func (j *Journal) previousInput() string {
	for _, name := range []string{inputFile, inputCopyFile} {
		b, err := os.ReadFile(filepath.Join(j.dir, name))
		if err != nil {
			continue
		}
		if id, damaged := parseInputFile(b); damaged == "" {
			return id
		}
	}
	return ""
}

// describeInput names an input identity for logs.
func describeInput(id string) string {
	if id == "" {
		return "not a pipe"
	}
	return fmt.Sprintf("pipe %s", id)
}
