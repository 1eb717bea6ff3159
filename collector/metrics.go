package collector

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	metricsNamespace = "logspread"
	metricsSubsystem = "collector"
)

// newCounter builds a counter named logspread_collector_<name> and registers it with
// reg. When an identical counter is already registered the registered one is
// returned (tests look the sequencer's counters up this way). A nil reg leaves the
// counter unregistered.
func newCounter(reg prometheus.Registerer, name, help string) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, name),
		Help: help,
	})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return c, nil
}

// counterSpec names one counter of a metrics struct.
type counterSpec struct {
	dst        *prometheus.Counter
	name, help string
}

func registerCounters(reg prometheus.Registerer, specs []counterSpec) error {
	for _, s := range specs {
		c, err := newCounter(reg, s.name, s.help)
		if err != nil {
			return err
		}
		*s.dst = c
	}
	return nil
}

// SequencerMetrics are the sequencer counters.
type SequencerMetrics struct {
	Lines          prometheus.Counter // logspread_collector_lines_total
	Bytes          prometheus.Counter // logspread_collector_bytes_total
	DuplicateLines prometheus.Counter // logspread_collector_duplicate_lines_total
	Gaps           prometheus.Counter // logspread_collector_gaps_total
	GapBytes       prometheus.Counter // logspread_collector_gap_bytes_total
	// UnknownGaps counts unused notices (envelope.FlagUnused) that covered offsets not
	// had: a shipper restarted after a crash jumped past every offset it may have used;
	// bytes it sent there, if any, that this collector lacks are of unknown size. Not
	// in Gaps or GapBytes.
	UnknownGaps     prometheus.Counter // logspread_collector_unknown_gaps_total
	ConnectionGaps  prometheus.Counter // logspread_collector_connection_gaps_total
	TruncatedLines  prometheus.Counter // logspread_collector_truncated_lines_total
	Unterminated    prometheus.Counter // logspread_collector_unterminated_lines_total
	BadMessages     prometheus.Counter // logspread_collector_bad_messages_total
	DroppedFragment prometheus.Counter // logspread_collector_dropped_fragments_total
	Streams         prometheus.Counter // logspread_collector_streams_started_total
	StreamBaseBytes prometheus.Counter // logspread_collector_stream_base_bytes_total
	// GapsByCause and GapBytesByCause split Gaps and GapBytes by cause
	// (GapCauseLoss, GapCauseHoles, GapCauseMissed).
	GapsByCause     *prometheus.CounterVec // logspread_collector_gaps_by_cause_total{cause}
	GapBytesByCause *prometheus.CounterVec // logspread_collector_gap_bytes_by_cause_total{cause}
	Holes           prometheus.Gauge       // logspread_collector_holes
	// The bounds of per-stream state (SequencerConfig.MaxStreams, the stream expiry,
	// ReassemblyBytes, MaxHoles) and of the writer set's per-log memory.
	StreamsKept      prometheus.Gauge       // logspread_collector_streams
	ExpiredRecords   prometheus.Gauge       // logspread_collector_expired_stream_records
	ExpiredStreams   prometheus.Counter     // logspread_collector_streams_expired_total
	ReturnedStreams  prometheus.Counter     // logspread_collector_streams_returned_total
	ForgottenStreams prometheus.Counter     // logspread_collector_stream_records_forgotten_total
	LimitReached     *prometheus.CounterVec // logspread_collector_limit_reached_total{limit}
}

// NewSequencerMetrics builds the sequencer counters and registers them with reg.
// A nil reg registers nothing.
func NewSequencerMetrics(reg prometheus.Registerer) (*SequencerMetrics, error) {
	m := &SequencerMetrics{}
	err := registerCounters(reg, []counterSpec{
		{&m.Lines, "lines_total", "Lines passed to the writers, after de-duplication."},
		{&m.Bytes, "bytes_total", "Bytes of lines passed to the writers, after de-duplication."},
		{&m.DuplicateLines, "duplicate_lines_total", "Lines dropped because they were already written."},
		{&m.Gaps, "gaps_total", "Gaps counted in streams (lost data): loss notices, settled notices of bytes missed, holes given up beyond the hole limit or when their stream expired."},
		{&m.GapBytes, "gap_bytes_total", "Logical bytes missing in stream gaps."},
		{&m.UnknownGaps, "unknown_gaps_total", "Gaps of unknown size: a shipper restarted after a crash jumped past every offset it may have used (an unused notice) over offsets this collector does not have; bytes it sent there before the crash, if any, are lost for this collector. Not in gaps_total or gap_bytes_total."},
		{&m.Streams, "streams_started_total", "Streams first seen; each is written from its first offset seen on (logged)."},
		{&m.StreamBaseBytes, "stream_base_bytes_total", "Sum of the first offsets of the streams first seen: bytes of those streams from before this collector had them."},
		{&m.ConnectionGaps, "connection_gaps_total", "Lost Spread connections (messages may have been missed)."},
		{&m.TruncatedLines, "truncated_lines_total", "Lines truncated at the maximum line size."},
		{&m.Unterminated, "unterminated_lines_total", "Raw messages not ending in a newline (one was appended)."},
		{&m.BadMessages, "bad_messages_total", "Malformed, undecodable or corrupt messages (not written)."},
		{&m.DroppedFragment, "dropped_fragments_total", "Fragments of over-long lines dropped: they did not continue the pending line, or the pending line was dropped (reassembly_size, stream expiry)."},
		{&m.ExpiredStreams, "streams_expired_total", "Streams whose full state expired (idle past stream_expiry, or beyond max_streams); a record of the span they had is kept."},
		{&m.ReturnedStreams, "streams_returned_total", "Expired streams that came back: restored from their record (lines below its end are duplicates)."},
		{&m.ForgottenStreams, "stream_records_forgotten_total", "Records of expired streams dropped beyond max_streams (logged with their end): a resend below that end would be written again."},
	})
	if err != nil {
		return nil, err
	}
	if m.GapsByCause, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "gaps_by_cause_total"),
		Help: "Gaps counted in streams, by cause: loss_notice (a shipper declared bytes lost), missed (bytes this collector missed that a shipper with --ack ordered will not resend), hole_limit (too many holes) or stream_expired (holes of a stream whose state expired).",
	}, []string{"cause"})); err != nil {
		return nil, err
	}
	if m.GapBytesByCause, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "gap_bytes_by_cause_total"),
		Help: "Logical bytes missing in stream gaps, by cause.",
	}, []string{"cause"})); err != nil {
		return nil, err
	}
	for _, c := range []string{GapCauseLoss, GapCauseHoles, GapCauseExpiry, GapCauseMissed} {
		m.GapsByCause.WithLabelValues(c)
		m.GapBytesByCause.WithLabelValues(c)
	}
	if m.Holes, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "holes"),
		Help: "Open holes over every stream: offsets not had between offsets had, waiting for a resend, a loss notice or a settled notice.",
	})); err != nil {
		return nil, err
	}
	if m.StreamsKept, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "streams"),
		Help: "Streams whose state is kept in full (bounded by max_streams).",
	})); err != nil {
		return nil, err
	}
	if m.ExpiredRecords, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "expired_stream_records"),
		Help: "Records of expired streams kept (bounded by max_streams).",
	})); err != nil {
		return nil, err
	}
	if m.LimitReached, err = newLimitReached(reg); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with reg (nil: nothing) and returns it, or the identical
// collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// newLimitReached builds logspread_collector_limit_reached_total{limit} (shared by the
// sequencer and collector metrics: the registered one is returned when there is one).
func newLimitReached(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	v, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "limit_reached_total"),
		Help: "Times a bound of the collector's memory was reached, by limit (the YAML key): max_streams and stream_expiry (a stream expired), reassembly_size (a pending fragmented line dropped), max_holes (a hole given up as a gap), max_logs (a log's memory forgotten).",
	}, []string{"limit"}))
	if err != nil {
		return nil, err
	}
	for _, l := range []string{LimitMaxStreams, LimitStreamExpiry, LimitReassemblySize, LimitMaxHoles, LimitMaxLogs} {
		v.WithLabelValues(l)
	}
	return v, nil
}
