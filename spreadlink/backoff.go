package spreadlink

import (
	"math/rand/v2"
	"time"
)

// Default bounds of a Backoff whose fields are zero.
const (
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 10 * time.Second
)

// Backoff is the wait between connection attempts: capped exponential growth with
// "equal jitter". After n failures in a row the step is d = Min·2^(n-1), capped at
// Max, and the wait is drawn uniformly from [d/2, d]. The certain half makes the waits
// grow; the random half spreads out the clients that all lost the same daemon at once.
//
// A zero Min means DefaultBackoffMin; a zero Max means DefaultBackoffMax (or Min, if
// larger); a Max below Min means Min (no growth). A Backoff is a value: safe for
// concurrent use if Rand is.
type Backoff struct {
	Min time.Duration
	Max time.Duration
	// Rand returns a uniform random number in [0, n) for n > 0. Nil means
	// math/rand/v2's Int64N. Tests inject a fixed function.
	Rand func(n int64) int64
}

// bounds returns Min and Max with the defaults applied.
func (b Backoff) bounds() (lo, hi time.Duration) {
	lo, hi = b.Min, b.Max
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi == 0 {
		hi = max(DefaultBackoffMax, lo)
	}
	return lo, max(hi, lo)
}

// Delay returns the wait after failures failures in a row; 0 when failures is 0 or less.
func (b Backoff) Delay(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	lo, hi := b.bounds()
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		if d > hi/2 {
			d = hi
			break
		}
		d *= 2
	}
	return b.Jitter(min(d, hi))
}

// Jitter returns a duration drawn uniformly from [d/2, d] (0 for d <= 0): the one
// jitter formula of Delay, for callers that pace other retries the same way.
func (b Backoff) Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	rnd := b.Rand
	if rnd == nil {
		rnd = rand.Int64N
	}
	half := d / 2
	return half + time.Duration(rnd(int64(d-half)+1))
}
