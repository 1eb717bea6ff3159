package harness

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"strings"
)

// inputIndex locates every input line by its hash: file number and line number.
type inputIndex struct {
	seed  maphash.Seed
	pos   map[uint64]uint64 // hash -> file<<40 | line; dupBit if the line occurs more than once
	dups  map[uint64]int32  // hash -> occurrences in the input, for repeated lines only
	lines []int64           // lines per file
}

const dupBit = 1 << 63

func (e *Env) index() (*inputIndex, error) {
	e.indexOnce.Do(func() { e.ix, e.ixErr = buildIndex(e.Inputs) })
	return e.ix, e.ixErr
}

func buildIndex(files []string) (*inputIndex, error) {
	ix := &inputIndex{seed: maphash.MakeSeed(), pos: make(map[uint64]uint64), dups: make(map[uint64]int32)}
	for fi, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		var n int64
		err = eachLine(f, func(line []byte, _ bool) {
			h := maphash.Bytes(ix.seed, line)
			if old, ok := ix.pos[h]; ok {
				if old&dupBit == 0 {
					ix.dups[h] = 1
				}
				ix.pos[h] = old | dupBit
				ix.dups[h]++
			} else {
				ix.pos[h] = uint64(fi)<<40 | uint64(n)
			}
			n++
		})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", name, err)
		}
		ix.lines = append(ix.lines, n)
	}
	return ix, nil
}

// eachLine calls fn with every line of r, without its '\n'; complete is false for a
// last line that lacks one.
func eachLine(r io.Reader, fn func(line []byte, complete bool)) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var long []byte
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, b...)
			continue
		}
		if long != nil {
			b = append(long, b...)
			long = nil
		}
		if err == io.EOF {
			if len(b) > 0 {
				fn(b, false)
			}
			return nil
		}
		if err != nil {
			return err
		}
		fn(b[:len(b)-1], true)
	}
}

// Verification is the check of one collector's output against the input.
type Verification struct {
	Output      string
	Lines       int64    // lines read back
	Bytes       int64    // plain bytes read back
	Missing     int64    // input lines not in the output
	Extra       int64    // output lines that are no input line (garbled, truncated, added)
	Duplicated  int64    // input lines written more than once (extra copies)
	OutOfOrder  int64    // lines behind a later line of the same input file
	Unterminate bool     // the last line has no '\n'
	Digest      [32]byte // SHA-256 of the plain output
	Err         error    // reading the output failed
}

// OK reports whether the output holds every input line exactly once, in file order.
func (v *Verification) OK() bool {
	return v.Err == nil && v.Missing == 0 && v.Extra == 0 && v.Duplicated == 0 && v.OutOfOrder == 0 && !v.Unterminate
}

// Complete reports whether every input line is in the output exactly once and
// intact, whatever the order.
func (v *Verification) Complete() bool {
	return v.Err == nil && v.Missing == 0 && v.Extra == 0 && v.Duplicated == 0 && !v.Unterminate
}

// String summarises the failures, or "ok".
func (v *Verification) String() string {
	if v.OK() {
		return "ok"
	}
	var parts []string
	if v.Err != nil {
		parts = append(parts, "error: "+v.Err.Error())
	}
	add := func(n int64, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(v.Missing, "missing")
	add(v.Extra, "extra")
	add(v.Duplicated, "duplicated")
	add(v.OutOfOrder, "out of order")
	if v.Unterminate {
		parts = append(parts, "last line unterminated")
	}
	return v.Output + ": " + strings.Join(parts, ", ")
}

// Verify reads back one Output and checks it against the input: the multiset of lines
// (missing, extra, duplicated) and the order of each input file's lines.
func Verify(env *Env, out Output) *Verification {
	v := &Verification{Output: out.Name}
	ix, err := env.index()
	if err != nil {
		v.Err = err
		return v
	}
	seen := make([][]uint64, len(ix.lines)) // bitsets of input lines seen
	last := make([]int64, len(ix.lines))    // highest line number seen per file
	for i, n := range ix.lines {
		seen[i] = make([]uint64, (n+63)/64)
		last[i] = -1
	}
	dupSeen := make(map[uint64]int32)
	sum := sha256.New()
	for _, name := range out.Files {
		rc, err := out.Open(name)
		if err != nil {
			v.Err = err
			return v
		}
		tee := io.TeeReader(rc, sum)
		err = eachLine(tee, func(line []byte, complete bool) {
			v.Lines++
			v.Bytes += int64(len(line)) + 1
			if !complete {
				v.Unterminate = true
				v.Bytes--
			}
			h := maphash.Bytes(ix.seed, line)
			p, ok := ix.pos[h]
			switch {
			case !ok:
				v.Extra++
			case p&dupBit != 0:
				dupSeen[h]++
				if dupSeen[h] > ix.dups[h] {
					v.Duplicated++
				}
			default:
				f, n := p>>40, int64(p&(1<<40-1))
				w, b := &seen[f][n/64], uint64(1)<<(n%64)
				if *w&b != 0 {
					v.Duplicated++
					return
				}
				*w |= b
				if n < last[f] {
					v.OutOfOrder++
				} else {
					last[f] = n
				}
			}
		})
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			v.Err = fmt.Errorf("read %s: %w", name, err)
			return v
		}
	}
	for f, n := range ix.lines {
		var got int64
		for _, w := range seen[f] {
			got += int64(bitsSet(w))
		}
		v.Missing += n - got
	}
	// Repeated input lines are never marked in seen (all their copies were counted
	// missing above): count them by occurrences instead.
	for h, want := range ix.dups {
		v.Missing -= int64(want)
		if got := dupSeen[h]; got < want {
			v.Missing += int64(want - got)
		}
	}
	copy(v.Digest[:], sum.Sum(nil))
	return v
}

func bitsSet(w uint64) int {
	n := 0
	for w != 0 {
		w &= w - 1
		n++
	}
	return n
}
