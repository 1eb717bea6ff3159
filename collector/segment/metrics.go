package segment

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the segment writer counters. Build them once per registry with
// NewMetrics and pass them to every Writer: all writers add to the same series.
type Metrics struct {
	RawBytes        prometheus.Counter // logspread_collector_segment_raw_bytes_total
	CompressedBytes prometheus.Counter // logspread_collector_segment_compressed_bytes_total
	Flushes         prometheus.Counter // logspread_collector_segment_flushes_total
	Rotations       prometheus.Counter // logspread_collector_segment_rotations_total
	WriteErrors     prometheus.Counter // logspread_collector_segment_write_errors_total
	NamesRejected   prometheus.Counter // logspread_collector_names_rejected_total
	Vanished        prometheus.Counter // logspread_collector_segment_vanished_total
	Reopened        prometheus.Counter // logspread_collector_segment_reopened_total
	// VerbatimFrames counts the zstd frames written as they were received
	// (Writer.WriteFrame: batch v2 bodies), not decoded and encoded again.
	VerbatimFrames prometheus.Counter // logspread_collector_segment_verbatim_frames_total
}

// NewMetrics builds the segment writer counters and registers them with reg (never
// the global registry unless the caller passes it). A nil reg registers nothing.
// Registering twice on one registry is an error.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{}
	for _, s := range []struct {
		dst        *prometheus.Counter
		name, help string
	}{
		{&m.RawBytes, "segment_raw_bytes_total", "Uncompressed bytes written to segments (durable after their flush)."},
		{&m.CompressedBytes, "segment_compressed_bytes_total", "Bytes written to segment files, after compression."},
		{&m.Flushes, "segment_flushes_total", "Frames closed and written to segment files."},
		{&m.Rotations, "segment_rotations_total", "Segments closed by rotation: a bound (size, time) or the name's period ended."},
		{&m.WriteErrors, "segment_write_errors_total", "Failed segment writes, syncs and opens (the data is kept and retried)."},
		{&m.NamesRejected, "names_rejected_total", "Group, vhost or host names rejected as unsafe file names, or as too long for the file system."},
		{&m.Vanished, "segment_vanished_total", "Open segments found deleted, renamed or replaced (closed; the next frame opens a new one)."},
		{&m.Reopened, "segment_reopened_total", "Segments reopened to append to (after an eviction, SIGHUP or restart, while still their log's current segment)."},
		{&m.VerbatimFrames, "segment_verbatim_frames_total", "zstd frames written to segments as they were received from shippers (batch v2), without decoding and encoding again."},
	} {
		c := prometheus.NewCounter(prometheus.CounterOpts{
			// The counters keep the names they had inside the collector package.
			Name: prometheus.BuildFQName("logspread", "collector", s.name),
			Help: s.help,
		})
		if reg != nil {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
		*s.dst = c
	}
	return m, nil
}
