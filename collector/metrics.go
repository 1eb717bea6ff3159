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
}

// NewSequencerMetrics builds the sequencer counters and registers them with reg.
// A nil reg registers nothing.
func NewSequencerMetrics(reg prometheus.Registerer) (*SequencerMetrics, error) {
	m := &SequencerMetrics{}
	err := registerCounters(reg, []counterSpec{
		{&m.Lines, "lines_total", "Lines passed to the writers, after de-duplication."},
		{&m.Bytes, "bytes_total", "Bytes of lines passed to the writers, after de-duplication."},
		{&m.DuplicateLines, "duplicate_lines_total", "Lines dropped because they were already written."},
		{&m.Gaps, "gaps_total", "Forward jumps in a stream's logical offset (lost data)."},
		{&m.GapBytes, "gap_bytes_total", "Logical bytes missing in stream gaps."},
		{&m.ConnectionGaps, "connection_gaps_total", "Lost Spread connections (messages may have been missed)."},
		{&m.TruncatedLines, "truncated_lines_total", "Lines truncated at the maximum line size."},
		{&m.Unterminated, "unterminated_lines_total", "Raw messages not ending in a newline (one was appended)."},
		{&m.BadMessages, "bad_messages_total", "Malformed, undecodable or corrupt messages (not written)."},
		{&m.DroppedFragment, "dropped_fragments_total", "Fragments of over-long lines dropped because they did not continue the pending line."},
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
