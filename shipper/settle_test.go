package shipper

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/logspread/logspread/internal/testsupport"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestOrderedSettledGap: with AckOrdered, batches a collector missed while its session
// was lost are acknowledged by the collector that stayed and never sent again. When the
// collector is back, the shipper's settled notice tells it so, and it counts exactly
// the bytes it missed as a gap (cause missed); the one that stayed counts nothing, and
// lines after the return are written by both.
func TestOrderedSettledGap(t *testing.T) {
	sock := sockPath(t)
	startTestDaemon(t, sock)
	addr := "unix:" + sock
	a := startReceiver(t, addr, "www")
	b := startReceiver(t, addr, "www")
	cfg, _ := testConfig(t)
	cfg.FromBeginning = true
	s := newSources(t, cfg)
	path := filepath.Join(t.TempDir(), "access.log")
	part1, part2, part3 := testContent(1, 300), testContent(2, 200), testContent(3, 100)
	writeFile(t, path, part1)
	rs := startShipper(t, testSendConfig(addr, "www"), openTailer(t, s, path))
	a.expect(part1)
	b.expect(part1)
	rs.waitAcked(t, uint64(len(part1)))

	b.away()
	appendFile(t, path, string(part2))
	a.expect(append(bytes.Clone(part1), part2...))
	rs.waitAcked(t, uint64(len(part1)+len(part2)))

	b.back()
	testsupport.EventuallyErr(t, func() error {
		if st := b.stats(); st.MissedGapBytes != uint64(len(part2)) || st.Gaps != 1 {
			return fmt.Errorf("returning collector: gaps %d, missed bytes %d; want 1 gap of the %d bytes it missed", st.Gaps, st.MissedGapBytes, len(part2))
		}
		return nil
	})
	appendFile(t, path, string(part3))
	all := append(append(bytes.Clone(part1), part2...), part3...)
	a.expect(all)
	b.expect(append(bytes.Clone(part1), part3...))
	rs.waitAcked(t, uint64(len(all)))
	if err := rs.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := a.stats(); st.Gaps != 0 || st.Duplicates != 0 {
		t.Errorf("collector that stayed: %+v, want no gap", st)
	}
	if st := b.stats(); st.Gaps != 1 || st.GapBytes != uint64(len(part2)) {
		t.Errorf("returning collector: %+v, want exactly the missed bytes as one gap", st)
	}
	if n := testutil.ToFloat64(rs.m.SettledNotices); n < 2 {
		t.Errorf("%v settled notices sent, want at least 2", n)
	}
}
