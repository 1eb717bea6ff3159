package source

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the source metrics, registered once per Set.
type Metrics struct {
	LinesRead      prometheus.Counter // logspread_shipper_read_lines_total
	BytesRead      prometheus.Counter // logspread_shipper_read_bytes_total
	FilesOpened    prometheus.Counter // logspread_shipper_files_opened_total
	FilesRotated   prometheus.Counter // logspread_shipper_files_rotated_total
	FilesTruncated prometheus.Counter // logspread_shipper_files_truncated_total
	LinesTruncated prometheus.Counter // logspread_shipper_truncated_lines_total
	JournalWritten prometheus.Counter // logspread_shipper_journal_written_bytes_total
	JournalBytes   prometheus.Gauge   // logspread_shipper_journal_bytes
	JournalFull    prometheus.Counter // logspread_shipper_journal_full_total
	// JournalWriteErrors counts failed journal writes (each retried until it succeeds).
	JournalWriteErrors prometheus.Counter // logspread_shipper_journal_write_errors_total
	Wakeups            prometheus.Counter // logspread_shipper_wakeups_total
}

// NewMetrics creates the source metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{
			Name: prometheus.BuildFQName("logspread", "shipper", name), Help: help,
		})
	}
	m := &Metrics{
		LinesRead:      counter("read_lines_total", "Complete lines read by sources."),
		BytesRead:      counter("read_bytes_total", "Logical bytes covered by the chunks sources returned."),
		FilesOpened:    counter("files_opened_total", "Files opened by tailers."),
		FilesRotated:   counter("files_rotated_total", "Rotations and deletions followed by tailers."),
		FilesTruncated: counter("files_truncated_total", "Files that shrank below the read offset (copytruncate)."),
		LinesTruncated: counter("truncated_lines_total", "Lines cut at the hard maximum line length."),
		JournalWritten: counter("journal_written_bytes_total", "Bytes of stdin written to the journal."),
		JournalBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prometheus.BuildFQName("logspread", "shipper", "journal_bytes"),
			Help: "Bytes held in stdin journal segments on disk.",
		}),
		JournalFull:        counter("journal_full_total", "Times the journal was full and reading stdin paused."),
		JournalWriteErrors: counter("journal_write_errors_total", "Failed journal writes (disk full, I/O errors); each is retried."),
		Wakeups:            counter("wakeups_total", "Times an idle source woke up to look at its file."),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.LinesRead, m.BytesRead, m.FilesOpened, m.FilesRotated,
			m.FilesTruncated, m.LinesTruncated, m.JournalWritten, m.JournalBytes, m.JournalFull, m.JournalWriteErrors, m.Wakeups} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// count adds a returned chunk to the read metrics.
func (m *Metrics) count(ch *Chunk) {
	m.LinesRead.Add(float64(ch.Lines))
	m.BytesRead.Add(float64(ch.Span))
}
