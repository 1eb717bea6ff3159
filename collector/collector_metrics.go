package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// CollectorMetrics are the metrics of a Collector's subscription, queue and writer
// set. The sequencer and segment writer counters (SequencerMetrics, segment.Metrics) are
// registered on the same Registerer.
type CollectorMetrics struct {
	Messages        prometheus.Counter // logspread_collector_messages_total
	MessageBytes    prometheus.Counter // logspread_collector_message_bytes_total
	Ignored         prometheus.Counter // logspread_collector_ignored_messages_total
	Connects        prometheus.Counter // logspread_collector_connects_total
	ConnectErrors   prometheus.Counter // logspread_collector_connect_errors_total
	SessionsLost    prometheus.Counter // logspread_collector_sessions_lost_total
	QueueFull       prometheus.Counter // logspread_collector_queue_full_total
	WriteRetries    prometheus.Counter // logspread_collector_write_retries_total
	StateSaves      prometheus.Counter // logspread_collector_state_saves_total
	StateErrors     prometheus.Counter // logspread_collector_state_save_errors_total
	Evictions       prometheus.Counter // logspread_collector_writers_evicted_total
	DefaultVhost    prometheus.Counter // logspread_collector_default_vhost_lines_total
	RejectedVhost   prometheus.Counter // logspread_collector_rejected_vhost_lines_total
	ReopenRequests  prometheus.Counter // logspread_collector_reopen_requests_total
	RecoveredFrames prometheus.Counter // logspread_collector_recovered_frames_total
	TornFrames      prometheus.Counter // logspread_collector_torn_frames_total
	LogsExpired     prometheus.Counter // logspread_collector_logs_expired_total
	VhostCacheFull  prometheus.Counter // logspread_collector_vhost_cache_full_total
	QueueBytes      prometheus.Gauge   // logspread_collector_queue_bytes
	QueueMessages   prometheus.Gauge   // logspread_collector_queue_messages
	QueueLimitBytes prometheus.Gauge   // logspread_collector_queue_limit_bytes
	Connected       prometheus.Gauge   // logspread_collector_connected
	OpenWriters     prometheus.Gauge   // logspread_collector_open_writers
	Stalled         prometheus.Gauge   // logspread_collector_stalled
	// StalledReason is 1 for the reason of the current stall (permission, no_space,
	// io, other; envelope.StallReason) and 0 for the others.
	StalledReason   *prometheus.GaugeVec // logspread_collector_stalled_reason{reason}
	ProgressReports prometheus.Counter   // logspread_collector_progress_reports_total
	// GroupLines and GroupBytes count the lines and bytes accepted for the log of each
	// configured group (bytes before compression, a host prefix included). The group
	// label comes from the configuration, never from the network: its values are
	// bounded.
	GroupLines *prometheus.CounterVec // logspread_collector_group_lines_total{group}
	GroupBytes *prometheus.CounterVec // logspread_collector_group_bytes_total{group}
	// LimitReached is the sequencer's counter of bounds reached (SequencerMetrics),
	// which the writer set counts max_logs in.
	LimitReached *prometheus.CounterVec // logspread_collector_limit_reached_total{limit}
}

// NewCollectorMetrics builds the collector metrics and registers them with reg. A nil
// reg registers nothing. Registering twice on one registry is an error: give every
// Collector its own registry (or a prometheus.WrapRegistererWith label).
func NewCollectorMetrics(reg prometheus.Registerer) (*CollectorMetrics, error) {
	m := &CollectorMetrics{}
	err := registerCounters(reg, []counterSpec{
		{&m.Messages, "messages_total", "Data messages delivered on configured groups and queued for writing."},
		{&m.ProgressReports, "progress_reports_total", "Progress reports multicast to the presence groups (after flushes, hellos, stall changes, the final one)."},
		{&m.MessageBytes, "message_bytes_total", "Bytes of data messages queued for writing."},
		{&m.Ignored, "ignored_messages_total", "Deliveries ignored: membership, rejects, and data for groups not configured."},
		{&m.Connects, "connects_total", "Successful connections (and joins) to the Spread daemon."},
		{&m.ConnectErrors, "connect_errors_total", "Failed attempts to connect to the Spread daemon or join the groups."},
		{&m.SessionsLost, "sessions_lost_total", "Spread sessions lost after joining (disconnect, kick as a slow reader, daemon gone)."},
		{&m.QueueFull, "queue_full_total", "Times the reader stopped reading because the in-process queue was full."},
		{&m.WriteRetries, "write_retries_total", "Segment writes, flushes or opens retried after an error (nothing is dropped)."},
		{&m.StateSaves, "state_saves_total", "State files saved: before each flush's frames are written (write-ahead intent), and clean when idle or stopping."},
		{&m.StateErrors, "state_save_errors_total", "State file saves that failed (retried at the next flush)."},
		{&m.Evictions, "writers_evicted_total", "Segment writers closed because too many were open (least recently used)."},
		{&m.DefaultVhost, "default_vhost_lines_total", "Lines written to the default vhost log: no vhost field, or a rejected vhost name."},
		{&m.RejectedVhost, "rejected_vhost_lines_total", "Lines whose vhost name was unsafe as a file name (written to the default vhost log)."},
		{&m.ReopenRequests, "reopen_requests_total", "Reopens of all segments done on request (SIGHUP): closed cleanly, reopened by name at their next lines."},
		{&m.RecoveredFrames, "recovered_frames_total", "Frames in flight at the last stop found complete at start: kept and counted as written."},
		{&m.TornFrames, "torn_frames_total", "Frames in flight at the last stop found torn or missing at start: cut off, their lines not counted as written."},
		{&m.LogsExpired, "logs_expired_total", "Logs (group or group and vhost) whose last segment was forgotten at the bound of remembered logs; their next writer starts a new segment."},
		{&m.VhostCacheFull, "vhost_cache_full_total", "Times a log's cache of vhost names reached its bound and was emptied."},
	})
	if err != nil {
		return nil, err
	}
	gauges := []struct {
		dst        *prometheus.Gauge
		name, help string
	}{
		{&m.QueueBytes, "queue_bytes", "Bytes of delivered messages waiting for the writer."},
		{&m.QueueMessages, "queue_messages", "Delivered messages waiting for the writer."},
		{&m.QueueLimitBytes, "queue_limit_bytes", "Bound of the in-process queue in bytes."},
		{&m.Connected, "connected", "1 while joined to the groups on a Spread daemon."},
		{&m.OpenWriters, "open_writers", "Segment writers open (one per log, or per log and vhost)."},
		{&m.Stalled, "stalled", "1 while segment writes or state saves fail and are retried (reported to shippers as stalled)."},
	}
	for _, g := range gauges {
		*g.dst = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, g.name),
			Help: g.help,
		})
		if reg != nil {
			if err := reg.Register(*g.dst); err != nil {
				return nil, err
			}
		}
	}
	m.StalledReason = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "stalled_reason"),
		Help: "1 for the reason of the current stall: permission (EACCES, EPERM, EROFS), no_space (ENOSPC, EDQUOT), io (EIO) or other.",
	}, []string{"reason"})
	for _, r := range stallReasons {
		m.StalledReason.WithLabelValues(r.String())
	}
	if reg != nil {
		if err := reg.Register(m.StalledReason); err != nil {
			return nil, err
		}
	}
	m.GroupLines = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "group_lines_total"),
		Help: "Lines accepted for the log of each configured group (gap markers included).",
	}, []string{"group"})
	m.GroupBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "group_bytes_total"),
		Help: "Bytes accepted for the log of each configured group, before compression (a host prefix included).",
	}, []string{"group"})
	if reg != nil {
		for _, c := range []prometheus.Collector{m.GroupLines, m.GroupBytes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	if m.LimitReached, err = newLimitReached(reg); err != nil {
		return nil, err
	}
	return m, nil
}
