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
	kicked             prometheus.Counter     // logspread_daemon_sessions_kicked_total
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
		kicked:             counter("sessions_kicked_total", "Sessions disconnected because their outbound queue passed its bound."),
		violations:         counter("protocol_violations_total", "Sessions closed for breaking the client protocol."),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: fqName("rejects_total"), Help: "Connections refused during the handshake, by Spread code.",
		}, []string{"code"}),
	}
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
		m.membershipMessages, m.kicked, m.violations, m.rejects,
		gauge("sessions", "Sessions connected (handshake completed).", func() float64 { return float64(d.stats().sessions) }),
		gauge("queued_messages", "Deliveries queued inside the daemon, all sessions.", func() float64 { return float64(d.stats().queuedMsgs) }),
		gauge("queued_bytes", "Bytes queued inside the daemon, all sessions.", func() float64 { return float64(d.stats().queuedBytes) }),
		gauge("groups", "Groups with at least one member.", func() float64 { return float64(d.stats().groups) }),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
