package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func genLines(tag string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s line %04d %s\n", tag, i, strings.Repeat("x", i%37))
	}
	return b.String()
}

func TestTailRewindAcrossRotationExplore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rotate func(t *testing.T, path string, n int)
		waitNs []int
		rw     int
	}{
		{"create once", rotCreate, nil, 1},
		{"create twice", rotCreate, nil, 2},
		{"copytruncate once", rotCopy, nil, 1},
		{"copytruncate twice", rotCopy, nil, 2},
	} {
		for _, wait := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/linger=%v", tc.name, wait), func(t *testing.T) {
				cfg, w := testConfig(t)
				cfg.FromBeginning = true
				if !wait {
					cfg.RotateWait = 0
				}
				s := newSources(t, cfg)
				path := filepath.Join(t.TempDir(), "access.log")
				want := genLines("g0", 200)
				appendFile(t, path, want)
				tl := openTailer(t, s, path)
				r := startReader(t, tl, 1000)
				r.waitFor([]byte(want), w)
				chunks := r.snapshot()
				mid := chunks[len(chunks)/2]
				for i := 1; i <= tc.rw; i++ {
					tc.rotate(t, path, i)
					g := genLines(fmt.Sprintf("g%d", i), 150)
					appendFile(t, path, g)
					want += g
					r.waitFor([]byte(want), w)
				}
				r.stop()
				if b, err := os.ReadFile(s.store.genFile(path)); err == nil {
					t.Logf("gens:\n%s", b)
				}
				for _, n := range []string{path, path + ".1", path + ".2"} {
					if fi, err := os.Stat(n); err == nil {
						d, i, _ := fileID(fi)
						t.Logf("%s dev %d ino %d size %d", filepath.Base(n), d, i, fi.Size())
					}
				}
				t.Logf("mid %+v", mid.Pos)
				if err := tl.Rewind(&mid.Pos); err != nil {
					t.Fatal(err)
				}
				r2 := startReader(t, tl, 1000)
				r2.waitFor([]byte(want[mid.End():]), w)
				cs := r2.snapshot()
				if cs[0].Offset != mid.End() || cs[0].Lost != 0 {
					t.Errorf("first chunk after rewind at %d lost %d, want at %d lost 0", cs[0].Offset, cs[0].Lost, mid.End())
				}
			})
		}
	}
}

// rotCreate rotates path as logrotate create does with rotate 5: shift the rotated names, rename path to .1.
func rotCreate(t *testing.T, path string, n int) {
	t.Helper()
	for i := 5; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", path, i+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
}

func rotCopy(t *testing.T, path string, n int) {
	t.Helper()
	for i := 5; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", path, i+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyTruncate(t, path, path+".1")
}
