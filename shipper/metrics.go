package shipper

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the metrics of a Shipper (the sending half).
type Metrics struct {
	LinesSent prometheus.Counter // logspread_shipper_sent_lines_total
	BytesSent prometheus.Counter // logspread_shipper_sent_bytes_total
	// BytesCompressed, BatchesCut and BatchesUncompressed describe batch v2 (zstd).
	BytesCompressed     prometheus.Counter     // logspread_shipper_sent_compressed_bytes_total
	BatchesCut          prometheus.Counter     // logspread_shipper_batch_cuts_total
	BatchesUncompressed prometheus.Counter     // logspread_shipper_sent_uncompressed_batches_total
	BatchesSent         prometheus.Counter     // logspread_shipper_sent_batches_total
	MarkersSent         prometheus.Counter     // logspread_shipper_sent_markers_total
	LinesAcked          prometheus.Counter     // logspread_shipper_acked_lines_total
	BytesAcked          prometheus.Counter     // logspread_shipper_acked_bytes_total
	InFlight            prometheus.Gauge       // logspread_shipper_batches_in_flight
	InFlightBytes       prometheus.Gauge       // logspread_shipper_in_flight_bytes
	AckLatency          prometheus.Histogram   // logspread_shipper_ack_latency_seconds
	Connected           prometheus.Gauge       // logspread_shipper_connected
	Reconnects          prometheus.Counter     // logspread_shipper_reconnects_total
	ConnectFailures     prometheus.Counter     // logspread_shipper_connect_failures_total
	AckTimeouts         prometheus.Counter     // logspread_shipper_ack_timeouts_total
	Resends             prometheus.Counter     // logspread_shipper_resent_batches_total
	LegacyTruncated     prometheus.Counter     // logspread_shipper_legacy_truncated_lines_total
	WindowFull          prometheus.Counter     // logspread_shipper_window_full_seconds_total
	CheckpointErrors    prometheus.Counter     // logspread_shipper_checkpoint_errors_total
	CursorsCorrupt      prometheus.Counter     // logspread_shipper_collector_cursors_corrupt_total
	Collectors          prometheus.Gauge       // logspread_shipper_collectors
	PresenceResends     prometheus.Counter     // logspread_shipper_presence_resends_total
	NoCollector         prometheus.CounterFunc // logspread_shipper_no_collector_seconds_total

	// AckWritten, per collector name (not per stream, to bound the cardinality):
	CollectorWritten  *prometheus.GaugeVec   // logspread_shipper_collector_written_offset_bytes{collector}
	CollectorHeld     *prometheus.GaugeVec   // logspread_shipper_collector_held_bytes{collector}
	CollectorStalled  *prometheus.GaugeVec   // logspread_shipper_collector_stalled{collector,reason}
	CollectorLost     *prometheus.CounterVec // logspread_shipper_collector_lost_bytes_total{collector}
	CollectorTimedOut *prometheus.CounterVec // logspread_shipper_collector_timed_out_bytes_total{collector}
	AbsentCollectors  prometheus.Gauge       // logspread_shipper_absent_collectors
	LossNotices       prometheus.Counter     // logspread_shipper_loss_notices_total
	UnusedNotices     prometheus.Counter     // logspread_shipper_unused_notices_total
	Rewinds           prometheus.Counter     // logspread_shipper_rewinds_total
	StreamsTracked    prometheus.Gauge       // logspread_shipper_streams_tracked
	StreamsForgotten  prometheus.Counter     // logspread_shipper_streams_forgotten_total
	// AckOrdered:
	SettledNotices prometheus.Counter // logspread_shipper_settled_notices_total

	noCollector stopwatch // the time behind NoCollector, current wait included
}

// stopwatch adds up the time between start and stop; seconds includes a running
// interval, so a scrape during a long wait sees it grow.
type stopwatch struct {
	mu    sync.Mutex // Guards the fields below.
	total time.Duration
	since time.Time // zero: stopped
}

func (s *stopwatch) start() {
	s.mu.Lock()
	if s.since.IsZero() {
		s.since = time.Now()
	}
	s.mu.Unlock()
}

func (s *stopwatch) stop() {
	s.mu.Lock()
	if !s.since.IsZero() {
		s.total += time.Since(s.since)
		s.since = time.Time{}
	}
	s.mu.Unlock()
}

func (s *stopwatch) seconds() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.total
	if !s.since.IsZero() {
		d += time.Since(s.since)
	}
	return d.Seconds()
}

// NewMetrics creates the sender metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	name := func(n string) string { return prometheus.BuildFQName("logspread", "shipper", n) }
	counter := func(n, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name(n), Help: help})
	}
	gauge := func(n, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name(n), Help: help})
	}
	m := &Metrics{
		LinesSent:       counter("sent_lines_total", "Lines multicast in batches taken into the window: every line read, and again every line re-read for a collector that was away (resends of the window not counted)."),
		BytesSent:       counter("sent_bytes_total", "Line bytes multicast for the first time (resends and envelopes not counted)."),
		BytesCompressed: counter("sent_compressed_bytes_total", "Compressed body bytes (zstd frames) of the batches multicast for the first time."),
		BatchesCut:      counter("batch_cuts_total", "Times a merged batch was cut smaller because its zstd frame did not fit into one Spread message."),
		BatchesUncompressed: counter("sent_uncompressed_batches_total",
			"Batches sent uncompressed although compression is on: their zstd frame did not fit into one Spread message."),
		BatchesSent:   counter("sent_batches_total", "Batches (legacy: raw messages) multicast for the first time."),
		MarkersSent:   counter("sent_markers_total", "Ack markers multicast to the shipper's private group."),
		LinesAcked:    counter("acked_lines_total", "Lines acknowledged, each once (a line re-read for a collector that was away and acknowledged again is not counted again)."),
		BytesAcked:    counter("acked_bytes_total", "Logical bytes acknowledged, each once."),
		InFlight:      gauge("batches_in_flight", "Batches sent and not yet acknowledged."),
		InFlightBytes: gauge("in_flight_bytes", "Bytes of the batches sent and not yet acknowledged."),
		AckLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    name("ack_latency_seconds"),
			Help:    "Time from a batch's (last) multicast to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs .. 26s
		}),
		Connected:        gauge("connected", "1 while a Spread session is up."),
		Reconnects:       counter("reconnects_total", "Spread sessions established after the first."),
		ConnectFailures:  counter("connect_failures_total", "Failed attempts to connect to the Spread daemon."),
		AckTimeouts:      counter("ack_timeouts_total", "Sessions given up because an ack marker did not come back in time."),
		Resends:          counter("resent_batches_total", "Batches (legacy: chunks of lines) sent again after a reconnect."),
		LegacyTruncated:  counter("legacy_truncated_lines_total", "Lines cut in legacy mode because they exceed one raw message."),
		WindowFull:       counter("window_full_seconds_total", "Time spent with a full window, not reading the sources."),
		CheckpointErrors: counter("checkpoint_errors_total", "Acknowledged positions that could not be saved."),
		CursorsCorrupt:   counter("collector_cursors_corrupt_total", "Collector cursor files (collectors.json, or its previous copy) found corrupt at start (ack written)."),
		Collectors:       gauge("collectors", "Collectors in the group's presence group, as last seen (0 while disconnected)."),
		PresenceResends:  counter("presence_resends_total", "Times the window was sent again because a collector came back after a moment without one (batches multicast before also count in resent_batches_total)."),
	}
	vec := func(n, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name(n), Help: help}, labels)
	}
	cvec := func(n, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name(n), Help: help}, []string{"collector"})
	}
	m.CollectorWritten = vec("collector_written_offset_bytes", "Per collector (ack written): the sum over streams of the written end it reported.", "collector")
	m.CollectorHeld = vec("collector_held_bytes", "Per collector (ack written): bytes sent that it has not reported written while it is absent (and waited for) or stalled: checkpoints hold them back.", "collector")
	m.CollectorStalled = vec("collector_stalled", "Per collector (ack written): 1 while it reports that it cannot write, with the reason.", "collector", "reason")
	m.CollectorLost = cvec("collector_lost_bytes_total", "Per collector (ack written): bytes it lacked that this shipper could no longer send (loss notices sent for it).")
	m.CollectorTimedOut = cvec("collector_timed_out_bytes_total", "Per collector (ack written): bytes it lacked when its absent timeout ended the wait for it.")
	m.AbsentCollectors = gauge("absent_collectors", "Collectors (ack written) that left without a clean stop and are still waited for, or required and not present.")
	m.LossNotices = counter("loss_notices_total", "Loss notices sent: byte ranges of a stream this shipper will never send.")
	m.UnusedNotices = counter("unused_notices_total", "Unused notices sent: offsets a stream jumped past (every offset a run may have used, after a crash) that hold no byte as far as this shipper can tell; collectors count each as a gap of unknown size, not in bytes.")
	m.Rewinds = counter("rewinds_total", "Times a source was read again from its checkpoint for a collector that came back lacking lines.")
	m.StreamsTracked = gauge("streams_tracked", "Streams (ack written) whose state and collector cursors the shipper keeps: those of its sources, until a source forgets one.")
	m.StreamsForgotten = counter("streams_forgotten_total", "Streams (ack written) dropped from the shipper's state and collector cursors after their source forgot them (a deleted glob match, drained and acknowledged).")
	m.SettledNotices = counter("settled_notices_total", "Settled notices sent (ack ordered): per stream, the offset below which this shipper will never send again; collectors count what they lack below it as a gap.")
	m.NoCollector = prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name("no_collector_seconds_total"),
		Help: "Time spent connected with no collector present: nothing is sent or acknowledged meanwhile."}, m.noCollector.seconds)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.LinesSent, m.BytesSent, m.BytesCompressed, m.BatchesCut, m.BatchesUncompressed, m.BatchesSent, m.MarkersSent,
			m.LinesAcked, m.BytesAcked, m.InFlight, m.InFlightBytes, m.AckLatency, m.Connected, m.Reconnects,
			m.ConnectFailures, m.AckTimeouts, m.Resends, m.LegacyTruncated, m.WindowFull, m.CheckpointErrors, m.CursorsCorrupt,
			m.Collectors, m.PresenceResends, m.NoCollector, m.CollectorWritten, m.CollectorHeld, m.CollectorStalled,
			m.CollectorLost, m.CollectorTimedOut, m.AbsentCollectors, m.LossNotices, m.UnusedNotices, m.Rewinds, m.StreamsTracked, m.StreamsForgotten, m.SettledNotices} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
