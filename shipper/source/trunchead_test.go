package source

import (
	"os"
	"testing"
	"time"
)

// TestTailTruncatedHeadRecordedAsItGrows: the followed file, a line of it read, is
// truncated and written again, its new content first part of a line (a writer's
// partial write), then that line ended and more lines written, all read (not
// acknowledged). The head recorded for the new content was the part of a line first
// seen, marked as holding a whole line (the old content's mark, kept across the
// truncation), and never recorded again as the line ended: the record kept a head that
// any content starting alike matches. The file then shrinks to its first line (truncate
// -s N), a line is written, and the shipper restarts: walked again from the checkpoint
// (the end of the old content), the new content was taken for the one recorded, whole,
// and its new line sent at the offsets of the lines read before (-model.shrink
// -model.oldwriter seed 9155 -model.ops 150: offsets reused, collectors drop the new
// line as a resend). With the head recorded as it grows, the shrink is told: the new
// line goes at offsets of its own (the lines kept, read again, counted as such).
func TestTailTruncatedHeadRecordedAsItGrows(t *testing.T) {
	r := newRestartRig(t, time.Hour)
	f := r.create()
	r.write(f, "a 0\n")
	r.start()
	r.readAll()
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r.write(f, "b 0 written in two parts")
	r.read(false)
	first := "b 0 written in two parts, ended\n"
	r.write(f, first[len("b 0 written in two parts"):]+"b 1\nb 2\n")
	r.readHold(first + "b 1\nb 2\n")
	if err := os.Truncate(r.path, int64(len(first))); err != nil {
		t.Fatal(err)
	}
	r.restart()
	r.write(f, "b 3\n")
	r.readAll()
	r.checkRereadCounted("a 0", "b 0 written in two parts, ended", "b 1", "b 2", "b 3")
}
