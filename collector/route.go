package collector

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/logspread/logspread/collector/segment"
)

// Routing: the lines of one message go to the writer of each log of its groups, whole
// for a plain log and split into runs of lines with the same vhost for a {vhost} log;
// a {host} log has a writer per host (one message comes from one host), and a log
// with HostPrefix gets each line prefixed with its host.

// connGapMarker is the line written to every open log after a lost session when gap
// markers are on.
const connGapMarker = "# logspread gap connection lost: messages may be missing\n"

// gapPrefix starts every gap marker line; such lines never carry a vhost.
var gapPrefix = []byte("# logspread gap ")

// streamRef says which stream lines a chunk holds.
type streamRef struct {
	ok     bool
	stream uint64
	r      Span
}

// chunk is a run of lines of one message bound for one writer.
type chunk struct {
	key wkey
	b   []byte
	sr  streamRef
	// frame, when not nil, is the chunk's lines compressed: one zstd frame of n raw
	// bytes and lines lines, written as it is (segment.Writer.WriteFrame). b holds the
	// lines when they were decompressed, else it is nil.
	frame    []byte
	n, lines int
}

// size returns the raw bytes of the chunk's lines.
func (ch *chunk) size() int {
	if ch.frame != nil {
		return ch.n
	}
	return len(ch.b)
}

// lineCount returns the number of lines of the chunk.
func (ch *chunk) lineCount() int {
	if ch.frame != nil {
		return ch.lines
	}
	return bytes.Count(ch.b, []byte{'\n'})
}

// vhostEntry is a cached vhost resolution.
type vhostEntry struct {
	name     string // the vhost to write to
	rejected bool   // the line's vhost was unsafe and replaced by the default
}

// streamOf returns the stream lines held by lines[a:b] of the run being routed: w.cur
// when w.curOK (the run is w.cur.Len bytes long), no stream otherwise.
func (w *writerSet) streamOf(a, b int) streamRef {
	lw, n := w.cur, w.cur.Len
	if !w.curOK {
		return streamRef{}
	}
	r := Span{From: lw.First, To: lw.End - uint64(n-b)}
	if a > 0 {
		r.From = lw.End - uint64(n-a)
	}
	return streamRef{ok: true, stream: lw.Stream, r: r}
}

// markConnectionGap queues the connection gap marker for every log: the one writer of
// a plain log, and every open writer of a {vhost} or {host} log.
func (w *writerSet) markConnectionGap() {
	marker := []byte(connGapMarker)
	var open []wkey
	for k := range w.writers {
		if w.logs[k.log].split() {
			open = append(open, k)
		}
	}
	slices.SortFunc(open, func(a, b wkey) int {
		if a.log != b.log {
			return a.log - b.log
		}
		if c := strings.Compare(a.vhost, b.vhost); c != 0 {
			return c
		}
		return strings.Compare(a.host, b.host)
	})
	for i := range w.logs {
		if !w.logs[i].split() {
			w.chunks = append(w.chunks, chunk{key: wkey{log: i}, b: marker})
		}
	}
	for _, k := range open {
		w.chunks = append(w.chunks, chunk{key: k, b: marker})
	}
}

// route queues the lines of one message for log li: whole for a plain log, split
// into runs of lines with the same vhost for a {vhost} log, to the writer of host for
// a {host} log, each line prefixed with host for a HostPrefix log. host is the
// message's host, checked (hostOf); only logs that need it (byHost) use it.
func (w *writerSet) route(li int, lines []byte, host string) {
	ls := &w.logs[li]
	key := w.keyOf(li, host)
	add := func(vhost string, a, b int) {
		k, run := key, lines[a:b]
		k.vhost = vhost
		if ls.cfg.HostPrefix {
			run = prefixLines(host, run)
		}
		w.chunks = append(w.chunks, chunk{key: k, b: run, sr: w.streamOf(a, b)})
	}
	if ls.format == nil {
		add("", 0, len(lines))
		return
	}
	start, cur := 0, ""
	for p := 0; p < len(lines); {
		end := len(lines)
		if e := bytes.IndexByte(lines[p:], '\n'); e >= 0 {
			end = p + e + 1
		}
		vh := w.vhosts.vhostOf(li, lines[p:end])
		if p > start && vh != cur {
			add(cur, start, p)
			start = p
		}
		cur, p = vh, end
	}
	add(cur, start, len(lines))
}

// keyOf returns the writer key of log li for a message from host: a {host} log has a
// writer per host (one message comes from one host); the vhost is set by route.
func (w *writerSet) keyOf(li int, host string) wkey {
	k := wkey{log: li}
	if w.logs[li].tmpl.UsesHost() {
		k.host = host
	}
	return k
}

// prefixLines returns a copy of lines with host and a space before each line, but gap
// markers ("# logspread gap ...": they come from this collector, not from a host).
func prefixLines(host string, lines []byte) []byte {
	out := make([]byte, 0, len(lines)+(bytes.Count(lines, []byte{'\n'})+1)*(len(host)+1))
	for p := 0; p < len(lines); {
		end := len(lines)
		if e := bytes.IndexByte(lines[p:], '\n'); e >= 0 {
			end = p + e + 1
		}
		if !bytes.HasPrefix(lines[p:end], gapPrefix) {
			out = append(append(out, host...), ' ')
		}
		out = append(out, lines[p:end]...)
		p = end
	}
	return out
}

// hostOf returns the host the lines of the message just processed are written under:
// the host its batch carried (raw) when that is a safe name (ValidateHost), else the
// default host. A rejected name is logged (at most every second) and counted in
// names_rejected_total once while it is remembered (up to MaxLogs names).
func (w *writerSet) hostOf(raw string) string {
	if raw == "" {
		return w.cfg.DefaultHost
	}
	ok, seen := w.hosts[raw]
	if !seen {
		err := ValidateHost(raw)
		if ok = err == nil; !ok {
			w.segm.NamesRejected.Inc()
			if time.Since(w.lastHostWarn) > time.Second {
				w.lastHostWarn = time.Now()
				w.log.Warn("unsafe host name in a batch: its lines are written under the default host", "err", err, "default", w.cfg.DefaultHost)
			}
		}
		if len(w.hosts) >= w.cfg.MaxLogs {
			clear(w.hosts)
			w.m.LimitReached.WithLabelValues(LimitMaxLogs).Inc()
		}
		w.hosts[raw] = ok
	}
	if !ok {
		return w.cfg.DefaultHost
	}
	return raw
}

// vhostRouter resolves the vhost log each line of a {vhost} log goes to. It caches
// the names seen per log (up to max, Config.MaxLogs), so a vhost is validated once.
type vhostRouter struct {
	logs     []logSpec
	def      string                  // the default vhost
	max      int                     // bound of each log's cache
	cache    []map[string]vhostEntry // per log: vhost field bytes -> resolution
	m        *CollectorMetrics
	segm     *segment.Metrics // names_rejected_total
	log      *slog.Logger
	lastWarn time.Time
}

func newVhostRouter(logs []logSpec, defaultVhost string, maxNames int, m *CollectorMetrics, segm *segment.Metrics, logger *slog.Logger) *vhostRouter {
	r := &vhostRouter{logs: logs, def: defaultVhost, max: maxNames, cache: make([]map[string]vhostEntry, len(logs)), m: m, segm: segm, log: logger}
	for i := range r.cache {
		r.cache[i] = make(map[string]vhostEntry)
	}
	return r
}

// vhostOf returns the vhost log a line of log li goes to: its vhost field when that
// is a safe file name, the default vhost otherwise (counted).
func (r *vhostRouter) vhostOf(li int, line []byte) string {
	def := r.def
	if bytes.HasPrefix(line, gapPrefix) {
		return def
	}
	raw, ok := r.logs[li].format.VHost(line)
	if !ok || len(raw) == 0 {
		r.m.DefaultVhost.Inc()
		return def
	}
	cache := r.cache[li]
	e, ok := cache[string(raw)]
	if !ok {
		name := string(raw)
		e = vhostEntry{name: name}
		if err := ValidateVhost(name); err != nil {
			e = vhostEntry{name: def, rejected: true}
			r.segm.NamesRejected.Inc()
			if time.Since(r.lastWarn) > time.Second {
				r.lastWarn = time.Now()
				r.log.Warn("unsafe vhost name: lines go to the default vhost log", "group", r.logs[li].cfg.Group, "err", err, "default", def)
			}
		}
		if len(cache) >= r.max {
			clear(cache)
			r.m.VhostCacheFull.Inc()
			r.m.LimitReached.WithLabelValues(LimitMaxLogs).Inc()
		}
		cache[name] = e
	}
	if e.rejected {
		r.m.RejectedVhost.Inc()
		r.m.DefaultVhost.Inc()
	}
	return e.name
}
