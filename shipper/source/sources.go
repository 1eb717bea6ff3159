package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logspread/logspread/internal/statelock"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
	// JournalSegment is the size after which a stdin journal segment file is closed (at
	// the next line end); 0 picks JournalMax/16, between 4 KiB and 16 MiB, and at most an
	// eighth of the state directory's file system.
	JournalSegment int64
	// JournalMax bounds the journal on disk (see Journal).
	JournalMax int64
	// MaxOpenFiles bounds the descriptors tailers hold open at once; 0 picks half the
	// process's descriptor limit, leaving at least ReservedDescriptors of it for the
	// process's other descriptors (DefaultMaxOpenFiles). Beyond it, idle files are closed and reopened (and
	// verified) by identity when they change.
	MaxOpenFiles int
	// RotateWait is how long a generation renamed away or deleted, whose writer may
	// still hold it open, is followed after its last growth, like Fluent Bit's
	// rotate_wait, even once the file at the path has data (linger.go).
	RotateWait time.Duration
	// RotatedNames are the glob patterns of its rotated generations; "{name}" stands for
	// the live file's base name, "{stem}" for that name without its extension and
	// "{ext}" for the extension (access.log: access, .log), in the last element of the
	// pattern. A pattern without a
	// directory part names files in the live file's directory; one with a literal
	// directory part ("../old/{name}.[0-9]*", "old/{name}.*", "/var/log/old/{name}.*")
	// names files in that directory, relative to the live file's unless absolute
	// (logrotate's olddir). Compressed files (CompressedSuffixes) never match.
	RotatedNames []string
	// CheckpointExpiry is how long the checkpoint of a path that no longer exists and is no
	// longer followed is kept; 0 keeps checkpoints forever.
	CheckpointExpiry time.Duration
	// JournalFull says what a full journal does: JournalBlock or JournalDropOldest.
	JournalFull JournalFullPolicy
	// Reset says, per source (a file path as followed, or StdinSource), where to start
	// over when its checkpoint is corrupt and nothing can replace it (see Store). It is
	// ignored for a source whose checkpoint loads.
	Reset map[string]ResetPoint
	// Since, set by a reload (TakeMarks), says where files without a checkpoint start:
	// a marked file at its size when the reload was taken, every other one from its
	// beginning (it appeared after the reload, or after the sources before it stopped),
	// instead of at its end. FromBeginning still reads them all from their beginning.
	Since *Marks
	// Sources are the paths and glob patterns the shipper follows (its arguments; "-"
	// is ignored). A file moved while the shipper was down from the directory of one
	// source to that of another is looked for there by identity (Glob.movedIn): in the
	// directories of the sources of the state directory and of these, so that it is
	// found the first time the source it moved to is followed too.
	Sources []string
}

// A JournalFullPolicy says what a full stdin journal does (see Journal).
type JournalFullPolicy string

// The journal-full policies.
const (
	// JournalBlock stops reading the input until acknowledgements free space: nothing is
	// lost, the writer (Apache) waits.
	JournalBlock JournalFullPolicy = "block"
	// JournalDropOldest deletes the oldest segment: the input never waits, the bytes not
	// yet sent from it are a counted gap.
	JournalDropOldest JournalFullPolicy = "drop-oldest"
)

// MinJournalMax is the smallest journal bound.
const MinJournalMax = 2 * minJournalSegment

// Segment sizes picked when Config.JournalSegment is 0, and the least one may set.
const (
	minJournalSegment = 4 << 10
	maxJournalSegment = 16 << 20
)

// DefaultRotatedNames are the default Config.RotatedNames: access.log.1, access.log.0,
// access.log-20261130, access.log.2026-11-30, access.log-20261130-1030 and the like,
// and logrotate's "extension .log" names (ExtensionRotatedNames: the extension kept
// last, access.1.log, access-20261130.log). The first character after the separator
// must be a digit, so that other live logs (access.log-ssl) are never taken for
// generations.
var DefaultRotatedNames = append([]string{"{name}.[0-9]*", "{name}-[0-9]*", "{name}_[0-9]*"}, ExtensionRotatedNames...)

// ExtensionRotatedNames are the Config.RotatedNames patterns of logrotate's "extension
// .log" (in DefaultRotatedNames): access.1.log to access.999.log (digits only, so that
// a live log such as access.2fa.log is no generation of access.log) and, with dateext,
// access-20261130.log (eight digits at least). Under a glob that matches them (*.log)
// each is a match with a stream of its own too; the file is read by one stream at a
// time, and a generation one stream left and another took over is that stream's
// (owners.go).
var ExtensionRotatedNames = []string{"{stem}.[0-9]{ext}", "{stem}.[0-9][0-9]{ext}", "{stem}.[0-9][0-9][0-9]{ext}",
	"{stem}-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]*{ext}"}

// CompressedSuffixes are the name suffixes of rotated files that are never read.
var CompressedSuffixes = []string{".gz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".lzo", ".Z", ".zip", ".br", ".7z"}

// DefaultConfig returns the defaults; StateDir must still be set.
func DefaultConfig() Config {
	return Config{
		MaxLine:      1 << 20,
		ReadBuffer:   256 << 10,
		ChunkMax:     64 << 10,
		PollInterval: 10 * time.Second,
		JournalMax:   1 << 30,
		JournalFull:  JournalBlock,
		RotateWait:   5 * time.Second,
		RotatedNames: slices.Clone(DefaultRotatedNames),
		// A week: a file gone for that long is not coming back with lines to resume.
		CheckpointExpiry: 7 * 24 * time.Hour,
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
	case c.JournalSegment != 0 && c.JournalSegment < minJournalSegment:
		return fmt.Errorf("%w: journal segment %d below %d", ErrConfig, c.JournalSegment, minJournalSegment)
	case c.JournalMax < MinJournalMax || c.JournalMax < 2*c.JournalSegment:
		return fmt.Errorf("%w: journal size %d below %d bytes and two segments", ErrConfig, c.JournalMax, MinJournalMax)
	case c.JournalFull != JournalBlock && c.JournalFull != JournalDropOldest:
		return fmt.Errorf("%w: journal full policy %q: want %s or %s", ErrConfig, c.JournalFull, JournalBlock, JournalDropOldest)
	case c.MaxOpenFiles < 0 || (c.MaxOpenFiles > 0 && c.MaxOpenFiles < MinOpenFiles):
		return fmt.Errorf("%w: max open files %d: 0 (half the descriptor limit, less what the shipper keeps for itself) or at least %d", ErrConfig, c.MaxOpenFiles, MinOpenFiles)
	case c.RotateWait < 0:
		return fmt.Errorf("%w: rotate wait %v is negative", ErrConfig, c.RotateWait)
	case c.CheckpointExpiry < 0:
		return fmt.Errorf("%w: checkpoint expiry %v is negative", ErrConfig, c.CheckpointExpiry)
	}
	for _, p := range c.RotatedNames {
		if err := CheckRotatedName(p); err != nil {
			return fmt.Errorf("%w: rotated name %q: %w", ErrConfig, p, err)
		}
	}
	return validReset(c.Reset)
}

// MinOpenFiles is the smallest MaxOpenFiles.
const MinOpenFiles = 4

// ReservedDescriptors is how many descriptors of the process's limit the default
// MaxOpenFiles leaves to everything but the tailers' files: a shipper held 24 of them at
// its peak (stdio, the Go runtime's epoll, eventfd and cgroup files, inotify, the Spread
// daemon's connection, the metrics listener and a scrape, the state directory's lock,
// followed-file record and stdin journal, a checkpoint being saved, a file being
// verified), and a margin for more at once.
const ReservedDescriptors = 32

// DefaultMaxOpenFiles returns the MaxOpenFiles that 0 picks under the descriptor limit
// lim (DescriptorLimit; 0: unknown, 512): half of it, and no more than it leaves beside
// ReservedDescriptors. It is below MinOpenFiles when the limit leaves too few.
func DefaultMaxOpenFiles(lim int) int {
	if lim <= 0 {
		return 512
	}
	return min(lim/2, lim-ReservedDescriptors, 1<<20)
}

// maxOpenFiles returns n, or when n is 0 the default under the process's descriptor
// limit (DefaultMaxOpenFiles), at least MinOpenFiles.
func maxOpenFiles(n int) int {
	if n > 0 {
		return n
	}
	return max(DefaultMaxOpenFiles(DescriptorLimit()), MinOpenFiles)
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
	looker  *looker    // looks at the paths of tailers behind (looker.go)
	fds     *fdLimit
	// listings: tailers look up their rotated generations in the Watcher's listings
	// (listing.go) rather than listing their directories.
	listings    bool
	dirListings atomic.Uint64 // directories listed by tailers (tests)
	// rotLive: the RotatedNames patterns of names in the live file's directory;
	// rotOther: those of the other directories (rotatedDir).
	rotLive  []string
	rotOther []rotatedDir

	// reading: a source was read (its first Next): every source of the Set is opened by
	// then (Set.checkpointed waits for it).
	reading atomic.Bool

	mu        sync.Mutex // Guards the fields below.
	following map[string]int
	expired   time.Time // last checkpoint expiry run
	own       ownership // who reads each followed file (owners.go)
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
	store, err := openStore(cfg.StateDir, log, m)
	if err != nil {
		lock.Release()
		return nil, err
	}
	s := &Set{cfg: cfg, log: log, m: m, lock: lock, store: store, waker: cfg.Waker,
		fds: newFDLimit(maxOpenFiles(cfg.MaxOpenFiles)), following: map[string]int{}, own: newOwnership()}
	s.rotLive, s.rotOther = splitRotated(cfg.RotatedNames)
	if !cfg.NoWatch {
		if s.watcher, err = newWatcher(log, m); err != nil {
			store.Close()
			lock.Release()
			return nil, err
		}
		ttl := cfg.PollInterval
		if ttl <= 0 {
			ttl = DefaultConfig().PollInterval
		}
		if err := s.watcher.enableListings(filepath.Join(cfg.StateDir, syncDirName), ttl); err != nil {
			log.Warn("cannot sync with fsnotify events; tailers list their directories to find rotated files", "dir", filepath.Join(cfg.StateDir, syncDirName), "err", err)
		} else {
			s.listings = true
		}
	}
	if s.waker == nil {
		s.ticker = NewTickWaker(cfg.PollInterval)
		s.waker = s.ticker
	}
	s.looker = newLooker(s.waker)
	return s, nil
}

// Store returns the checkpoint store.
func (s *Set) Store() *Store { return s.store }

// Metrics returns the source metrics.
func (s *Set) Metrics() *Metrics { return s.m }

// Losses is what a set of sources truncated, lost and dropped since it opened: the
// values of its counters of that name (Metrics).
type Losses struct {
	TruncatedLines        uint64 // logspread_shipper_truncated_lines_total
	LostBytes             uint64 // logspread_shipper_lost_bytes_total
	UnackedDestroyedBytes uint64 // logspread_shipper_unacked_destroyed_bytes_total
	JournalDroppedBytes   uint64 // logspread_shipper_journal_dropped_bytes_total
}

// Losses returns what the set truncated, lost and dropped since it opened.
func (s *Set) Losses() Losses {
	return Losses{TruncatedLines: counterValue(s.m.LinesTruncated), LostBytes: counterValue(s.m.LostBytes),
		UnackedDestroyedBytes: counterValue(s.m.UnackedDestroyed), JournalDroppedBytes: counterValue(s.m.JournalDropped)}
}

// counterValue returns c's value.
func counterValue(c prometheus.Counter) uint64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	return uint64(d.GetCounter().GetValue())
}

// Close stops the watcher and the poll ticker and unlocks the state directory.
func (s *Set) Close() error {
	var err error
	s.looker.stop()
	if s.watcher != nil {
		err = s.watcher.Close()
	}
	if s.ticker != nil {
		s.ticker.Close()
	}
	if serr := s.store.Close(); err == nil {
		err = serr
	}
	if lerr := s.lock.Release(); err == nil {
		err = lerr
	}
	return err
}

// follow records that a source follows path (its checkpoint must not expire); the
// returned function undoes it.
func (s *Set) follow(path string) func() {
	s.mu.Lock()
	s.following[path]++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.following[path]--; s.following[path] <= 0 {
				delete(s.following, path)
			}
			s.mu.Unlock()
		})
	}
}

// followedAs reports whether a source of s follows path (its own name, not through it).
func (s *Set) followedAs(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.following[path] > 0
}

// expireCheckpoints removes, at most once per a quarter of CheckpointExpiry (and at least
// hourly), the checkpoints of paths that are neither followed nor present and were not
// saved for CheckpointExpiry.
func (s *Set) expireCheckpoints(now time.Time) {
	exp := s.cfg.CheckpointExpiry
	if exp <= 0 {
		return
	}
	s.mu.Lock()
	if !s.expired.IsZero() && now.Sub(s.expired) < min(exp/4, time.Hour) {
		s.mu.Unlock()
		return
	}
	s.expired = now
	s.mu.Unlock()
	n, err := s.store.Expire(now.Add(-exp), func(path string) bool {
		if strings.HasPrefix(path, "stdin:") {
			return true
		}
		s.mu.Lock()
		followed := s.following[path] > 0
		s.mu.Unlock()
		if followed {
			return true
		}
		_, err := os.Lstat(path)
		return !errors.Is(err, fs.ErrNotExist)
	})
	if n > 0 {
		s.m.CheckpointsExpired.Add(float64(n))
		s.log.Info("expired checkpoints of files gone for longer than the checkpoint expiry", "count", n, "expiry", exp)
	}
	if err != nil {
		s.log.Warn("checkpoint expiry failed", "err", err)
	}
}

// CheckRotatedName checks a Config.RotatedNames pattern: a glob pattern of names holding
// {name} (the live file's base name, access.log), or {stem} (that name without its
// extension, access) and perhaps {ext} (the extension, .log: logrotate's "extension
// .log" names generations access.1.log), optionally after a literal directory part
// (relative to the live file's directory, or absolute).
func CheckRotatedName(p string) error {
	dir, name := filepath.Split(p)
	switch {
	case strings.Contains(dir, "{name}") || strings.Contains(dir, "{stem}") || strings.Contains(dir, "{ext}"):
		return fmt.Errorf("{name}, {stem} and {ext} must be in the file name (the last element), not in the directory part %q", dir)
	case !strings.Contains(name, "{name}") && !strings.Contains(name, "{stem}"):
		return errors.New("must contain {name}, the live file's base name (access.log), or {stem}, that name without its extension (access), as in {stem}.[0-9]*{ext}")
	case hasMeta(dir):
		return fmt.Errorf("the directory part %q must be a literal directory (such as ../old/ or old/, relative to the live file's directory, or absolute), without *, ?, [ or \\", dir)
	}
	_, err := filepath.Match(rotatedPattern(name, "x.y"), "")
	return err
}

// stemExt splits a live file's base name into its stem and extension (access.log:
// access, .log). A name without an extension, or one that is only an extension
// (.log), is all stem.
func stemExt(base string) (stem, ext string) {
	ext = filepath.Ext(base)
	if ext == base {
		ext = ""
	}
	return base[:len(base)-len(ext)], ext
}

// rotatedPattern returns the glob pattern p of rotated names (holding {name}, {stem},
// {ext}) for the live file's base name.
func rotatedPattern(p, base string) string {
	stem, ext := stemExt(base)
	return strings.NewReplacer("{name}", escapeGlob(base), "{stem}", escapeGlob(stem), "{ext}", escapeGlob(ext)).Replace(p)
}

// A rotatedDir is a directory other than the live file's where rotated generations are
// (logrotate's olddir): rel is that directory, relative to the live file's unless
// absolute, and names the patterns of the names in it (Config.RotatedNames).
type rotatedDir struct {
	rel   string
	names []string
}

// at returns the directory for a live file in dir.
func (r rotatedDir) at(dir string) string {
	if filepath.IsAbs(r.rel) {
		return r.rel
	}
	return filepath.Join(dir, r.rel)
}

// splitRotated splits checked Config.RotatedNames patterns into those of names in the
// live file's directory and those of other directories, grouped by directory.
func splitRotated(patterns []string) (live []string, other []rotatedDir) {
	for _, p := range patterns {
		dir, name := filepath.Split(p)
		rel := filepath.Clean(dir)
		if dir == "" || rel == "." {
			live = append(live, name)
			continue
		}
		i := slices.IndexFunc(other, func(r rotatedDir) bool { return r.rel == rel })
		if i < 0 {
			other = append(other, rotatedDir{rel: rel})
			i = len(other) - 1
		}
		other[i].names = append(other[i].names, name)
	}
	return live, other
}

// isRotatedName reports whether name is a rotated generation of base under the
// patterns: it matches one of them and is not compressed.
func isRotatedName(patterns []string, base, name string) bool {
	// Every pattern holds {name} or {stem}, which match base or its stem literally: most
	// names of a busy directory are rejected here, without building the patterns.
	if stem, _ := stemExt(base); name == base || !strings.Contains(name, stem) {
		return false
	}
	if compressedSuffix(name) != "" {
		return false
	}
	for _, p := range patterns {
		if ok, _ := filepath.Match(rotatedPattern(p, base), name); ok {
			return true
		}
	}
	return false
}

// rotatedPrefixes returns the prefixes that every rotated generation of base starts
// with under the patterns (the literal text before {name} or {stem}, then base or its
// stem), without one that
// starts with another; [""] when a pattern has a wildcard before {name} (any name may be
// one).
func rotatedPrefixes(patterns []string, base string) []string {
	stem, _ := stemExt(base)
	var ps []string
	for _, p := range patterns {
		i, j := strings.Index(p, "{name}"), strings.Index(p, "{stem}")
		lit, start := p, base
		switch {
		case i >= 0 && (j < 0 || i < j):
			lit = p[:i]
		case j >= 0:
			lit, start = p[:j], stem
		}
		if hasMeta(lit) {
			return []string{""}
		}
		ps = append(ps, lit+start)
	}
	slices.Sort(ps)
	out := ps[:0]
	for _, p := range ps {
		if len(out) == 0 || !strings.HasPrefix(p, out[len(out)-1]) {
			out = append(out, p)
		}
	}
	return out
}

// escapeGlob escapes the glob metacharacters of s.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fdLimit bounds the descriptors tailers hold. Its methods are safe for concurrent use.
type fdLimit struct {
	max int

	mu      sync.Mutex // Guards the fields below.
	open    int
	waiters int
	freed   chan struct{} // closed when a slot is released
	press   chan struct{} // closed when a tailer begins to wait for a slot
}

func newFDLimit(n int) *fdLimit {
	return &fdLimit{max: n, freed: make(chan struct{}), press: make(chan struct{})}
}

// pressure returns a channel closed when a tailer begins to wait for a slot: idle
// holders wake up and close their files.
func (l *fdLimit) pressure() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.press
}

// tryAcquire takes a slot if one is free.
func (l *fdLimit) tryAcquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.max || l.waiters > 0 {
		return false
	}
	l.open++
	return true
}

// acquire takes a slot, waiting for one while all are held.
func (l *fdLimit) acquire(ctx context.Context) error {
	l.mu.Lock()
	for l.open >= l.max {
		l.waiters++
		close(l.press)
		l.press = make(chan struct{})
		ch := l.freed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			l.mu.Lock()
			l.waiters--
			l.mu.Unlock()
			return ctx.Err()
		}
		l.mu.Lock()
		l.waiters--
	}
	l.open++
	l.mu.Unlock()
	return nil
}

// release returns a slot.
func (l *fdLimit) release() {
	l.mu.Lock()
	l.open--
	close(l.freed)
	l.freed = make(chan struct{})
	l.mu.Unlock()
}

// contended reports whether a tailer waits for a slot: idle files should be closed.
func (l *fdLimit) contended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiters > 0
}

// held returns the slots held.
func (l *fdLimit) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Lag returns how many bytes of the files at paths were not acknowledged yet, as of the
// last checkpoints saved: each file (device and inode) counted once, however many of
// the paths name it, and measured from where the stream that read it stands: the
// checkpoint of a path naming that file, else where a stream left it (the record of
// generations: a rotated file another path's stream drained, a file handed over between
// streams; its head and last bytes read checked), else the whole file. A path that is
// missing, not a regular file, or never followed counts 0. Paths whose checkpoint names
// another file (the one it named before a rotation) counted that file's whole size, so a
// clean stop that had everything acknowledged warned of lines not acknowledged.
func (s *Set) Lag(paths ...string) int64 {
	type file struct {
		path string
		fi   os.FileInfo
		id   [2]uint64
	}
	done := map[[2]uint64]bool{}
	var rest []file
	var n int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		cp, found, err := s.store.Load(p)
		if err != nil || !found {
			continue
		}
		dev, ino, _ := fileID(fi)
		id := [2]uint64{dev, ino}
		if !cp.HasFile() || cp.Dev != dev || cp.Ino != ino {
			rest = append(rest, file{p, fi, id})
			continue
		}
		if !done[id] {
			done[id] = true
			n += max(fi.Size()-cp.FileOffset, 0)
		}
	}
	for _, f := range rest {
		if done[f.id] {
			continue
		}
		done[f.id] = true
		n += s.leftLag(f.path, f.fi)
	}
	return n
}

// leftLag returns the bytes of the file at path (seen as fi) beyond where a stream left
// it (leftIndex), or its size when no stream left it.
func (s *Set) leftLag(path string, fi os.FileInfo) int64 {
	f, err := openName(path)
	if err != nil {
		return fi.Size()
	}
	defer f.Close()
	if g, _, ok := s.store.left.readTo(f, fi, 0); ok {
		return max(fi.Size()-g.left, 0)
	}
	return fi.Size()
}
