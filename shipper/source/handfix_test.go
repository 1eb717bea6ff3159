package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHandOverBelowFileOffsetRewind: a file handed over (a hard link's other name) to a
// stream whose next offset is below the file offset left (a new stream, nothing sent yet)
// is entered there at the stream's next offset (its base below 0: genEntry.start), and a
// rewind to the stream's start (the shipper rewinds a stream with no checkpoint
// acknowledged yet) walks it again from that file offset at the offsets it had: never
// other bytes (the lines the other stream shipped) at offsets already used.
func TestHandOverBelowFileOffsetRewind(t *testing.T) {
	for _, again := range []string{"rewind", "restart"} {
		t.Run(again, func(t *testing.T) {
			cfg, w := modelConfig(t)
			s := newSources(t, cfg)
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
			appendFile(t, a, "one\ntwo\nthree\n")
			if err := os.Link(a, b); err != nil {
				t.Fatal(err)
			}
			ta := openTailer(t, s, a)
			wantRead(t, chunkData(readChunks(t, w, ta, 1<<16)), "one\ntwo\nthree\n")
			tb := openTailer(t, s, b) // yields the file to a's stream
			ta.Close()                // hands it over to b's at 14
			appendFile(t, b, "four\n")
			w.Tick()
			first := readChunks(t, w, tb, 1<<16) // not acknowledged
			wantRead(t, chunkData(first), "four\n")
			sent := map[uint64]byte{}
			for _, c := range first {
				for i, x := range c.Data {
					sent[c.Offset+uint64(i)] = x
				}
			}
			if again == "rewind" {
				if err := tb.Rewind(nil); err != nil {
					t.Fatal(err)
				}
			} else {
				tb.Close()
				s.Close()
				s = newSources(t, cfg)
				tb = openTailer(t, s, b)
			}
			cs := readChunks(t, w, tb, 1<<16)
			for _, c := range cs {
				for i, x := range c.Data {
					if y, ok := sent[c.Offset+uint64(i)]; ok && y != x {
						t.Fatalf("offset %d carries %q; it carried %q before (chunk at %d: %q)", c.Offset+uint64(i), x, y, c.Offset, c.Data)
					}
				}
			}
			wantRead(t, chunkData(cs), "four\n")
			if n := testutil.ToFloat64(s.m.LostBytes); n != 0 {
				t.Errorf("lost_bytes %v, want 0", n)
			}
		})
	}
}

