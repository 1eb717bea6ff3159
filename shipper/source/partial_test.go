package source

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus"
)

// partialRun is a journal run on a pipe whose Set logs to a buffer.
type partialRun struct {
	s    *Set
	j    *Journal
	logs *testsupport.Buffer
}

// openPartialRun opens the stdin journal of a new Set on cfg reading in as `ship -`
// reads its standard input (a kill, which closes the reader, leaves the pipe open for
// the next run).
func openPartialRun(t *testing.T, cfg Config, in *os.File) *partialRun {
	t.Helper()
	pr, err := newPollReader(int(in.Fd()), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	r := &partialRun{logs: &testsupport.Buffer{}}
	r.s, err = New(cfg, slog.New(slog.NewTextHandler(r.logs, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.s.Close() })
	r.j, err = r.s.OpenJournal("stdin", pr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.j.Close() })
	return r
}

// kill stops the run as SIGKILL does: no stop record, the start of a line it holds is
// not journaled.
func (r *partialRun) kill() {
	r.j.killed = true
	r.j.Close()
	r.s.Close()
}

// journaled waits until the journal's end is end.
func (r *partialRun) journaled(t *testing.T, end uint64) {
	t.Helper()
	testsupport.EventuallyErr(t, func() error {
		if n := r.j.Fill().Unacknowledged; n != end {
			return fmt.Errorf("journal end %d, want %d", n, end)
		}
		return nil
	})
}

// savedPartial is what partialFile holds, decoded (ok false when it holds nothing whole).
type savedPartial struct {
	stream, off uint64
	payload     []byte
	ok          bool
}

func readPartial(t *testing.T, j *Journal) savedPartial {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(j.Dir(), partialFile))
	if err != nil || len(b) < partialHdr || string(b[:4]) != partialMagic {
		return savedPartial{}
	}
	n := int(binary.LittleEndian.Uint32(b[20:]))
	if n > len(b)-partialHdr {
		return savedPartial{}
	}
	return savedPartial{binary.LittleEndian.Uint64(b[4:]), binary.LittleEndian.Uint64(b[12:]), b[partialHdr : partialHdr+n], true}
}

// makePartial encodes a partialFile (see partial.go) holding p at offset off.
func makePartial(stream, off uint64, p []byte) []byte {
	h := make([]byte, 20, partialHdr+len(p))
	binary.LittleEndian.PutUint64(h[0:], stream)
	binary.LittleEndian.PutUint64(h[8:], off)
	binary.LittleEndian.PutUint32(h[16:], uint32(len(p)))
	sum := envelope.Checksum(append(bytes.Clone(h), p...))
	b := append([]byte(partialMagic), h...)
	b = binary.LittleEndian.AppendUint32(b, sum)
	return append(b, p...)
}

// readAll reads r's journal to its end (its input closed).
func (r *partialRun) readAll(t *testing.T) string {
	t.Helper()
	var got strings.Builder
	for _, c := range readJournal(t, r.j) {
		got.Write(c.Data)
	}
	return got.String()
}

// TestJournalKilledInsideLineReadAlone: the start of a line that came in a read of its
// own (no line end in it: Apache's piped log, a line written in two writes), or in
// several, is saved as starting at the journal's end, and a kill does not lose it: on
// the same pipe the next run reads on with the rest of the line, on another it ships
// the start as a line of its own. On main such a start was saved one byte before the
// journal's end with the record header's last byte before it: the next run found it
// stale and dropped it without a log (on the same pipe the rest of the line was shipped
// as a line of its own). reads 0: a line longer than the read buffer, its first part
// journaled: the rest was lost from its middle.
func TestJournalKilledInsideLineReadAlone(t *testing.T) {
	for _, same := range []bool{true, false} {
		for _, reads := range []int{1, 3, 0} {
			t.Run(fmt.Sprintf("same_pipe=%v reads=%d", same, reads), func(t *testing.T) {
				cfg, _ := testConfig(t)
				cfg.ReadBuffer = 4096
				pr, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer pr.Close()
				defer pw.Close()
				head := "line 1\nline 2\n"
				start := "10.0.0.1 - - [30/Nov/2026:10:00:00 +0000] \"GET /s/000101 HTT"
				r := openPartialRun(t, cfg, pr)
				pw.WriteString(head)
				r.journaled(t, uint64(len(head)))
				if reads == 0 {
					start += strings.Repeat("y", 6000)
					pw.WriteString(start)
					testsupport.EventuallyErr(t, func() error {
						at := uint64(len(head) + cfg.ReadBuffer)
						if p := readPartial(t, r.j); string(p.payload) != start[cfg.ReadBuffer:] || p.off != at {
							return fmt.Errorf("partial file holds %d bytes at %d, want %d at %d", len(p.payload), p.off, len(start)-cfg.ReadBuffer, at)
						}
						return nil
					})
				}
				for i := range reads {
					part := start[i*len(start)/reads : (i+1)*len(start)/reads]
					pw.WriteString(part)
					want := start[:(i+1)*len(start)/reads]
					testsupport.EventuallyErr(t, func() error {
						if p := readPartial(t, r.j); string(p.payload) != want || p.off != uint64(len(head)) || p.stream != r.j.stream {
							return fmt.Errorf("partial file holds %q at %d (stream %d), want %q at %d (stream %d)",
								p.payload, p.off, p.stream, want, len(head), r.j.stream)
						}
						return nil
					})
				}
				r.kill()
				rest := "P/1.1\" 200 512\n"
				want, msg := head+start+rest, "reading on with the rest of it"
				in := pr
				if !same {
					pw.Close()
					var npr *os.File
					if npr, pw, err = os.Pipe(); err != nil {
						t.Fatal(err)
					}
					defer npr.Close()
					in = npr
					rest, want, msg = "new input\n", head+start+"\nnew input\n", "previous input ended inside a line; terminating it"
				}
				r2 := openPartialRun(t, cfg, in)
				pw.WriteString(rest)
				pw.Close()
				if got := r2.readAll(t); got != want {
					t.Errorf("the next run read\n%q\nwant\n%q", got, want)
				}
				if !strings.Contains(r2.logs.String(), msg) {
					t.Errorf("no log %q:\n%s", msg, r2.logs)
				}
			})
		}
	}
}

// TestJournalPartialPastEndLinesLost: a saved start past the journal's end (the run
// before was killed after it saved it and before it journaled the whole lines read with
// it) tells those lines lost: the stream skips their offsets, a gap collectors are told
// of, logged; the start is read on (terminated, on a new pipe). They were lost silently
// (the start was taken for stale and dropped too).
func TestJournalPartialPastEndLinesLost(t *testing.T) {
	const head = "line 1\nline 2\n"
	cfg, _ := testConfig(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	r := openPartialRun(t, cfg, pr)
	pw.WriteString(head)
	r.journaled(t, uint64(len(head)))
	r.kill()
	if err := os.WriteFile(filepath.Join(r.j.Dir(), partialFile), makePartial(r.j.stream, uint64(len(head))+20, []byte("HALF")), 0o640); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	npr, npw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer npr.Close()
	r2 := openPartialRun(t, cfg, npr)
	npw.WriteString("new input\n")
	npw.Close()
	var got strings.Builder
	var lost uint64
	for _, c := range readJournal(t, r2.j) {
		got.Write(c.Data)
		lost += c.Lost
	}
	if want := head + "HALF\nnew input\n"; got.String() != want || lost != 20 {
		t.Errorf("the next run read %q announcing %d bytes lost, want %q and 20", got.String(), lost, want)
	}
	if msg := `lost_bytes=20 offset=14 next_offset=34 kept_bytes=4`; !strings.Contains(r2.logs.String(), msg) {
		t.Errorf("no log %q:\n%s", msg, r2.logs)
	}
}
