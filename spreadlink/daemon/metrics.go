package daemon

import (
	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	metricsNamespace = "logspread"
	metricsSubsystem = "daemon"
)

func fqName(name string) string {
	return prometheus.BuildFQName(metricsNamespace, metricsSubsystem, name)
}

// metrics are the daemon's counters and gauges, registered with the Registerer given to New.
type metrics struct {
	sessionsAccepted   prometheus.Counter     // logspread_daemon_sessions_accepted_total
	messagesIn         prometheus.Counter     // logspread_daemon_received_messages_total
	bytesIn            prometheus.Counter     // logspread_daemon_received_bytes_total
	messagesOut        prometheus.Counter     // logspread_daemon_delivered_messages_total
	bytesOut           prometheus.Counter     // logspread_daemon_delivered_bytes_total
	membershipMessages prometheus.Counter     // logspread_daemon_membership_messages_total
	kickedFull         prometheus.Counter     // logspread_daemon_sessions_kicked_total{reason="queue_full"}
	kickedStalled      prometheus.Counter     // logspread_daemon_sessions_kicked_total{reason="stalled"}
	kickedGroups       prometheus.Counter     // logspread_daemon_sessions_kicked_total{reason="max_session_groups"}
	flowPauses         prometheus.Counter     // logspread_daemon_flow_pauses_total
	dropped            prometheus.Counter     // logspread_daemon_dropped_messages_total
	droppingSessions   prometheus.Counter     // logspread_daemon_drop_episodes_total
	violations         prometheus.Counter     // logspread_daemon_protocol_violations_total
	rejects            *prometheus.CounterVec // logspread_daemon_rejects_total{code}
}

// newMetrics builds the metrics; the gauges read the daemon's state under its lock at
// scrape time, so the hot path pays nothing for them. A nil reg registers nothing.
func newMetrics(reg prometheus.Registerer, d *Daemon) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: fqName(name), Help: help})
	}
	m := &metrics{
		sessionsAccepted:   counter("sessions_accepted_total", "Sessions that completed the handshake."),
		messagesIn:         counter("received_messages_total", "Requests (data, join, leave, disconnect) read from clients."),
		bytesIn:            counter("received_bytes_total", "Bytes of requests read from clients, headers included."),
		messagesOut:        counter("delivered_messages_total", "Messages written to clients, membership messages included."),
		bytesOut:           counter("delivered_bytes_total", "Bytes written to clients, headers included."),
		membershipMessages: counter("membership_messages_total", "Membership messages queued for clients."),
		flowPauses:         counter("flow_pauses_total", "Times flow control stopped reading requests because a session's queue passed its soft mark."),
		violations:         counter("protocol_violations_total", "Sessions closed for breaking the client protocol."),
		dropped:            counter("dropped_messages_total", "Messages dropped for best-effort sessions (not lossless, such as logspread tail) whose queue was at its soft mark; each session is told with a drop notice."),
		droppingSessions:   counter("drop_episodes_total", "Times a best-effort session began to have messages dropped."),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: fqName("rejects_total"), Help: "Connections refused during the handshake, by Spread code.",
		}, []string{"code"}),
	}
	kicked := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: fqName("sessions_kicked_total"),
		Help: "Sessions disconnected by the daemon: queue_full (the queue passed its bound), stalled (above the soft mark without progress for the stall timeout), max_session_groups (a join beyond the groups a session may be in).",
	}, []string{"reason"})
	m.kickedFull = kicked.WithLabelValues(kickQueueFull)
	m.kickedStalled = kicked.WithLabelValues(kickStalled)
	m.kickedGroups = kicked.WithLabelValues(kickGroups)
	for _, c := range []spreadlink.Code{spreadlink.RejectQuota, spreadlink.RejectIllegalName, spreadlink.RejectNotUnique, spreadlink.RejectVersion, spreadlink.RejectAuth} {
		m.rejects.WithLabelValues(c.String())
	}
	if reg == nil {
		return m, nil
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: fqName(name), Help: help}, f)
	}
	collectors := []prometheus.Collector{
		m.sessionsAccepted, m.messagesIn, m.bytesIn, m.messagesOut, m.bytesOut,
		m.membershipMessages, kicked, m.violations, m.rejects, m.flowPauses, m.dropped, m.droppingSessions,
		gauge("sessions", "Sessions connected (handshake completed).", func() float64 { return float64(d.stats().sessions) }),
		gauge("queued_messages", "Deliveries queued inside the daemon, all sessions.", func() float64 { return float64(d.stats().queuedMsgs) }),
		gauge("queued_bytes", "Bytes queued inside the daemon, all sessions.", func() float64 { return float64(d.stats().queuedBytes) }),
		gauge("groups", "Groups with at least one member.", func() float64 { return float64(d.stats().groups) }),
		gauge("flow_paused", "1 while flow control has stopped reading requests, else 0.", func() float64 {
			if d.paused.Load() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: fqName("flow_paused_seconds_total"), Help: "Time flow control spent with reading requests stopped.",
		}, d.pausedSeconds),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
