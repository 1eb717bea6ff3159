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
	// JournalDropped counts journal bytes lost before they were sent (--journal-full
	// drop-oldest), each reported to collectors.
	JournalDropped prometheus.Counter // logspread_shipper_journal_dropped_bytes_total
	// JournalWriteErrors counts failed journal writes (each retried until it succeeds).
	JournalWriteErrors prometheus.Counter // logspread_shipper_journal_write_errors_total
	Wakeups            prometheus.Counter // logspread_shipper_wakeups_total
	GlobRescans        prometheus.Counter // logspread_shipper_glob_rescans_total
	// FileErrors counts the times a followed file became unreadable, by reason (one of
	// the FileError* reasons); each is retried with backoff.
	FileErrors *prometheus.CounterVec // logspread_shipper_file_errors_total{reason}
	// WatchErrors counts the times a directory of followed files (or of a glob) that
	// exists could not be watched by fsnotify, by reason (one of the WatchError*
	// reasons): its files are still read, on the poll backstop (Config.PollInterval),
	// until it can be watched. Not in FileErrors: no file is unreadable for it, and a
	// file or glob directory denied too is counted there once already.
	WatchErrors *prometheus.CounterVec // logspread_shipper_watch_errors_total{reason}
	// FilesUnreadable is the number of followed files that cannot be read now.
	FilesUnreadable prometheus.Gauge // logspread_shipper_files_unreadable
	// LostBytes counts bytes destroyed before a tailer could read them (a truncation of
	// unread data, copytruncate's window), each also logged with its size.
	LostBytes prometheus.Counter // logspread_shipper_lost_bytes_total
	// UnackedDestroyed counts bytes a run read and sent (or, after a crash, may have
	// sent) that were not acknowledged when their file was destroyed (deleted, rotated
	// away and deleted, truncated; the stdin journal's lost tail, see Journal): they cannot be sent again, but they are not lost for
	// a collector that has them. They are announced in a loss notice, and each collector
	// counts as a gap exactly the part it lacks (the shipper counts it per collector in
	// logspread_shipper_collector_lost_bytes_total). Not in LostBytes.
	UnackedDestroyed prometheus.Counter // logspread_shipper_unacked_destroyed_bytes_total
	// RereadBytes counts bytes of followed files read again from their start because
	// the content at the offset read changed (the file shrank below it, or the last
	// line read is not there any more) while the file still starts with lines read:
	// truncated (truncate -s N, then written) or rewritten in place with the same head (a
	// banner, a CSV header). Content cannot tell which of those bytes were shipped, so
	// none is skipped (Filebeat's and Fluent Bit's rule: a truncated file is read again
	// from its start): at most this many bytes may arrive twice. Each event is logged.
	RereadBytes prometheus.Counter // logspread_shipper_file_reread_bytes_total
	// FilesMissed counts files a glob saw created (by an event) that were gone before
	// they could be opened, and generations created at a tailer's path and deleted
	// between two of its looks (it was behind): their lines were not shipped and their
	// size is unknown.
	FilesMissed prometheus.Counter // logspread_shipper_files_missed_total
	// FilesGone counts checkpointed files found gone at a restart (deleted, or compressed,
	// while the shipper was down): what they held after the checkpoint as far as the
	// shipper saw is in UnackedDestroyed (read before) or LostBytes (never read); what
	// was written to them after its last look is unknown (neither read nor counted in
	// bytes).
	FilesGone prometheus.Counter // logspread_shipper_checkpointed_files_gone_total
	// GoneSizeUnknown counts checkpointed files found gone at a restart whose size could
	// not be told from a compressed rotated file holding them (compressed.go): none
	// decoded holds them and one in a format not decoded (xz, lz4 and the others), or
	// one that does not decode to its end, may. Their bytes after the shipper's last
	// look are not counted in bytes; each is logged with why.
	GoneSizeUnknown prometheus.Counter // logspread_shipper_gone_size_unknown_total
	// FilesShared counts the times a tailer found at its path a file another source's
	// stream reads (a symlink, a hard link or another name of it) and left it to that
	// stream rather than read it twice.
	FilesShared prometheus.Counter // logspread_shipper_files_shared_total
	// HandOversDropped counts the files left by a stream for the next one to take
	// (hand-overs) dropped, oldest first, past the bound the Set keeps (maxHanded): the
	// taker of one reads on from where it was left all the same (the left index), or,
	// when that forgot it too, as a file no stream left.
	HandOversDropped prometheus.Counter // logspread_shipper_handovers_dropped_total
	// StreamJumps counts the times a tailer could not resume exactly (its checkpointed
	// file, or a generation read after the checkpoint, destroyed while it was down): its
	// stream's offsets jumped past every offset used before (LossGap), each logged. The
	// offsets of a jump past the bytes known to have been there are announced as unused
	// (Chunk.Unused), not as lost.
	StreamJumps prometheus.Counter // logspread_shipper_stream_jumps_total
	// GenerationsFound counts rotated generations found again in the directory and drained.
	GenerationsFound prometheus.Counter // logspread_shipper_rotated_generations_total
	// FilesOpen is the number of descriptors tailers hold (bounded by Config.MaxOpenFiles).
	FilesOpen prometheus.Gauge // logspread_shipper_open_files
	// FilesFollowed is the number of paths tailers follow.
	FilesFollowed prometheus.Gauge // logspread_shipper_followed_files
	// CheckpointsExpired counts checkpoints removed (files gone past CheckpointExpiry,
	// glob matches deleted and drained).
	CheckpointsExpired prometheus.Counter // logspread_shipper_checkpoints_expired_total
	// CheckpointsCorrupt counts checkpoint files (or previous copies) found corrupt.
	CheckpointsCorrupt prometheus.Counter // logspread_shipper_checkpoints_corrupt_total
	// CheckpointFallbacks counts sources resumed from a previous checkpoint copy or the
	// record of followed sources because their checkpoint was corrupt or missing.
	CheckpointFallbacks prometheus.Counter // logspread_shipper_checkpoint_fallbacks_total
	// StateSaveErrors counts writes to the state directory that failed (checkpoints,
	// records of followed sources and generations, glob marks): a full file system.
	// Logged once per change of state (stateHealth), not once per failure.
	StateSaveErrors prometheus.Counter // logspread_shipper_state_save_errors_total
	// JournalDamaged counts stdin journal files found damaged at start (a segment
	// zeroed, overwritten or cut inside its records, the input file that records the
	// journal's reach unreadable), each logged with the file and what was wrong. What
	// they held is announced to collectors as a gap (see Journal).
	JournalDamaged prometheus.Counter // logspread_shipper_journal_damaged_files_total
}

// Reasons of Metrics.FileErrors (a bounded label).
const (
	FileErrorPermission = "permission"  // EACCES, EPERM
	FileErrorIO         = "io"          // EIO and other read errors
	FileErrorNotRegular = "not_regular" // a directory or a device at the path
	FileErrorVanished   = "vanished"    // deleted between the directory scan and the open
	FileErrorLimit      = "fd_limit"    // EMFILE, ENFILE
	FileErrorOther      = "other"
)

// Reasons of Metrics.WatchErrors (a bounded label).
const (
	WatchErrorPermission = FileErrorPermission // EACCES, EPERM: no read permission on the directory, or no search permission on the way
	WatchErrorLimit      = "watch_limit"       // ENOSPC: fs.inotify.max_user_watches reached
	WatchErrorOther      = FileErrorOther
)

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
		JournalFull:        counter("journal_full_total", "Times the journal was full (its size bound or its file system)."),
		JournalDropped:     counter("journal_dropped_bytes_total", "Journal bytes dropped before they were sent (--journal-full drop-oldest), reported to collectors as lost."),
		JournalWriteErrors: counter("journal_write_errors_total", "Failed journal writes (disk full, I/O errors); each is retried."),
		Wakeups:            counter("wakeups_total", "Times an idle source woke up to look at its file."),
		GlobRescans:        counter("glob_rescans_total", "Times a glob listed its directories: at start, at each poll, and when a watch was (re)added or events were lost (an event costs only its name)."),
		FileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prometheus.BuildFQName("logspread", "shipper", "file_errors_total"),
			Help: "Times a followed file became unreadable, by reason (permission, io, not_regular, vanished, fd_limit, other); each is retried.",
		}, []string{"reason"}),
		WatchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prometheus.BuildFQName("logspread", "shipper", "watch_errors_total"),
			Help: "Times a directory of followed files could not be watched (fsnotify), by reason (permission, watch_limit, other): its files are read on the poll backstop until it can be.",
		}, []string{"reason"}),
		FilesUnreadable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prometheus.BuildFQName("logspread", "shipper", "files_unreadable"),
			Help: "Followed files that cannot be read now (retried with backoff).",
		}),
		LostBytes:        counter("lost_bytes_total", "Bytes destroyed before they could be read (truncation of unread data, copytruncate's window)."),
		UnackedDestroyed: counter("unacked_destroyed_bytes_total", "Bytes sent (or, after a crash, possibly sent) but not acknowledged when their file was destroyed: not resendable, not counted in lost_bytes_total; collectors count as a gap exactly the part they lack (collector_lost_bytes_total per collector)."),
		RereadBytes:      counter("file_reread_bytes_total", "Bytes read again from the start of a file truncated or rewritten in place that still starts with lines read (which of them were shipped cannot be told): at most this many bytes may arrive twice."),
		FilesMissed:      counter("files_missed_total", "Files a glob saw created, or created at a followed path while it was behind, that were deleted (or renamed away) before they could be opened; their lines were not shipped, their size is unknown."),
		FilesGone:        counter("checkpointed_files_gone_total", "Checkpointed files not found at the path or any rotated name at a restart (deleted, compressed, or moved where no rotated-name pattern looks while the shipper was down): their bytes after the checkpoint that the shipper had seen are in unacked_destroyed_bytes_total (read before) or lost_bytes_total (never read); bytes written to them after its last look are unknown, unless a compressed rotated file (gzip, zstd, bzip2) holds them: then counted by its uncompressed size."),
		GoneSizeUnknown:  counter("gone_size_unknown_total", "Checkpointed files found gone at a restart that a compressed rotated file in a format not decoded (xz, lz4, ...), or one that does not decode to its end, may hold: their size is unknown, bytes written after the shipper's last look are not counted (each logged). Those found compressed in gzip, zstd or bzip2 are counted exactly by their uncompressed size."),
		FilesShared:      counter("files_shared_total", "Times a followed path was found to name a file another source's stream reads (a symlink, a hard link or another name of it): left to that stream, not read twice."),
		HandOversDropped: counter("handovers_dropped_total", "Files left by a stream for another to read on (hand-overs) forgotten, oldest first, past the bound kept in memory; the next stream reads on from where it was left all the same while the index of generations left (16,384 files) still knows it."),
		GenerationsFound: counter("rotated_generations_total", "Rotated generations found again in the directory and drained."),
		StreamJumps:      counter("stream_jumps_total", "Restarts that could not resume exactly: the stream's offsets jumped past every offset used before."),
		FilesOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prometheus.BuildFQName("logspread", "shipper", "open_files"),
			Help: "Descriptors held by tailers (bounded by --max-open-files).",
		}),
		FilesFollowed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prometheus.BuildFQName("logspread", "shipper", "followed_files"),
			Help: "Paths followed by tailers.",
		}),
		CheckpointsExpired: counter("checkpoints_expired_total", "Checkpoints removed: files deleted and drained, or gone past --checkpoint-expiry."),
		CheckpointsCorrupt: counter("checkpoints_corrupt_total", "Checkpoint files (or their previous copies) found corrupt."),
		CheckpointFallbacks: counter("checkpoint_fallbacks_total",
			"Sources resumed from a previous checkpoint copy or the record of followed sources (checkpoint corrupt or missing)."),
		StateSaveErrors: counter("state_save_errors_total",
			"Writes to the state directory that failed (full file system, quota, I/O error); logged once when they begin to fail and once when they succeed again."),
		JournalDamaged: counter("journal_damaged_files_total",
			"Stdin journal files found damaged at start (a segment zeroed, overwritten or cut, the input file unreadable); what they held is announced to collectors as a gap."),
	}
	for _, r := range []string{FileErrorPermission, FileErrorIO, FileErrorNotRegular, FileErrorVanished, FileErrorLimit, FileErrorOther} {
		m.FileErrors.WithLabelValues(r)
	}
	for _, r := range []string{WatchErrorPermission, WatchErrorLimit, WatchErrorOther} {
		m.WatchErrors.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.LinesRead, m.BytesRead, m.FilesOpened, m.FilesRotated,
			m.FilesTruncated, m.LinesTruncated, m.JournalWritten, m.JournalBytes, m.JournalFull, m.JournalWriteErrors, m.Wakeups, m.GlobRescans,
			m.FileErrors, m.WatchErrors, m.FilesUnreadable, m.LostBytes, m.UnackedDestroyed, m.RereadBytes, m.FilesMissed, m.FilesGone, m.GoneSizeUnknown, m.FilesShared, m.HandOversDropped, m.GenerationsFound, m.StreamJumps, m.FilesOpen, m.FilesFollowed, m.CheckpointsExpired,
			m.CheckpointsCorrupt, m.CheckpointFallbacks, m.StateSaveErrors, m.JournalDropped, m.JournalDamaged} {
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
