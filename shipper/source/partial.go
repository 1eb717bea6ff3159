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

// loadPartial returns the saved start of a line that begins at the journal's end (nil
// if there is none: never saved, or stale because a later record was journaled). A
// damaged one (the shipper was killed while saving it) is logged with the bytes lost
// when its header tells them.
func (j *Journal) loadPartial() []byte {
	name := filepath.Join(j.dir, partialFile)
	b, err := os.ReadFile(name)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			j.log.Warn("cannot read the saved start of an unfinished line; it is lost", "file", name, "err", err)
		}
		return nil
	}
	if len(b) < partialHdr || string(b[:4]) != partialMagic {
		if len(b) > 0 {
			j.log.Warn("the saved start of an unfinished line is damaged; it is lost", "file", name, "size", len(b))
		}
		return nil
	}
	stream := binary.LittleEndian.Uint64(b[4:])
	off := binary.LittleEndian.Uint64(b[12:])
	n := int(binary.LittleEndian.Uint32(b[20:]))
	j.mu.Lock()
	end := j.end
	j.mu.Unlock()
	if stream != j.stream || off != end {
		return nil // a later record was journaled: stale
	}
	if n > len(b)-partialHdr || envelope.Checksum(append(bytes.Clone(b[4:partialHdr-4]), b[partialHdr:partialHdr+n]...)) != binary.LittleEndian.Uint32(b[partialHdr-4:]) {
		j.log.Warn("the saved start of an unfinished line is damaged (the shipper was stopped while saving it); it is lost",
			"file", name, "lost_bytes", n, "offset", off)
		return nil
	}
	return b[partialHdr : partialHdr+n]
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
