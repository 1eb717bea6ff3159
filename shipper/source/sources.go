package source

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/logspread/logspread/internal/statelock"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the sources of one shipper.
type Config struct {
	// StateDir holds checkpoints and the stdin journal.
	StateDir string
	// FromBeginning reads files present at start without a checkpoint from their
	// beginning instead of their end.
	FromBeginning bool
	// MaxLine is the hard maximum line length, '\n' included; longer lines are truncated.
	MaxLine int
	// ReadBuffer is the size of a tailer's read buffer.
	ReadBuffer int
	// ChunkMax bounds the chunks of multiplexing sources (Glob), whose children read ahead.
	ChunkMax int
	// PollInterval is the backstop poll of idle files (a stat), behind fsnotify events.
	PollInterval time.Duration
	// NoWatch disables fsnotify: files are only polled.
	NoWatch bool
	// Waker, when set, replaces the PollInterval ticker (tests use a ManualWaker).
	Waker Waker
	// JournalSegment is the size at which a stdin journal segment file is closed.
	JournalSegment int64
	// JournalMax bounds the journal on disk; when full, reading stdin pauses.
	JournalMax int64
}

// DefaultConfig returns the defaults; StateDir must still be set.
func DefaultConfig() Config {
	return Config{
		MaxLine:        1 << 20,
		ReadBuffer:     256 << 10,
		ChunkMax:       64 << 10,
		PollInterval:   10 * time.Second,
		JournalSegment: 16 << 20,
		JournalMax:     1 << 30,
	}
}

// Validate checks c without changing it; its errors wrap ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.StateDir == "":
		return fmt.Errorf("%w: state dir not set", ErrConfig)
	case c.MaxLine < 2:
		return fmt.Errorf("%w: max line %d below 2", ErrConfig, c.MaxLine)
	case c.ReadBuffer < 4096:
		return fmt.Errorf("%w: read buffer %d below 4096", ErrConfig, c.ReadBuffer)
	case c.ChunkMax < 2:
		return fmt.Errorf("%w: chunk max %d below 2", ErrConfig, c.ChunkMax)
	case c.Waker == nil && c.PollInterval <= 0:
		return fmt.Errorf("%w: poll interval %v", ErrConfig, c.PollInterval)
	case c.JournalSegment < 4096:
		return fmt.Errorf("%w: journal segment %d below 4096", ErrConfig, c.JournalSegment)
	case c.JournalMax < 2*c.JournalSegment:
		return fmt.Errorf("%w: journal max %d below two segments", ErrConfig, c.JournalMax)
	}
	return nil
}

// A Set opens the sources of one shipper and owns what they share: the locked state
// directory and its checkpoint Store, the fsnotify Watcher, the Waker and the metrics.
// Its methods are safe for concurrent use. Close it after closing the sources it created.
type Set struct {
	cfg     Config
	log     *slog.Logger
	m       *Metrics
	lock    *statelock.Lock
	store   *Store
	watcher *Watcher // nil with NoWatch
	waker   Waker
	ticker  *TickWaker // owned; nil when cfg.Waker is set
}

// New validates cfg, locks the state directory and returns a Set with metrics registered
// in reg. A state directory held by another process is an error wrapping
// statelock.ErrLocked that names the holder: two shippers on one state directory would
// share checkpoints, journal and stream ids.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register shipper metrics: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	lock, err := statelock.Acquire(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(cfg.StateDir)
	if err != nil {
		lock.Release()
		return nil, err
	}
	s := &Set{cfg: cfg, log: log, m: m, lock: lock, store: store, waker: cfg.Waker}
	if !cfg.NoWatch {
		if s.watcher, err = NewWatcher(log); err != nil {
			lock.Release()
			return nil, err
		}
	}
	if s.waker == nil {
		s.ticker = NewTickWaker(cfg.PollInterval)
		s.waker = s.ticker
	}
	return s, nil
}

// Store returns the checkpoint store.
func (s *Set) Store() *Store { return s.store }

// Metrics returns the source metrics.
func (s *Set) Metrics() *Metrics { return s.m }

// Close stops the watcher and the poll ticker and unlocks the state directory.
func (s *Set) Close() error {
	var err error
	if s.watcher != nil {
		err = s.watcher.Close()
	}
	if s.ticker != nil {
		s.ticker.Close()
	}
	if lerr := s.lock.Release(); err == nil {
		err = lerr
	}
	return err
}
