// Package loggen generates realistic web-server access log lines in Apache's combined
// format (or vhost_combined), for benchmarks, tests and sample files.
//
// Output is a pure function of the seed and the Options: the same seed always gives the
// same bytes, on every platform. Generating a line does not allocate, so millions of lines
// can be written quickly.
package loggen

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Options tune a Generator. The zero value gives combined-format lines starting at
// 2026-01-01 00:00:00 UTC at 200 lines per simulated second.
type Options struct {
	// Start is the time of the first line. Zero means 2026-01-01T00:00:00Z.
	Start time.Time
	// Location is the time zone timestamps are written in. Nil means UTC.
	Location *time.Location
	// Rate is the mean number of lines per simulated second; arrivals are a Poisson
	// process, so timestamps advance irregularly but never go back. Zero means 200.
	Rate float64
	// VHosts, when not empty, prefixes each line with "vhost:port " picked from these
	// names, giving Apache's vhost_combined format (with %O, bytes sent including
	// headers, in place of %b).
	VHosts []string
}

// DefaultStart is the time of the first line when Options.Start is zero.
var DefaultStart = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

const (
	defaultRate = 200
	numClients  = 2000
	timeLayout  = "02/Jan/2006:15:04:05 -0700"
)

// client is one simulated visitor: an address and the browser it uses.
type client struct {
	addr []byte
	ua   int
	user int // index into users; 0 is "-"
}

// Generator produces access log lines. A Generator is not safe for concurrent use; make one
// per goroutine (with different seeds for different streams).
type Generator struct {
	r       *rand.Rand
	opts    Options
	loc     *time.Location
	clients []client
	pick    *rand.Zipf // which client sends the next request: a few are busy, most are not
	nowNS   int64      // simulated time of the next line, Unix nanoseconds
	meanGap float64    // mean nanoseconds between lines
	sec     int64      // second that ts holds
	ts      []byte     // "[02/Jan/2006:15:04:05 -0700]" for sec
}

// New returns a Generator whose output is determined by seed and opts.
func New(seed int64, opts Options) *Generator {
	g := &Generator{
		r:    rand.New(rand.NewPCG(uint64(seed), 0x6c6f6767656e)), // "loggen"
		opts: opts,
		loc:  opts.Location,
		ts:   make([]byte, 0, 32),
		sec:  math.MinInt64,
	}
	if g.loc == nil {
		g.loc = time.UTC
	}
	start := opts.Start
	if start.IsZero() {
		start = DefaultStart
	}
	g.nowNS = start.UnixNano()
	rate := opts.Rate
	if rate <= 0 {
		rate = defaultRate
	}
	g.meanGap = 1e9 / rate
	g.clients = make([]client, numClients)
	for i := range g.clients {
		c := &g.clients[i]
		if g.r.IntN(100) < 15 {
			c.addr = g.appendIPv6(nil)
		} else {
			c.addr = g.appendIPv4(nil)
		}
		c.ua = g.r.IntN(len(userAgents))
		if g.r.IntN(100) < 4 {
			c.user = 1 + g.r.IntN(len(users)-1)
		}
	}
	g.pick = rand.NewZipf(g.r, 1.1, 4, numClients-1)
	return g
}

// AppendLine appends one '\n'-terminated log line to dst and returns it. It does not
// allocate when dst has room.
func (g *Generator) AppendLine(dst []byte) []byte {
	r := g.r
	c := &g.clients[g.pick.Uint64()]

	secure := true
	if len(g.opts.VHosts) > 0 {
		dst = append(dst, g.opts.VHosts[r.IntN(len(g.opts.VHosts))]...)
		if r.IntN(5) == 0 {
			secure = false
			dst = append(dst, ":80 "...)
		} else {
			dst = append(dst, ":443 "...)
		}
	}
	dst = append(dst, c.addr...)
	dst = append(dst, " - "...)
	dst = append(dst, users[c.user]...)
	dst = append(dst, ' ')
	dst = append(dst, g.timestamp()...)

	// Request line.
	dst = append(dst, " \""...)
	method := pickWeighted(r, methods)
	dst = append(dst, method.s...)
	dst = append(dst, ' ')
	page := pickWeighted(r, pages)
	dst = g.appendPath(dst, page.kind)
	dst = append(dst, ' ')
	dst = append(dst, pickWeighted(r, protocols).s...)
	dst = append(dst, "\" "...)

	// Status and size.
	status, size := g.response(page.kind, method.s)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	switch {
	case len(g.opts.VHosts) > 0: // %O counts headers too and is never "-"
		dst = strconv.AppendInt(dst, int64(size+180+r.IntN(300)), 10)
	case size == 0:
		dst = append(dst, '-')
	default:
		dst = strconv.AppendInt(dst, int64(size), 10)
	}

	// Referer.
	dst = append(dst, " \""...)
	switch n := r.IntN(100); {
	case n < 35 || page.kind == pageRobots:
		dst = append(dst, '-')
	case n < 85:
		if secure {
			dst = append(dst, "https://"...)
		} else {
			dst = append(dst, "http://"...)
		}
		dst = append(dst, siteHost...)
		dst = g.appendPath(dst, pickWeighted(r, pages[:numPageRefs]).kind)
	default:
		dst = append(dst, searchEngines[r.IntN(len(searchEngines))]...)
	}
	dst = append(dst, "\" \""...)
	dst = append(dst, userAgents[c.ua]...)
	dst = append(dst, "\"\n"...)

	g.nowNS += int64(r.ExpFloat64() * g.meanGap)
	return dst
}

// WriteLines writes n lines to w through a buffer.
func (g *Generator) WriteLines(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 4096)
	for i := 0; i < n; i++ {
		buf = g.AppendLine(buf[:0])
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("write log lines: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write log lines: %w", err)
	}
	return nil
}

// timestamp returns the bracketed CLF time of the current line, formatted once per second.
func (g *Generator) timestamp() []byte {
	sec := g.nowNS / 1e9
	if sec != g.sec {
		g.sec = sec
		g.ts = append(g.ts[:0], '[')
		g.ts = time.Unix(sec, 0).In(g.loc).AppendFormat(g.ts, timeLayout)
		g.ts = append(g.ts, ']')
	}
	return g.ts
}

func (g *Generator) appendIPv4(dst []byte) []byte {
	r := g.r
	first := 1 + r.IntN(222)
	for first == 10 || first == 127 || first == 100 || first == 169 || first == 172 || first == 192 {
		first = 1 + r.IntN(222)
	}
	dst = strconv.AppendInt(dst, int64(first), 10)
	for i := 0; i < 3; i++ {
		dst = append(dst, '.')
		dst = strconv.AppendInt(dst, int64(r.IntN(256)), 10)
	}
	return dst
}

func (g *Generator) appendIPv6(dst []byte) []byte {
	r := g.r
	dst = append(dst, ipv6Prefixes[r.IntN(len(ipv6Prefixes))]...)
	for i := 0; i < 2; i++ {
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(r.IntN(0x10000)), 16)
	}
	if r.IntN(2) == 0 {
		dst = append(dst, "::"...)
		return strconv.AppendUint(dst, uint64(1+r.IntN(0xffff)), 16)
	}
	for i := 0; i < 4; i++ {
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(r.IntN(0x10000)), 16)
	}
	return dst
}

// appendPath appends the path and query string of a request for a page of this kind.
func (g *Generator) appendPath(dst []byte, kind pageKind) []byte {
	r := g.r
	switch kind {
	case pageHome:
		return append(dst, '/')
	case pageProduct:
		dst = append(dst, "/products/"...)
		dst = append(dst, words[r.IntN(len(words))]...)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, int64(1000+r.IntN(90000)), 10)
		if r.IntN(3) == 0 {
			dst = append(dst, "?variant="...)
			dst = strconv.AppendInt(dst, int64(r.IntN(12)), 10)
			dst = append(dst, "&utm_source=newsletter&utm_medium=email"...)
		}
		return dst
	case pageSearch:
		dst = append(dst, "/search?q="...)
		for i, n := 0, 1+r.IntN(3); i < n; i++ {
			if i > 0 {
				dst = append(dst, '+')
			}
			dst = append(dst, words[r.IntN(len(words))]...)
		}
		dst = append(dst, "&page="...)
		return strconv.AppendInt(dst, int64(1+r.IntN(5)), 10)
	case pageBlog:
		dst = append(dst, "/blog/2025/"...)
		m := 1 + r.IntN(12)
		if m < 10 {
			dst = append(dst, '0')
		}
		dst = strconv.AppendInt(dst, int64(m), 10)
		dst = append(dst, '/')
		dst = append(dst, words[r.IntN(len(words))]...)
		dst = append(dst, '-')
		dst = append(dst, words[r.IntN(len(words))]...)
		return append(dst, ".html"...)
	case pageAPI:
		dst = append(dst, "/api/v2/items/"...)
		dst = strconv.AppendInt(dst, int64(r.IntN(1000000)), 10)
		return append(dst, "?fields=name,price,stock&lang=en"...)
	case pageAsset:
		a := assets[r.IntN(len(assets))]
		dst = append(dst, a.dir...)
		dst = strconv.AppendUint(dst, uint64(r.Uint32())|1<<31, 16)
		return append(dst, a.ext...)
	case pageImage:
		dst = append(dst, "/images/"...)
		dst = append(dst, words[r.IntN(len(words))]...)
		dst = append(dst, '_')
		dst = strconv.AppendInt(dst, int64(r.IntN(100)), 10)
		return append(dst, ".jpg"...)
	case pageRobots:
		return append(dst, "/robots.txt"...)
	case pageFavicon:
		return append(dst, "/favicon.ico"...)
	default: // pageProbe
		return append(dst, probes[r.IntN(len(probes))]...)
	}
}

// response returns the status and body size of a request.
func (g *Generator) response(kind pageKind, method string) (status, size int) {
	r := g.r
	n := r.IntN(1000)
	switch {
	case kind == pageProbe:
		return 404, 196 + r.IntN(20)
	case n < 8:
		return 500, 530
	case n < 15:
		return 503, 299
	case n < 40:
		return 404, 196 + r.IntN(20)
	case n < 70 && kind != pageAPI:
		return 301, 0
	case n < 250 && (kind == pageAsset || kind == pageImage || kind == pageFavicon):
		return 304, 0
	case method == "HEAD" || method == "OPTIONS":
		return 200, 0
	case method == "POST" && n < 400:
		return 201, 80 + r.IntN(400)
	case method == "DELETE":
		return 204, 0
	}
	// Log-normal body sizes around a per-kind median.
	median := sizeMedian[kind]
	size = int(median * math.Exp(r.NormFloat64()*0.6))
	return 200, max(size, 1)
}
