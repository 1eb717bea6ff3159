package collector

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Span is the half-open range [From, To) of logical byte offsets of a stream. In the
// state file it is the JSON array [from, to].
type Span struct {
	From, To uint64
}

// MarshalJSON encodes s as [from, to].
func (s Span) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]uint64{s.From, s.To})
}

// UnmarshalJSON decodes [from, to] with from < to.
func (s *Span) UnmarshalJSON(b []byte) error {
	var a []uint64
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 2 {
		return fmt.Errorf("range of %d numbers, want [from, to]", len(a))
	}
	if a[0] >= a[1] {
		return fmt.Errorf("empty or reversed range [%d, %d]", a[0], a[1])
	}
	*s = Span{From: a[0], To: a[1]}
	return nil
}

// rangeSet is a set of stream offsets: sorted, disjoint, non-adjacent spans. Its holes
// are the gaps between consecutive spans (len-1 of them).
type rangeSet []Span

// validRangeSet reports whether s is sorted, disjoint, non-adjacent and has no empty
// span (what a loaded state must hold).
func validRangeSet(s []Span) bool {
	for i, sp := range s {
		if sp.From >= sp.To || (i > 0 && sp.From <= s[i-1].To) {
			return false
		}
	}
	return true
}

// find returns the index of the first span ending after o.
func (r rangeSet) find(o uint64) int {
	i, _ := slices.BinarySearchFunc(r, o, func(s Span, o uint64) int {
		if s.To <= o {
			return -1
		}
		return 1
	})
	return i
}

// has reports whether offset o is in the set.
func (r rangeSet) has(o uint64) bool {
	i := r.find(o)
	return i < len(r) && r[i].From <= o
}

// covers reports whether all of [a, b) is in the set (a < b).
func (r rangeSet) covers(a, b uint64) bool {
	i := r.find(a)
	return i < len(r) && r[i].From <= a && b <= r[i].To
}

// overlaps reports whether any of [a, b) is in the set (a < b).
func (r rangeSet) overlaps(a, b uint64) bool {
	i := r.find(a)
	return i < len(r) && r[i].From < b
}

// adjoins reports whether adding [a, b), which must not overlap the set, keeps the
// number of holes: the set is empty, or a span ends at a or starts at b.
func (r rangeSet) adjoins(a, b uint64) bool {
	if len(r) == 0 {
		return true
	}
	i := r.find(a) // first span ending after a: the one before it may end at a
	return (i > 0 && r[i-1].To == a) || (i < len(r) && r[i].From == b)
}

// add puts [a, b) into the set, merging what it touches. Empty spans are ignored.
func (r *rangeSet) add(a, b uint64) {
	if a >= b {
		return
	}
	s := *r
	// Fast path: appending at or after the end.
	if n := len(s); n == 0 || a > s[n-1].To {
		*r = append(s, Span{a, b})
		return
	} else if a >= s[n-1].From {
		s[n-1].To = max(s[n-1].To, b)
		return
	}
	// i: first span that ends at or after a (touching counts); j: first span starting after b.
	i, _ := slices.BinarySearchFunc(s, a, func(sp Span, a uint64) int {
		if sp.To < a {
			return -1
		}
		return 1
	})
	j := i
	for j < len(s) && s[j].From <= b {
		j++
	}
	if i == j {
		*r = slices.Insert(s, i, Span{a, b})
		return
	}
	merged := Span{min(a, s[i].From), max(b, s[j-1].To)}
	s[i] = merged
	*r = slices.Delete(s, i+1, j)
}

// addAll adds every span of o.
func (r *rangeSet) addAll(o []Span) {
	for _, sp := range o {
		r.add(sp.From, sp.To)
	}
}

// remove takes [a, b) out of the set.
func (r *rangeSet) remove(a, b uint64) {
	if a >= b {
		return
	}
	s := *r
	i := s.find(a)
	out := slices.Clone(s[:i])
	for ; i < len(s); i++ {
		sp := s[i]
		if sp.From >= b {
			break
		}
		if sp.From < a {
			out = append(out, Span{sp.From, a})
		}
		if sp.To > b {
			out = append(out, Span{b, sp.To})
		}
	}
	out = append(out, s[i:]...)
	*r = out
}

// missing calls f for every part of [a, b) not in the set, in order, and returns their
// total length.
func (r rangeSet) missing(a, b uint64, f func(from, to uint64)) uint64 {
	var n uint64
	i := r.find(a)
	for o := a; o < b; {
		if i >= len(r) || r[i].From >= b {
			f(o, b)
			n += b - o
			break
		}
		if r[i].From > o {
			f(o, r[i].From)
			n += r[i].From - o
		}
		o = r[i].To
		i++
	}
	return n
}

// countMissing returns the number of ranges of [a, b) not in the set.
func (r rangeSet) countMissing(a, b uint64) int {
	n := 0
	r.missing(a, b, func(uint64, uint64) { n++ })
	return n
}

// endFrom returns the end of the span holding base, or base when no span holds it:
// every offset in [base, endFrom(base)) is in the set.
func (r rangeSet) endFrom(base uint64) uint64 {
	i := r.find(base)
	if i < len(r) && r[i].From <= base {
		return r[i].To
	}
	return base
}

// holes returns the number of holes (gaps between spans).
func (r rangeSet) holes() int { return max(len(r)-1, 0) }

// limitSpans bounds the spans of one frame's stream in the state file's intent to n
// (n >= 2): it returns the first n-1 spans exactly and, when there were more, one span
// rest covering all the others and what lies between them. Recovery counts only the
// exact spans of a complete frame as written and takes rest out too when the frame is
// torn, so a crash may rewrite some lines of a frame with many spans (duplicates),
// never skip lines that are not written.
func limitSpans(s []Span, n int) (exact []Span, rest *Span) {
	if len(s) <= n {
		return s, nil
	}
	return s[:n-1], &Span{From: s[n-1].From, To: s[len(s)-1].To}
}
