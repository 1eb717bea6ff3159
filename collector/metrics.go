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
	Lines           prometheus.Counter // logspread_collector_lines_total
	Bytes           prometheus.Counter // logspread_collector_bytes_total
	DuplicateLines  prometheus.Counter // logspread_collector_duplicate_lines_total
	Gaps            prometheus.Counter // logspread_collector_gaps_total
	GapBytes        prometheus.Counter // logspread_collector_gap_bytes_total
	ConnectionGaps  prometheus.Counter // logspread_collector_connection_gaps_total
	TruncatedLines  prometheus.Counter // logspread_collector_truncated_lines_total
	Unterminated    prometheus.Counter // logspread_collector_unterminated_lines_total
	BadMessages     prometheus.Counter // logspread_collector_bad_messages_total
	DroppedFragment prometheus.Counter // logspread_collector_dropped_fragments_total
	Streams         prometheus.Counter // logspread_collector_streams_started_total
	StreamBaseBytes prometheus.Counter // logspread_collector_stream_base_bytes_total
	// GapsByCause and GapBytesByCause split Gaps and GapBytes by cause
	// (GapCauseLoss, GapCauseHoles).
	GapsByCause     *prometheus.CounterVec // logspread_collector_gaps_by_cause_total{cause}
	GapBytesByCause *prometheus.CounterVec // logspread_collector_gap_bytes_by_cause_total{cause}
	Holes           prometheus.Gauge       // logspread_collector_holes
}

// NewSequencerMetrics builds the sequencer counters and registers them with reg.
// A nil reg registers nothing.
func NewSequencerMetrics(reg prometheus.Registerer) (*SequencerMetrics, error) {
	m := &SequencerMetrics{}
	err := registerCounters(reg, []counterSpec{
		{&m.Lines, "lines_total", "Lines passed to the writers, after de-duplication."},
		{&m.Bytes, "bytes_total", "Bytes of lines passed to the writers, after de-duplication."},
		{&m.DuplicateLines, "duplicate_lines_total", "Lines dropped because they were already written."},
		{&m.Gaps, "gaps_total", "Gaps counted in streams (lost data): loss notices and holes given up beyond the hole limit."},
		{&m.GapBytes, "gap_bytes_total", "Logical bytes missing in stream gaps."},
		{&m.Streams, "streams_started_total", "Streams first seen; each is written from its first offset seen on (logged)."},
		{&m.StreamBaseBytes, "stream_base_bytes_total", "Sum of the first offsets of the streams first seen: bytes of those streams from before this collector had them."},
		{&m.ConnectionGaps, "connection_gaps_total", "Lost Spread connections (messages may have been missed)."},
		{&m.TruncatedLines, "truncated_lines_total", "Lines truncated at the maximum line size."},
		{&m.Unterminated, "unterminated_lines_total", "Raw messages not ending in a newline (one was appended)."},
		{&m.BadMessages, "bad_messages_total", "Malformed, undecodable or corrupt messages (not written)."},
		{&m.DroppedFragment, "dropped_fragments_total", "Fragments of over-long lines dropped because they did not continue the pending line."},
	})
	if err != nil {
		return nil, err
	}
	if m.GapsByCause, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "gaps_by_cause_total"),
		Help: "Gaps counted in streams, by cause: loss_notice (a shipper declared bytes lost) or hole_limit (too many holes).",
	}, []string{"cause"})); err != nil {
		return nil, err
	}
	if m.GapBytesByCause, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "gap_bytes_by_cause_total"),
		Help: "Logical bytes missing in stream gaps, by cause.",
	}, []string{"cause"})); err != nil {
		return nil, err
	}
	for _, c := range []string{GapCauseLoss, GapCauseHoles} {
		m.GapsByCause.WithLabelValues(c)
		m.GapBytesByCause.WithLabelValues(c)
	}
	if m.Holes, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "holes"),
		Help: "Open holes over every stream: offsets not had between offsets had, waiting for a resend or a loss notice.",
	})); err != nil {
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
