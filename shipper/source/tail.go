package source

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/logspread/logspread/formats/envelope"
)

// A Tailer follows one path across rotations and truncations (see the package doc for the
// rules) and is the Source of one stream. Next never fails because of the file: an
// unreadable file is retried with backoff, counted and logged on each change of state.
type Tailer struct {
	s    *Set
	log  *slog.Logger
	path string
	dir  string
	base string
	sub  *Subscription // the name in its directory; nil without fsnotify
	// A symlinked path: each link it leads through and the file it resolves to, watched
	// in their own directories (tsubs, by path, all signalling tc), now and as they were
	// when the followed file was opened at path (opened), until it is left. Rotated
	// generations are looked for in the directories of opened too (also without fsnotify).
	tsubs  map[string]*Subscription
	tc     chan struct{}
	opened []string
	// lsubs: the symlinks the path goes through, each watched by its own name (by path,
	// signalling tc); links: what their events noted for the next look (links.go).
	lsubs map[string]*Subscription
	links linkWatch
	// rsubs: the subscriptions to the other directories of rotated generations
	// (rotatedDir), signalling tc.
	rsubs []*Subscription

	stream   uint64
	g        gen    // the file being read
	c        cutter // bytes read, not yet emitted
	closed   bool
	toEnd    bool       // OpenFileToEnd: io.EOF at the end of the file instead of following it
	start    Checkpoint // where it was opened (Rewind(nil))
	unfollow func()
	// at: where a Glob found the checkpointed (or marked) file by identity in its
	// directory, under a name that is not one of its rotated names (resume); mark: where
	// a file without a checkpoint starts, taken at a reload (Config.Since).
	at   string
	mark *FileMark
	// readOn: a glob match without a stream of its own whose file a stream of the state
	// directory already read and left (renamed again to a name the pattern matches):
	// begun where that stream left it (Size), not from its start.
	readOn *FileMark

	// endWhenGone makes Next return io.EOF once the file is deleted and drained and the
	// path is gone (a Glob's match); ended records that it happened.
	endWhenGone bool
	ended       bool
	// orphan: a Glob's match resumed at start whose path was gone (renamed away while
	// the shipper was down, or during a reload): once its file is drained and the path
	// is still gone, it is left like a deleted file (RotateWait after its last growth),
	// not waited for until the path comes back.
	orphan bool
	// seen: the file a Glob listed at the path before it opened the tailer (openHow.seen).
	seen fs.FileInfo

	done []fileKey // generations drained in this run, newest last (a few)
	// drained: the generations left in this run with what was read of them (the same
	// few, newest last). One that comes back to the path (a symlink switched back, a
	// file renamed back) is read on from where it was left, not again from its start.
	drained []gen

	// unfinished: with toEnd, the bytes of an unterminated last line left at the end,
	// not emitted, because the file's writer may still complete it (Unfinished).
	unfinished int64

	failing string // reason the file cannot be read now, "" when it can
	// irregular: the path names a file that is not a regular file (a FIFO put there by a
	// rotation), seen at the end of the file followed; counted and logged once.
	irregular bool
	failErr   error // the last error of the failure state
	retryAt   time.Time
	backoff   time.Duration
	graceTill time.Time // a deleted file is followed until then
	// linger: generations left (renamed away, deleted) still followed for RotateWait
	// after their last growth; parked: the generation left to read one of them on
	// (linger.go). ackWait: a move between them waits for every byte returned to be
	// acknowledged (Ack wakes Next).
	linger []lingerGen
	parked *parkedGen
	// counted: the file whose bytes read before were counted read again at resume
	// (shrunkCopyGone), not again when it is entered.
	counted [2]uint64
	// lingerGrew: a lingering generation grew and waits for what was returned of the
	// followed one to be acknowledged: the followed one is read no further (at a line
	// end) until it is, or a followed file written without pause (a deployment's new
	// release) kept the old target's lines unread until it went quiet (step).
	lingerGrew bool
	// parkWait: the lingering generation read (the followed one parked) was read to its
	// end and is left once what was returned is acknowledged; what its writer appends
	// meanwhile is read after the parked one grew by is, not before (step).
	parkWait bool
	// leftGood: generations left for good (RotateWait over without growth, renamed
	// away) still looked at for growth, where they were left (linger.go).
	leftGood []leftGoodGen
	ackWait  atomic.Bool
	// history is set while no file is followed: the rotated files present when the
	// tailer began to wait. Any other rotated file is a generation that appeared (and was
	// rotated away) since, drained before the file at path.
	history map[[2]uint64]fileKey
	// older: the history the tailer resumed with (a restart, a Rewind): rotated files
	// present then, older generations than the checkpoint's. A look never takes one of
	// them (same inode, same head) for a file created at the path since (sawFile),
	// whatever its modification time says.
	older map[[2]uint64]fileKey
	// histTime is when the history was taken, in file time: rotated files modified after
	// it are new (saved in no-file checkpoints as MTime).
	histTime time.Time
	// histBorn: for a history taken at a restart from a checkpoint in a file now gone
	// or left there, that file's birth time (Checkpoint.Born; 0: not known). A rotated
	// file born after it is a generation that followed it, whatever its time says
	// (bornAfterHistory, lingerEmptySince).
	histBorn int64
	// live is the followed file, kept open (with a slot of its own) while its copy
	// (copytruncate's) is drained: read again from its start afterwards, even if it was
	// deleted meanwhile.
	live *os.File
	// liveCopy: the copy left when the walk from a checkpoint read on, at its end, a
	// lingering generation the run before read on there (resumeLingerRead): the live
	// file is followed again from its start (backToLive) once that one is left.
	liveCopy *gen
	// lookState: newer generations seen while an older one is drained, and the
	// creations of the path accounted for (ahead.go); its mu is held by Next.
	lookState

	gens *genLog // where the generations it moved to begin in the stream
	// lookErr: a descriptor shortage met by the last lookup of rotated names (a
	// directory that could not be listed).
	lookErr error
	// passed: a rotated generation not read yet that findNewerIn passed over for the
	// file at the path, which the record says the run before read next (leaveGen
	// lingers on it, at its start).
	passed string

	// left: the generation just drained and left (nil once another is followed). The
	// file at path may start with all of it: copytruncate's copy, drained in the window
	// between the copy and the truncation; the file is then read from the copy's end.
	left *gen
	// rewinding is set during Rewind; goneJump, once set, is where the next generation
	// entered begins unless the record of generations has it (Rewind found the
	// checkpointed generation gone).
	rewinding bool
	goneJump  uint64
	pastGone  goneGen // how the tailer resumed past a gone checkpointed generation (gone.go)

	// reach: the logical offset past every byte returned in this run; lastAck: the last
	// position acknowledged (or where it was opened). Close saves them (stopSave) unless
	// noStop (a glob's match dropped, its checkpoint going away).
	reach   uint64
	lastAck atomic.Pointer[Checkpoint]
	// reachInLine: the chunk that ended at reach was a piece of a line, its end not sent.
	reachInLine bool
	// stopReach, stopInLine: the stop checkpoint's Reach and ReachInLine, the end of
	// what the run before returned and whether it ended inside a line (pastUsed).
	stopReach  uint64
	stopInLine bool
	noStop     bool
	// next: the offset the next chunk continues at, the end of the last one returned or
	// the position the tailer resumed from (a checkpoint, a rewind); nextKnown is false
	// for a new stream until its first chunk. A chunk above it carries the bytes between
	// in Chunk.Lost (finish).
	next      uint64
	nextKnown bool
	// unused: offsets skipped since next by jumps (jumpPast), announced with the next
	// chunk in Chunk.Unused; announced: those announced in this run (noteAnnounced).
	unused    []OffsetRange
	announced []OffsetRange
	// countedSent: the offsets skipSent counted in this run (a rewind walking over them
	// again does not count them twice).
	countedSent []OffsetRange
	// holdGaps: the gaps a jump records wait for the entry of the generation entered
	// past it, to go out in one write with it (genLog.queueGap).
	holdGaps bool
	// seenAck: the acknowledged offset at the last refreshSeen.
	seenAck uint64
	// afterCopy: the walk from a checkpoint (restart or rewind) follows copytruncate's
	// copy of the checkpointed file. A run may have read the file past the copy's end
	// (lines written between the copy and the truncation) and sent them at the offsets
	// that follow the copy's; the file no longer holds them, so the next generation
	// begins past every offset used (pastUsed).
	afterCopy bool

	acked atomic.Uint64 // highest logical offset acknowledged (Glob bookkeeping)
	// unsaved: nothing of the stream is durable yet (its start checkpoint could not be
	// saved: the state directory is full). A restart before a checkpoint of it is saved
	// begins another stream, so that no offset of this one is reused: its generations are
	// read without their record (saveGens) rather than not at all.
	unsaved atomic.Bool
	// durable: the file generation (device, inode) of the last checkpoint saved (nil:
	// none). A restart resumes in it from that checkpoint, which names it: its own
	// record is not needed for that (saveGens).
	durable atomic.Pointer[[2]uint64]
	wakeups atomic.Uint64

	// owned: the file (device, inode) t reads as its owner; yielded: the file at its
	// path that t leaves to the stream that owns it (owners.go). Zero: none.
	owned, yielded [2]uint64
	// taken: where another stream left the file t took last (owns), off -1: nowhere.
	taken handOver
	// walk: after a restart (or a rewind), the files the checkpoint and the record of
	// generations after it name, reserved for t (Set.reserve) and looked for by
	// identity under any name of the directory (candidates: a glob's rotated names
	// that the pattern matches, app.1.log for app.log, are no rotated names of it)
	// until t reaches the file at its path (walkDone). The head each was read with is
	// kept: an inode number is reused once its file is deleted, and a file holding
	// another head under it is another file (walkKeys).
	walk map[[2]uint64]fileKey
	// openID: the file (device, inode) of the followed generation's open descriptor, nil
	// when closed (read by other tailers: an owner holding its file open cannot have had
	// its inode reused). handc wakes Next when a file t yielded is left by its owner.
	openID atomic.Pointer[[2]uint64]
	handc  chan struct{}
	// pub: the followed generation's identity and head as t last published them
	// (publish), read without t.mu by a Glob telling a new match that is copytruncate's
	// copy of t's file (Glob.copyOfChild).
	pub atomic.Pointer[pubGen]

	// lookHook, set by tests, runs in findNewer after it looked at the path (stage
	// "path") and when it has decided ("decided"); prev: it looked for a generation
	// newer than the one left. A rotation there is one between the tailer's looks.
	lookHook func(stage string, prev bool)
	// backHook, set by tests, runs in backToLive once it looked at the live file (stage
	// "stat") and once it entered it ("entered"): a copytruncate there is one between
	// the tailer's look at the live file and its first read.
	backHook func(stage string)
	// checkHook, set by tests, runs in check once it looked at the followed file (its
	// size and time): a rotation there is one between that look and the reads that
	// follow it (a SIGSTOP, or logrotate's truncation right then).
	checkHook func()
	// eofHook, set by tests, runs in atEOF once it looked at the path and at the
	// followed file: a rotation there is one between those looks and the next.
	eofHook func()
	// openHook, set by tests, runs in openPath once it opened the file at the path,
	// before it resolves where the path led: a symlink switched there is one between the
	// open and that resolution.
	openHook func()
	// listHook, set by tests, runs in rotatedIn once it listed a directory, before it
	// looks at the names listed: a rotation there (logrotate's shift of numbered names)
	// is one during the look.
	listHook func()
	// readHook, set by tests, runs in read just before it reads the followed file: a
	// rotation there is one between check's look and the read (a SIGSTOP, or
	// logrotate's copy and truncation right then).
	readHook func()
	// relooks: how many times in a row check looked again at a file that changed while
	// it looked (relook).
	relooks int
	// rereads: how many reads in a row of a file never read before were put back because
	// it was written between check's look and the read (readChanged).
	rereads int
}

// fileKey identifies a file: device, inode and head fingerprint.
type fileKey struct {
	dev, ino uint64
	fpLen    int
	fp       uint64
}

// gen is one generation of the followed file: the file being read and what is known of it.
type gen struct {
	has     bool     // a file is followed (f may be nil: closed while idle)
	f       *os.File // open descriptor, holding a slot of Set.fds
	name    string   // where the file was last seen: the path, or a rotated name
	key     fileKey
	readOff int64 // file offset of the next byte to read (buf[c.w])
	maxSize int64 // largest size seen
	seen    int64 // the size the record says was seen (genEntry.Seen; refreshSeen)
	nlink   uint64
	atPath  bool      // the file is the one at path
	copyOf  int64     // > 0: a copytruncate copy; the live file held at least this many bytes
	born    int64     // the file's birth time at its first open (bornOf; 0: not known)
	mtime   time.Time // modification time when last seen
	// seenAt: when it was first held ahead, for one entered from the generations seen
	// ahead (toAhead, useAhead); zero otherwise.
	seenAt aheadOrder
	// after: for a lingering generation the walk from a checkpoint read on (where the
	// run before had), the modification time of the generation left before it: the
	// rotated generations not read yet are those newer than that one, not than this
	// one, which its old writer keeps newer than all (orderTime).
	after time.Time
	// began: the modification time at the first look at the generation (at the file,
	// or after the truncation that started it): a copy of it (copytruncate's) is not
	// older. The last look may be newer than the copy: the tailer looked in the window
	// between the copy and the truncation.
	began time.Time
	// leftTarget: name is where the path led when the file was opened at it, and the
	// path leads to another file now (a symlink retargeted: a deployment's "current"
	// switched to another release); the file was not moved (leftTargetName).
	leftTarget bool
	// blind: the file was empty whenever the tailer looked (nothing of its head is
	// known); a change may hide a copy made before any byte was read (check).
	blind bool
	// truncSeen: the file was seen truncated under the read offset while part of a
	// line was pending; the line is terminated first, then the file is read from its
	// start, however much was written to it since (check).
	truncSeen bool
	// rot: the rotated files as they were at the last look while the file was blind
	// (identity -> size and modification time); nil after a restart (the times decide).
	rot map[[2]uint64]rotSeen
	// liveRot: for a copy, rot of the live file when its copy was found.
	liveRot  map[[2]uint64]rotSeen
	base     uint64 // logical offset of the file's byte 0 (when recorded)
	headLine bool   // the head fingerprint covers a whole line
	recorded bool   // entered in this run and recorded in the generation log
	// baseKnown: base is known though the generation was not entered (the one resumed
	// at its checkpoint, or read from its start by a new stream): its end is recorded
	// when it is left, with where it was left (genEntry.Left).
	baseKnown bool
	tail      [64]byte // the last bytes read, ending at readOff (to recognise a copy)
	tailN     int
	from      uint64 // entered past its start as its copy's continuation (genEntry.From)
	// headB: the first key.fpLen bytes (to recognise a copy shorter than the head).
	headB []byte
	// skipAt, when > 0: the file, read by a run before, holds what that run read only up
	// to this file offset (shrunk since); the bytes after it are new, and go after the
	// offsets that run used for the old content (up to skipEnd, its recorded end, when
	// known). skipAt is read up to first.
	skipAt  int64
	skipEnd uint64
	// leaveAt, when > 0: the run before left this generation at this file offset
	// (genEntry.Left) and went on with others, whose offsets follow it: it is read up
	// to there only, then left (lingering, if its writer may still append to it), and
	// what it holds past there is read after them (leaveWhereLeft). -1: so at its
	// start, nothing of it read (leaveAtStart).
	leaveAt int64
	// rereadCounted: its bytes read again from its start at other offsets were counted
	// in file_reread_bytes_total (rereadLog), once.
	rereadCounted bool
	// lines: the last lines read (shrunkAt); nil before any byte was read.
	lines *lineRing
	// ends: the line ends of headB when the head was endsOf (Checkpoint.HeadEnds).
	ends   []lineEnd
	endsOf fileKey
	// again: the copy toCopy is about to follow is read from its start though it
	// starts with lines read (rereadLog): entered as enteredAgain does.
	again bool
}

// rotSeen is what a rotated file was at a look.
type rotSeen struct {
	size  int64
	mtime time.Time
}

// OpenFile returns a Tailer of path, resuming from its checkpoint if there is one. A file
// present without a checkpoint is read from its end unless Config.FromBeginning. A file
// that is missing or cannot be read is not an error: it is waited for, or retried.
// OpenFile fails on a path that can never be followed (a directory, a path below a
// regular file) and on state directory errors.
func (s *Set) OpenFile(path string) (*Tailer, error) {
	return s.openFile(path, s.cfg.FromBeginning, nil)
}

// OpenFileToEnd returns a Tailer that reads path from its checkpoint, or from its
// beginning if it has none, to the end of the file, and then returns io.EOF instead of
// waiting for more. A last line without '\n' gets one, as at a rotation, unless the file
// was modified less than Config.RotateWait ago: then it is left for a later run (see
// Unfinished). It does not follow rotations. The file must exist and be a regular file:
// anything else (a FIFO, a socket, a device) fails with ErrNotRegular, counted in
// FileErrors as not_regular, and is never opened.
func (s *Set) OpenFileToEnd(path string) (*Tailer, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() && !fi.IsDir() {
		s.m.FileErrors.WithLabelValues(FileErrorNotRegular).Inc()
		return nil, notRegular("read", path, fi.Mode())
	}
	t, err := s.openFile(path, true, nil)
	if err != nil {
		return nil, err
	}
	t.toEnd = true
	return t, nil
}

// unfinishedLine returns the size of the unterminated last line buffered at the end of a
// file read to its end if it is to be left for a later run, 0 if it is to be emitted
// terminated (as at a rotation). It is left when the file is still the one at path and
// was modified less than Config.RotateWait ago: its writer may be writing that line
// now, and a later run reads it whole from the checkpoint, which stays at its start. A
// line longer than the chunk bound, partly emitted already, is never left.
func (t *Tailer) unfinishedLine() int64 {
	c := &t.c
	if c.frag || c.skip || c.r >= c.w || t.s.cfg.RotateWait == 0 || t.g.f == nil {
		return 0
	}
	fi, err := t.g.f.Stat()
	if err != nil || time.Since(fi.ModTime()) >= t.s.cfg.RotateWait || !t.isAtPath(fi) {
		return 0
	}
	return int64(c.w - c.r)
}

// Unfinished returns, for a Tailer from OpenFileToEnd that returned io.EOF, the bytes of
// the unterminated last line it left for a later run (0 if none): the file was modified
// less than Config.RotateWait before the end was reached, so its writer may still
// complete the line. Its checkpoint stays at the line's start.
func (t *Tailer) Unfinished() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unfinished
}

// ErrUnfollowable reports a path that can never be followed as a file.
var ErrUnfollowable = errors.New("cannot be followed")

// ErrFollowed reports a path that another source of the Set follows already.
var ErrFollowed = errors.New("is followed by another source already")

func (s *Set) openFile(path string, fromBeginning bool, cont *Checkpoint) (*Tailer, error) {
	return s.openFileHow(path, openHow{fromBeginning: fromBeginning, cont: cont})
}

// openHow says how openFileHow resumes a path.
type openHow struct {
	// match: the tailer of a Glob's match (resumeLinger is not done for it).
	match         bool
	fromBeginning bool
	// cont: the checkpoint to resume from instead of the path's own (a stream continued).
	cont *Checkpoint
	// at: the current name of the checkpointed (or marked) file, found by identity.
	at string
	// mark: where the file starts without a checkpoint, instead of Config.Since's mark
	// of the path (a marked file renamed to the path).
	mark *FileMark
	// readOn: where a glob match's file was left by the stream that read it
	// (Tailer.readOn).
	readOn *FileMark
	// endWhenGone: a Glob's match (Tailer.endWhenGone).
	endWhenGone bool
	// orphan: the match's path is gone (Tailer.orphan).
	orphan bool
	// seen: the file a Glob listed at the path (the match's first file), when it has no
	// checkpoint of a file: the tailer begins with it, found by identity if it was
	// rotated (or deleted) before the tailer was opened, not with the file at the path
	// then.
	seen fs.FileInfo
	// salt: a Glob's match read from its beginning, appeared after the pattern's first
	// start: its salt (Glob.salt), which names a new stream of the match (matchStream);
	// 0: a random stream id.
	salt uint64
}

func (s *Set) openFileHow(path string, how openHow) (*Tailer, error) {
	fromBeginning, cont := how.fromBeginning, how.cont
	path = filepath.Clean(path)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s %w: it is a directory (quote a glob such as '%s/*.log')", path, ErrUnfollowable, path)
	} else if errors.Is(err, syscall.ENOTDIR) {
		return nil, fmt.Errorf("%s %w: a parent is not a directory", path, ErrUnfollowable)
	}
	cp, found := Checkpoint{}, false
	if cont != nil {
		cp, found = *cont, true
	} else {
		var err error
		if cp, found, err = s.loadFile(path); err != nil {
			return nil, err
		}
	}
	if !found {
		cp = Checkpoint{Path: path, Stream: newStreamID()}
		if id := matchStream(how.salt, path); id != 0 {
			cp.Stream = id
		}
	}
	t := &Tailer{
		s: s, path: path, dir: filepath.Dir(path), base: filepath.Base(path),
		log:    s.log.With("source", path),
		stream: cp.Stream,
		c:      newCutter(s.cfg.ReadBuffer, s.cfg.MaxLine),
		handc:  make(chan struct{}, 1),
		at:     how.at,
		mark:   how.mark,
		readOn: how.readOn,

		endWhenGone: how.endWhenGone,
		orphan:      how.orphan,
		seen:        how.seen,
	}
	if t.mark == nil && s.cfg.Since != nil {
		if m, ok := s.cfg.Since.Files[path]; ok {
			t.mark = &m
		}
	}
	t.c.from = 4096
	t.acked.Store(cp.Offset)
	if !s.addPath(t) {
		return nil, fmt.Errorf("%s %w", path, ErrFollowed)
	}
	var err error
	if t.gens, err = openGenLog(s.store.genFile(path), t.stream, !found); err != nil {
		s.forgetTailer(t)
		return nil, err
	}
	t.gens.left = s.store.left
	// The jumps and counts of the runs before: walked over again (a run crashed before
	// its checkpoint passed them), they are neither bytes nor counted again.
	t.announced, t.countedSent = t.gens.gaps()
	if s.watcher != nil {
		var err error
		t.sub, err = s.watcher.subscribeName(t.dir, t.base, make(chan struct{}, 1))
		if err != nil {
			t.log.Debug("no fsnotify watch, polling", "err", err)
		}
		t.tsubs, t.tc = map[string]*Subscription{}, make(chan struct{}, 1)
		t.watchRotatedDirs()
	}
	t.watchLooks()
	if cp.MTime != 0 {
		t.olderThan(time.Unix(0, cp.MTime))
	}
	t.unfollow = s.follow(path)
	s.m.FilesFollowed.Inc()
	t.watchLinks(true) // before resume: the rotated files of a symlinked log are in its target's directory
	t.noteStartRotated()
	t.resume(cp, found, fromBeginning)
	if found && !how.match {
		t.resumeLinger()
	}
	if found {
		t.resumeAheads()
		t.dueAtResume()
	}
	t.older = t.history
	t.preopen()
	// Persist the stream id and start position before anything is sent, so that a restart
	// never reuses an offset.
	t.start = t.pos()
	if found && t.g.has && t.g.blind && t.g.readOff == 0 && cp.FPLen == 0 && t.start.Offset == cp.Offset &&
		t.start.Dev == cp.Dev && t.start.Ino == cp.Ino {
		// The file was empty at the checkpoint and may hold another content now: its
		// old one copied away (copytruncate while the shipper was down, the copy holding
		// the checkpoint's offset, found by check before the first read) and new lines
		// written. Until a byte is read, the start position claims no more than the
		// checkpoint did: not the new content's head and size at the checkpoint's
		// offset, which a restart after a crash took for the file shrunk since (a jump,
		// and the copies drained again at other offsets).
		t.start.FPLen, t.start.FP, t.start.HeadEnds = 0, 0, nil
		t.start.Size, t.start.MTime, t.start.Began = cp.Size, cp.MTime, cp.Began
	}
	if found && t.nextKnown && t.start.Offset > t.next {
		// Skipped at the resume (or by a run before that crashed before it announced
		// them): the next run announces them again if this one sends no chunk.
		t.start.Unannounced, t.start.AnnounceFrom = true, t.next
	}
	if err := s.store.Save(t.start); err != nil && !(how.match && stateFull(err)) {
		// (A path given to ship: the start waits for space, nothing read meanwhile,
		// as a restart would read it again as another stream.)
		t.noStop = true
		t.Close()
		return nil, err
	} else if err != nil {
		// A glob's match, and the state directory is full (logged once for all
		// sources: stateHealth): the file is read and shipped all the same, its start
		// saved with its first acknowledged checkpoint. A restart before then finds no checkpoint: a glob's
		// match appeared after the pattern's first start is read from its beginning
		// again (collectors drop what they wrote when the stream is the same:
		// matchStream), never from its end.
		t.log.Debug("following without a saved start checkpoint (state directory full)", "err", err)
		t.unsaved.Store(true)
	} else {
		t.durable.Store(&[2]uint64{t.start.Dev, t.start.Ino})
	}
	t.lastAck.Store(&t.start)
	return t, nil
}

// Rewind makes the tailer read again from pos, a Chunk.Pos it returned, or from where
// it was opened when pos is nil, following the same rules as a restart from a
// checkpoint (a file rotated since is found by its identity; a file that is gone makes
// the stream jump by LossGap). It must not be called concurrently with Next.
func (t *Tailer) Rewind(pos *Checkpoint) error {
	t.mu.Lock()
	defer t.unlockLooks()
	if t.closed {
		return ErrClosed
	}
	cp := t.start
	if pos != nil {
		cp = *pos
	}
	if cp.Path != t.path || cp.Stream != t.stream {
		return fmt.Errorf("%w: rewind %s to a position of %s (stream %d)", ErrConfig, t.path, cp.Path, cp.Stream)
	}
	t.detach()
	t.dropLive()
	t.dropAhead(true)
	t.gens.resumed()
	t.forgetLeft(cp.Offset)
	t.g = gen{} // (its file stays owned by t: owns, yields at the resume)
	t.c = newCutter(t.s.cfg.ReadBuffer, t.s.cfg.MaxLine)
	t.c.from = 4096
	t.ended, t.graceTill, t.history, t.done, t.drained = false, time.Time{}, nil, nil, nil
	t.goneJump, t.pastGone, t.rewinding, t.afterCopy = 0, goneGen{}, true, false
	t.unused = nil
	t.resume(cp, true, false)
	t.resumeAheads()
	t.older = t.history
	t.rewinding = false
	t.preopen()
	return nil
}

// forgetLeft lets go of the generations the tailer left and still follows or looks at
// (lingering, those left for good) that the stream does not hold wholly before off, the
// position a rewind starts from (genLog.endedBy; every entry is old by then), and of the
// one parked for a lingering one: the walk from the position reads them again at the
// offsets they had, as it does every generation after it, and lingers on them again as
// it leaves them. Kept, the walk took them for read (findNewerIn passes them over) and
// counted their bytes destroyed, though they were still there under their rotated
// names. Their claims are given up without a hand-over (the walk takes them again when
// it gets to them), their descriptors closed (a deleted one is gone then: what it held
// after the position is counted lost by the walk). Those wholly before the position
// stay lingering: what their old writer appends is read on as before.
func (t *Tailer) forgetLeft(off uint64) {
	walked := func(dev, ino uint64, fpLen int, fp uint64) bool {
		return !t.gens.endedBy(dev, ino, fpLen, fp, off)
	}
	keep := t.linger[:0]
	for _, l := range t.linger {
		if !walked(l.g.key.dev, l.g.key.ino, l.g.key.fpLen, l.g.key.fp) {
			keep = append(keep, l)
			continue
		}
		t.s.release(t, [2]uint64{l.g.key.dev, l.g.key.ino}, handOver{off: -1}, false, true)
		t.forgetIfDeleted(l.g.f)
		t.closeHeld(l.g.f)
	}
	clear(t.linger[len(keep):])
	t.linger = keep
	t.leftGood = slices.DeleteFunc(t.leftGood, func(l leftGoodGen) bool { return walked(l.e.Dev, l.e.Ino, l.e.FPLen, l.e.FP) })
	if p := t.parked; p != nil {
		t.s.release(t, p.owned, handOver{off: -1}, false, true)
		if p.g.f != nil {
			t.closeHeld(p.g.f)
		}
	}
	t.parked, t.lingerGrew, t.parkWait = nil, false, false
}

// Path returns the followed path.
func (t *Tailer) Path() string { return t.path }

// Stream returns the stream id.
func (t *Tailer) Stream() uint64 { return t.stream }

// UnusedRanges returns the offsets of stream (the tailer's) that a run, this one or
// one before it, announced unused (Chunk.Unused: a jump past every offset a run may
// have used), as the record of generations keeps them: they hold no byte. Sorted,
// disjoint. It may be called concurrently with Next.
func (t *Tailer) UnusedRanges(stream uint64) []OffsetRange {
	if stream != t.stream || t.gens == nil {
		return nil
	}
	u, _ := t.gens.gaps()
	return u
}

// Wakeups returns how many times the tailer woke up from waiting for data.
func (t *Tailer) Wakeups() uint64 { return t.wakeups.Load() }

// openStat opens name; a missing file is (nil, nil, nil). Errors are *fs.PathError
// naming the file once.
func openStat(name string) (*os.File, fs.FileInfo, error) {
	f, err := openName(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, notRegular("open", name, fi.Mode())
	}
	return f, fi, nil
}

var errNotRegular = ErrNotRegular

// matches reports whether f is the file cp names and still holds cp's offset.
func matches(f *os.File, fi fs.FileInfo, cp *Checkpoint) bool {
	dev, ino, _ := fileID(fi)
	if dev != cp.Dev || ino != cp.Ino || !cp.bornAs(f) {
		return false
	}
	return cp.heldIn(f, fi.Size())
}

// bornAs reports whether f was born when cp's file was (Checkpoint.Born), when both are
// known: a file given the checkpointed one's inode number since it was deleted (ext4 gives
// it at once) is another file, even when the checkpoint has no head to tell them apart
// (the file was empty when it was checkpointed).
func (cp *Checkpoint) bornAs(f *os.File) bool {
	if cp.Born == 0 {
		return true
	}
	b := bornOf(f)
	return b == 0 || b == cp.Born
}

// heldIn reports whether f (size bytes) still holds cp's offset: it starts with the head
// read and holds the last line read before the offset (holdsLast).
func (cp *Checkpoint) heldIn(f *os.File, size int64) bool {
	if size < cp.FileOffset {
		return false
	}
	if cp.FPLen == 0 {
		return true
	}
	fp, ok, err := fingerprintFile(f, cp.FPLen)
	return err == nil && ok && fp == cp.FP && cp.holdsLast(f)
}

// resume finds where to start: the checkpointed file (at path, or renamed, or its
// copytruncate copy), the file at path, or nothing yet. The file is not kept open here:
// preopen or the first Next opens it again (within the descriptor bound) and verifies it.
func (t *Tailer) resume(cp Checkpoint, found, fromBeginning bool) {
	t.c.off = cp.Offset
	t.next, t.nextKnown = cp.Offset, found
	if found && cp.Unannounced && cp.AnnounceFrom < cp.Offset {
		// A run resumed from AnnounceFrom, skipped up to the checkpoint, and stopped
		// before a chunk announced it: the first chunk announces it, the jumps in it
		// (the record of generations keeps them) as unused.
		t.next = cp.AnnounceFrom
		for _, a := range t.announced {
			if lo, hi := max(a.From, cp.AnnounceFrom), min(a.To, cp.Offset); lo < hi {
				t.unused = append(t.unused, OffsetRange{From: lo, To: hi})
			}
		}
	}
	t.stopReach, t.stopInLine = 0, false
	if found && cp.Stopped {
		t.stopReach, t.stopInLine = cp.Reach, cp.ReachInLine
	}
	if found && !cp.HasFile() && cp.LineOff > 0 {
		// Saved before a line whose file was gone was terminated (resumeGone).
		t.endLine(cp.LineOff)
	}
	if found && cp.HasFile() && cp.FPLen == 0 && cp.FileOffset == 0 {
		// Saved while the file was empty (its start checkpoint, say), and the run went on
		// to read it and crashed before it saved another: the record of generations names
		// the head it read (durable before any byte of it was returned). With it the
		// file is told by its content wherever it is now: found renamed, it is read
		// again from its start (not taken for a file copytruncated since, a generation
		// rotated after it for its copy: read at its offsets, which collectors dropped as
		// the bytes they had, and it again after); found truncated, its copy holds that head.
		if k, ends, ok := t.gens.readHead(cp.Dev, cp.Ino, cp.Offset); ok {
			cp.FPLen, cp.FP, cp.HeadEnds = k.fpLen, k.fp, ends
		}
	}
	f, fi, err := openStat(t.path)
	if err != nil {
		t.fail(err)
		if found && cp.HasFile() {
			// Unreadable now: verified once it can be opened (reattach, check).
			t.g = gen{has: true, name: t.path, key: fileKey{cp.Dev, cp.Ino, cp.FPLen, cp.FP}, atPath: true}
			t.owns()
			t.resumeAt(&cp)
			t.log.Warn("following", "from", "checkpoint", "file_offset", cp.FileOffset, "note", "unreadable for now; retried")
			return
		}
		t.log.Warn("following", "from", "beginning", "note", "unreadable for now; retried, then read from its beginning")
		return
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	if found && cp.HasFile() {
		t.walkFrom(&cp)
	}
	if found && cp.HasFile() && cp.FileOffset > 0 && uint64(cp.FileOffset) <= cp.Offset &&
		t.gens.leftAt(cp.Dev, cp.Ino, cp.Offset-uint64(cp.FileOffset), cp.Offset) {
		// The checkpointed generation was left at the checkpoint, and others followed:
		// they are walked first (the rotated ones changed since, then the file at path);
		// the checkpointed file, if it came back and grew, is read on from where it was
		// left when its turn comes (enterLeft).
		var since time.Time
		if cp.MTime != 0 {
			since = time.Unix(0, cp.MTime)
		}
		t.history = t.snapshotUpTo(since)
		t.histBorn = cp.Born
		t.log.Info("following", "from", "checkpoint", "note", "the checkpointed file was left at the checkpoint; the generations that followed it are drained first")
		return
	}
	if found && cp.HasFile() {
		if f != nil && matches(f, fi, &cp) {
			yield, h := t.yields(fi)
			if yield {
				return // its path is read again when it names another file
			}
			if t.resumeHandedPast(f, fi, &cp, h) {
				return
			}
			t.setGen(t.path, fi, true)
			if t.replaced(&cp) {
				t.walkDone()
				return
			}
			t.resumeAt(&cp)
			t.baseAt(&cp)
			t.skipContinued(&cp)
			t.leaveWhereLeft(&cp)
			if t.g.leaveAt == 0 {
				t.walkDone()
			}
			t.tailAt(f)
			t.log.Info("following", "from", "checkpoint", "file_offset", cp.FileOffset)
			return
		}
		if f != nil && t.resumeShrunk(t.path, f, fi, &cp) {
			return
		}
		if t.resumeShrunkRotated(&cp) {
			return
		}
		k := fileKey{cp.Dev, cp.Ino, cp.FPLen, cp.FP}
		name, gi := t.findByIdentityAt(k, cp.FileOffset)
		target := false
		if name == "" && !t.s.followedAs(cp.Target) { // (another source's path: read by it)
			name, gi = atName(cp.Target, k, cp.FileOffset)
			target = name != ""
		}
		if name != "" && holdsLastAt(name, &cp) {
			t.setGen(name, gi, false)
			// Where a symlinked path led, and leads no more: left, it lingers as a
			// retargeted link's old target does (its old writer may still append).
			t.g.leftTarget = target
			if t.replaced(&cp) {
				return
			}
			t.resumeAt(&cp)
			t.baseAt(&cp)
			t.skipContinued(&cp)
			t.leaveWhereLeft(&cp)
			note := "rotated while the shipper was down; drained first"
			if target {
				note = "the path leads to another file now (a symlink retargeted); the file it led to is drained first"
			}
			t.log.Info("following", "from", "checkpoint", "file", name, "file_offset", cp.FileOffset, "note", note)
			return
		}
		var since time.Time
		if cp.MTime != 0 {
			since = time.Unix(0, cp.MTime)
		}
		// The copy was made after the generation began (not since the last look: the
		// run before may have looked in copytruncate's window, after the copy), and
		// before the truncation: not modified after the file at path, when that is the
		// checkpointed file truncated in place.
		began := since
		if cp.Began != 0 {
			began = time.Unix(0, cp.Began)
		}
		var until time.Time
		if f != nil {
			if dev, ino, _ := fileID(fi); dev == cp.Dev && ino == cp.Ino {
				until = fi.ModTime()
			}
		}
		if name, gi, _ := t.findCopy(fileKey{fpLen: cp.FPLen, fp: cp.FP}, nil, cp.FileOffset, nil, began, until); name != "" && !t.copyOfLater(&cp, name, gi) {
			t.setGen(name, gi, false)
			t.resumeAt(&cp)
			// Its base known, where it is left is recorded (recordEnd), as for a copy
			// found while running (toCopy): the record names the copy, which a later
			// run (this one's done and drained forgotten) would otherwise take, born
			// after the file it copies, for a generation no run read, when the copied
			// generation's recorded head is part of a line only (bornAfter).
			t.baseAt(&cp)
			t.g.copyOf = 1
			t.afterCopy = true
			t.log.Warn("following", "from", "checkpoint", "file", name, "file_offset", cp.FileOffset,
				"note", "copytruncated while the shipper was down: draining the copy; lines written between the copy and the truncation, if any, are lost")
			return
		}
		t.shrunkCopyGone(&cp, began, until)
		// Past every offset a run before may have used, including after jumps of its own.
		jump := max(t.c.off+LossGap, t.gens.horizonAt())
		if !t.rewinding {
			// A restart: the same continuation, and the rest of the generation counted
			// (gone.go).
			t.resumeGone(&cp, jump)
			return
		}
		// Read again for a collector that lacks it: the generations that followed
		// are still recorded with their offsets. Drain the rotated ones changed
		// since the checkpoint, oldest first, then the file at path; the first one
		// entered takes its recorded offsets, so that the gap is exactly the part
		// of the stream that is gone (entered).
		t.goneJump = jump
		t.history = t.snapshotUpTo(since)
		t.histBorn = cp.Born
		t.log.Warn("re-reading: the checkpointed file is gone; continuing with the generations that followed it",
			"file_offset", cp.FileOffset, "offset", t.c.off)
		return
	}
	if found && cp.MTime != 0 {
		// No file was followed at the checkpoint: rotated files changed after it are
		// generations that appeared since (rotated while down), drained first.
		t.history = t.snapshotUpTo(time.Unix(0, cp.MTime))
		t.log.Info("following", "from", "checkpoint", "note", "no file was followed; rotated generations changed since are drained first")
		return
	}
	if !found && t.readOn != nil && t.resumeReadOn(f, fi) {
		return
	}
	if !found && !fromBeginning && t.s.cfg.Since != nil && t.resumeMark(f, fi) {
		return
	}
	if s := t.seen; s != nil && (!found || !cp.HasFile()) && (f == nil || !os.SameFile(fi, s)) {
		// The file listed at the path was rotated, or deleted, before the tailer was
		// opened (it was opened after many others, or retried after a failure): it is
		// the first generation, drained first wherever it is now (reattach finds it
		// by identity; its size is counted lost if it is gone), then what followed it.
		// A file another stream reads is that stream's (it drains it, and leaves it
		// to this one, if it is at this path then); one another stream left is read
		// on from where it was left, never again from its start.
		if dev, ino, _ := fileID(s); t.s.ownedElsewhere(t, [2]uint64{dev, ino}, "") == nil { // (where it is now is not known)
			t.setGen(t.path, s, true)
			if h := t.taken; h.off > 0 && h.key.dev == dev && h.key.ino == ino {
				// Read on from where that stream left it only if it still holds what was
				// read there (handedAt), as any hand-over; else from its start.
				switch off := t.takenAt(h); {
				case off < 0 && h.off <= s.Size():
					off = h.off
					fallthrough
				case off > 0:
					t.g.readOff, t.g.from, t.g.blind = off, uint64(off), false
					t.g.key.fpLen, t.g.key.fp = h.key.fpLen, h.key.fp
					t.log.Info("following", "from", "where another source's stream left the file", "file_offset", off,
						"note", "the file listed at the path was replaced before it was opened; it is drained first, found by identity")
					return
				case off == 0:
					t.g.base, t.g.baseKnown = t.c.off, true
					t.log.Info("following", "from", "beginning", "file_offset", 0,
						"note", "the file listed at the path was replaced before it was opened; it is drained first, found by identity")
					return
				}
			}
			if lg, tail, ok := leftIn(t.dir, [2]uint64{dev, ino}, t.s.store.left, t.stream); ok && lg.left <= s.Size() {
				// Left by another stream (in a run before: no hand-over in this one).
				t.g.readOff, t.g.from, t.g.blind = lg.left, uint64(lg.left), false
				t.g.key.fpLen, t.g.key.fp = lg.fpLen, lg.fp
				t.g.tailN = copy(t.g.tail[:], tail)
				t.log.Info("following", "from", "where another stream left the file", "stream_path", t.s.store.pathOf(lg.stream), "file_offset", lg.left,
					"note", "the file listed at the path was replaced before it was opened; it is drained first, found by identity")
				return
			}
			if !found && !fromBeginning {
				t.g.readOff = s.Size()
			}
			from := "beginning"
			if t.g.readOff > 0 {
				from = "end"
			}
			t.log.Info("following", "from", from, "file_offset", t.g.readOff,
				"note", "the file listed at the path was replaced before it was opened; it is drained first, found by identity")
			return
		}
	}
	if f == nil {
		t.history = t.snapshot()
		if t.endWhenGone {
			t.log.Info("following", "note", "the match is gone; its rotated generations not read yet, if any, are drained, then it is dropped")
		} else if t.failing == "" {
			t.log.Warn("following a file that does not exist yet; it is read from its beginning when it appears")
		}
		return
	}
	yield, h := t.yields(fi)
	if yield {
		return // its path is read when it names another file, from that file's start
	}
	t.setGen(t.path, fi, true)
	if off := t.handedFrom(f, fi.Size(), h); off > 0 {
		t.g.readOff, t.g.from, t.g.blind = off, uint64(off), false
		t.log.Info("following", "from", "where another source's stream left the file", "file_offset", off)
		return
	}
	if h.off > 0 {
		// Handed over, but it no longer holds what was read there (handedFrom logged
		// and counted it): written since that stream read it (truncated, rewritten in
		// place with the same head, or another file given its inode). Read from its
		// start, as a file changed under the read offset is; never on from an offset
		// whose bytes may not be shipped.
		t.g.base, t.g.baseKnown = t.c.off, true
		t.log.Info("following", "from", "beginning", "file_offset", 0)
		return
	}
	if t.resumeEnteredPast(f, fi) {
		return
	}
	if !found && !fromBeginning {
		if lg, tail, ok := t.s.store.left.readTo(f, fi, t.stream); ok && lg.handed {
			// Handed over by a stream of this run, the hand-over forgotten since
			// (maxHanded): read on from where it was left, as handed over.
			t.resumeLeftElsewhere(lg, tail, found)
			return
		}
	}
	if !found && !fromBeginning && t.s.cfg.Since != nil {
		t.log.Info("following", "from", "beginning", "note", "appeared after the reload was taken")
		return
	}
	if !found && !fromBeginning {
		// From its end when it was listed: a Glob lists its matches, then opens them one
		// by one (within the descriptor bound); lines written to a match between the two
		// were written after the shipper started (case 07: the last of 300 matches opened
		// seconds after the listing, their first lines skipped, never counted). A file
		// shorter than it was listed was truncated since: all it holds is newer.
		end := fi.Size()
		if s := t.seen; s != nil && os.SameFile(fi, s) {
			end = s.Size()
			if fi.Size() < end {
				end = 0
			}
		}
		t.g.readOff = end
		if t.c.off >= uint64(end) {
			t.g.base, t.g.baseKnown = t.c.off-uint64(end), true
		}
		t.log.Info("following", "from", "end", "file_offset", end)
		return
	}
	if lg, tail, ok := t.s.store.left.readTo(f, fi, t.stream); ok {
		// A file another stream read and left (renamed to this name while the shipper
		// was down, or before this stream took its first file): read on from where it
		// was left, never again from its start (enterLeftElsewhere).
		t.resumeLeftElsewhere(lg, tail, found)
		return
	}
	t.g.base, t.g.baseKnown = t.c.off, true
	t.log.Info("following", "from", "beginning")
}

// copyOfLater reports whether the rotated file name (seen as fi), found holding the
// head and offset of checkpoint cp whose file holds another content now (findCopy),
// is rather copytruncate's copy of a generation the record has after the checkpoint,
// with a longer head that it starts with: the checkpointed content read again from its
// start at later offsets (shrunk in place and written, truncate -s N, read again), then
// copied. Its bytes past the checkpoint are that later content's, not those sent at the
// checkpoint's offsets: drained from the checkpoint, its new lines took the offsets of
// lines sent before (-model.shrink -model.oldwriter seed 9313: offsets reused). The walk
// from the checkpoint, the checkpointed content gone, enters it at that generation's
// offsets instead (enteredAfterGone).
func (t *Tailer) copyOfLater(cp *Checkpoint, name string, fi fs.FileInfo) bool {
	if cp.FileOffset < 0 || uint64(cp.FileOffset) > cp.Offset {
		return false
	}
	base := cp.Offset - uint64(cp.FileOffset)
	dev, ino, _ := fileID(fi)
	e, found, _ := t.gens.lookup(dev, ino, readHead(name), cp.Offset)
	return found && e.FPLen > cp.FPLen && offAfter(e.Base, base)
}

// skipContinued handles a checkpointed generation that the run before read on past the
// checkpoint from a later file offset at other offsets (it was shrunk, truncate -s N, and
// read on from N; or it came back): what it holds up to there is sent again at the
// checkpoint's offsets, then the stream goes on at the offsets that run gave the rest
// (skipOld), the old content's bytes between (destroyed, sent by that run) not again.
func (t *Tailer) skipContinued(cp *Checkpoint) {
	if t.skipSaved(cp) {
		return
	}
	if !t.continued(cp) {
		t.skipShrunk(cp)
	}
}

// skipSaved takes up the skip the run before had yet to make when it saved cp
// (Checkpoint.Skip); it reports whether there was one.
func (t *Tailer) skipSaved(cp *Checkpoint) bool {
	if !cp.Skip || cp.SkipAt < cp.FileOffset {
		return false
	}
	t.g.skipAt, t.g.skipEnd = cp.SkipAt, cp.SkipEnd
	if cp.SkipAt == cp.FileOffset {
		t.g.skipAt = -1 // at the checkpoint already (skipOld before the first read)
	}
	return true
}

// continued is skipContinued without the fallback; it reports whether the record said
// the run before read on past the checkpoint from a later file offset.
func (t *Tailer) continued(cp *Checkpoint) bool {
	e, ok := t.gens.continuedAt(cp.Dev, cp.Ino, cp.Offset, t.headNow())
	if !ok || int64(e.From) < cp.FileOffset || e.Base+e.From < cp.Offset+(e.From-uint64(cp.FileOffset)) {
		return false
	}
	if int64(e.From) == cp.FileOffset && e.start() == cp.Offset {
		// Entered at the checkpoint itself (a file another stream left, handed over
		// there): nothing was read on at other offsets. (Its offset may be 0, which
		// skipEnd cannot say: the stream jumped by LossGap, a false loss notice.)
		return false
	}
	if base := cp.Offset - uint64(cp.FileOffset); uint64(cp.FileOffset) <= cp.Offset && t.gens.leftWhere(e.Dev, e.Ino, base, int64(e.From)) &&
		t.gens.readOnBetween(base+e.From, e.start()) {
		// Left where it was entered again (at the checkpoint or past it: parked to read
		// on a lingering generation; the checkpoint maybe in a copy of it), after the
		// lingering one: the offsets between are that one's, not old content. The
		// checkpointed file is read up to there and left (leaveWhereLeft), the
		// lingering one read on there. (Not a generation that came back to the path,
		// new generations read between: continued's skip is the walk's then.)
		return false
	}
	t.g.skipAt, t.g.skipEnd = int64(e.From), e.Base+e.From
	if int64(e.From) == cp.FileOffset {
		t.g.skipAt = -1 // at the checkpoint already (skipOld before the first read)
	}
	return true
}

// skipShrunk handles a checkpointed file now shorter than the run before saw it
// (Checkpoint.Size; truncated to a smaller size after the checkpoint, while the shipper
// was down or before that run looked again): what it holds past the checkpoint is sent
// again at its offsets, then the stream goes on after the offsets the old content used
// (skipOld): up to what the checkpoint knew of it, and what the run before returned
// (its stop checkpoint), or unknown (a crash).
func (t *Tailer) skipShrunk(cp *Checkpoint) {
	if size := t.g.maxSize; cp.knownSize() <= size || size < cp.FileOffset {
		return
	}
	// Past the head, lines written after the truncation cannot be told from the old
	// ones, so nothing past the checkpoint is taken for old (its lines read before may
	// arrive twice, never at the old content's offsets).
	t.skipShrunkTo(cp, cp.FileOffset)
}

// skipShrunkTo makes the checkpointed generation, truncated to a smaller size since and
// holding what was read up to n (at or past the checkpoint), go on after the offsets its
// old content used once it is read up to n (skipOld).
func (t *Tailer) skipShrunkTo(cp *Checkpoint, n int64) {
	size := t.g.maxSize
	next := uint64(0) // how far the run before read is unknown
	if cp.Stopped {
		next = max(cp.Offset+uint64(max(cp.Size-cp.FileOffset, 0)), cp.Reach)
	}
	t.log.Info("the checkpointed file is shorter than it was seen (truncated to a smaller size since); what it still holds of what was read is read again at its offsets, then on after those of its old content",
		"size", size, "seen", cp.Size, "file_offset", cp.FileOffset, "kept", n)
	t.s.m.FilesTruncated.Inc()
	t.g.skipAt, t.g.skipEnd = n, next
	if n == cp.FileOffset {
		t.g.skipAt = -1
	}
}

// baseAt records the logical offset of the byte 0 of the generation resumed at cp, when
// the checkpoint says it (baseKnown).
//
// In the middle of a line (LineOff: a fragment of it sent), the record of generations
// says it: an entry of the file based there. Left unknown, the generation's end was not
// recorded when it was left, so that the next run, not knowing where it was left, read
// it again from its start as a generation not read yet (-model.oldwriter seed 115: a
// lingering generation its old writer appended to, sent twice).
func (t *Tailer) baseAt(cp *Checkpoint) {
	if cp.FileOffset < 0 || uint64(cp.FileOffset) > cp.Offset {
		return
	}
	base := cp.Offset - uint64(cp.FileOffset)
	if cp.LineOff == 0 || t.gens.basedAt(cp.Dev, cp.Ino, base) {
		t.g.base, t.g.baseKnown = base, true
	}
}

// resumeShrunk resumes from cp when the file at the path (f, seen as fi) is the
// checkpointed one whose content at the checkpoint changed while the shipper was down,
// still starting with lines read: the same device and inode, N > 0 bytes that still
// start with the head read (the whole head, or, when N is shorter, the head up to one of
// its line ends, as the record of generations knows them), and either shorter than the
// checkpoint (truncate -s N) or no longer holding the last line read before it
// (truncated and written again in place with the same head: a banner, a CSV header).
// Its first bytes may be those read or the same bytes written again, which content
// cannot tell: it is read again from 0 (rereadLog), never skipping bytes that cannot be
// proven shipped. The bytes after the checkpoint were destroyed; they are skipped in the
// stream as the rest of a gone generation is (resumeGone): up to the offsets the run
// before used (its stop checkpoint, its record), counted lost, or past every offset used
// (a jump) when those are unknown. When the run before saw the change itself (it read
// the file again from its start, or read on from N: recorded), the file is walked as it
// went, at the offsets it had. A file that still holds the checkpoint (shrunk past it)
// is read on from the checkpoint. It reports whether it resumed.
func (t *Tailer) resumeShrunk(name string, f *os.File, fi fs.FileInfo, cp *Checkpoint) bool {
	dev, ino, _ := fileID(fi)
	size := fi.Size()
	if dev != cp.Dev || ino != cp.Ino || size <= 0 || cp.FPLen == 0 || uint64(cp.FileOffset) > cp.Offset {
		return false
	}
	head := make([]byte, min(size, FingerprintLen))
	if _, err := f.ReadAt(head, 0); err != nil {
		return false
	}
	base := cp.Offset - uint64(cp.FileOffset)
	if !t.gens.past(cp.Offset) && t.gens.replacedAfter(dev, ino, head, base, cp.Offset) {
		if t.copyHeld(cp) {
			return false
		}
		// The run before saw the change and read the file again from its start
		// (rereadLog): walked as it went, at the offsets it had.
		t.setGen(name, fi, name == t.path)
		return t.replaced(cp)
	}
	// Where the file stops holding what was read, as far as the head tells: the last
	// line end of the head it holds. It tells whether the file still starts with lines
	// read (then from > 0), and whether it still holds the checkpoint.
	from := int64(0)
	rewritten := false
	if size >= int64(cp.FPLen) && fingerprint(head[:cp.FPLen]) == cp.FP {
		if size >= cp.FileOffset {
			if cp.holdsLast(f) {
				return false // the head is whole and the checkpoint's bytes are there (matches)
			}
			// Not shorter, but no longer holding the last line read before the checkpoint:
			// truncated (or shrunk) and written again up to the checkpoint and past it,
			// still starting with the same head (a banner, a CSV header).
			rewritten = true
		}
		from = int64(bytes.LastIndexByte(head[:cp.FPLen], '\n') + 1)
		if size == int64(cp.FPLen) {
			from = size
		}
	} else {
		for _, e := range cp.HeadEnds {
			if int64(e.N) <= int64(len(head)) && int64(e.N) > from && fingerprint(head[:e.N]) == e.FP {
				from = int64(e.N)
			}
		}
		if from == 0 && size < int64(cp.FPLen) && t.gens.headOf(dev, ino, base, cp.FPLen, cp.FP, head) {
			from = size
		}
	}
	if from == 0 || bytes.IndexByte(head[:min(from, int64(len(head)))], '\n') < 0 {
		return false
	}
	if from >= cp.FileOffset {
		// Shrunk past the checkpoint: what it holds of what was read past the checkpoint
		// is sent again at its offsets, then the rest after the old content's (skipOld).
		t.setGen(name, fi, name == t.path)
		t.resumeAt(cp)
		t.baseAt(cp)
		h := head[:min(from, int64(len(head)))]
		t.g.key.fpLen, t.g.key.fp, t.g.headB, t.g.headLine = len(h), fingerprint(h), bytes.Clone(h), true
		if !t.continued(cp) {
			t.skipShrunkTo(cp, from)
		}
		t.log.Info("following", "from", "checkpoint", "file", name, "file_offset", cp.FileOffset, "note", "truncated to a smaller size since")
		return true
	}
	e, cont := t.gens.continuedAt(dev, ino, cp.Offset, head)
	if cont && int64(e.From) > size {
		cont = false
	}
	later, end := t.gens.after(dev, ino, base)
	if later && !cont {
		return false // the run before moved on to another generation: walked as when gone
	}
	t.s.m.FilesTruncated.Inc()
	t.setGen(name, fi, name == t.path)
	t.resumeAt(cp)
	if cp.LineOff > 0 && !cont {
		t.c.frag, t.c.lineKept = false, 0 // the line in progress at the checkpoint: its rest is gone (endLine)
	}
	known := int64(-1)
	if s := cp.knownSize(); s >= 0 {
		known = s - cp.FileOffset
	}
	attrs := []any{"size", size, "file_offset", cp.FileOffset, "offset", cp.Offset}
	why := "shorter than the checkpoint"
	if rewritten {
		why = "not shorter than the checkpoint, but the last line read before it is not there: truncated and written again in place, starting with the same head"
		attrs = append(attrs, "note", why)
	}
	if !cont {
		// Its first bytes are those read, or the same bytes written again (a banner,
		// a CSV header; truncate -s N then appends looks the same): which cannot be
		// told, so the file is read again from its start, none of them skipped.
		from = 0
	}
	switch {
	case cont:
		from = int64(e.From)
		at := e.Base + e.From
		t.log.Warn("following: the checkpointed file was truncated to a smaller size, still starting with what was read, and read on by the run before; reading on from there at the offsets it had",
			append(attrs, "from", from)...)
		if at > t.c.off {
			t.skipSent(int64(at-t.c.off), "the checkpointed file was truncated after these bytes (read by the run before, not acknowledged)", true)
		}
	case known >= 0 && cp.Stopped || end > 0:
		next := max(cp.Offset+uint64(max(known, 0)), end)
		if cp.Stopped {
			next = max(next, cp.Reach)
		}
		t.log.Warn("following: the checkpointed file was truncated or rewritten in place while the shipper was down, still starting with lines read; reading it again from its start after the offsets the run before used (its bytes after the checkpoint were destroyed)",
			append(attrs, "lost_bytes", next-cp.Offset)...)
		sent := end // returned by the run before: up to its reach, its recorded end; after a crash, any
		if cp.Stopped {
			sent = max(sent, cp.Reach)
		} else {
			sent = next
		}
		t.loseAfter(next, sent, "the checkpointed file was truncated after these bytes while the shipper was down")
		if cp.Stopped && cp.ReachInLine && end <= max(cp.Reach, cp.Offset+uint64(max(known, 0))) {
			t.endLine(1) // the line the run before sent a piece of ends here
		}
	default:
		jump := max(t.c.off+LossGap, t.gens.horizonAt())
		t.log.Warn("following: the checkpointed file was truncated or rewritten in place while the shipper was down, still starting with lines read; reading it again from its start, the stream jumps past every offset used (the run before did not say which it used after the checkpoint)",
			append(attrs, "jump", jump-t.c.off)...)
		t.jumpPast(jump, t.c.off+uint64(max(known, 0)), "the checkpointed file was truncated after these bytes while the shipper was down", true)
	}
	if from == 0 {
		t.rereadLog(why, size, cp.FileOffset, min(size, cp.FileOffset))
		t.g.key.fpLen, t.g.key.fp, t.g.headB, t.g.headLine = 0, 0, nil, false
		t.g.readOff, t.g.from, t.g.blind, t.g.tailN, t.g.lines = 0, 0, false, 0, nil
		t.enteredHow(0, true) // at the offsets chosen above
		return true
	}
	head = head[:min(from, int64(len(head)))]
	t.g.key.fpLen, t.g.key.fp, t.g.headB, t.g.headLine = len(head), fingerprint(head), head, true
	t.g.readOff, t.g.from, t.g.blind = from, uint64(from), false
	if n := min(from, int64(len(t.g.tail))); n > 0 {
		if _, err := f.ReadAt(t.g.tail[:n], from-n); err == nil {
			t.g.tailN = int(n)
		}
	}
	t.entered(from)
	return true
}

// resumeShrunkRotated is resumeShrunk for the checkpointed file found under one of the
// path's rotated names (truncated to a smaller size, then rotated, while the shipper was
// down or just before it stopped): drained from there first.
func (t *Tailer) resumeShrunkRotated(cp *Checkpoint) bool {
	names, infos := t.candidates()
	for i, fi := range infos {
		if dev, ino, _ := fileID(fi); dev != cp.Dev || ino != cp.Ino {
			continue
		}
		f, fi, err := openStat(names[i])
		if err != nil || f == nil {
			return false
		}
		defer f.Close()
		return t.resumeShrunk(names[i], f, fi, cp)
	}
	return false
}

// resumeMark starts a file new to a reloaded configuration where it stood when the
// reload was taken (its mark), found by identity: at the path (f, fi; nil when missing),
// or renamed during the swap (drained from there first, then the files that followed).
// A marked file that is gone is logged: what was written to it after the reload is lost,
// its size unknown. It reports whether it chose where to start; if not, the file at the
// path (if any) is read from its beginning.
func (t *Tailer) resumeMark(f *os.File, fi fs.FileInfo) bool {
	m := t.mark
	if m == nil {
		return false
	}
	cp := Checkpoint{Dev: m.Dev, Ino: m.Ino, FPLen: m.FPLen, FP: m.FP, FileOffset: m.Size}
	if f != nil && matches(f, fi, &cp) {
		t.setGen(t.path, fi, true)
		t.resumeAt(&cp)
		t.log.Info("following", "from", "reload", "file_offset", m.Size, "note", "new to the configuration: from its end when the reload was taken")
		return true
	}
	if name, gi := t.findByIdentityAt(fileKey{m.Dev, m.Ino, m.FPLen, m.FP}, m.Size); name != "" {
		t.setGen(name, gi, false)
		t.resumeAt(&cp)
		t.s.m.GenerationsFound.Inc()
		t.log.Info("following", "from", "reload", "file", name, "file_offset", m.Size,
			"note", "new to the configuration, renamed since the reload was taken: drained first from its end then")
		return true
	}
	t.s.m.FilesMissed.Inc()
	t.log.Warn("file new to the configuration truncated or gone since the reload was taken; lines written to it after the reload were not shipped (size unknown)",
		"file_offset", m.Size)
	return false
}

// resumeReadOn begins a glob match whose file another stream read and left where that
// stream left it (t.readOn), found by identity: at the path (f, fi; nil when missing),
// or renamed again since it was listed. It reports whether it chose where to start; if
// not (the file is gone, no longer holds what was read, or is at a name another source
// follows), the file at the path is a new one, read from its beginning.
//
// The file is taken as any file at a path is (yields, takeReadOn), and the hand-over
// taken with it, if any, is newer than the glob's look: the stream that left the file may
// have read on what its writer appended since (it lingers on it for RotateWait) and left
// it again further on. The match reads on from there, not from where the glob looked:
// the lines between were shipped by that stream (TestReadOnTakesLaterHandOver).
func (t *Tailer) resumeReadOn(f *os.File, fi fs.FileInfo) bool {
	m := t.readOn
	cp := Checkpoint{Dev: m.Dev, Ino: m.Ino, FPLen: m.FPLen, FP: m.FP, FileOffset: m.Size}
	name, gi := t.path, fi
	if f == nil || !matches(f, fi, &cp) {
		if name, gi = t.findByIdentityAt(fileKey{m.Dev, m.Ino, m.FPLen, m.FP}, m.Size); name == "" {
			return false
		}
	}
	var h handOver
	if name == t.path {
		// Another stream may still read it (it had the file under another name and
		// has not looked since the rename): the file is that stream's until it leaves
		// it, then handed over at the offset it left (openPath).
		var yield bool
		if yield, h = t.yields(gi); yield {
			return true
		}
	} else {
		var ok bool
		if h, ok = t.takeReadOn(name, gi); !ok {
			// Renamed since the glob listed it, to a name another source follows or
			// whose stream reads it: that stream's (it takes it on where it was left);
			// the path names another file, or none.
			if t.seen != nil && os.SameFile(t.seen, gi) {
				t.seen = nil // (not the match's first file: not drained here either)
			}
			t.log.Info("a file another stream read and left, renamed to a name the pattern matches, was renamed again to a name another stream follows or reads; left to that stream",
				"file", name)
			return false
		}
	}
	off := m.Size
	if h.off > off {
		// (One that no longer holds what was read there, handedAt, says nothing: the
		// glob's look, which the file still holds, decides.)
		off = max(off, handedAtName(name, gi, h))
	}
	t.setGen(name, gi, name == t.path)
	// The new stream's offsets are the file's: its first byte sent is at the offset it
	// has in the file (a base below 0 would wrap).
	cp.FileOffset, cp.Offset = off, uint64(off)
	t.c.off = cp.Offset
	t.resumeAt(&cp)
	// Its base known, where this stream leaves it is recorded (recordEnd, the index of
	// generations left): a glob match of its next name reads on from there, not from
	// where the stream before this one left it (what this one read was read twice).
	t.baseAt(&cp)
	note := "a file another stream read and left, renamed to a name the pattern matches: read on from where it was left"
	if off != m.Size {
		note = "a file another stream read and left, renamed to a name the pattern matches, then read on by that stream and left again further on (handed over): read on from there"
	}
	t.log.Info("following", "from", "left", "file", name, "file_offset", off, "note", note)
	return true
}

// takeReadOn takes the file of t.readOn found at name (seen as fi), not the path: the
// match's file, renamed again since the glob listed it. A name another source follows
// is that source's (ok false); a file another stream reads, or walks to, is that
// stream's while its claim holds (ok false). Taken, h is where a stream that left it
// stopped reading it (off -1: none).
func (t *Tailer) takeReadOn(name string, fi fs.FileInfo) (h handOver, ok bool) {
	if t.s.FollowsPath(name) {
		return handOver{off: -1}, false
	}
	dev, ino, _ := fileID(fi)
	id := [2]uint64{dev, ino}
	other, h, ok := t.s.take(t, id, name, false)
	if !ok && !claimHolds(other, id) {
		_, h, ok = t.s.take(t, id, name, true)
	}
	if !ok {
		return handOver{off: -1}, false
	}
	if t.owned != id {
		t.disown(false)
		t.owned = id
	}
	return h, true
}

// handedAtName is handedAt for the file at name (seen as fi), handed over at h, when h
// is of that file; 0 otherwise. A file that cannot be opened now is taken at h's offset
// if it is that long (as a listed file is: Tailer.takenAt).
func handedAtName(name string, fi fs.FileInfo, h handOver) int64 {
	if dev, ino, _ := fileID(fi); h.off <= 0 || h.key.dev != dev || h.key.ino != ino {
		return 0
	}
	f, err := openName(name)
	if err != nil {
		if h.off <= fi.Size() {
			return h.off
		}
		return 0
	}
	defer f.Close()
	return handedAt(f, fi.Size(), h)
}

// resumeHandedPast resumes at the file at the path (f, seen as fi), the checkpointed
// one, where another path's stream left it in this run (h, the hand-over yields took),
// when that is past the checkpoint and the file still holds what was read there
// (handedAt): that stream read it on from there (this path's checkpoint, handed over
// while this path was not followed: Set.checkpointed) and shipped those lines; read
// again from the checkpoint, they arrived twice. It is entered there at the stream's
// next offset, as it is when this path waits for that stream to leave it (openPath,
// continueHanded). Not when the record of generations says the run before went on past
// the checkpoint to other files (the walk from the checkpoint decides), nor at a
// checkpoint inside a line. It reports whether it resumed.
func (t *Tailer) resumeHandedPast(f *os.File, fi fs.FileInfo, cp *Checkpoint, h handOver) bool {
	dev, ino, _ := fileID(fi)
	if h.off <= cp.FileOffset || h.key.dev != dev || h.key.ino != ino || cp.LineOff > 0 || len(t.walk) > 1 {
		return false
	}
	off := handedAt(f, fi.Size(), h)
	if off <= cp.FileOffset {
		return false // (changed since that stream read it: the checkpoint, which it holds, decides)
	}
	t.walkDone()
	t.setGen(t.path, fi, true)
	t.g.readOff, t.g.from, t.g.blind = off, uint64(off), false
	t.log.Info("following", "from", "where another source's stream left the file", "file_offset", off, "checkpoint_file_offset", cp.FileOffset,
		"note", "the checkpointed file was read on past the checkpoint by another source's stream, which left it (handed over)")
	return true
}

// replaced handles a checkpointed file (just set as the generation) whose content at the
// checkpoint was replaced after it, as the generation record says: the tailer follows
// it from its start at the offsets the run before gave the new content (entered), the
// rest of the old content (destroyed) counted lost.
func (t *Tailer) replaced(cp *Checkpoint) bool {
	if t.gens.past(cp.Offset) || cp.FileOffset < 0 || uint64(cp.FileOffset) > cp.Offset {
		return false
	}
	if !t.gens.replacedAfter(t.g.key.dev, t.g.key.ino, t.headNow(), cp.Offset-uint64(cp.FileOffset), cp.Offset) {
		return false
	}
	if t.copyHeld(cp) {
		return false
	}
	t.log.Warn("following", "from", "beginning", "file", t.g.name,
		"note", "the checkpointed content was truncated and written again after the checkpoint; reading the new content at the offsets it had")
	t.entered(0)
	return true
}

// copyHeld reports whether a rotated file other than the checkpointed one holds the
// checkpointed content up to the checkpoint (its head, the last line read before its
// file offset): copytruncate's copy, whose bytes after the checkpoint are not destroyed
// when the checkpointed file was truncated and written again since.
func (t *Tailer) copyHeld(cp *Checkpoint) bool {
	if cp.FPLen == 0 {
		return false
	}
	names, infos := t.candidates()
	for i, fi := range infos {
		if dev, ino, _ := fileID(fi); dev == cp.Dev && ino == cp.Ino || fi.Size() < cp.FileOffset {
			continue
		}
		f, err := openName(names[i])
		if err != nil {
			continue
		}
		fp, ok, err := fingerprintFile(f, cp.FPLen)
		held := err == nil && ok && fp == cp.FP && cp.holdsLast(f)
		f.Close()
		if held {
			return true
		}
	}
	return false
}

// preopen opens the generation resume found while a descriptor slot is free, so that a
// file deleted before the first Next is still drained; otherwise Next opens it.
func (t *Tailer) preopen() {
	if !t.g.has || t.g.f != nil || t.failing != "" || !t.s.fds.tryAcquire() {
		return
	}
	f, fi, err := openStat(t.g.name)
	if err != nil || f == nil {
		t.s.fds.release()
		return
	}
	if dev, ino, _ := fileID(fi); dev != t.g.key.dev || ino != t.g.key.ino {
		f.Close()
		t.s.fds.release()
		return
	}
	if err := t.attach(f); err != nil {
		t.detach()
		return
	}
	// The checkpoint saved at open names the head of what is there, read or not
	// (unless the file was empty when last looked at: check looks for a copy first).
	if t.g.blind {
		return
	}
	if ok, err := t.head(fi.Size()); err != nil || !ok {
		t.detach()
	}
}

// resumeAt positions the generation at cp.
func (t *Tailer) resumeAt(cp *Checkpoint) {
	t.g.key.fpLen, t.g.key.fp = cp.FPLen, cp.FP
	t.g.blind = cp.FPLen == 0 && cp.FileOffset == 0
	t.g.rot = nil // taken now, it would hold what was copied while the shipper was down
	if t.g.blind && cp.MTime != 0 {
		// Nothing of the file was known: it was empty when last looked at. What it held
		// since may have been copied away (check looks for a copy made after MTime).
		t.g.mtime = time.Unix(0, cp.MTime)
	}
	switch {
	case cp.Began != 0:
		t.g.began = time.Unix(0, cp.Began)
	case cp.MTime != 0:
		t.g.began = time.Unix(0, cp.MTime) // (recorded before Began was)
	}
	t.g.readOff = cp.FileOffset
	if cp.LastLen > 0 && cp.LineOff == 0 && cp.LastLen <= maxRingLine {
		// The last line read before the checkpoint: checked, as the lines read are,
		// where the file is looked at again (shrunkAt), and named by the checkpoints
		// saved before a line is read.
		t.g.lines = &lineRing{next: cp.FileOffset, curOK: true}
		t.g.lines.push(lineMark{end: cp.FileOffset, n: uint32(cp.LastLen), crc: cp.LastCRC})
	}
	if cp.LineOff > 0 {
		t.c.frag, t.c.lineKept = true, cp.LineOff
	}
}

// tailAt takes the last bytes before the read offset from f (the generation's file), so
// that a change under the read offset (truncated and written again) is told at the next
// look (check) before any byte is read.
func (t *Tailer) tailAt(f *os.File) {
	if t.g.tailN > 0 || t.g.readOff <= 0 {
		return
	}
	n := min(t.g.readOff, int64(len(t.g.tail)))
	if _, err := f.ReadAt(t.g.tail[:n], t.g.readOff-n); err == nil {
		t.g.tailN = int(n)
	}
}

// holdsLastAt is Checkpoint.holdsLast for the file at name, which must also have been
// born when the checkpointed file was (bornAs).
func holdsLastAt(name string, cp *Checkpoint) bool {
	f, err := openName(name)
	if err != nil {
		return true // told when it is opened
	}
	defer f.Close()
	return cp.bornAs(f) && cp.holdsLast(f)
}

// setGen makes the file seen as fi at name the followed generation, from offset 0,
// without a descriptor.
func (t *Tailer) setGen(name string, fi fs.FileInfo, atPath bool) {
	t.left = nil
	dev, ino, nlink := fileID(fi)
	t.g = gen{has: true, name: name, key: fileKey{dev: dev, ino: ino}, maxSize: fi.Size(), nlink: nlink, mtime: fi.ModTime(), began: fi.ModTime(), blind: fi.Size() == 0}
	t.owns()
	t.sawFile([2]uint64{dev, ino}, name, atPath, fi)
	t.c.r, t.c.w = 0, 0
	t.setAtPath(atPath)
	t.lookRotated()
}

// attach gives the generation the open descriptor f (holding a slot).
func (t *Tailer) attach(f *os.File) error {
	t.s.m.FilesOpened.Inc()
	t.s.m.FilesOpen.Inc()
	return t.attachCounted(f)
}

// attachCounted is attach for a descriptor already counted open (held ahead).
func (t *Tailer) attachCounted(f *os.File) error {
	t.g.f = f
	t.openID.Store(&[2]uint64{t.g.key.dev, t.g.key.ino})
	if t.g.born == 0 {
		t.g.born = bornOf(f)
	}
	if _, err := f.Seek(t.g.readOff, io.SeekStart); err != nil {
		return err
	}
	return nil
}

// detach closes the descriptor, keeping what is known of the generation.
func (t *Tailer) detach() {
	if t.g.f == nil {
		return
	}
	t.forgetIfDeleted(t.g.f)
	t.openID.Store(nil) // before the descriptor is closed: its inode may be reused then
	t.closeHeld(t.g.f)
	t.g.f = nil
}

// closeHeld closes f, a descriptor holding a slot of the Set's bound (fdLimit), and
// gives the slot back.
func (t *Tailer) closeHeld(f *os.File) error {
	err := f.Close()
	t.s.fds.release()
	t.s.m.FilesOpen.Dec()
	return err
}

func (t *Tailer) setAtPath(atPath bool) {
	t.g.atPath = atPath
	t.sub.SetAll(!atPath)
}

// pos returns the checkpoint of the next byte to emit.
func (t *Tailer) pos() Checkpoint {
	cp := Checkpoint{Path: t.path, Stream: t.stream, Offset: t.c.off}
	if !t.g.has {
		if t.history != nil && !t.histTime.IsZero() {
			cp.MTime = t.histTime.UnixNano()
		}
		if t.c.frag {
			cp.LineOff = t.c.lineKept // a line whose rest is lost, not terminated yet (endLine)
		}
		return cp
	}
	if !t.g.mtime.IsZero() {
		cp.MTime = t.g.mtime.UnixNano()
	}
	if !t.g.began.IsZero() {
		cp.Began = t.g.began.UnixNano()
	}
	off := t.g.readOff - int64(t.c.w-t.c.r)
	cp.Dev, cp.Ino, cp.FPLen, cp.FP, cp.FileOffset = t.g.key.dev, t.g.key.ino, t.g.key.fpLen, t.g.key.fp, off
	cp.Size, cp.Born = t.g.maxSize, t.g.born
	if cp.FPLen > 0 && cp.FPLen == len(t.g.headB) {
		if t.g.endsOf != t.g.key {
			t.g.ends, t.g.endsOf = lineEnds(t.g.headB), t.g.key
		}
		cp.HeadEnds = t.g.ends
	}
	if t.c.frag {
		cp.LineOff = t.c.lineKept
	} else if m, ok := t.g.lines.at(off); ok && off > 0 {
		cp.LastLen, cp.LastCRC = int(m.n), m.crc
	}
	if t.g.skipAt != 0 {
		cp.Skip, cp.SkipAt, cp.SkipEnd = true, t.g.skipAt, t.g.skipEnd
		if t.g.skipAt < 0 {
			cp.SkipAt = off // before the first read: at the checkpoint
		}
	}
	cp.Target = t.targetName()
	return cp
}

// NextAppend implements Appender.
func (t *Tailer) NextAppend(ctx context.Context, max int, dst []byte) (Chunk, error) {
	t.c.into = dst
	defer func() { t.c.into = nil }()
	return t.Next(ctx, max)
}

// Next implements Source.
func (t *Tailer) Next(ctx context.Context, max int) (Chunk, error) {
	t.s.reading.Store(true)
	t.mu.Lock()
	t.nexts.Add(1)
	defer t.nextDone()
	if t.closed {
		return Chunk{}, ErrClosed
	}
	if max < 2 {
		return Chunk{}, fmt.Errorf("%w: %d", ErrChunkMax, max)
	}
	t.refreshSeen()
	if t.g.has && !t.toEnd {
		t.lookAhead()
	}
	for {
		if ch, ok := t.c.cut(max); ok {
			return t.finish(ch), nil
		}
		if t.ended {
			if ch, ok := t.lossChunk(); ok {
				return ch, nil // (the loss at its end first)
			}
			return Chunk{}, io.EOF
		}
		moved, err := t.step(ctx, max)
		if err != nil {
			return Chunk{}, err
		}
		if !moved {
			if ch, ok := t.lossChunk(); ok {
				return ch, nil
			}
			t.publish()
			// The channel is taken before idle looks whether a tailer waits for a slot:
			// one that begins to wait after that look closes it and wakes this one.
			press := t.s.fds.pressure()
			t.idle()
			if err := t.wait(ctx, press); err != nil {
				return Chunk{}, err
			}
			if t.g.has && !t.toEnd {
				// Woken (an event, the poll's tick): a look, as at the start of Next.
				// The looker cannot look while Next holds the lock, and a tailer
				// waiting here (for an acknowledgement before it leaves a lingering
				// generation read on, the generation parked for it grown) may sleep and
				// wake for seconds without getting to a look of its own. A deployment's
				// link switched to a release and away again meanwhile put that
				// release's log at the path when no look saw it: its lines were never
				// read, without a count (the breaker's case 06).
				t.lookAhead()
			}
		}
	}
}

// step does one unit of work. moved reports that something changed and the caller should
// look again before sleeping; err is only ctx's.
func (t *Tailer) step(ctx context.Context, max int) (moved bool, err error) {
	if t.toEnd && t.g.f == nil && t.failErr != nil {
		return false, t.failure() // (read once: not retried)
	}
	if t.failing != "" && time.Now().Before(t.retryAt) {
		return false, nil
	}
	if !t.g.has {
		if t.toEnd {
			return false, fmt.Errorf("%s: %w", t.path, fs.ErrNotExist)
		}
		if t.endWhenGone {
			if _, err := os.Lstat(t.path); errors.Is(err, fs.ErrNotExist) {
				// A match that vanished before it was opened, or one resumed after a
				// restart whose path is gone: its rotated generations not read yet are
				// drained first.
				if !t.drainNewer() {
					if t.lookErr != nil {
						t.fail(t.lookErr) // its rotated generations could not be told
						return false, nil
					}
					t.ended = true
				}
				return true, nil
			}
		}
		moved, err := t.openPath(ctx)
		if moved || err != nil || len(t.linger) == 0 && len(t.leftGood) == 0 {
			return moved, err
		}
		// No file at the path (deleted, not created again yet): what a writer appends
		// to a lingering generation is read meanwhile, not once one is there.
		return t.lookLinger(), nil
	}
	if t.g.f == nil {
		return t.reattach(ctx)
	}
	if moved, err := t.check(); moved || err != nil {
		return moved, err
	}
	if !t.saveGens() {
		return false, nil
	}
	if t.g.skipAt < 0 || t.g.skipAt > 0 && t.g.readOff >= t.g.skipAt {
		return t.skipOld(), nil
	}
	if t.g.leaveAt < 0 || t.g.leaveAt > 0 && t.g.readOff >= t.g.leaveAt {
		return t.leaveAtLeft(), nil
	}
	// (Only where a move mid-file is one at its end followed by growth: no copy being
	// drained with the live file kept, no walk bounded by where a run before left it.)
	plain := t.g.copyOf == 0 && t.live == nil && t.g.leaveAt == 0 && t.g.skipAt == 0 && !t.c.pending()
	if t.parkWait && plain {
		// Read to its end before, and written to since: the generation parked is
		// entered again first when it grew meanwhile (else, a lingering generation
		// written without pause kept the file at the path unread until it went quiet).
		t.parkWait = false
		if t.parked != nil && t.parked.grew() && t.canLinger() {
			if !t.acknowledged() {
				t.parkWait = true
				return false, nil // (Ack wakes it)
			}
			t.lingerLeft()
			t.leaveGen()
			return true, nil
		}
	}
	if t.lingerGrew && plain && t.g.atPath {
		// What a lingering generation grew by is read before more of the followed
		// one: once what was returned is acknowledged (Ack wakes it).
		if t.lookLinger() {
			return true, nil
		}
		if t.lingerGrew {
			return false, nil
		}
	}
	n, err := t.read(max)
	if errors.Is(err, errReadChanged) {
		return true, nil // check looks again
	}
	if err != nil {
		t.fail(err)
		return false, nil
	}
	if n > 0 {
		t.recovered()
		return true, nil
	}
	if t.toEnd {
		if t.c.pending() {
			if n := t.unfinishedLine(); n > 0 {
				t.unfinished = n
				t.log.Info("the last line has no '\\n' and the file was written less than RotateWait ago; left for the next run, which ships it once complete",
					"bytes", n, "file_offset", t.g.readOff-n, "rotate_wait", t.s.cfg.RotateWait)
			} else {
				t.c.terminate = true
			}
		}
		t.ended = true
		return true, nil
	}
	moved, err = t.atEOF(max)
	if moved || err != nil || len(t.linger) == 0 && len(t.leftGood) == 0 {
		return moved, err
	}
	return t.lookLinger(), nil
}

// openPath follows the file now at path, from its start, after any rotated generation
// that appeared while no file was followed.
func (t *Tailer) openPath(ctx context.Context) (bool, error) {
	if t.drainNewer() {
		return true, nil
	}
	if t.lookErr != nil {
		t.fail(t.lookErr) // a rotated generation not read yet could not be told
		return false, nil
	}
	if t.stillYields() {
		return false, nil // woken by a change of no concern: the path names the same file
	}
	if pi, err := os.Stat(t.path); err == nil && len(t.ahead) > 0 {
		// Seen ahead: its slot is taken again below.
		dev, ino, _ := fileID(pi)
		if i := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino }); i >= 0 {
			t.closeAhead(i)
		}
	}
	if err := t.acquire(ctx); err != nil {
		return false, err
	}
	pre := symlinkChain(t.path)
	f, fi, err := openStat(t.path)
	if t.openHook != nil && f != nil {
		t.openHook()
	}
	if err != nil || f == nil {
		t.s.fds.release()
		if err != nil {
			t.fail(err)
		} else {
			t.recovered()
		}
		t.watchLinks(false) // a dangling symlink: where its target will appear
		return false, nil
	}
	var names []string
	var infos []fs.FileInfo
	if t.history != nil {
		// A generation at the path when drainNewer looked, rotated away before the
		// path was opened, is not the file opened: it is drained first (the names are
		// listed again after the open; the rename came before the file opened was
		// created). Without this, the file opened was read and that generation skipped
		// whole, without a count.
		var name string
		var gi fs.FileInfo
		if name, gi, names, infos = t.findNewerIn(nil); name != "" || t.lookErr != nil {
			f.Close()
			t.s.fds.release()
			if name == "" {
				t.fail(t.lookErr)
				return false, nil
			}
			t.drainFound(name, gi)
			return true, nil
		}
	}
	t.recovered()
	t.watchOpened(f, fi, pre)
	yield, h := t.yields(fi)
	if yield {
		f.Close()
		t.s.fds.release()
		return false, nil
	}
	t.lingerEmptySince(names, infos)
	t.history, t.orphan = nil, false // the path came back
	t.log.Debug("following new file")
	left := t.left
	t.walkDone()
	t.setGen(t.path, fi, true)
	if err := t.attach(f); err != nil {
		t.fail(err)
		t.detach()
		return false, nil
	}
	if t.backFromLinger(left, fi) {
		return true, nil
	}
	if t.continueHanded(h) {
		return true, nil
	}
	if t.enterLeft() {
		return true, nil
	}
	if off := t.holdsLeft(left, fi); off > 0 {
		t.log.Info("the file starts with the generation just drained (copytruncate's copy, drained before the truncation); reading it from the copy's end",
			"copy", left.name, "file_offset", off)
		if _, err := t.g.f.Seek(off, io.SeekStart); err != nil {
			t.fail(err)
			t.detach()
			return false, nil
		}
		t.g.readOff, t.g.from = off, uint64(off)
		t.g.blind = false
		t.entered(off)
		return true, nil
	}
	t.entered(0)
	return true, nil
}

// drainNewer follows, while no file is followed, the oldest rotated generation that
// appeared since (not in the history), from its start; it reports whether there was one.
// A deleted generation seen ahead and held open (aheadGone) takes its turn as well: one
// that was still empty when the generation before it was left (a copy is left as soon as
// it is drained) is taken once its writer, which still holds it, has written to it.
func (t *Tailer) drainNewer() bool {
	t.lookErr = nil
	if len(t.linger) > 0 && t.resumeLingerRead() {
		return true
	}
	var name string
	var gi fs.FileInfo
	if t.history != nil {
		name, gi = t.findNewer(nil)
	}
	if len(t.ahead) > 0 || len(t.gone) > 0 {
		if i, ai := t.aheadGone(); i >= 0 && (name == "" || !gi.ModTime().Before(ai.ModTime())) {
			t.toAhead(i, ai)
			return true
		}
	}
	if name == "" {
		return false
	}
	t.drainFound(name, gi)
	return true
}

// drainFound follows the rotated generation not read yet found at name (seen as gi).
func (t *Tailer) drainFound(name string, gi fs.FileInfo) {
	t.log.Info("draining a rotated generation not read yet", "file", name, "size", gi.Size())
	t.s.m.GenerationsFound.Inc()
	t.setGen(name, gi, false)
	t.useAhead()
	if t.enterHanded(name) {
		return
	}
	if !t.enterLeft() {
		t.entered(0)
	}
}

// enterLeft enters the generation just set (setGen) where it was left, when it is one
// read before that came back (a symlink switched back, a symlinked release directory
// switched back, a file renamed back), rather than from its start: the same device and
// inode, still starting with the head read and holding the last bytes read at the offset
// it was left at. Left in this run, it is one of the last generations drained; left by a
// run before, the record of generations says where (genEntry.Left), or, when that run
// read it on past its start (From), where it went on. It reports whether it entered it.
func (t *Tailer) enterLeft() bool {
	dev, ino, size := t.g.key.dev, t.g.key.ino, t.g.maxSize
	for i := len(t.drained) - 1; i >= 0; i-- {
		d := &t.drained[i]
		same := d.key.dev == dev && d.key.ino == ino
		// Another inode holding all that was read of it (its whole head, a line end in
		// it, and its last bytes read, at their offsets) is its copy (copytruncate's,
		// made after it came back): read on from the same offset too.
		if !same && !(d.headLine && int64(len(d.headB)) == min(d.readOff, FingerprintLen)) {
			continue
		}
		if size < d.readOff || len(d.headB) != d.key.fpLen || int64(d.tailN) != min(d.readOff, int64(len(d.tail))) ||
			!t.genHolds(d.headB, 0) || !t.genHolds(d.tail[:d.tailN], d.readOff-int64(d.tailN)) {
			if !same {
				continue
			}
			if n := t.keptOf(d.headB, size); n > 0 && n < d.readOff {
				// Back, and truncated to a smaller size since (truncate -s N): read on
				// from where it stops holding what was read.
				t.log.Info("the file is a generation drained before, back and truncated to a smaller size since; reading on from where it stops holding what was read",
					"file", t.g.name, "file_offset", n, "left_at", d.readOff, "size", size)
				t.s.m.FilesTruncated.Inc()
				h := d.headB[:min(n, int64(len(d.headB)))]
				t.g.key.fpLen, t.g.key.fp, t.g.headB, t.g.headLine = len(h), fingerprint(h), h, true
				t.g.tailN = 0
				if k := min(n, int64(len(t.g.tail))); t.genRead(t.g.tail[:k], n-k) {
					t.g.tailN = int(k)
				}
				t.enterAt(n, false)
				return true
			}
			break // the inode holds another content: the record of a run before is older
		}
		t.log.Info("the file is a generation drained before (it came back: a symlink switched back, or a file renamed back; or a copy of it); reading on from where it was left",
			"file", t.g.name, "file_offset", d.readOff, "size", size)
		t.g.key.fpLen, t.g.key.fp, t.g.headB, t.g.headLine = d.key.fpLen, d.key.fp, d.headB, d.headLine
		t.g.tail, t.g.tailN = d.tail, d.tailN
		t.enterAt(d.readOff, false)
		return true
	}
	if t.gens.past(t.c.off) {
		// No run before recorded a generation at or past the next offset.
		return t.enterLeftElsewhere()
	}
	head := t.headNow()
	if e, ok := t.gens.continuedAt(dev, ino, t.c.off, head); ok && int64(e.From) <= size {
		// Read on past its start by the run before (shrunk in place, or back at the
		// path): the same bytes at the same offsets.
		at := e.Base + e.From
		t.log.Info("the file is a generation a run before read on from past its start (shrunk in place, or back at the path); reading on from there at the offsets it had",
			"file", t.g.name, "file_offset", e.From, "offset", at)
		if at > t.c.off {
			t.skipSent(int64(at-t.c.off), "read before the tailer resumed, from generations destroyed since", true)
		}
		t.goneJump, t.pastGone = 0, goneGen{}
		t.c.off = at
		t.g.key.fpLen, t.g.key.fp, t.g.headLine = e.FPLen, e.FP, e.Line
		t.enterAt(int64(e.From), true)
		return true
	}
	if e0, ok := t.gens.firstAt(dev, ino, t.c.off, head); ok && e0.From == 0 && e0.Dev == dev && e0.Ino == ino {
		// (One that begins where the generation was left is no shrink: read on after
		// a lingering one, parked for it, or a lingering one itself. The walk reads it
		// up to there and leaves it, leaveWhereLeftAt.)
		if ec, ok := t.gens.continuationAfter(dev, ino, e0.Base, head); ok && int64(ec.From) <= size &&
			!t.gens.leftWhere(dev, ino, e0.Base, int64(ec.From)) {
			// Read from its start by the run before, then shrunk (truncate -s N) and read
			// on from N at later offsets: what it holds up to N is sent again at the
			// offsets it had, then the rest at the offsets that run gave it (skipOld).
			t.log.Info("the file is a generation a run before read, truncated to a smaller size and read on from there; reading it again at the offsets it had",
				"file", t.g.name, "offset", e0.Base, "kept", ec.From, "then_offset", ec.Base+ec.From)
			if offAfter(e0.Base, t.c.off) {
				t.skipSent(int64(e0.Base-t.c.off), "read before the tailer resumed, from generations destroyed since", true)
			}
			t.c.off = e0.Base
			t.g.key.fpLen, t.g.key.fp, t.g.headLine = ec.FPLen, ec.FP, ec.Line
			t.g.skipAt, t.g.skipEnd = int64(ec.From), ec.Base+ec.From
			t.enterAt(0, true)
			return true
		}
	}
	if e, n, ok := t.gens.shrunkSince(dev, ino, t.c.off, head, size); ok {
		// Read by the run before, and shrunk since (truncate -s N): what it still holds
		// is sent again at the offsets it had, what follows after the offsets the old
		// content used (skipTo).
		at := e.Base + e.From
		t.log.Info("the file is a generation a run before read, truncated to a smaller size since; reading it again at the offsets it had up to where it stops holding what was read, then on after them",
			"file", t.g.name, "file_offset", e.From, "offset", at, "kept", n)
		if at > t.c.off {
			t.skipSent(int64(at-t.c.off), "read before the tailer resumed, from generations destroyed since", true)
		}
		t.goneJump, t.pastGone = 0, goneGen{}
		t.c.off = at
		h := head[:min(n, int64(len(head)))]
		t.g.key.fpLen, t.g.key.fp, t.g.headB, t.g.headLine = len(h), fingerprint(h), bytes.Clone(h), true
		t.g.skipAt, t.g.skipEnd = n, e.End
		t.enterAt(int64(e.From), true)
		return true
	}
	e, ok := t.gens.leftBefore(dev, ino, t.c.off, head)
	if !ok || size < e.Left || e.TailN <= 0 {
		return t.enterLeftElsewhere()
	}
	tail := make([]byte, e.TailN)
	if !t.genRead(tail, e.Left-int64(e.TailN)) || fingerprint(tail) != e.TailFP {
		return t.enterLeftElsewhere()
	}
	if lg, ltail, ok := leftFurther(t.g.f, t.g.name, [2]uint64{dev, ino}, t.s.store.left, t.stream, e.Left); ok {
		// Read on since by another stream, from where this one left it (a glob's
		// match of its rotated name, its old writer having appended to it): the bytes
		// up to where that stream left it are that stream's. Read again here, they were
		// sent twice (TestGlobRotatedNamesAlsoMatchCrash/default_names/m-noack, about
		// 1 run in 100: the generation written to after the checkpointed one, so taken
		// for one rotated since; the hand-over that says so in a run is not kept).
		t.log.Info("the file is a generation a run before read and left, read on since by another stream; reading on from where that stream left it",
			"file", t.g.name, "left_at", e.Left, "stream_path", t.s.store.pathOf(lg.stream), "file_offset", lg.left, "size", size)
		t.g.key.fpLen, t.g.key.fp = lg.fpLen, lg.fp
		t.g.headLine = e.Line && lg.fpLen == e.FPLen && lg.fp == e.FP
		t.g.tailN = copy(t.g.tail[:], ltail)
		t.enterAt(lg.left, false)
		return true
	}
	t.log.Info("the file is a generation a run before read and left (it came back: a symlink switched back, or a file renamed back); reading on from where it was left",
		"file", t.g.name, "file_offset", e.Left, "size", size)
	t.g.key.fpLen, t.g.key.fp, t.g.headLine = e.FPLen, e.FP, e.Line
	t.g.tailN = copy(t.g.tail[:], tail)
	t.enterAt(e.Left, false)
	return true
}

// keptOf returns how much of a content whose head was headB the followed file, of size
// bytes, still holds (it was truncated to a smaller size and perhaps written since): the
// last line end of the head before the first byte that differs, size when it holds the
// head's start whole, or, when it holds the whole head and more, the head's last line
// end (past it nothing is known: what follows is read again, never skipped). It returns
// 0 when it does not start with a line of the head.
func (t *Tailer) keptOf(headB []byte, size int64) int64 {
	b := make([]byte, min(size, int64(len(headB))))
	if len(b) == 0 || !t.genRead(b, 0) {
		return 0
	}
	p := 0
	for p < len(b) && b[p] == headB[p] {
		p++
	}
	switch {
	case p < len(b):
		return int64(bytes.LastIndexByte(headB[:p], '\n') + 1)
	case bytes.IndexByte(b, '\n') < 0:
		return 0
	case size <= int64(len(headB)):
		return size
	}
	return int64(bytes.LastIndexByte(headB, '\n') + 1)
}

// enterAt enters the followed generation at file offset off, its bytes before it read
// and shipped already. Unless at the offsets it had (recorded), the offsets used by runs
// before the tailer resumed are not used again.
func (t *Tailer) enterAt(off int64, recorded bool) {
	if t.g.f != nil {
		if _, err := t.g.f.Seek(off, io.SeekStart); err != nil {
			t.fail(err)
			t.detach()
		}
	}
	t.g.readOff, t.g.from, t.g.blind = off, uint64(off), false
	t.g.maxSize = max(t.g.maxSize, off)
	t.c.r, t.c.w = 0, 0
	if !recorded && t.goneJump == 0 && !t.gens.past(t.c.off) {
		if _, _, beyond := t.gens.lookup(0, 0, nil, t.c.off); beyond {
			h := t.gens.horizonAt()
			t.log.Warn("generations read before the tailer resumed follow; the stream goes on past the offsets they had",
				"file", t.g.name, "offset", t.c.off, "jump", h-t.c.off)
			t.jumpInto(h, max(t.reach, t.usedEnd()), "generations read before the tailer resumed, destroyed since", true)
		} else {
			t.pastUsed(false)
		}
	}
	t.enteredHow(off, recorded)
}

// skipOld moves the stream past the offsets the run before used for the old content of
// the followed generation once what the file still holds of it was sent again (skipAt):
// to its recorded end, else past every offset known used (the runs' frontier, this
// run's reach, up to the next generation recorded), else, unknown (a run crashed), by
// LossGap. It reports whether it moved.
func (t *Tailer) skipOld() bool {
	if t.c.r != t.c.w {
		t.c.terminate = true // (skipAt is a line end: nothing is pending there)
		return true
	}
	at := t.g.skipAt
	if at < 0 {
		at = t.g.readOff
	}
	t.g.skipAt = 0
	next := t.g.skipEnd
	if next == 0 {
		if sent, known := t.gens.frontier(); known {
			next = min(max(sent, t.reach), t.gens.nextFrom(t.c.off))
			if next == math.MaxUint64 {
				next = 0
			}
		}
	}
	switch {
	case next > t.c.off:
		t.skipSent(int64(next-t.c.off), "the rest of the file's old content, read and sent by a run before (not acknowledged), truncated since", true)
	case next == 0:
		jump := max(t.c.off+LossGap, t.gens.horizonAt())
		t.log.Warn("the old content of the file, truncated since, was read further by a run before that did not close cleanly (how far is unknown); the stream jumps past every offset it may have used",
			"file", t.g.name, "file_offset", at, "offset", t.c.off, "jump", jump-t.c.off)
		t.jumpInto(jump, max(t.reach, t.usedEnd()), "the rest of the file's old content, read by a run before, truncated since", true)
	}
	t.g.from = uint64(at)
	t.entered(at)
	return true
}

// genRead reads len(b) bytes at off of the followed generation (through its descriptor,
// else by name); it reports whether it could.
func (t *Tailer) genRead(b []byte, off int64) bool {
	if off < 0 {
		return false
	}
	f := t.g.f
	if f == nil {
		if f = t.openGenName(); f == nil {
			return false
		}
		defer f.Close()
	}
	_, err := f.ReadAt(b, off)
	return err == nil
}

// openGenName opens the followed generation, which has no descriptor, by its name, and
// returns nil when it is not found. The name is taken for the generation's only when it
// still holds its file (device and inode): logrotate shifting the numbered names (.4 to
// .5, .3 to .4) after the walk listed them and before it looks at the one it chose
// leaves that name to the next newer generation, whose head taken for the chosen one's
// made the chosen one look destroyed (its bytes counted so and skipped), and it was read
// again under its new name (bench case 20, v38 of run 7: 56 lines twice). The generation
// is then looked for by identity among the rotated names, with looks that must settle
// (findByIdentityErr): found under another name, that file is read. The name kept is not
// changed here: reattach finds it there too when it opens it.
func (t *Tailer) openGenName() *os.File {
	f, fi, err := openStat(t.g.name)
	if err == nil && f != nil {
		if dev, ino, _ := fileID(fi); dev == t.g.key.dev && ino == t.g.key.ino {
			return f
		}
		f.Close()
	} else if err != nil && !errors.Is(err, errNotRegular) {
		return nil // not a conclusion about the file (a shortage of descriptors): no head
	}
	name, _, _ := t.findByIdentityErr(t.g.key, 0)
	if name == "" {
		return nil
	}
	f, fi, err = openStat(name)
	if err != nil || f == nil {
		return nil
	}
	if dev, ino, _ := fileID(fi); dev != t.g.key.dev || ino != t.g.key.ino {
		f.Close()
		return nil
	}
	t.log.Debug("the followed generation, not open, was renamed since it was listed; looking at it under its new name",
		"file", t.g.name, "now", name)
	return f
}

// genHolds reports whether the followed generation holds b at off.
func (t *Tailer) genHolds(b []byte, off int64) bool {
	got := make([]byte, len(b))
	return t.genRead(got, off) && bytes.Equal(got, b)
}

// holdsLeft returns the size of the generation left (drained whole) when the followed
// file, another inode seen as fi, starts with all of it (its head and its last bytes at
// the same offsets): copytruncate's copy of the file, made before a truncation to come.
// It returns 0 otherwise.
func (t *Tailer) holdsLeft(left *gen, fi fs.FileInfo) int64 {
	if left == nil || t.g.f == nil {
		return 0
	}
	n := left.readOff
	dev, ino, _ := fileID(fi)
	if n == 0 || fi.Size() < n || (dev == left.key.dev && ino == left.key.ino) ||
		int64(len(left.headB)) < min(n, FingerprintLen) || int64(left.tailN) != min(n, int64(len(left.tail))) {
		return 0
	}
	head := left.headB[:min(n, FingerprintLen)]
	b := make([]byte, len(head))
	if _, err := t.g.f.ReadAt(b, 0); err != nil || !bytes.Equal(b, head) {
		return 0
	}
	b = b[:left.tailN]
	if _, err := t.g.f.ReadAt(b, n-int64(left.tailN)); err != nil || !bytes.Equal(b, left.tail[:left.tailN]) {
		return 0
	}
	return n
}

// acquire takes a descriptor slot for the followed generation, waiting for one while
// all are held. A tailer never waits holding slots it can give up: the generations it
// holds open ahead that are still linked are closed first (found again by name in
// their turn). Tailers that held a newer file open each while waiting for a slot for
// their older one held every slot between them, and none moved again (idle() keeps the
// followed file open while deleted generations ahead are held, so that these never wait
// either).
func (t *Tailer) acquire(ctx context.Context) error {
	if t.s.fds.tryAcquire() {
		return nil
	}
	t.releaseAhead()
	t.releaseLinger()
	if t.s.fds.tryAcquire() {
		return nil
	}
	return t.s.fds.acquire(ctx)
}

// reattach opens the followed generation again (closed while idle, or not opened yet) and
// verifies that it is the same file; a file renamed meanwhile is found by identity.
func (t *Tailer) reattach(ctx context.Context) (bool, error) {
	if err := t.acquire(ctx); err != nil {
		return false, err
	}
	f, fi, err := openStat(t.g.name)
	if err != nil {
		t.s.fds.release()
		t.fail(err)
		return false, nil
	}
	if f != nil {
		if dev, ino, _ := fileID(fi); dev == t.g.key.dev && ino == t.g.key.ino {
			t.recovered()
			if err := t.attach(f); err != nil {
				t.fail(err)
				t.detach()
				return false, nil
			}
			return true, nil // check() verifies the head and size before reading
		}
		f.Close()
	}
	name, gi, err := t.findByIdentityErr(t.g.key, 0)
	if name == "" && err != nil {
		// No descriptor to look with: the file may be there, renamed. Not taken for
		// deleted (its lines lost); retried.
		t.s.fds.release()
		t.fail(err)
		return false, nil
	}
	if name != "" {
		f, _, err := openStat(name)
		if err != nil && isFDLimit(err) {
			t.s.fds.release()
			t.fail(err)
			return false, nil
		}
		if err == nil && f != nil {
			t.recovered()
			t.log.Info("closed idle file was renamed; draining it", "file", name)
			t.g.name, t.g.mtime = name, gi.ModTime()
			t.setAtPath(false)
			if err := t.attach(f); err != nil {
				t.fail(err)
				t.detach()
				return false, nil
			}
			return true, nil
		}
	}
	t.s.fds.release()
	t.recovered()
	const unread = "the file was deleted before these bytes were read (no descriptor was free, or it was not opened yet)"
	if !t.endPending(t.g.maxSize-t.g.readOff, unread) {
		return true, nil // the next look leaves it, once the line is shipped
	}
	t.log.Warn("file closed while idle (or not opened yet) was deleted; lines written to it after it was last seen are lost (their size is unknown)",
		"file", t.g.name, "file_offset", t.g.readOff, "size", t.g.maxSize)
	if n := t.g.maxSize - t.g.readOff; n > 0 {
		// Seen that long, never read (by this run): those bytes are lost, counted.
		t.loseUnread(n, unread)
	}
	t.leaveGen()
	return true, nil
}

// check verifies, before each read, that the open file is still the one read so far: not
// shorter than the read offset and with the same head. Truncation, copytruncate and a new
// file that reuses the inode are recognised here, whenever the tailer looks. The head
// fingerprint covers the bytes the file holds, read or not (up to FingerprintLen), so
// that a file replaced before the tailer read any byte of it is recognised too, and a
// checkpoint names the bytes it has not read yet.
func (t *Tailer) check() (bool, error) {
	fi, err := t.g.f.Stat()
	if err != nil {
		t.fail(err)
		return false, nil
	}
	if t.checkHook != nil {
		t.checkHook()
	}
	size := fi.Size()
	_, _, t.g.nlink = fileID(fi)
	// Seen larger before any byte of it was read or its head known (opened at the path
	// with the content the walk expected, then copytruncated before the first read): a
	// copy of that content may hold lines no run read, as for a file seen empty.
	shrunkUnread := t.g.readOff == 0 && t.g.copyOf == 0 && t.g.key.fpLen == 0 && size < t.g.maxSize
	if t.g.blind && t.g.readOff == 0 && t.g.copyOf == 0 && (t.g.rot != nil || !fi.ModTime().Equal(t.g.mtime)) || shrunkUnread {
		// The file was empty whenever the tailer looked, and may have been written and
		// copied away (copytruncate) before any byte was read. A rotated file that
		// appeared or changed since the last look (by identity, size and time when the
		// rotated files were seen then; else by time: changed between the last look and
		// the file's last change), and not modified after the file, holds those lines.
		// A copy whose bytes the file still starts with was made before a truncation
		// to come (copytruncate's window): the file is read, not its copy.
		name, gi, err := t.findUnreadCopy(t.g.mtime, fi.ModTime(), nil)
		starts := false
		if err == nil && name != "" {
			starts, err = t.startsWith(size, name, gi.Size())
		}
		if err != nil {
			return t.copyUntold(err)
		}
		if t.relook(fi) {
			return true, nil
		}
		if name != "" && !starts {
			f, _, err := openStat(name)
			if err != nil && isFDLimit(err) {
				return t.copyUntold(err)
			}
			if err == nil && f != nil {
				t.log.Info("file changed before any byte was read, and a rotated copy appeared (copytruncate); draining the copy first",
					"copy", name, "size", gi.Size())
				t.s.m.FilesTruncated.Inc()
				t.loseCompressedBlind(gi)
				t.toCopy(f, name, gi, 1)
				return true, nil
			}
		}
		if name == "" {
			t.loseCompressedAtOnce(fi)
		}
	} else if !t.g.headLine && t.g.key.fpLen > 0 && t.g.copyOf == 0 && !fi.ModTime().Equal(t.g.mtime) {
		// The known head is part of a line only, which many files start with: a new
		// content starting alike is not told apart by it. A copy made since the generation
		// began that starts with the head and holds the bytes read is copytruncate's.
		name, gi, err := t.findCopy(t.g.key, t.g.headB, t.g.readOff, t.g.tail[:t.g.tailN], t.g.began, fi.ModTime())
		if err != nil {
			return t.copyUntold(err)
		}
		if t.relook(fi) {
			return true, nil
		}
		if name != "" {
			f, _, err := openStat(name)
			if err != nil && isFDLimit(err) {
				return t.copyUntold(err)
			}
			if err == nil && f != nil {
				t.log.Info("file truncated (copytruncate) while only part of a line of it was known; draining its copy from the read offset first",
					"copy", name, "file_offset", t.g.readOff, "size", size)
				t.s.m.FilesTruncated.Inc()
				t.toCopy(f, name, gi, t.g.maxSize)
				return true, nil
			}
		}
	}
	if t.g.truncSeen && !t.c.pending() {
		// The truncation seen before the pending line was terminated: content written
		// since is new, though it may be as long as the read offset and start with the
		// same bytes (its first bytes were skipped as read).
		if t.relook(fi) {
			return true, nil
		}
		t.g.truncSeen = false
		t.g.blind, t.g.rot = false, nil
		return true, t.truncated(size, fi.ModTime())
	}
	same := size >= t.g.readOff
	if same {
		if same, err = t.head(size); err != nil {
			t.fail(&fs.PathError{Op: "read", Path: t.g.name, Err: err})
			return false, nil
		}
	}
	if same && t.g.copyOf == 0 && t.g.tailN > 0 && !fi.ModTime().Equal(t.g.mtime) &&
		int64(t.g.tailN) == min(t.g.readOff, int64(len(t.g.tail))) && !t.genHolds(t.g.tail[:t.g.tailN], t.g.readOff-int64(t.g.tailN)) {
		// The last bytes read are not there any more: shrunk and written again past the
		// read offset since the last look (truncate -s N, then appends).
		same = false
	}
	if same {
		t.g.maxSize = max(t.g.maxSize, size)
		t.g.mtime = fi.ModTime()
		t.g.blind = t.g.blind && size == 0
		t.lookRotated()
		return false, nil
	}
	if t.relook(fi) {
		return true, nil
	}
	t.g.blind, t.g.rot = false, nil
	return true, t.truncated(size, fi.ModTime())
}

// mtimeSlack is how far two modification times may be in the wrong order: a file
// changed after another may carry an earlier time, by a clock tick (Linux stamps most
// changes with a coarse clock, which may lag a fine-grained time it gave another file
// just before: multigrain timestamps, one tick is 4 ms at HZ=250). The copy searches
// (findCopy, findUnreadCopy, findReadCopy, findShrunkCopy) take a copy modified up to
// this much after the truncated file for one made before the truncation (its head and
// last bytes read decide), rather than skip it: its lines were lost, uncounted.
const mtimeSlack = 50 * time.Millisecond

// modifiedAfter reports whether fi was modified after t, by more than mtimeSlack.
func modifiedAfter(fi fs.FileInfo, t time.Time) bool {
	return fi.ModTime().After(t.Add(mtimeSlack))
}

// modifiedBefore reports whether fi was modified before t, by more than mtimeSlack.
func modifiedBefore(fi fs.FileInfo, t time.Time) bool {
	return fi.ModTime().Before(t.Add(-mtimeSlack))
}

// maxRelooks and maxShrinkLooks bound lookAgain.
const (
	maxRelooks     = 3
	maxShrinkLooks = 10
)

// relook reports whether the followed file changed since check looked at it (seen as
// fi): its size or time differ now. A copy is told from what the file held by the
// file's last change (a copy made after it is copytruncate's copy to come, made before
// its truncation); a look that a copy, a truncation and new writes came between
// (logrotate right then, or the shipper stopped there: SIGSTOP) would take the copy
// of what the file held for one to come, and the new content for the old (a whole copy
// never drained, and the bytes it held beyond the read offset counted lost at the next
// copy). The check is done again with the file as it is then (lookAgain).
func (t *Tailer) relook(fi fs.FileInfo) bool {
	now, err := t.g.f.Stat()
	if !lookAgain(fi, now, err, t.relooks) {
		t.relooks = 0
		return false
	}
	t.relooks++
	return true
}

// lookAgain reports whether a look at a file seen as fi at its start, and as now (err:
// not seen) at its end, is done again, after tries looks again in a row: the file
// changed meanwhile. One that shrank was truncated during the look (copytruncate's
// truncation: what the look decided from fi is wrong): looked at again up to
// maxShrinkLooks times; one that grew or was written (appends, which a busy file has
// between any two looks; a truncation and new writes beyond its size too), up to
// maxRelooks times.
func lookAgain(fi, now fs.FileInfo, err error, tries int) bool {
	switch {
	case err != nil:
		return false
	case now.Size() < fi.Size():
		return tries < maxShrinkLooks
	case now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()):
		return tries < maxRelooks
	}
	return false
}

// copyUntold puts the file in a failure state (fd_limit, retried with backoff): a
// rotated file that may be copytruncate's copy of it could not be told for want of a
// descriptor (EMFILE, ENFILE). It is never taken for another file: the file is not
// read (nor taken for truncated in place) until the copy is told. It reports moved, so
// that step returns before reading, and waits for the retry.
func (t *Tailer) copyUntold(err error) (bool, error) {
	t.fail(err)
	return true, nil
}

// findUnreadCopy returns the oldest rotated file, other than the followed one and read
// (copytruncate's copy of bytes read already, found by findReadCopy: older than the one
// sought, and not done yet when it is looked for) and not read yet, with data, not
// modified after until, that appeared or changed since the last look: copytruncate's
// copy of what the followed file held while the tailer did not look.
// With the rotated files seen at the last look (t.g.rot), a file appeared or changed if
// its identity is new or its size or time differs; without them, if it was modified at
// or after since (one tick of the file system clock cannot tell an older file apart).
//
// err is a shortage of descriptors (EMFILE, ENFILE) met while looking (a listing, or a
// head that could not be read): the copy may be there, untold; the caller retries.
func (t *Tailer) findUnreadCopy(since, until time.Time, read fs.FileInfo) (string, fs.FileInfo, error) {
	t.lookErr = nil
	names, infos := t.candidates()
	best := -1
	for i, fi := range infos {
		dev, ino, _ := fileID(fi)
		switch {
		case fi.Size() == 0, dev == t.g.key.dev && ino == t.g.key.ino, read != nil && os.SameFile(fi, read),
			modifiedAfter(fi, until), t.isDone(names[i], dev, ino, -1):
			continue
		case t.lingers([2]uint64{dev, ino}):
			// A generation t lingers on is no copy: what its old writer appends is read
			// on from where it was left (lookLinger). Taken for a copy, it was drained
			// as one and never lingered on again, and its later lines were lost
			// (-model.oldwriter seed 1141: left empty, then written to while the
			// followed file was empty too).
			continue
		case t.s.ownedElsewhere(t, [2]uint64{dev, ino}, names[i]) != nil:
			// Another stream reads it (a glob's match of its name, which took it for a
			// new file: it holds nothing this stream read): its lines are that stream's,
			// not drained here too (twice).
			continue
		case t.g.rot != nil:
			if was, ok := t.g.rot[[2]uint64{dev, ino}]; ok && was.size == fi.Size() && was.mtime.Equal(fi.ModTime()) {
				continue // as it was at the last look
			}
		case modifiedBefore(fi, since):
			continue
		}
		if best < 0 || fi.ModTime().Before(infos[best].ModTime()) {
			best = i
		}
	}
	if t.lookErr != nil {
		// A rotated file left unknown (isDone could not read its head) may be the
		// copy, or an older one than the best found.
		return "", nil, t.lookErr
	}
	if best < 0 {
		return "", nil, nil
	}
	return names[best], infos[best], nil
}

// startsWith reports whether the followed file, of size bytes, starts with the first
// min(n, FingerprintLen) bytes of the file name (n bytes long).
// err is a shortage of descriptors that kept it from reading name's head.
func (t *Tailer) startsWith(size int64, name string, n int64) (bool, error) {
	if size < n {
		return false, nil
	}
	h, err := readHeadErr(name)
	if err != nil && isFDLimit(err) {
		return false, err
	}
	if len(h) != int(min(n, FingerprintLen)) {
		return false, nil
	}
	b := make([]byte, len(h))
	if _, err := t.g.f.ReadAt(b, 0); err != nil {
		return false, nil
	}
	return bytes.Equal(b, h), nil
}

// lookRotated records the rotated files as they are now, while the followed file is
// blind (findUnreadCopy tells by them what changed since); otherwise it forgets them.
func (t *Tailer) lookRotated() {
	if !t.g.blind || t.g.copyOf > 0 {
		t.g.rot = nil
		return
	}
	_, infos := t.candidates()
	t.g.rot = make(map[[2]uint64]rotSeen, len(infos))
	for _, fi := range infos {
		dev, ino, _ := fileID(fi)
		t.g.rot[[2]uint64{dev, ino}] = rotSeen{fi.Size(), fi.ModTime()}
	}
}

// isAtPath reports whether the file seen as fi is the one at path now.
func (t *Tailer) isAtPath(fi fs.FileInfo) bool {
	pi, err := os.Stat(t.path)
	if err != nil {
		return false
	}
	dev, ino, _ := fileID(fi)
	pdev, pino, _ := fileID(pi)
	return dev == pdev && ino == pino
}

// head verifies that the open file of size bytes starts with the known head and extends
// the head fingerprint to its first min(size, FingerprintLen) bytes.
func (t *Tailer) head(size int64) (bool, error) {
	k := &t.g.key
	n := int(min(size, FingerprintLen))
	if n < k.fpLen {
		return false, nil
	}
	if n == 0 || (n == k.fpLen && k.fpLen == 0) {
		return true, nil
	}
	b := make([]byte, n)
	if _, err := t.g.f.ReadAt(b, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil // shrank since the stat
		}
		return false, err
	}
	if k.fpLen > 0 && fingerprint(b[:k.fpLen]) != k.fp {
		return false, nil
	}
	line := !t.g.headLine && bytes.IndexByte(b, '\n') >= 0
	t.g.headLine = t.g.headLine || line
	if k.fpLen > 0 && len(t.g.headB) != k.fpLen {
		// A head known from a checkpoint: its bytes, to tell a copy of them
		// (findReadCopy, holdsLeft) and to record its line ends.
		t.g.headB = bytes.Clone(b[:k.fpLen])
	}
	if n > k.fpLen {
		first := k.fpLen == 0
		k.fp, k.fpLen = fingerprint(b), n
		t.g.headB = bytes.Clone(b)
		switch {
		case t.g.recorded && (first || line || n == FingerprintLen):
			t.record() // the generation's content, known now (or better)
		case first:
			// The generation resumed from a checkpoint saved while it was empty (no run
			// recorded it on entering it): its head, durable before any byte of it is
			// returned, is what a restart after a crash tells the file by (resume).
			t.record()
		}
	}
	return true, nil
}

// readHeadAt reads the first min(size, FingerprintLen) bytes of f, a file seen size bytes
// long; ok is false when it holds fewer now (truncated since it was seen).
func readHeadAt(f *os.File, size int64) (head []byte, ok bool) {
	head = make([]byte, min(size, FingerprintLen))
	n, err := f.ReadAt(head, 0)
	if n < len(head) || err != nil && !errors.Is(err, io.EOF) {
		return nil, false
	}
	return head, true
}

// setHead makes head (the first bytes of the followed generation, read when it was
// entered from its start) its known head: content that replaces it before the tailer
// reads a byte of it is told from it.
func (t *Tailer) setHead(head []byte) {
	if len(head) == 0 {
		return
	}
	t.g.key.fpLen, t.g.key.fp = len(head), fingerprint(head)
	t.g.headB = head
	t.g.headLine = bytes.IndexByte(head, '\n') >= 0
}

// entered records that the followed generation begins here: its byte fileOff is the next
// to emit. A generation read from its start while walking again through generations read
// before the tailer resumed gets the offsets it had; if one of those was destroyed since,
// the stream never reuses its offsets for other bytes.
func (t *Tailer) entered(fileOff int64) {
	t.enteredHow(fileOff, false)
}

// enteredHow is entered; with recorded, the next offset is the one a run before gave
// the byte fileOff (the record of generations says so), and is taken as is.
func (t *Tailer) enteredHow(fileOff int64, recorded bool) {
	k := t.g.key
	t.notWaited([2]uint64{k.dev, k.ino})
	if i := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == k.dev && a.ino == k.ino }); i >= 0 {
		t.closeAhead(i) // followed now (the generation has a descriptor of its own)
	}
	if recorded {
		t.goneJump, t.pastGone, t.afterCopy = 0, goneGen{}, false
		t.g.base = t.c.off - uint64(fileOff)
		t.g.recorded = true
		t.record()
		return
	}
	if t.goneJump > 0 {
		// Resumed (Rewind, or a restart) past a checkpointed generation that is gone.
		t.enteredAfterGone(k, fileOff)
		return
	}
	afterCopy := t.afterCopy
	t.afterCopy = false
	if fileOff == 0 {
		// (A file entered past its start continues the copy just left with the same
		// bytes: the copied file itself, not truncated yet.)
		decided := false
		if !t.gens.past(t.c.off) {
			e, found, beyond := t.gens.lookup(k.dev, k.ino, t.headNow(), t.c.off)
			decided = found || beyond
			switch {
			case found && e.Base == t.c.off:
				t.leaveWhereLeftAt(e.Base, 0)
				t.leaveAtStart(e.Base)
			case found && offAfter(e.Base, t.c.off):
				t.skipSent(int64(e.Base-t.c.off), "read before the tailer resumed, from generations destroyed since", true)
				t.leaveWhereLeftAt(e.Base, 0)
				t.leaveAtStart(e.Base)
			case found || beyond:
				h := t.gens.horizonAt()
				t.log.Warn("a generation read before the tailer resumed was destroyed since; the stream jumps past the offsets it had (lines read again may arrive twice)",
					"file", t.g.name, "offset", t.c.off, "jump", h-t.c.off)
				t.jumpInto(h, max(t.reach, t.usedEnd()), "generations read before the tailer resumed, destroyed since", true)
				t.rereadOld()
			}
		}
		if !decided {
			t.pastUsed(afterCopy)
			// Not at offsets a run before gave it: a generation a run before read,
			// still starting with what it read (the checkpointed file shrunk in place,
			// truncate -s N, while the shipper was down, walked as gone since the run
			// before went on to others, and found at the path again), arrives again
			// at other offsets (-model.shrink -model.oldwriter seed 9109).
			t.rereadOld()
		}
		t.lingeringShrunkCopy()
		t.loseDue()
	}
	t.g.base = t.c.off - uint64(fileOff)
	if t.c.frag && t.c.terminate && t.c.r == t.c.w {
		// A line sent before ends first ('\n' alone at the next offset, endLine): the
		// generation begins after it, and its head is taken now, so that the position
		// after that '\n' names this content, not any file that gets its inode.
		t.g.base++
		if fileOff == 0 && t.g.key.fpLen == 0 {
			t.setHead(t.headNow())
		}
	}
	t.g.recorded = true
	t.record()
}

// leaveAtStart has the followed generation, entered at its start at base, its recorded
// offsets, left there at once (leaveAt -1) when the run before did so and sent another
// generation's bytes from there (genLog.leftAtStart: parked for a lingering one as soon
// as it was entered): that one is read there again first (resumeLingerRead), this one
// after it. Read there, it took that one's offsets (-model.oldwriter seed 701: offsets
// reused, its lines dropped by collectors as resends).
func (t *Tailer) leaveAtStart(base uint64) {
	if t.g.leaveAt != 0 || t.g.skipAt != 0 || !t.gens.leftAtStart(t.g.key.dev, t.g.key.ino, base, t.headNow()) {
		return
	}
	t.g.leaveAt = -1
	t.log.Info("a generation walked again was left at its start by the run before, which went on with others there: it is read after them",
		"file", t.g.name, "offset", base)
}

// pastUsed moves the next offset past the offsets used before, when the walk from a
// checkpoint (a restart, a rewind) enters, at its start, a generation no run recorded at
// the next offset or beyond, while offsets at or past it were used: the generation just
// left (copytruncate's copy, drained to its end) was read past its end before (from the
// copied file: lines written between the copy and the truncation, gone since) and those
// bytes were sent there. The offsets used are known from the runs' frontier (every run
// closed cleanly; this run's own), and at least up to where a generation was entered
// (its record). When the walk came through a copy and the frontier is not known (a run
// crashed), how far the copied file was read is not known either: the stream jumps by
// LossGap. Collectors that lack the bytes skipped count them as a gap: they are gone.
func (t *Tailer) pastUsed(afterCopy bool) {
	sent, known := t.gens.frontier()
	used := max(t.gens.reached(), t.reach)
	if known {
		used = max(used, sent)
	}
	if afterCopy && !known {
		jump := max(t.c.off+LossGap, t.gens.horizonAt(), used)
		t.log.Warn("the copytruncated file may have been read past its copy's end before the tailer resumed (a run before did not close cleanly: how far is unknown); the stream jumps past every offset it may have used",
			"file", t.g.name, "offset", t.c.off, "jump", jump-t.c.off)
		t.jumpPast(jump, used, "lines written between copytruncate's copy and its truncation, read from the file before the tailer resumed", true)
		return
	}
	if used > t.c.off {
		t.log.Warn("a generation read before the tailer resumed was read further than it holds now (copytruncate's copy: the lines written between the copy and the truncation are gone); the stream continues after the offsets they had",
			"file", t.g.name, "offset", t.c.off, "gap", used-t.c.off)
		t.skipSent(int64(used-t.c.off), "lines written between copytruncate's copy and its truncation, read from the file before the tailer resumed", true)
		if used == t.reach && t.reachInLine || used == t.stopReach && t.stopInLine {
			// What was returned there ended with a piece of a line (read from the file
			// in copytruncate's window) whose rest is gone: the line ends here, so that
			// this generation's first line is not joined to it.
			t.endLine(1)
		}
	}
}

// sentTail returns how far the offsets that follow the next one were used before the
// tailer resumed, by the followed generation (known from the runs' frontier, or this
// run's own, up to the next generation recorded).
func (t *Tailer) sentTail() uint64 {
	sent, known := t.gens.frontier()
	if !known {
		sent = 0
	}
	return min(max(sent, t.reach), t.gens.nextFrom(t.c.off))
}

// record writes the generation's entry to the generation log.
func (t *Tailer) record() {
	t.settleDue()
	k := t.g.key
	e := genEntry{Stream: t.stream, Base: t.g.base, Dev: k.dev, Ino: k.ino, FPLen: k.fpLen, FP: k.fp, Line: t.g.headLine, From: t.g.from, Ends: t.headEnds(),
		Seen: t.g.maxSize}
	t.g.seen = t.g.maxSize
	// A record not written is written before the next read (saveGens).
	_ = t.gens.add(e, t.acked.Load())
}

// refreshSeen writes to the record how much the generation followed, entered and not
// left, was seen to hold, when it grew since its entry said (genEntry.Seen): once per
// checkpoint saved (an acknowledgment came since the last call), with no sync of its
// own. A run killed while reading it leaves that size: a restart that finds the
// generation destroyed counts its bytes as possibly sent, not as offsets unused.
func (t *Tailer) refreshSeen() {
	a := t.acked.Load()
	if a == t.seenAck {
		return
	}
	t.seenAck = a
	t.refreshAheads()
	if !t.g.has || !t.g.recorded || t.g.maxSize <= t.g.seen {
		return
	}
	t.g.seen = t.g.maxSize
	_ = t.gens.grow(t.g.base, t.g.key.dev, t.g.key.ino, t.g.maxSize) // (lost: the size before stays a lower bound)
}

// noteGap records that the stream moved past r (genLog.noteGap): at once, or, while a
// jump holds its gaps (holdGaps), with the entry of the generation entered past it.
func (t *Tailer) noteGap(kind string, r OffsetRange) {
	if t.holdGaps {
		t.gens.queueGap(kind, r)
		return
	}
	_ = t.gens.noteGap(kind, r) // (a record not written is written before the next read: saveGens)
}

// jumpInto is jumpPast for a walk that enters the followed generation at jump (its entry
// recorded right after, before any read): the gap lines go out with that entry, in one
// synced write. A run killed after the jump leaves the generation entered in the record
// too, with its size, not a jump with nothing recorded behind it.
func (t *Tailer) jumpInto(jump, held uint64, why string, count bool) {
	t.holdGaps = true
	t.jumpPast(jump, held, why, count)
	t.holdGaps = false
}

// usedEnd is genLog.usedEnd for the followed generation (read again: not counted by
// its size).
func (t *Tailer) usedEnd() uint64 {
	return t.gens.usedEnd(t.g.key.dev, t.g.key.ino, t.headNow())
}

// headEnds returns the line ends of the known head (nil when its bytes are not known).
func (t *Tailer) headEnds() []lineEnd {
	if t.g.key.fpLen == 0 || len(t.g.headB) != t.g.key.fpLen {
		return nil
	}
	return lineEnds(t.g.headB)
}

// saveGens writes the generation records an earlier record could not write (no
// descriptor free, a full disk): no byte of a generation is read before its record is
// durable, so that a restart gives it the offsets it has. A failure is a failure state of
// the file: counted by reason, logged, retried with backoff; it reports whether reading
// may go on.
func (t *Tailer) saveGens() bool {
	if !t.gens.pending() {
		return true
	}
	if err := t.gens.save(); err != nil {
		if stateFull(err) {
			t.s.store.health.fail("record of generations of "+t.path, err)
			if t.unsaved.Load() {
				return true // no record needed for a stream a restart does not continue
			}
			if d := t.durable.Load(); d != nil && t.g.has && (d[0] != 0 || d[1] != 0) && *d == [2]uint64{t.g.key.dev, t.g.key.ino} {
				// The generation read is the one the last saved checkpoint names: a
				// restart resumes in it from there. (The records of generations it
				// left, if any, wait for space: a glob match that is one of them may
				// be read again as a new file, its lines written twice, never lost.)
				return true
			}
		}
		t.fail(err)
		return false
	}
	t.recovered()
	return true
}

// recordEnd records where the followed generation ends in the stream: the tailer moves
// on from it, every byte of it emitted.
func (t *Tailer) recordEnd() {
	t.settleDue()
	k := t.g.key
	e := genEntry{Stream: t.stream, Base: t.g.base, Dev: k.dev, Ino: k.ino, FPLen: k.fpLen, FP: k.fp, Line: t.g.headLine, End: t.c.off, From: t.g.from, Ends: t.headEnds()}
	// (A copytruncate copy too: a glob that matches the copy's name finds it read and
	// left, leftIndex, and does not read it again as a new match; Glob.readBefore.)
	if t.g.readOff > 0 && int64(t.g.tailN) == min(t.g.readOff, int64(len(t.g.tail))) {
		e.Left, e.TailN, e.TailFP = t.g.readOff, t.g.tailN, fingerprint(t.g.tail[:t.g.tailN])
		e.Name = t.targetName()
	}
	// A record not written is written before the next read (saveGens).
	_ = t.gens.add(e, t.acked.Load())
}

// toCopy makes the rotated file f at name (seen as fi), a copy of what the followed file
// held, the followed generation, read from the same offset; live is how many bytes the
// followed file was seen to hold (the part of the copy beyond it was not seen).
func (t *Tailer) toCopy(f *os.File, name string, fi fs.FileInfo, live int64) {
	oldBase, entered := t.g.base, t.g.recorded
	if t.g.f != nil {
		t.dropLive()
		if t.s.fds.tryAcquire() {
			t.live = t.g.f // keeps its slot; the copy takes the new one
		} else {
			t.g.f.Close() // keep the slot for the copy
			t.s.m.FilesOpen.Dec()
		}
		t.g.f = nil
	}
	dev, ino, nlink := fileID(fi)
	t.g.key.dev, t.g.key.ino, t.g.nlink = dev, ino, nlink
	// The copy's birth time, taken when it is attached: a checkpoint in the copy names
	// it, and a restart takes the file with its inode only if it was born then (bornAs).
	t.g.born = 0
	t.g.liveRot = t.g.rot
	t.g.name, t.g.maxSize, t.g.mtime, t.g.copyOf, t.g.blind, t.g.rot = name, fi.Size(), fi.ModTime(), max(live, 1), false, nil
	t.g.from = 0 // (the followed file's, entered past its start: not the copy's)
	// Claimed (its name may be a glob's match too): a stream of that match waits until
	// this one leaves it, and reads on from there, never again from its start.
	t.owns()
	if n := fi.Size(); n < int64(t.g.key.fpLen) && len(t.g.headB) == t.g.key.fpLen {
		// Copied before the rest of the head was written (findCopy): the copy's head is
		// the part it holds.
		t.g.headB = t.g.headB[:n]
		t.g.key.fpLen, t.g.key.fp = int(n), fingerprint(t.g.headB)
		t.g.headLine = bytes.IndexByte(t.g.headB, '\n') >= 0
	}
	t.setAtPath(false)
	if err := t.attach(f); err != nil {
		t.fail(err)
		t.detach()
	}
	if t.g.again {
		t.g.again = false
		t.enteredAgain(oldBase)
		return
	}
	if entered {
		// The copy is the followed generation: it keeps the offsets it had, even from
		// its start (nothing of it read yet while walking again after a restart, not a
		// generation new at the next offset that the offsets used before would be
		// skipped for).
		t.enteredHow(t.g.readOff-int64(t.c.w-t.c.r), true)
		return
	}
	// A copy of content never followed (backToLiveSeen: copied and truncated again
	// while the tailer did not look): a generation new at the next offset.
	t.entered(t.g.readOff - int64(t.c.w-t.c.r))
}

// drainCopyFromRead opens the copy name (seen as gi) of what was read, the file now
// size bytes, and goes on with it from the read offset (toCopy). It reports whether it
// did; an error is the descriptor shortage that kept it from opening it (the file is
// then not taken for gone).
func (t *Tailer) drainCopyFromRead(name string, gi fs.FileInfo, size int64) (bool, error) {
	f, _, err := openStat(name)
	if err != nil && isFDLimit(err) {
		return false, err
	}
	if err != nil || f == nil {
		return false, nil
	}
	t.log.Info("file truncated (copytruncate); draining its copy from the read offset first",
		"copy", name, "file_offset", t.g.readOff, "size", size)
	t.s.m.FilesTruncated.Inc()
	t.toCopy(f, name, gi, t.g.maxSize)
	return true, nil
}

// truncated handles a file whose content was replaced under the read offset; mtime is
// its modification time now.
//
// Every copy search is done, and the copy found opened, before anything is changed: a
// rotated file that could not be told for want of a descriptor (EMFILE, ENFILE) leaves
// the file in a failure state (fd_limit), retried with backoff, never taken for another
// file (the truncation is handled again then).
func (t *Tailer) truncated(size int64, mtime time.Time) error {
	lost := t.g.maxSize - t.g.readOff
	untold := func(err error) error {
		t.fail(err)
		return nil
	}
	var unread struct {
		name string
		gi   fs.FileInfo
		f    *os.File
	}
	defer func() {
		if unread.f != nil {
			unread.f.Close()
		}
	}()
	var rcName string
	var rcInfo fs.FileInfo
	if t.g.copyOf == 0 {
		name, gi, err := t.findCopy(t.g.key, t.g.headB, t.g.readOff, t.g.tail[:t.g.tailN], t.g.began, mtime)
		if err != nil {
			return untold(err)
		}
		if name != "" {
			if done, err := t.drainCopyFromRead(name, gi, size); err != nil {
				return untold(err)
			} else if done {
				return nil
			}
		}
		if f, name, gi := t.takeCopy(); f != nil {
			// Not found by name: deleted (a rotate count, rotated again before the
			// tailer got to it) or renamed where no rotated name is looked at; held since
			// a look saw it.
			t.log.Info("file truncated (copytruncate); its copy, gone from its name, is drained from the read offset first through the descriptor held since it was seen",
				"copy", name, "file_offset", t.g.readOff, "size", size, "copy_size", gi.Size())
			t.s.m.FilesTruncated.Inc()
			t.toCopy(f, name, gi, t.g.maxSize)
			return nil
		}
		if rcName, rcInfo, err = t.findReadCopy(mtime); err != nil {
			return untold(err)
		}
		// Content the tailer never saw (written, copied away and truncated again while
		// it did not look) is in a copy changed since the last look (drained first when
		// the file is read from its start, below).
		name, gi, err = t.findUnreadCopy(t.g.mtime, mtime, rcInfo)
		if err != nil {
			return untold(err)
		}

		if name != "" && rcName == "" && t.g.readOff > 0 {
			// The copy of what was read, missed by findCopy's look (logrotate shifted
			// the numbered names during it: path.1 renamed path.2 between the listing
			// and the look at path.1, a new path.1 made): drained from the read offset,
			// not taken for a copy never read (read again from its start: duplicates).
			ok, err := holdsRead(name, gi, t.g.key, t.g.headB, t.g.readOff, t.g.tail[:t.g.tailN])
			if err != nil && isFDLimit(err) {
				return untold(err)
			}
			if ok {
				if done, err := t.drainCopyFromRead(name, gi, size); err != nil {
					return untold(err)
				} else if done {
					return nil
				}
			}
		}
		if name != "" {
			f, _, err := openStat(name)
			if err != nil && isFDLimit(err) {
				return untold(err)
			}
			if err == nil && f != nil {
				unread.name, unread.gi, unread.f = name, gi, f
			}
		}
	}
	var afterLost int64
	if t.g.copyOf == 0 && rcName == "" && !(t.g.truncSeen && lost == 0) {
		// (Not again once endPending counted it.)
		lost, afterLost = t.compressedCopy(lost)
	}
	readCopy := false
	if t.g.copyOf == 0 {
		if name, gi := rcName, rcInfo; name != "" {
			readCopy = true
			// copytruncate copied the file, and the tailer read what was written to it
			// since, before the truncation: every byte of the copy was read from the file
			// and is shipped already. It is never sent again at other offsets.
			t.log.Info("file truncated (copytruncate); its copy holds only bytes read already",
				"copy", name, "copy_size", gi.Size(), "file_offset", t.g.readOff)
			t.readCopy(name, gi)
		}
	}
	if !t.endPending(lost, "the file was truncated before these bytes were read") {
		if afterLost > 0 && t.g.maxSize == t.g.readOff {
			t.lose(afterLost, "copies of the file compressed before the tailer looked (compressed files are not read)")
		}
		t.g.truncSeen = true
		return nil
	}
	if t.g.copyOf == 0 && !readCopy {
		if name, gi, n := t.findShrunkCopy(mtime); name != "" {
			if f, _, err := openStat(name); err == nil && f != nil {
				// Truncated to a smaller size, written, then copied and truncated
				// (copytruncate) before the tailer looked: the copy holds what was read
				// up to n, then the new lines. Its first n bytes are those read, or the
				// same bytes written again: which cannot be told, so the copy is drained
				// from its start (rereadLog), then the file from 0.
				t.rereadLog("truncated to a smaller size and written, then copied (copytruncate) before the tailer looked; its copy starts with lines read and is read from its start, then the file",
					gi.Size(), t.g.readOff, n)
				t.s.m.FilesTruncated.Inc()
				if lost > 0 {
					t.loseUnread(lost, "the file was truncated before these bytes were read")
				}
				if m := int(min(n, int64(t.g.key.fpLen))); m < t.g.key.fpLen {
					t.g.headB = t.g.headB[:m:m]
					t.g.key.fpLen, t.g.key.fp = m, fingerprint(t.g.headB)
					t.g.headLine = true
				}
				t.g.readOff, t.g.tailN = 0, 0
				t.c.r, t.c.w = 0, 0
				t.g.again = true
				t.toCopy(f, name, gi, 1)
				return nil
			}
		}
	}
	// A file that still starts with lines read (shrunk in place, truncate -s N, or
	// truncated and written again with the same head: a banner, a CSV header) is read
	// again from its start too: which of its bytes were shipped cannot be told (the
	// same bytes may have been written again), and none is skipped. Those read before
	// may arrive twice: counted and logged (Filebeat's and Fluent Bit's rule). So too
	// when copytruncate's copy of bytes read was found (readCopy): a file shrunk in
	// place, copied, then written in the window still starts with the lines kept.
	// The bytes a run before returned past the read offset (read on past the
	// checkpoint, not acknowledged) are read again too (readBefore).
	reread := int64(0)
	if n := t.shrunkAt(size); t.g.copyOf == 0 && n > 0 {
		reread = min(size, t.readBefore())
	}
	oldBase := t.g.base
	if reread > 0 {
		why := "the file is shorter than the read offset"
		if size >= t.g.readOff {
			why = "the last bytes read are not there any more (truncated and written again in place)"
		}
		t.rereadLog(why, size, t.g.readOff, reread)
	} else {
		t.log.Info("file truncated, reading from its start", "size", size, "offset", t.g.readOff)
	}
	t.s.m.FilesTruncated.Inc()
	if lost > 0 {
		t.loseUnread(lost, "the file was truncated before these bytes were read")
	}
	if afterLost > 0 {
		t.lose(afterLost, "copies of the file compressed before the tailer looked (compressed files are not read)")
	}
	t.g.key.fpLen, t.g.key.fp, t.g.tailN, t.g.headB, t.g.headLine = 0, 0, 0, nil, false
	t.g.maxSize = size
	t.g.readOff, t.g.from = 0, 0
	// Where the run before left the content it read (leaveWhereLeft) says nothing of
	// this one: kept, the new content was read only up to that offset, there inside a
	// line, and the tailer waited for ever for the end of a line it could not read
	// (-model.shrink -model.oldwriter seed 9249).
	t.g.leaveAt = 0
	t.g.mtime, t.g.began, t.g.blind = mtime, mtime, size == 0
	t.c.r, t.c.w = 0, 0
	defer t.lookRotated()
	if f, name, gi := t.nextCopy(unread.name, unread.gi); f != nil {
		// A copy held since a look saw it, older than the one found by name: drained
		// first (toCopy takes a slot of its own for it).
		t.s.fds.release()
		t.s.m.FilesOpen.Dec()
		if unread.f != nil {
			unread.f.Close()
		}
		unread.name, unread.gi, unread.f = name, gi, f
	}
	if unread.f != nil {
		// Content the tailer never saw (found above): drained first.
		t.log.Info("file truncated more than once (copytruncate); draining the copy of what was never read first",
			"copy", unread.name, "size", unread.gi.Size())
		f := unread.f
		unread.f = nil
		t.toCopy(f, unread.name, unread.gi, 1)
		return nil
	}
	if _, err := t.g.f.Seek(0, io.SeekStart); err != nil {
		t.fail(err)
	}
	if reread > 0 && !readCopy {
		t.enteredAgain(oldBase)
		return nil
	}
	t.entered(0)
	return nil
}

// readBefore returns the file offset of the followed generation up to which it may have
// been read and its bytes returned: the read offset, or further when a run before this
// one read it on past there (past the checkpoint this run resumed at, or where a walk
// from it entered the generation: the record of generations has it) and returned those
// bytes at the offsets that follow, unacknowledged: up to the runs' frontier and the
// next generation recorded after it. When a run before did not close cleanly (the
// frontier is unknown) and no generation is recorded after it, how far it read is
// unknown: it may have read the file to its end (math.MaxInt64).
func (t *Tailer) readBefore() int64 {
	if !t.g.recorded && !t.g.baseKnown {
		return t.g.readOff
	}
	at := t.g.base + uint64(t.g.readOff)
	end, own := t.gens.nextOther(at, t.g.key.dev, t.g.key.ino, t.g.base)
	if sent, known := t.gens.frontier(); known {
		end = min(end, max(sent, t.reach))
	}
	switch {
	case !own || end <= at:
		return t.g.readOff
	case end-at > uint64(math.MaxInt64-t.g.readOff):
		return math.MaxInt64
	}
	return t.g.readOff + int64(end-at)
}

// rereadLog counts and logs, once per event, a generation read again from its start
// while it still starts with lines read: reread bytes (those at offsets read before)
// may arrive twice; why says how the change was told.
func (t *Tailer) rereadLog(why string, size, offset, reread int64) {
	t.s.m.RereadBytes.Add(float64(reread))
	t.log.Warn("file truncated or rewritten in place, still starting with lines already read; reading it again from its start: which of its bytes were shipped cannot be told, so none is skipped (as Filebeat and Fluent Bit do), and up to reread_bytes bytes may arrive twice",
		"file", t.g.name, "why", why, "size", size, "file_offset", offset, "reread_bytes", reread)
}

// enteredAgain is entered(0) for the followed generation read again from its start
// (rereadLog), its byte 0 having been at oldBase: the generation's own record, with
// the same head, is not a generation of a run before to walk again at its offsets (it
// is this content's first read). A record of the run before that read it again from
// its start (a restart from an older checkpoint walks where that run went), or offsets
// used past the next one, are entered as any generation is.
func (t *Tailer) enteredAgain(oldBase uint64) {
	if t.goneJump == 0 && !t.gens.past(t.c.off) {
		if e, found, beyond := t.gens.lookup(t.g.key.dev, t.g.key.ino, t.headNow(), t.c.off); found && e.Base == oldBase && !beyond {
			t.enteredHow(0, true)
			return
		}
	}
	t.g.rereadCounted = true // (rereadLog did)
	t.entered(0)
}

// shrunkCopyGone counts, resuming at cp whose bytes are nowhere whole, a rotated file
// that is copytruncate's copy of the checkpointed file made after it was truncated to
// a smaller size and written, all while the shipper was down (findShrunkCopy's, found
// at a restart): another inode, modified since the generation began and not after the
// checkpointed file at the path (its truncation), holding cp's head up to one of its
// line ends (Checkpoint.HeadEnds), then other bytes. The walk reads it from its start
// at the stream's next offsets: its lines kept, read before, arrive again.
func (t *Tailer) shrunkCopyGone(cp *Checkpoint, since, until time.Time) {
	if cp.FPLen == 0 || len(cp.HeadEnds) == 0 {
		return
	}
	names, infos := t.candidates()
	for i, name := range names {
		fi := infos[i]
		dev, ino, _ := fileID(fi)
		if dev == cp.Dev && ino == cp.Ino || fi.Size() == 0 || modifiedBefore(fi, since) ||
			!until.IsZero() && modifiedAfter(fi, until) || t.lingers([2]uint64{dev, ino}) {
			continue
		}
		b := make([]byte, min(fi.Size(), int64(cp.FPLen)))
		f, err := openName(name)
		if err != nil {
			continue
		}
		_, err = f.ReadAt(b, 0)
		f.Close()
		if err != nil {
			continue
		}
		var n int64
		for _, e := range cp.HeadEnds {
			if e.N <= len(b) && int64(e.N) > n && fingerprint(b[:e.N]) == e.FP {
				n = int64(e.N)
			}
		}
		if n > 0 && n < fi.Size() && n < cp.FileOffset {
			t.counted = [2]uint64{dev, ino}
			t.rereadLog("copytruncate's copy of the checkpointed file, truncated to a smaller size and written before the copy while the shipper was down; it starts with lines read and is read from its start",
				fi.Size(), cp.FileOffset, n)
			return
		}
	}
}

// rereadOld counts in file_reread_bytes_total, once per generation, the bytes of the
// followed generation, entered at its start at offsets past those a run before used,
// that the record says a run before read (genLog.readOf: it starts with the head of a
// generation recorded, whole or up to one of its line ends): they arrive again at
// other offsets. (The file was taken for another content, the one read destroyed since:
// shrunk in place, truncate -s N, and perhaps copied by copytruncate, while the shipper
// was down.)
func (t *Tailer) rereadOld() {
	if t.g.rereadCounted || t.counted == [2]uint64{t.g.key.dev, t.g.key.ino} {
		return
	}
	t.g.rereadCounted = true
	head := t.headNow()
	if n := t.gens.readOf(t.g.key.dev, t.g.key.ino, head, t.g.maxSize); n > 0 {
		t.rereadLog("it starts with bytes of a generation a run before read (truncated to a smaller size since, or a copy of such a file), read again at other offsets", t.g.maxSize, 0, n)
	}
}

// findReadCopy returns copytruncate's copy of the followed file when it holds only bytes
// read already: a rotated file not modified after until (the truncated file's time now),
// no longer than the read offset, that starts with what was read (the whole copy when it
// is shorter than the known head, else the head, holding a whole line). Lines written to
// the file between the copy and the truncation were read from the file: the read offset
// is past the copy's end.
//
// err is a shortage of descriptors met while looking (a listing, a head that could not
// be read): the copy may be there, untold; the caller retries.
func (t *Tailer) findReadCopy(until time.Time) (string, fs.FileInfo, error) {
	k := t.g.key
	if k.fpLen == 0 || len(t.g.headB) != k.fpLen {
		return "", nil, nil
	}
	t.lookErr = nil
	names, infos := t.candidates()
	for i, name := range names {
		fi := infos[i]
		size := fi.Size()
		dev, ino, _ := fileID(fi)
		if size == 0 || size > t.g.readOff || (dev == k.dev && ino == k.ino) ||
			(!until.IsZero() && modifiedAfter(fi, until)) || t.lingers([2]uint64{dev, ino}) || t.isDone(name, dev, ino, -1) {
			continue
		}
		n := min(size, FingerprintLen)
		if n > int64(k.fpLen) || (n == FingerprintLen && !t.g.headLine && size > n) {
			continue // more than the known head, or only part of a line known
		}
		f, err := openName(name)
		if err != nil {
			if isFDLimit(err) {
				t.lookErr = err
			}
			continue
		}
		b := make([]byte, n)
		_, err = f.ReadAt(b, 0)
		held := err == nil && bytes.Equal(b, t.g.headB[:n]) && (size <= n || t.holdsOnlyRead(f, size))
		f.Close()
		if !held {
			continue // (shrunk and written again before the copy: findShrunkCopy's)
		}
		return name, fi, nil
	}
	return "", nil, t.lookErr
}

// readCopy records the copy name (seen as fi) of bytes read already as a generation of
// the stream drained where those bytes are (the followed file's first fi.Size() bytes):
// it is not read again, in this run or after a restart.
func (t *Tailer) readCopy(name string, fi fs.FileInfo) {
	dev, ino, _ := fileID(fi)
	k := fileKey{dev: dev, ino: ino}
	if h := readHead(name); len(h) > 0 {
		k.fpLen, k.fp = len(h), fingerprint(h)
	}
	t.done = append(t.done, k)
	if len(t.done) > 16 {
		t.done = slices.Delete(t.done, 0, len(t.done)-16)
	}
	// The generation resumed at its checkpoint (baseKnown) has its offsets too: without
	// the copy's record, a restart took the copy for a generation not read yet and
	// shipped its lines a second time.
	if t.g.recorded || t.g.baseKnown {
		line := bytes.IndexByte(t.g.headB, '\n') >= 0 || t.g.headLine
		e := genEntry{Stream: t.stream, Base: t.g.base, Dev: dev, Ino: ino, FPLen: k.fpLen, FP: k.fp, Line: line, End: t.g.base + uint64(fi.Size())}
		// A record not written is written before the next read (saveGens).
		_ = t.gens.add(e, t.acked.Load())
	}
}

// lose accounts for n bytes destroyed before they could be read: the stream's offset
// jumps by n, so that collectors see a gap of exactly that size, and it is counted and
// logged.
//
// Bytes among them that a run counted gone before (one that crashed before its
// checkpoint passed them: the record of generations says so) are not counted again.
func (t *Tailer) lose(n int64, why string) {
	from := t.c.off
	if !t.nextKnown {
		// A new stream that has not returned a chunk yet: the first one announces the
		// loss from here (a collector starts the stream at that loss notice, the bytes
		// counted as its gap), never from where the stream took its first offset.
		t.next, t.nextKnown = from, true
	}
	t.c.off += uint64(n)
	if n = int64(t.countOnce(OffsetRange{From: from, To: t.c.off})); n == 0 {
		return
	}
	t.s.m.LostBytes.Add(float64(n))
	t.log.Warn("bytes lost: "+why, "bytes", n, "offset", from)
}

// countOnce returns how many of the offsets r covers were not counted gone before, in
// this run or one before it (countedSent), and records them counted, durably (the
// record of generations), so that no later run counts them again.
func (t *Tailer) countOnce(r OffsetRange) uint64 {
	n := r.To - r.From
	for _, a := range t.countedSent {
		if lo, hi := max(a.From, r.From), min(a.To, r.To); lo < hi {
			n -= hi - lo
		}
	}
	AddRange(&t.countedSent, r)
	t.noteGap(gapCounted, r)
	return n
}

// Every path that moves the stream past offsets it will not return goes through one
// of lose, skipSent, loseAfter and jumpPast, which count them by what they held:
//   - lose: bytes destroyed before any run read them: lost (LostBytes);
//   - skipSent: bytes a run read and returned at these offsets (or may have: a run that
//     crashed), not acknowledged, destroyed since: not lost for a collector that has
//     them (UnackedDestroyed); the loss notice the sender puts before the next chunk
//     makes each collector count as a gap exactly the part it lacks;
//   - jumpPast: offsets skipped past every offset a run may have used, which it cannot
//     tell: announced as unused (Chunk.Unused), never as lost bytes.

// skipSent moves the stream past n bytes read and returned at these offsets by a run
// before (or by this run, before a rewind), or possibly returned (the run crashed after
// it saw them), that were not acknowledged and whose file was destroyed since: they
// cannot be sent again. They are not counted lost: a collector that has them lost
// nothing, and one that lacks them counts exactly that part as a gap (the chunk that
// follows announces them in Chunk.Lost, a loss notice). Counted in UnackedDestroyed.
//
// Offsets among them that this run or one before it made a jump over (a rewind walks
// again over a jump it made; a run walks from a checkpoint before a jump that a run
// which crashed made: the record of generations keeps them) are announced as unused
// again, never as lost bytes: a collector that missed the first announcement would
// count the whole jump as a gap.
// A rewind that walks again over bytes counted by the run that found them gone does
// not count them again (count false).
func (t *Tailer) skipSent(n int64, why string, count bool) {
	if n <= 0 {
		return
	}
	from, to := t.c.off, t.c.off+uint64(n)
	var held []OffsetRange // [from, to) but the ranges announced unused
	at := from
	for _, a := range t.announced {
		if lo, hi := max(a.From, from), min(a.To, to); lo < hi {
			t.unused = append(t.unused, OffsetRange{From: lo, To: hi})
			if lo > at {
				held = append(held, OffsetRange{From: at, To: lo})
			}
			at = hi
		}
	}
	if at < to {
		held = append(held, OffsetRange{From: at, To: to})
	}
	t.c.off = to
	if len(held) == 0 || !count {
		return
	}
	// (Those counted before, in this run, walked again by a rewind, or by a run before
	// that crashed, are not counted again.)
	var sent uint64
	for _, r := range held {
		sent += t.countOnce(r)
	}
	if sent == 0 {
		return
	}
	t.s.m.UnackedDestroyed.Add(float64(sent))
	t.log.Warn("bytes destroyed before they were acknowledged (sent before, or possibly sent: collectors that lack them count them as a gap, the others have them): "+why,
		"bytes", sent, "offset", from)
}

// noteAnnounced records the unused ranges a chunk announces (skipSent).
func (t *Tailer) noteAnnounced(us []OffsetRange) {
	for _, u := range us {
		AddRange(&t.announced, u)
	}
}

// AddRange adds u to the sorted, disjoint ranges *rs, merging it with those it touches;
// only the last maxRanges (64) are kept. The shipper keeps a stream's unused ranges with
// it too.
func AddRange(rs *[]OffsetRange, u OffsetRange) {
	i, _ := slices.BinarySearchFunc(*rs, u.From, func(a OffsetRange, off uint64) int { return cmp.Compare(a.From, off) })
	l := slices.Insert(*rs, i, u)
	merged := l[:1]
	for _, a := range l[1:] {
		if last := &merged[len(merged)-1]; a.From <= last.To {
			last.To = max(last.To, a.To)
		} else {
			merged = append(merged, a)
		}
	}
	if n := len(merged); n > maxRanges {
		merged = slices.Delete(merged, 0, n-maxRanges)
	}
	*rs = merged
}

// maxRanges bounds the ranges a tailer remembers of what it announced unused or
// counted as sent and destroyed in this run (one per such event).
const maxRanges = 64

// loseUnread accounts for the n bytes the followed generation held past its read offset,
// destroyed before this run read them (truncated, or deleted without a descriptor): the
// stream moves past them. Those a run before read there and returned at these offsets,
// not acknowledged (readBefore: past the checkpoint this run resumed at), were sent:
// bytes destroyed before they were acknowledged (skipSent); the rest are lost (lose).
// Counted lost, they were a false loss for the collectors that have them.
func (t *Tailer) loseUnread(n int64, why string) {
	if n <= 0 {
		return
	}
	if sent := min(t.readBefore(), t.g.readOff+n) - t.g.readOff; sent > 0 {
		t.skipSent(sent, why+", after a run before read them", true)
		n -= sent
	}
	if n > 0 {
		t.lose(n, why)
	}
}

// loseAfter moves the stream to next past the rest of a destroyed generation: the bytes
// below sent were returned by a run before (skipSent), those after it never read (lose).
func (t *Tailer) loseAfter(next, sent uint64, why string) {
	if next <= t.c.off {
		return
	}
	if s := min(sent, next); s > t.c.off {
		t.skipSent(int64(s-t.c.off), why, true)
	}
	if next > t.c.off {
		t.lose(int64(next-t.c.off), why)
	}
}

// jumpPast moves the stream to jump, past every offset a run may have used, when which
// it used cannot be told (LossGap past the next offset, the record's horizon). The
// offsets below held (where bytes of the destroyed generation are known to have been:
// returned in this run, or seen by the run before at its last look, possibly returned)
// are skipped as sent (skipSent); the rest up to jump are unused, as far as anyone can
// tell: announced to collectors as such (Chunk.Unused, envelope.FlagUnused), never as
// lost bytes, since a 4 GiB loss notice would make every collector count a gap that is
// not there.
func (t *Tailer) jumpPast(jump, held uint64, why string, count bool) {
	if jump <= t.c.off {
		return
	}
	if h := min(held, jump); h > t.c.off {
		t.skipSent(int64(h-t.c.off), why, count)
	}
	t.s.m.StreamJumps.Inc()
	if jump > t.c.off {
		u := OffsetRange{From: t.c.off, To: jump}
		t.unused = append(t.unused, u)
		// Remembered, by this run (a rewind walks over it again before it is
		// announced) and the runs after it (this one may crash before its checkpoint
		// passes it): unused again for them, never bytes.
		AddRange(&t.announced, u)
		t.noteGap(gapUnused, u)
		t.log.Info("offsets skipped past every offset a run may have used: announced to collectors as unused, not as lost bytes",
			"from", t.c.off, "to", jump)
		t.c.off = jump
	}
}

// errReadChanged is read's answer when the bytes it read may not be the followed
// generation's (readChanged): they were put back, and check looks again.
var errReadChanged = errors.New("file changed between the look and the read")

// read reads once from the file into the buffer; it returns 0, nil at end of file, and
// errReadChanged (nothing read) when the file was replaced under the read offset since
// check looked at it.
func (t *Tailer) read(max int) (int, error) {
	buf := t.c.reserve(max)
	for _, stop := range [...]int64{t.g.skipAt, t.g.leaveAt} { // read up to there first
		if stop > 0 && t.g.readOff < stop && int64(len(buf)) > stop-t.g.readOff {
			buf = buf[:stop-t.g.readOff]
		}
	}
	if t.readHook != nil {
		t.readHook()
	}
	n, err := t.g.f.Read(buf)
	if n > 0 && t.readChanged(n) {
		if _, serr := t.g.f.Seek(t.g.readOff, io.SeekStart); serr != nil {
			return 0, serr
		}
		return 0, errReadChanged
	}
	t.c.grow = n == len(buf)
	t.c.w += n
	t.g.readOff += int64(n)
	if n > 0 {
		t.noteRead(buf[:n])
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, err
	}
	return n, nil
}

// readChanged reports whether the n bytes just read at the read offset may belong to
// another content than the generation's: the file was truncated (copytruncate, or
// truncated and written again) between check's look and the read, which then read the
// new content at the old offset (its first bytes skipped as read, the rest read twice
// once the truncation is seen; the old content's copy taken for one of bytes read).
// Checked after the read, so a truncation after it does not matter: the head known is
// still there (a new content starts with other bytes), and a file never read (head
// unknown) was not written since check's look (it is looked at again, with any copy
// made since, up to maxRelooks times in a row: a busy file is written between any two
// looks). Copies are not truncated.
func (t *Tailer) readChanged(n int) bool {
	g := &t.g
	if g.copyOf > 0 {
		return false
	}
	if k := g.key; k.fpLen > 0 {
		b := make([]byte, k.fpLen)
		m, err := g.f.ReadAt(b, 0)
		return m < k.fpLen || (err != nil && !errors.Is(err, io.EOF)) || fingerprint(b) != k.fp
	}
	if g.readOff > 0 || t.rereads >= maxRelooks {
		t.rereads = 0
		return false
	}
	fi, err := g.f.Stat()
	if err != nil || fi.ModTime().Equal(g.mtime) && fi.Size() >= int64(n) {
		t.rereads = 0
		return false
	}
	t.rereads++
	g.blind = true // check looks for a copy made since its last look (findUnreadCopy)
	return true
}

// noteRead updates the head fingerprint and the last bytes after a read of b.
func (t *Tailer) noteRead(b []byte) {
	g := &t.g
	if len(b) >= len(g.tail) {
		g.tailN = copy(g.tail[:], b[len(b)-len(g.tail):])
	} else {
		keep := min(g.tailN, len(g.tail)-len(b))
		copy(g.tail[:], g.tail[g.tailN-keep:g.tailN])
		g.tailN = keep + copy(g.tail[keep:], b)
	}
	if g.key.fpLen < FingerprintLen && g.readOff > int64(g.key.fpLen) {
		b := make([]byte, min(g.readOff, FingerprintLen))
		if _, err := g.f.ReadAt(b, 0); err == nil {
			g.key.fp, g.key.fpLen, g.headB = fingerprint(b), len(b), b
		}
	}
	g.maxSize = max(g.maxSize, g.readOff)
	// The lines read of the file g reads, a copy too: a checkpoint taken in a copy names
	// the copy's last line read (pos), never one of the live file's old content at the
	// same offset.
	if g.lines == nil {
		g.lines = &lineRing{next: -1}
	}
	g.lines.note(b, g.readOff-int64(len(b)))
	t.graceTill = time.Time{}
}

// lossChunk returns, when the tailer has nothing to read now, a chunk without data
// (Span 0, at the stream's offset) carrying the loss not announced yet: bytes the
// stream jumped past since the last chunk (lose, skipSent). Chunk.Lost rides on the
// chunk that follows the loss; at the end of what a writer wrote (the generations
// compressed before their turn were the last ones written, or the writer stopped
// after the rotations) no chunk follows, and collectors were never told of it: the
// shipper counted the bytes lost, every collector's gap stayed 0. ok is false when
// there is none, or bytes are pending (the chunk cut from them carries it).
func (t *Tailer) lossChunk() (Chunk, bool) {
	if !t.nextKnown || t.c.off <= t.next || t.c.pending() {
		return Chunk{}, false
	}
	return t.finish(Chunk{Offset: t.c.off}), true
}

func (t *Tailer) finish(ch Chunk) Chunk {
	ch.Stream = t.stream
	ch.Pos = t.pos()
	if t.nextKnown && ch.Offset > t.next {
		ch.Lost = ch.Offset - t.next // skipped since the last chunk, or since the position resumed from
		for _, u := range t.unused {
			if u.From, u.To = max(u.From, t.next), min(u.To, ch.Offset); u.From < u.To {
				ch.Unused = append(ch.Unused, u)
			}
		}
		t.noteAnnounced(ch.Unused)
	}
	t.unused = nil
	t.next, t.nextKnown = ch.End(), true
	if end := ch.End(); end >= t.reach {
		t.reach = end
		t.reachInLine = ch.Flags&envelope.FlagFragment != 0 && ch.Flags&envelope.FlagLast == 0
	}
	t.s.m.count(&ch)
	if t.c.truncated > 0 {
		t.s.m.LinesTruncated.Add(float64(t.c.truncated))
		t.log.Warn("line above the hard maximum truncated", "max", t.c.max, "offset", ch.Offset)
		t.c.truncated = 0
	}
	return ch
}

// atEOF applies the rotation rules once the open file is read to its end.
func (t *Tailer) atEOF(max int) (moved bool, err error) {
	// The path first, then the file: a file deleted (or renamed) before the path was seen
	// to name another one is seen deleted. In the other order a file deleted and
	// created again between the two looks was taken for one still linked (nlink 1),
	// not lingered on, and what its writer appended after was never read.
	pi, perr := os.Stat(t.path)
	if fi, err := t.g.f.Stat(); err == nil {
		_, _, t.g.nlink = fileID(fi)
	}
	if t.eofHook != nil {
		t.eofHook()
	}
	t.seeIrregular(pi, perr)
	if perr == nil {
		// A lingering generation read on (the followed one parked for it) that the
		// path names again (a symlink switched back to it, a file renamed back) is not
		// taken for the path's file here: it takes its turn to its end only, the parked
		// one comes next, and the path's file, this one, is entered again where it was
		// left once the parked one is left (openPath, backFromLinger). Taken for the
		// path's file, the parked generation was never entered again and the other
		// lingering ones never read on (lookLinger waits for no parked one): their
		// writers' lines lost without a count (the breaker's case 06).
		//
		// Nor is the path's file one that files seen at the path while it was read left
		// an old target of its link (switched away and back before the tailer got to
		// them: r1 -> r2 -> r1): it is left, lingering as an old target, those are
		// drained (leaveGen, aheadGone), and it is entered again where it was left
		// (backFromLinger). Kept, they were never read.
		if dev, ino, _ := fileID(pi); dev == t.g.key.dev && ino == t.g.key.ino && t.g.copyOf == 0 && t.parked == nil && !t.leavesForTargets() && !t.leavesForAhead() {
			if !t.g.atPath {
				t.setAtPath(true)
				t.g.name = t.path
			}
			return false, nil
		}
	} else if !errors.Is(perr, fs.ErrNotExist) {
		t.fail(perr)
		return false, nil
	}
	// The path names another file, or none: a symlink may have been retargeted. Watch
	// where it leads now, so that the new file's first write wakes the tailer.
	t.watchLinks(false)
	t.lookAhead()
	if t.g.atPath || t.g.name == t.path && t.g.copyOf == 0 {
		// Under the path's name still: the file at the path when it was entered, or the
		// live file entered again after its copy was drained (backToLive), renamed away
		// before that (its name is the path's, though it was not at the path then): left
		// under that name, a renamed generation was taken for none, never lingered on,
		// and what its old writer appended after was lost (-model.oldwriter seed 1141).
		t.setAtPath(false)
		if t.g.nlink > 0 {
			if name, _ := t.findByIdentity(t.g.key, 0); name != "" {
				t.g.name = name
			} else if name := t.leftTargetName(); name != "" {
				t.g.name, t.g.leftTarget = name, true
			}
		}
	}
	newData := perr == nil && pi.Size() > 0 || t.aheadHasData()
	graceOver := false
	switch {
	case t.g.copyOf > 0, newData:
		// A copy is complete; a writer that reopened the path is done with this file.
	case t.parked != nil:
		// A lingering generation read on (lookLinger) takes its turn to its end only:
		// the generation parked for it, and the other lingering ones, come next. Kept
		// while the path is empty or gone, it held them all back.
	case t.g.nlink == 0, (t.orphan || t.endWhenGone) && perr != nil, perr != nil && t.s.waitedFor(t.g.key.dev, t.g.key.ino):
		// Deleted: a writer may still hold it open. Follow it for RotateWait after its
		// last growth. So too a glob's match renamed away whose path is gone, found so at
		// start (app-2026-11-29.log renamed app-2026-11-29.log.1 while the shipper was
		// down) or while running (job logs moved to an archive directory): the path may
		// never come back, and the match is dropped once drained (a file created at the
		// path later is a new match); followed until the path came back, every such
		// match kept its tailer, descriptor, goroutine and checkpoint for good.
		// So too a file renamed away from a path now gone to a path another source
		// follows (mv d1/x.log d2/x.log under 'd1/*.log' 'd2/*.log'), whose tailer waits
		// for it: left, it is handed over to that tailer at the offset shipped, as after
		// a restart. A newer rotated generation means the writer moved on.
		now := time.Now()
		if t.graceTill.IsZero() {
			t.graceTill = now.Add(t.s.cfg.RotateWait)
		}
		if now.Before(t.graceTill) {
			if !t.movedOn() {
				return false, nil
			}
		} else {
			graceOver = true
		}
	default:
		// Renamed away; the new file is empty or not there yet. The writer may still use
		// this file, unless a newer generation exists (it moved on past it).
		if !t.movedOn() {
			return false, nil
		}
	}
	// Leaving the file. Read once more: the writer finished with it before the path
	// changed, but possibly after our last read.
	if n, err := t.read(max); n > 0 || err != nil {
		if err != nil {
			t.fail(err)
			return false, nil
		}
		return true, nil
	}
	linger := !graceOver && t.canLinger()
	if linger && t.parked != nil && !t.acknowledged() {
		t.parkWait = true
		return false, nil // (Ack wakes it)
	}
	if !t.endPending(0, "") {
		return true, nil
	}
	if t.g.copyOf > 1 && t.g.copyOf > t.g.readOff {
		n := t.g.copyOf - t.g.readOff
		if sent := t.sentTail(); sent > t.c.off {
			// Read from the file before the tailer resumed (a restart, a rewind), and
			// sent at these offsets then: not lost.
			k := min(uint64(n), sent-t.c.off)
			t.skipSent(int64(k), "lines written between copytruncate's copy and its truncation, read from the file before the tailer resumed", true)
			n -= int64(k)
		}
		if n > 0 {
			t.lose(n, "written between copytruncate's copy and its truncation")
		}
	}
	if linger {
		t.lingerLeft()
	}
	if t.parked == nil {
		t.log.Info("file rotated or deleted, switching", "file", t.g.name, "size", t.g.readOff)
		t.s.m.FilesRotated.Inc()
	}
	t.leaveGen()
	return true, nil
}

// movedOn reports whether a rotated generation newer than the followed one (findNewer:
// by modification time) says that its writer moved on from it, at the end of the
// followed one renamed away or deleted. Deleted with a line pending (read up to the
// file's end without its '\n': its writer, which still holds it, in the middle of a
// write), not one known to have come before it (cameBefore: newer by its time only, an
// old writer appended to it), but a file born after it, at the path or under a rotated
// name, whatever the times; RotateWait bounds the wait (atEOF's grace).
func (t *Tailer) movedOn() bool {
	name, fi := t.findNewer(&t.g)
	if name == "" || t.g.nlink > 0 || !t.c.pending() {
		return name != ""
	}
	dev, ino, _ := fileID(fi)
	var seenAt aheadOrder
	if i := slices.IndexFunc(t.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino }); i >= 0 {
		seenAt = t.ahead[i].seenAt
	}
	if !t.cameBefore(seenAt, bornAt(name)) {
		return true
	}
	if t.g.born == 0 {
		return false
	}
	names, _ := t.candidates()
	for _, n := range append(names, t.path) {
		if bornAt(n) > t.g.born {
			return true
		}
	}
	return false
}

// endPending ends the line pending in the cutter (read up to the end of what the followed
// generation holds without its '\n', or half sent) before the generation is left or
// its content replaced: every path that does so calls it first, and goes on only once
// it reports true. Otherwise the next cut ships the line terminated (a '\n' added), at
// the offsets after those already sent, and the caller looks again: the bytes buffered
// are never thrown away, and their offsets never given to the next generation's bytes.
// lost is how many bytes were seen past the read offset and will never be read: when
// only a line half sent is pending (its rest unread), they are counted first, so that
// its end is never put at offsets a run before a restart may have sent them at.
func (t *Tailer) endPending(lost int64, why string) bool {
	if !t.c.pending() {
		return true
	}
	if t.c.r == t.c.w && lost > 0 {
		t.loseUnread(lost, why)
		t.g.maxSize = t.g.readOff
	}
	t.c.terminate = true
	return false
}

// leaveGen closes the drained generation and moves to the next one: a newer rotated
// generation not read yet, else the file at path. Its callers end the line pending
// first (endPending, before they count what is lost after it); a line still pending is
// ended here and the generation left at the next look.
func (t *Tailer) leaveGen() {
	if !t.endPending(0, "") {
		return
	}
	t.keepTail()
	prev := t.g
	if prev.recorded || prev.baseKnown {
		t.recordEnd()
	}
	t.detach()
	t.disown(true)
	t.done = append(t.done, prev.key)
	if len(t.done) > 16 {
		t.done = slices.Delete(t.done, 0, len(t.done)-16)
	}
	if prev.readOff > 0 && prev.key.fpLen > 0 && prev.copyOf == 0 {
		d := prev
		d.f, d.rot, d.liveRot, d.lines = nil, nil, nil, nil
		t.drained = append(t.drained, d)
		if len(t.drained) > 16 {
			t.drained = slices.Delete(t.drained, 0, len(t.drained)-16)
		}
	}
	t.g = gen{}
	t.c.r, t.c.w = 0, 0
	t.graceTill = time.Time{}
	t.left = &prev
	if t.live != nil && prev.copyOf > 0 && len(t.linger) > 0 && t.resumeLingerRead() {
		// The run before left the copied generation where the copy ends to read on
		// a lingering one there (parked at the path then, copytruncated since): read
		// again at the offsets it had, then the live file. Gone back to the live file
		// first, the stream jumped past those offsets, and the lingering one's lines
		// were read again after it, sent twice (-model.shrink -model.oldwriter seed
		// 9077).
		t.liveCopy = &prev
		return
	}
	back := &prev
	if t.liveCopy != nil && prev.copyOf == 0 {
		back = t.liveCopy
	}
	t.liveCopy = nil
	if t.live != nil && t.backToLive(back) {
		return
	}
	if t.fromParked() {
		return
	}
	if len(t.linger) > 0 && t.resumeLingerRead() {
		// The walk from a checkpoint reached the offsets where the run before read on a
		// lingering generation after this one (left where that run left it,
		// leaveWhereLeft): read there again, before any rotated generation.
		return
	}
	name, gi, names, infos := t.findNewerIn(&prev)
	if t.passed != "" && !t.toEnd && !t.endWhenGone && t.s.cfg.RotateWait > 0 {
		if i := slices.Index(names, t.passed); i >= 0 {
			dev, ino, _ := fileID(infos[i])
			t.waitAt(names[i], [2]uint64{dev, ino}, nil, nil, true)
		}
	}
	t.passed = ""
	t.lingerEmpty(&prev, names, infos)
	if i, ai := t.aheadGone(); i >= 0 && (name == "" || !gi.ModTime().Before(ai.ModTime())) {
		t.toAhead(i, ai)
		return
	}
	if name != "" {
		t.drainFound(name, gi)
		return
	}
	if t.endWhenGone {
		if _, err := os.Lstat(t.path); errors.Is(err, fs.ErrNotExist) {
			t.ended = true // no history to take: nothing follows
			return
		}
	}
	// The history is the rotated files findNewer looked at: a file at the path then,
	// rotated away since, is a generation not read yet (listed again here, it would be
	// in the history and skipped whole, the file created after it read instead).
	t.g.mtime = prev.orderTime() // the snapshot's time starts at the file just left
	t.history = t.snapshotOf(names, infos, time.Time{})
	t.g.mtime = time.Time{}
}

// keepTail reads the followed generation's last bytes before its read offset when
// fewer were read in this run (resumed at a checkpoint and left with little or nothing
// read), so that where it is left is recorded with them (genEntry.Left, TailFP): a
// restart tells by them that it is still that generation, and reads on from there, not
// from where a run before left it. Called while its descriptor is the tailer's, before
// it is left, parked or made lingering.
func (t *Tailer) keepTail() {
	g := &t.g
	if g.f == nil || g.copyOf != 0 || int64(g.tailN) >= min(g.readOff, int64(len(g.tail))) {
		return
	}
	n := min(g.readOff, int64(len(g.tail)))
	if k, err := g.f.ReadAt(g.tail[:n], g.readOff-n); err == nil && int64(k) == n {
		g.tailN = int(n)
	}
}

// backToLive follows the live file kept open while its copy was drained, from its start.
func (t *Tailer) backToLive(prev *gen) bool {
	for try := 1; ; try++ {
		fi, err := t.live.Stat()
		if err != nil {
			t.dropLive()
			return false
		}
		if t.backHook != nil {
			t.backHook("stat")
		}
		if done, again := t.backToLiveSeen(prev, fi, try-1); !again {
			return done
		}
	}
}

// backToLiveSeen is backToLive with the live file seen as fi. A copy made after the
// file's last change is in copytruncate's window (the file is not truncated yet and
// still holds what the copy does): the file is read, not its copy, and its head is
// taken at once, so that a truncation before its first read (logrotate's, right after
// the copy) is told from it, and the copy drained from the offset read (it was read as
// new content from 0, and the copy never drained). again: the file changed between the
// look and its head (a copy, a truncation and new writes may have come between: a copy
// made then is not one to come), after tries looks again in a row: look again
// (lookAgain; a head cut short by a truncation, up to maxShrinkLooks times).
func (t *Tailer) backToLiveSeen(prev *gen, fi fs.FileInfo, tries int) (done, again bool) {
	dev, ino, nlink := fileID(fi)
	// A later copy of the same file (copytruncate again while the tailer did not look)
	// holds what it was written after the copy just drained: drained next.
	t.g.key.dev, t.g.key.ino, t.g.rot = dev, ino, prev.liveRot
	name, ci, serr := t.findUnreadCopy(prev.mtime, fi.ModTime(), nil)
	t.g.key, t.g.rot = fileKey{}, nil
	// recheck: a copy could not be told (no descriptor to read a rotated file with) or
	// opened (EMFILE, or no slot free besides the live file's): check looks for it again
	// before any byte of the live file is read, as for a file never read, and drains it
	// first (a shortage of descriptors there is a failure state, retried).
	recheck := serr != nil
	held, name, ci := t.nextCopy(name, ci)
	if name != "" {
		// Claimed before it is read: a glob's match of its name that took it first (for
		// a new file: it holds nothing this stream read) reads it, not this stream too.
		cdev, cino, _ := fileID(ci)
		if _, _, ok := t.s.take(t, [2]uint64{cdev, cino}, name, false); !ok {
			name = ""
			if held != nil {
				t.closeHeld(held)
				held = nil
			}
		}
	}
	if held != nil {
		// Held since a look saw it (the reader held; a rotate count may have deleted
		// it since): its slot is the copy's.
		t.log.Info("file truncated again (copytruncate); draining the next copy first, through the descriptor held since it was seen", "copy", name, "size", ci.Size())
		t.s.m.FilesTruncated.Inc()
		t.s.m.FilesOpen.Dec() // (counted again as the copy's)
		t.g = gen{has: true}
		t.toCopy(held, name, ci, 1)
		return true, false
	}
	if name != "" {
		f, _, err := openStat(name)
		if err == nil && f != nil && t.s.fds.tryAcquire() {
			t.log.Info("file truncated again (copytruncate); draining the next copy first", "copy", name, "size", ci.Size())
			t.s.m.FilesTruncated.Inc()
			t.g = gen{has: true}
			t.toCopy(f, name, ci, 1)
			return true, false
		}
		if f != nil {
			f.Close()
		}
		recheck = recheck || f != nil || err != nil && isFDLimit(err)
	}
	var head []byte
	if !recheck {
		var ok bool
		head, ok = readHeadAt(t.live, fi.Size())
		if now, err := t.live.Stat(); !ok && tries < maxShrinkLooks || lookAgain(fi, now, err, tries) {
			return false, true
		}
	}
	f := t.live
	t.live = nil
	t.g = gen{has: true, name: t.path, f: f, key: fileKey{dev: dev, ino: ino}, maxSize: fi.Size(), nlink: nlink, mtime: fi.ModTime(), began: fi.ModTime(), blind: fi.Size() == 0, born: bornOf(f)}
	t.setHead(head)
	t.openID.Store(&[2]uint64{dev, ino})
	t.owns()
	t.setAtPath(nlink > 0 && t.isAtPath(fi))
	t.lookRotated()
	if recheck {
		t.g.blind, t.g.mtime, t.g.rot = true, prev.mtime, prev.liveRot
	}
	if off := t.holdsLeft(prev, fi); off > 0 {
		// The copy was found in copytruncate's window (the file changed before the
		// truncation, while only part of a line of it was known): the file still
		// starts with all of it, and goes on from there.
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			t.fail(err)
		}
		t.g.readOff, t.g.from = off, uint64(off)
		t.g.blind = false
		t.log.Info("copy drained; the file is not truncated yet and starts with all of it: reading it from the copy's end",
			"copy", prev.name, "file_offset", off)
		t.entered(off)
		if t.backHook != nil {
			t.backHook("entered")
		}
		return true, false
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.fail(err)
	}
	t.log.Info("copy drained; reading the truncated file from its start", "deleted", nlink == 0)
	t.entered(0)
	if t.backHook != nil {
		t.backHook("entered")
	}
	return true, false
}

// dropLive closes the live file kept open while its copy was drained.
func (t *Tailer) dropLive() {
	t.liveCopy = nil
	if t.live == nil {
		return
	}
	t.forgetIfDeleted(t.live)
	t.closeHeld(t.live)
	t.live = nil
}

// leftFurther returns where a stream other than not left the file f (the left index x,
// leftIndex.readTo: the same file, still holding what that stream read), when that is
// past left, where not's own record says it left it: that stream took the file on
// after not left it and read it on (a glob's match of a rotated name, after the old
// writer appended), in this run or a run before, and the bytes up to there are its. The
// hand-over that tells so within a run (Set.take, ownership.takenOver) is not kept
// across a restart; the records of generations the index is loaded from are.
// f nil: the file is opened at name, and must be the file id.
func leftFurther(f *os.File, name string, id [2]uint64, x *leftIndex, not uint64, left int64) (leftGen, []byte, bool) {
	if f == nil {
		var err error
		if f, err = openName(name); err != nil {
			return leftGen{}, nil, false
		}
		defer f.Close()
	}
	fi, err := f.Stat()
	if err != nil {
		return leftGen{}, nil, false
	}
	if dev, ino, _ := fileID(fi); [2]uint64{dev, ino} != id {
		return leftGen{}, nil, false
	}
	lg, tail, ok := x.readTo(f, fi, not)
	if !ok || lg.left <= left {
		return leftGen{}, nil, false
	}
	return lg, tail, true
}

// leftIn returns how far a stream other than not read the file id of dir before it left
// it (leftIndex.readTo), the file found by identity under any name of dir.
func leftIn(dir string, id [2]uint64, x *leftIndex, not uint64) (leftGen, []byte, bool) {
	name := filesByID(dir)[id]
	if name == "" {
		return leftGen{}, nil, false
	}
	return leftFurther(nil, name, id, x, not, -1)
}

// walkFrom reserves for t the files it walks through from cp (Tailer.walk): the
// checkpointed file and the generations recorded after it.
func (t *Tailer) walkFrom(cp *Checkpoint) {
	keys := append([]fileKey{{cp.Dev, cp.Ino, cp.FPLen, cp.FP}}, t.gens.recordedFrom(cp.Offset)...)
	keys = walkKeys(t.dir, keys)
	t.walk = make(map[[2]uint64]fileKey, len(keys))
	for _, k := range keys {
		t.walk[[2]uint64{k.dev, k.ino}] = k
	}
	t.s.reserve(t, keys)
}

// walkKeys returns the files of keys not found in dir under another head: a file
// deleted while the shipper was down leaves its inode number to the next file created
// (on ext4, often at once), which is another stream's file, not one to walk through.
// (One not in dir, a symlinked log's target elsewhere, is kept: it is checked when
// found.)
func walkKeys(dir string, keys []fileKey) []fileKey {
	byID := filesByID(dir)
	out := keys[:0]
	for _, k := range keys {
		if name, ok := byID[[2]uint64{k.dev, k.ino}]; ok && k.fpLen > 0 && !headIs(name, k) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// walkDone ends the walk from a checkpoint: t reached the file at its path.
func (t *Tailer) walkDone() {
	if t.walk != nil {
		t.walk = nil
		t.s.unreserve(t)
	}
}

// walkedIn adds to names (seen as infos) the files of dir that t walks to (Tailer.walk).
func (t *Tailer) walkedIn(dir string, names []string, infos []fs.FileInfo) ([]string, []fs.FileInfo) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return names, infos
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if name == t.path || slices.Contains(names, name) || slices.ContainsFunc(CompressedSuffixes, func(s string) bool {
			return strings.HasSuffix(name, s) // never read (a generation compressed in place keeps its inode)
		}) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		dev, ino, _ := fileID(fi)
		if k, ok := t.walk[[2]uint64{dev, ino}]; ok && (k.fpLen == 0 || headIs(name, k)) {
			names, infos = append(names, name), append(infos, fi)
		}
	}
	return names, infos
}

// candidates lists the rotated generations of the path in its directory, with their
// FileInfo, skipping the file at path.
func (t *Tailer) candidates() ([]string, []fs.FileInfo) {
	names, infos := t.rotatedAt(t.dir, t.base, nil, nil)
	if len(t.walk) > 0 {
		names, infos = t.walkedIn(t.dir, names, infos)
	}
	// A symlinked log: logrotate renames the file the link leads to, in that file's
	// directory and under its name (and so for each link of a chain).
	for _, p := range t.opened {
		if d, b := filepath.Dir(p), filepath.Base(p); d != t.dir || b != t.base {
			names, infos = t.rotatedAt(d, b, names, infos)
		}
	}
	return names, infos
}

// rotatedAt is rotatedIn for the live file base in dir: in dir, and in the other
// directories of rotated generations (rotatedDir: logrotate's olddir).
func (t *Tailer) rotatedAt(dir, base string, names []string, infos []fs.FileInfo) ([]string, []fs.FileInfo) {
	names, infos = t.rotatedIn(dir, base, t.s.rotLive, names, infos)
	for _, r := range t.s.rotOther {
		names, infos = t.rotatedIn(r.at(dir), base, r.names, names, infos)
	}
	return names, infos
}

// watchRotatedDirs watches the other directories of rotated generations (rotatedDir):
// an event of a rotated name there wakes the tailer and asks for a look, as one in the
// live file's directory does.
func (t *Tailer) watchRotatedDirs() {
	if t.s.watcher == nil {
		return
	}
	for _, r := range t.s.rotOther {
		names := r.names
		dir := r.at(t.dir)
		sub, err := t.s.watcher.subscribe(dir, func(n string) bool { return isRotatedName(names, t.base, n) }, t.tc)
		if err != nil {
			t.log.Debug("no fsnotify watch of a directory of rotated generations, polling", "dir", dir, "err", err)
			continue
		}
		sub.onEvent(func(string, fsnotify.Op) {
			t.lookWanted.Store(true)
			t.s.looker.want(t)
		})
		t.rsubs = append(t.rsubs, sub)
	}
}

// rotatedIn appends to names and infos the rotated generations of base in dir that are
// not listed yet: regular files, as they are now. The names are looked up in the
// directory's shared listing (listing.go) when there is one, so that a lookup costs the
// few names that can be rotated generations of base, not the whole directory.
func (t *Tailer) rotatedIn(dir, base string, patterns, names []string, infos []fs.FileInfo) ([]string, []fs.FileInfo) {
	if len(patterns) == 0 {
		return names, infos
	}
	add := func(n string) {
		if !isRotatedName(patterns, base, n) {
			return
		}
		name := filepath.Join(dir, n)
		if slices.Contains(names, name) {
			return
		}
		fi, err := os.Lstat(name)
		if err != nil || !fi.Mode().IsRegular() {
			return
		}
		names = append(names, name)
		infos = append(infos, fi)
	}
	if t.s.listings {
		if ns, ok := t.s.watcher.listed(dir, rotatedPrefixes(patterns, base)); ok {
			if t.listHook != nil {
				t.listHook()
			}
			for _, n := range ns {
				add(n)
			}
			return names, infos
		}
	}
	t.s.dirListings.Add(1)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if isFDLimit(err) {
			t.lookErr = err
		}
		return names, infos
	}
	if t.listHook != nil {
		t.listHook()
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			add(e.Name())
		}
	}
	return names, infos
}

// findByIdentity returns the rotated name holding the file k names (device, inode and,
// when known, head) with at least size bytes.
func (t *Tailer) findByIdentity(k fileKey, size int64) (string, fs.FileInfo) {
	name, fi, _ := t.findByIdentityErr(k, size)
	return name, fi
}

// findByIdentityErr is findByIdentity; when the file is not found, err is the descriptor
// shortage (EMFILE, ENFILE) met while looking, if any: the file may be there; or
// errNamesMoving when the rotated names never held still long enough to tell.
//
// A look lists the names, then stats them one by one: a rename between the two (logrotate
// shifting app.log.1 to app.log.2, then app.log to app.log.1) hides the file, which the
// listing had under its old name and the stat finds under neither. A file is taken for
// absent only when two looks in a row saw the same names holding the same files: nothing
// was renamed while the second one looked (case 07: a file closed while idle, rotated
// twice, taken for deleted in the second rotation; its lines never read, never counted).
func (t *Tailer) findByIdentityErr(k fileKey, size int64) (string, fs.FileInfo, error) {
	var before []seenName
	for range maxLooks {
		name, fi, seen, err := t.lookByIdentity(k, size)
		if name != "" || err != nil {
			return name, fi, err
		}
		if before != nil && slices.Equal(seen, before) {
			return "", nil, nil
		}
		before = seen
	}
	return "", nil, errNamesMoving
}

// maxLooks bounds the looks findByIdentityErr makes for names that hold still.
const maxLooks = 16

// errNamesMoving reports rotated names that kept changing while a file was looked for:
// it may be there; looked for again later.
var errNamesMoving = errors.New("rotated generations renamed while looked for")

// seenName is a candidate name a look saw, and the file (device and inode) it held.
type seenName struct {
	name     string
	dev, ino uint64
}

// lookByIdentity looks once for the file k with at least size bytes among the rotated
// names, returning where it is, or what the names held (seen) and the descriptor
// shortage met, if any.
func (t *Tailer) lookByIdentity(k fileKey, size int64) (string, fs.FileInfo, []seenName, error) {
	t.lookErr = nil
	names, infos := t.candidates()
	err := t.lookErr
	seen := make([]seenName, 0, len(names))
	for i, name := range names {
		fi := infos[i]
		dev, ino, _ := fileID(fi)
		seen = append(seen, seenName{name, dev, ino})
		if dev != k.dev || ino != k.ino || fi.Size() < size {
			continue
		}
		if k.fpLen > 0 {
			ok, herr := headIsErr(name, k)
			if herr != nil && isFDLimit(herr) {
				err = herr
			}
			if !ok {
				continue
			}
		}
		return name, fi, nil, nil
	}
	return "", nil, seen, err
}

// isFDLimit reports whether err is a shortage of descriptors (EMFILE, ENFILE): a state
// that passes, retried, never a conclusion about the file.
func isFDLimit(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// findByIdentityAt is findByIdentity, looking first at the name a Glob found the file
// under in its directory (at), which need not be a rotated name.
func (t *Tailer) findByIdentityAt(k fileKey, size int64) (string, fs.FileInfo) {
	if name, fi := atName(t.at, k, size); name != "" {
		return name, fi
	}
	return t.findByIdentity(k, size)
}

// atName returns name and what stat says of it when it names the file k (device, inode
// and head) holding at least size bytes; "" when it does not (or name is "").
func atName(name string, k fileKey, size int64) (string, fs.FileInfo) {
	if name == "" {
		return "", nil
	}
	fi, err := os.Stat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return "", nil
	}
	if dev, ino, _ := fileID(fi); dev != k.dev || ino != k.ino || fi.Size() < size || k.fpLen > 0 && !headIs(name, k) {
		return "", nil
	}
	return name, fi
}

// findCopy returns the rotated file that copies the head k and the last bytes tail
// ending at off: copytruncate's copy, made since the generation began (since, when
// known: an older file starting alike is another generation; not since the last look,
// which may have been in copytruncate's window, after the copy) and before the file was
// truncated (until, the truncated file's modification time, when known: a file modified
// after it is a later generation starting alike, not a copy). head holds the head's bytes
// when they are known: a file shorter than the head that is all of its first bytes was
// copied before the rest of the head was written (copytruncate's window, the tailer
// restarted in it: the head it took at the restart holds lines written after the copy).
//
// err is a shortage of descriptors (EMFILE, ENFILE) met while looking, when no copy was
// found: a rotated file whose bytes could not be read may be the copy (never taken for
// another file); the caller retries.
func (t *Tailer) findCopy(k fileKey, head []byte, off int64, tail []byte, since, until time.Time) (string, fs.FileInfo, error) {
	if k.fpLen == 0 {
		return "", nil, nil
	}
	t.lookErr = nil
	names, infos := t.candidates()
	ferr := t.lookErr
	short := func(err error) bool {
		if err != nil && isFDLimit(err) {
			ferr = err
			return true
		}
		return false
	}
	for i, name := range names {
		fi := infos[i]
		// A generation t lingers on (its old writer appending since the followed one
		// began) is no copy of it, whatever its first bytes (-model.oldwriter seed 208:
		// a head of one byte, part of a line, matched it).
		if dev, ino, _ := fileID(fi); (dev == k.dev && ino == k.ino) || fi.Size() < off || modifiedBefore(fi, since) ||
			(!until.IsZero() && modifiedAfter(fi, until)) || t.lingers([2]uint64{dev, ino}) {
			continue
		}
		if ok, err := holdsRead(name, fi, k, head, off, tail); short(err) || !ok {
			continue
		}
		return name, fi, nil
	}
	return "", nil, ferr
}

// holdsRead reports whether the file name (seen as fi) starts with the head k (head: its
// bytes, to tell a file shorter than it) and holds tail, the last bytes read, before
// off: a copy of what was read up to off. err is a shortage of descriptors that kept it
// from telling.
func holdsRead(name string, fi fs.FileInfo, k fileKey, head []byte, off int64, tail []byte) (bool, error) {
	if fi.Size() < off {
		return false, nil
	}
	f, err := openName(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return holdsReadIn(f, fi.Size(), k, head, off, tail)
}

// holdsReadIn is holdsRead for the open file f, size bytes long.
func holdsReadIn(f *os.File, size int64, k fileKey, head []byte, off int64, tail []byte) (bool, error) {
	if size < off {
		return false, nil
	}
	if size < int64(k.fpLen) && len(head) == k.fpLen {
		b := make([]byte, size)
		if _, err := f.ReadAt(b, 0); err != nil || !bytes.Equal(b, head[:len(b)]) {
			return false, nil
		}
	} else if fp, ok, err := fingerprintFile(f, k.fpLen); err != nil || !ok || fp != k.fp {
		return false, nil
	}
	if len(tail) > 0 {
		b := make([]byte, len(tail))
		if _, err := f.ReadAt(b, off-int64(len(tail))); err != nil || string(b) != string(tail) {
			return false, nil
		}
	}
	return true, nil
}

// findNewer returns the oldest rotated generation not read yet: one newer than prev (a
// generation rotated away while the tailer was behind, paused or down), or with prev nil
// one that is not in the history (it appeared while no file was followed).
func (t *Tailer) findNewer(prev *gen) (string, fs.FileInfo) {
	name, fi, _, _ := t.findNewerIn(prev)
	return name, fi
}

// findNewerIn is findNewer, also returning the rotated files it looked at (names,
// infos): what the history must be taken from when none is found (leaveGen), so that
// the history and the decision are one observation.
//
// The path is looked at before the rotated names: a rotation renames the file at the
// path before it creates the next one, so a file seen at the path (not a rotated
// generation then) and rotated away before the names are listed is among them. Listed
// first, a file at the path then, renamed before the path was looked at, was in neither
// (f013.log.1 in t16: the generation rotated away while the tailer drained an older one
// was skipped whole, and the file created after it read instead).
//
// A generation seen ahead (held or noted while an older one was drained: at the path
// then, or rotated from it) is newer than prev whatever its modification time says (a
// writer still appending to prev after another began the next file, or a generation
// read late): it is not skipped as older.
func (t *Tailer) findNewerIn(prev *gen) (string, fs.FileInfo, []string, []fs.FileInfo) {
	t.lookErr, t.passed = nil, ""
	var live [2]uint64
	if pi, err := os.Stat(t.path); err == nil {
		live[0], live[1], _ = fileID(pi)
	}
	if t.lookHook != nil {
		t.lookHook("path", prev != nil)
	}
	names, infos := t.candidates()
	if t.lookHook != nil {
		defer t.lookHook("decided", prev != nil)
	}
	// The file seen at the path is not looked at as a rotated generation, nor returned
	// for the history: rotated away since the path was looked at, it is a generation
	// not read yet (in the history, it was skipped whole).
	if i := slices.IndexFunc(infos, func(fi fs.FileInfo) bool {
		dev, ino, _ := fileID(fi)
		return [2]uint64{dev, ino} == live
	}); i >= 0 {
		names, infos = slices.Delete(slices.Clone(names), i, i+1), slices.Delete(slices.Clone(infos), i, i+1)
	}
	best, bestRank, bestBorn := -1, 0, int64(0)
	recorded := t.gens.recordedFrom(t.c.off)
	var newer []int // the generations not read yet: due (noteDue), but the one taken
	for i, fi := range infos {
		dev, ino, _ := fileID(fi)
		id := [2]uint64{dev, ino}
		if !t.newerCandidate(prev, names[i], fi, live, recorded) {
			continue
		}
		newer = append(newer, i)
		// A generation a run before read after the offsets walked so far comes first,
		// in the order it was read then: its offsets follow (recordedNext). Older by
		// its time than one not read then (an old writer appended to it since), it was
		// otherwise read after that one, at other offsets, and its lines sent twice.
		// Among the others, the oldest (genBefore: by modification time, unless one is
		// before the file's birth, touched into the past).
		rank, born := recordedRank(recorded, names[i], id), bornAt(names[i])
		if rank == math.MaxInt {
			rank = t.recordedCopyRank(recorded, names[i], id) // (copytruncate's copy of one)
		}
		if best < 0 || rank < bestRank || rank == bestRank && genBefore(born, fi.ModTime(), bestBorn, infos[best].ModTime()) {
			best, bestRank, bestBorn = i, rank, born
		}
	}
	if best < 0 || t.lookErr != nil {
		// Without a descriptor to tell them, a generation not read yet and one read
		// already look alike: none is taken (the caller retries).
		return "", nil, names, infos
	}
	if len(newer) > 1 {
		var ns []string
		var is []fs.FileInfo
		for _, i := range newer {
			if i != best {
				ns, is = append(ns, names[i]), append(is, infos[i])
			}
		}
		t.noteDue(ns, is)
	}
	if bestRank == math.MaxInt && len(recorded) > 0 && [2]uint64{recorded[0].dev, recorded[0].ino} == live && headIs(t.path, recorded[0]) &&
		!t.readBeforeAt(names[best], infos[best]) {
		// The run before read the file at the path next, from these offsets (the live
		// file entered again from its start once its copy was drained): it comes first,
		// at the offsets it had. Taken before it, a generation that run did not read
		// there (an old writer's, grown since) had them, and the file at the path was
		// read again after a jump, its lines sent twice (-model.shrink -model.oldwriter
		// seed 9106). It lingers, left at its start: read after it, as what a
		// lingering generation grew by.
		t.passed = names[best]
		return "", nil, names, infos
	}
	return names[best], infos[best], names, infos
}

// newerCandidate reports whether the rotated file name (seen as fi) is a generation not
// read yet that findNewerIn may drain after prev (after the history, for nil); live is
// the file at the path; recorded, the generations the record says a run read after the
// next offset (genLog.recordedFrom). It sets lookErr when a head could not be read for
// want of a descriptor (the file is not taken).
func (t *Tailer) newerCandidate(prev *gen, name string, fi fs.FileInfo, live [2]uint64, recorded []fileKey) bool {
	dev, ino, _ := fileID(fi)
	id := [2]uint64{dev, ino}
	switch {
	case id == live, fi.Size() == 0:
		return false
	case t.isDone(name, dev, ino, fi.Size()):
		return false
	case prev == nil && t.inHistory(id, name) && !t.recordedNext(name, id) && !t.bornAfterHistory(name, id):
		return false
	case prev != nil && (id == [2]uint64{prev.key.dev, prev.key.ino} || fi.ModTime().Before(prev.orderTime()) && !t.bornAfter(name, id, prev) && !t.seenAhead(dev, ino) && !t.recordedNext(name, id) && !t.sinceHistory(name, id) && !t.leftCopy(name, id, fi.Size()) && t.recordedCopyRank(recorded, name, id) == math.MaxInt):
		return false
	case t.lingers(id), t.leftGoodIs(name, id):
		// Left, and followed for RotateWait: what its writer (an old one) appends is
		// read on where it was left by lookLinger, once; not drained again here as a
		// generation not read yet, nor taken for a newer one.
		return false
	case t.yieldsGen(name, id):
		return false
	}
	// A copy of the file just read (copytruncate's) holds nothing new.
	if prev != nil && prev.key.fpLen > 0 && fi.Size() <= prev.readOff {
		same, err := headIsErr(name, prev.key)
		if err != nil && isFDLimit(err) {
			t.lookErr = err
		}
		if same || err != nil && isFDLimit(err) {
			return false
		}
	}
	return true
}

// readBeforeAt reports whether the record of generations names the content of the
// rotated file name (fi) as read by a run (an entry of its inode and head): not one
// that run did not read, to linger on at its start (findNewerIn's passed).
func (t *Tailer) readBeforeAt(name string, fi fs.FileInfo) bool {
	dev, ino, _ := fileID(fi)
	_, found, _ := t.gens.lookup(dev, ino, readHead(name), 0)
	return found
}

// leftCopy reports whether the rotated file name (id), of size bytes, is copytruncate's
// copy of a generation a run before read and left (the record of generations:
// genEntry.Left, at or before the next offset), made after it grew: another inode
// starting with its head (a whole line) and holding its last bytes read before where it
// was left, and more. enterLeft reads it on from there, whatever its time says: a
// generation parked at the path for a lingering one's growth, the tailer stopped inside
// that growth, then copytruncated (the copy older by its time than the lingering
// generation its old writer appended to since) was skipped for an older one, the path
// left empty by the truncation waited on, and the lines past where it was parked never
// read (-model.oldwriter seed 1027). (The generation itself grown under a rotated name
// lingers again, resumeLinger, unless another stream took it on.)
func (t *Tailer) leftCopy(name string, id [2]uint64, size int64) bool {
	if t.s.ownedElsewhere(t, id, name) != nil || t.s.takenOver(t, id) {
		return false
	}
	head := readHead(name)
	if len(head) == 0 {
		return false
	}
	e, ok := t.gens.leftBefore(id[0], id[1], t.c.off, head)
	if !ok || e.Dev == id[0] && e.Ino == id[1] || size <= e.Left || e.TailN <= 0 || int64(e.TailN) > e.Left {
		return false
	}
	f, err := openName(name)
	if err != nil {
		return false
	}
	defer f.Close()
	tail := make([]byte, e.TailN)
	_, err = f.ReadAt(tail, e.Left-int64(e.TailN))
	return err == nil && fingerprint(tail) == e.TailFP
}

// sinceHistory reports whether the rotated file name (id) appeared since the history
// was taken, while the walk through the generations that appeared then goes on (no file
// at the path followed yet): a generation not read yet, whatever its time says (one
// drained before it, its old writer appending since, is newer by its time: -model.oldwriter
// seed 179, the copy made after it skipped whole).
func (t *Tailer) sinceHistory(name string, id [2]uint64) bool {
	return t.history != nil && !t.inHistory(id, name)
}

// genBefore reports whether a rotated generation born at ab and modified at am (its
// birth time, statx's btime; 0: not known) came before one born at bb, modified at bm.
// By modification time, the time of the last write, unless either is before its file's
// birth (by more than mtimeSlack; touchedPast): no file is written before it is created,
// so that time was set afterwards (touch -d, a backup's times restored, a clock set
// back), and says nothing of the order: then by birth. Ordered by such a time, a
// generation was drained before older ones (.1 before .2, bench case 19), and compared
// with the file's birth instead, one its writer appended to after the next was created
// (logrotate's postrotate signals the writer after the create) came after it. Not by
// birth always: a copy (copytruncate's) is born after generations written after what it
// holds. Times equal (one tick of the file system's coarse clock), by birth.
func genBefore(ab int64, am time.Time, bb int64, bm time.Time) bool {
	if ab != 0 && bb != 0 && ab != bb && (touchedPast(am, ab) || touchedPast(bm, bb)) {
		return ab < bb
	}
	if !am.Equal(bm) {
		return am.Before(bm)
	}
	return ab != 0 && bb != 0 && ab < bb
}

// touchedPast reports whether a file modified at mtime, born at born (0: not known), was
// given a modification time before its birth.
func touchedPast(mtime time.Time, born int64) bool {
	return born != 0 && mtime.Before(time.Unix(0, born).Add(-mtimeSlack))
}

// orderTime returns the modification time the rotated generations not read yet are
// newer than, once g is left: its own, or, for a lingering generation read on by the
// walk from a checkpoint, the one of the generation left before it (gen.after).
func (g *gen) orderTime() time.Time {
	if !g.after.IsZero() {
		return g.after
	}
	return g.mtime
}

// bornAfter reports whether the rotated file name was born (created) after prev's file,
// both birth times known (statx's btime): a generation logrotate created after prev
// (each rotation creates the next file), newer than prev whatever the modification
// times say. A writer that keeps appending to prev after the rotation (an Apache
// graceful restart's old children) gives prev a later time than the generation after
// it: taken by its time for an older one, that generation was skipped whole, silently,
// when the tailer was behind or down across two rotations. Only for a file no run
// read (no record of generations names it, none left in this run): a copytruncate copy
// is born after the file it copies too (whose inode keeps its birth time across
// truncations), and one read before is no generation to read. A record or a generation
// left names the file by its inode and head (genLog.namesFile): one that names its inode
// number under another head is a file deleted since, whose number the file system gave
// to this one (ext4 does at once; -model.oldwriter seed 340: the generation rotated
// after the checkpointed one got the number of one read and deleted before, and was
// skipped whole, silently).
func (t *Tailer) bornAfter(name string, id [2]uint64, prev *gen) bool {
	if prev.born == 0 {
		return false
	}
	b := bornAt(name)
	if b == 0 || b <= prev.born {
		return false
	}
	head := readHead(name)
	if slices.ContainsFunc(t.done, func(k fileKey) bool {
		return k.dev == id[0] && k.ino == id[1] && k.fpLen > 0 && len(head) >= k.fpLen && fingerprint(head[:k.fpLen]) == k.fp
	}) || t.gens.namesFile(id[0], id[1], head, b) {
		return false
	}
	// A copy holds a content read before (under another inode: the head of a
	// generation recorded or left).
	if _, found, _ := t.gens.lookup(id[0], id[1], head, 0); found {
		return false
	}
	return !slices.ContainsFunc(t.drained, func(d gen) bool {
		return d.key.fpLen > 0 && len(head) >= d.key.fpLen && fingerprint(head[:d.key.fpLen]) == d.key.fp
	})
}

// bornAfterHistory reports whether the rotated file name (id), in the history taken at a
// restart from a checkpoint in a file gone or left there, was born after that file
// (histBorn) and holds no content read before (bornAfter): a generation that followed
// it, modified before the checkpoint's time only because that file's old writer
// appended to it after (the history is taken by modification time). Skipped as an
// older one, it was never read, nor what its writer wrote to it afterwards
// (-model.shrink -model.oldwriter seed 9106, the same for an empty one: lingerEmptySince).
func (t *Tailer) bornAfterHistory(name string, id [2]uint64) bool {
	return t.histBorn != 0 && t.bornAfter(name, id, &gen{born: t.histBorn})
}

// recordedNext reports whether the rotated file name (id) is a generation a run before
// read after the offsets walked so far (the record of generations: an entry of its inode
// and head beginning at or after the next offset): the walk from a checkpoint enters it
// next whatever the modification times say (an old writer appending to the generation
// just left after it went on with this one: an Apache graceful restart's old children).
func (t *Tailer) recordedNext(name string, id [2]uint64) bool {
	for _, k := range t.gens.recordedFrom(t.c.off) {
		if k.dev == id[0] && k.ino == id[1] && headIs(name, k) {
			return true
		}
	}
	return false
}

// recordedRank returns the place of the rotated file name (id) among recorded, the
// generations a run before read after the offsets walked so far (genLog.recordedFrom:
// recordedNext), in the order it read them; math.MaxInt for a file it did not read there.
func recordedRank(recorded []fileKey, name string, id [2]uint64) int {
	for i, k := range recorded {
		if k.dev == id[0] && k.ino == id[1] && headIs(name, k) {
			return i
		}
	}
	return math.MaxInt
}

// recordedCopyRank returns the place among recorded (recordedRank) of the generation of
// which the rotated file name (id) is copytruncate's copy (genLog.recordedCopyOf:
// another inode starting with its recorded head), while that generation's own file holds
// its content no more (truncated since, at the path or under a rotated name, or
// deleted): the copy is the only place left to read it from, at the offsets it had
// (enteredHow takes a copy for the generation it copies). math.MaxInt for no such copy.
// A copy made after the truncation that its old writer's appends made newer than the
// generation walked before it (an Apache graceful restart's old children) was passed
// over for being older, the copied generation taken for destroyed at the path, and the
// lines the copy holds past what the run before read were never read (-model.shrink
// -model.oldwriter seed 9179).
func (t *Tailer) recordedCopyRank(recorded []fileKey, name string, id [2]uint64) int {
	if len(recorded) == 0 || t.s.ownedElsewhere(t, id, name) != nil || t.s.takenOver(t, id) {
		return math.MaxInt
	}
	head := readHead(name)
	if len(head) == 0 {
		return math.MaxInt
	}
	k, ok := t.gens.recordedCopyOf(id[0], id[1], head, t.c.off)
	if !ok {
		return math.MaxInt
	}
	rank := slices.Index(recorded, k)
	if rank < 0 {
		return math.MaxInt
	}
	if pi, err := os.Stat(t.path); err == nil && sameID(pi, [2]uint64{k.dev, k.ino}) && headIs(t.path, k) {
		return math.MaxInt // still at the path: read there
	}
	if at, _ := t.findByIdentity(k, 0); at != "" {
		return math.MaxInt // still under a rotated name: read there
	}
	return rank
}

// seenAhead reports whether the file dev/ino was seen ahead as a newer generation.
func (t *Tailer) seenAhead(dev, ino uint64) bool {
	return slices.ContainsFunc(t.ahead, func(a aheadFile) bool { return a.dev == dev && a.ino == ino })
}

// isDone reports whether the file name (dev/ino) is a generation drained in this run, or
// one the stream holds wholly before the next offset (recorded by a run before the
// tailer resumed: acknowledged, whatever the order of modification times says): the same
// inode with the same head (an inode is reused once its file is deleted; a generation
// left empty had nothing read).
// With size >= 0 (its size now), a generation that holds more than when it was left (it
// came back to the path and was written to, then went away again) is not done: it is
// read on from where it was left (enterLeft). Copies are looked for with size -1.
// A head that cannot be read for want of a descriptor (EMFILE, ENFILE) leaves the answer
// unknown: it reports true (not taken for a generation not read yet, which would be read
// again) and sets lookErr, so that the caller retries.
func (t *Tailer) isDone(name string, dev, ino uint64, size int64) bool {
	for _, k := range t.done {
		if k.dev != dev || k.ino != ino || k.fpLen == 0 {
			continue
		}
		ok, err := headIsErr(name, k)
		if err != nil && isFDLimit(err) {
			t.lookErr = err
			return true
		}
		if ok {
			return size < 0 || !t.grewSinceLeft(k, size)
		}
	}
	var herr error
	var head []byte
	readHead := func() []byte {
		if head != nil || herr != nil {
			return head
		}
		f, err := openName(name)
		if err != nil {
			herr = err
			return nil
		}
		defer f.Close()
		b := make([]byte, FingerprintLen)
		n, _ := io.ReadFull(f, b)
		head = b[:n]
		return head
	}
	done := t.gens.shippedBefore(dev, ino, t.c.off, size, readHead)
	if !done && size > 0 {
		// A copy of what was read of a generation the stream holds wholly before the
		// next offset (copytruncate's, made before a line read was written: its window)
		// holds nothing new (-model.oldwriter seed 748: taken for a generation not read
		// yet after a restart, read whole again past a jump).
		done = t.gens.copyReadBefore(dev, ino, t.c.off, size, readHead())
	}
	if herr != nil && isFDLimit(herr) {
		t.lookErr = herr
		return true
	}
	return done
}

// grewSinceLeft reports whether the file done names (t.done: its device, inode and head),
// of size bytes now, is the generation last left in this run with fewer bytes read. The
// head decides too: an inode number is reused once its file is deleted (ext4 gives it to
// the next file created, often at once), and a copytruncate copy of bytes read already
// (readCopy) on the inode of a generation drained and deleted before is not that
// generation grown (it was drained again, its lines shipped twice).
func (t *Tailer) grewSinceLeft(done fileKey, size int64) bool {
	for i := len(t.drained) - 1; i >= 0; i-- {
		if d := &t.drained[i]; d.key == done {
			return size > d.readOff
		}
	}
	return false
}

// inHistory reports whether the rotated file name (id) was present when the history was
// taken: the same inode with the same head (an inode is reused once its file is deleted).
// A file empty then held nothing read: whatever it holds now is not in the history.
func (t *Tailer) inHistory(id [2]uint64, name string) bool {
	k, ok := t.history[id]
	if !ok || k.fpLen == 0 {
		return false
	}
	same, err := headIsErr(name, k)
	if err != nil && isFDLimit(err) {
		t.lookErr = err // unknown: not taken for a new generation; retried
		return true
	}
	return same
}

// resumedOlder reports whether the rotated file name (id) is one the tailer resumed with
// as an older generation (Tailer.older): the same inode with the same head. A head that
// cannot be read (no descriptor) leaves the file to the modification time rule (sawFile).
func (t *Tailer) resumedOlder(id [2]uint64, name string) bool {
	k, ok := t.older[id]
	return ok && k.fpLen > 0 && headIs(name, k)
}

// snapshot returns the identities of the rotated files present now, and records the
// time from which rotated files are new, in file time: the newest modification time
// among them and the file just left (with none, every rotated file that appears is new).
func (t *Tailer) snapshot() map[[2]uint64]fileKey {
	return t.snapshotUpTo(time.Time{})
}

// snapshotUpTo is snapshot, keeping only the files not modified after until (all when
// until is zero).
func (t *Tailer) snapshotUpTo(until time.Time) map[[2]uint64]fileKey {
	names, infos := t.candidates()
	return t.snapshotOf(names, infos, until)
}

// snapshotOf is snapshotUpTo over the rotated files names (seen as infos) listed by the
// caller.
func (t *Tailer) snapshotOf(names []string, infos []fs.FileInfo, until time.Time) map[[2]uint64]fileKey {
	h := make(map[[2]uint64]fileKey, len(infos))
	newest := until
	if newest.IsZero() {
		newest = t.g.mtime
	}
	for i, fi := range infos {
		if !until.IsZero() && fi.ModTime().After(until) {
			continue
		}
		dev, ino, _ := fileID(fi)
		// With its head: once it is deleted, a new file (a generation to drain) may
		// reuse its inode.
		k := fileKey{dev: dev, ino: ino}
		if b := readHead(names[i]); len(b) > 0 {
			k.fpLen, k.fp = len(b), fingerprint(b)
		}
		h[[2]uint64{dev, ino}] = k
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	if newest.IsZero() {
		newest = time.Unix(0, 1) // no file known: every rotated file that appears is new
	}
	t.histTime, t.histBorn = newest, 0
	return h
}

// headNow returns the first FingerprintLen bytes of the followed generation, through
// its descriptor when open (a deleted file has no name), else by name (openGenName: a
// name that holds another file now is not taken for it); nil when it cannot be read.
func (t *Tailer) headNow() []byte {
	f := t.g.f
	if f == nil {
		if f = t.openGenName(); f == nil {
			return nil
		}
		defer f.Close()
	}
	b := make([]byte, FingerprintLen)
	n, _ := f.ReadAt(b, 0)
	return b[:n]
}

// readHead returns the first FingerprintLen bytes of the file name (fewer if it is
// shorter; nil if it cannot be read).
func readHead(name string) []byte {
	b, _ := readHeadErr(name)
	return b
}

// readHeadErr is readHead, with the error that kept it from opening name.
func readHeadErr(name string) ([]byte, error) {
	f, err := openName(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, FingerprintLen)
	n, _ := io.ReadFull(f, b)
	return b[:n], nil
}

// headIs reports whether the file name starts with the head k fingerprints.
func headIs(name string, k fileKey) bool {
	ok, _ := headIsErr(name, k)
	return ok
}

// headIsErr is headIs, with the error that kept it from reading the head.
func headIsErr(name string, k fileKey) (bool, error) {
	f, err := openName(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fp, ok, err := fingerprintFile(f, k.fpLen)
	return err == nil && ok && fp == k.fp, err
}

// watchLinks watches, each in its directory, the links a symlinked path leads through and
// the file it resolves to: writes to a symlinked log are events in the target's directory,
// and a link retargeted is an event in the link's. opened records them as those of the file
// opened at path now; those of the file still followed stay watched until it is left.
func (t *Tailer) watchLinks(opened bool) {
	if opened {
		t.opened = symlinkChain(t.path) // where rotated generations are looked for too
	}
	t.watchChain()
}

// watchOpened is watchLinks(true) for the file f (seen as fi) just opened at the path;
// pre is what the path led through just before the open (symlinkChain). The link may
// have been switched between the open and a resolution of the path after it (a
// deployment switching "current" while the tailer moves to the release it leads to):
// t.opened must end with the file opened, not with the next release's log, or the file,
// left once the path leads elsewhere, was taken for none of the link's old targets
// (leftTargetName), left at once, and what its writer appended after never read (the
// breaker's case 06: rel3's last lines lost without a count). Resolved again after the
// open, before it, or by the descriptor's own name (openedName), whichever names it.
func (t *Tailer) watchOpened(f *os.File, fi fs.FileInfo, pre []string) {
	t.opened = openedChain(t.path, f, fi, pre)
	t.watchChain()
}

// openedChain returns what path leads through (symlinkChain) for the file f (seen as fi)
// just opened at it: resolved now, or as it was before the open (pre), whichever ends
// with the file; else the chain now ending with the descriptor's own name (openedName),
// when it has one.
func openedChain(path string, f *os.File, fi fs.FileInfo, pre []string) []string {
	dev, ino, _ := fileID(fi)
	id := [2]uint64{dev, ino}
	now := symlinkChain(path)
	ends := func(c []string) bool { return len(c) > 0 && namesFile(c[len(c)-1], id) }
	switch {
	case len(now) == 0 && len(pre) == 0, ends(now):
		return now
	case ends(pre):
		return pre
	}
	if r := openedName(f); r != "" && r != filepath.Clean(path) && namesFile(r, id) {
		c := now
		if len(c) == 0 {
			c = pre
		}
		if len(c) > 0 {
			c = c[:len(c)-1]
		}
		return append(slices.Clip(c), r)
	}
	return now
}

// watchChain watches the links the path leads through now, those of the file opened at
// it (t.opened) and the old targets lingered on or looked at (see watchLinks).
func (t *Tailer) watchChain() {
	if t.tsubs == nil {
		return
	}
	now := symlinkChain(t.path)
	t.watchLinkEvents(len(now) > 0 || len(t.opened) > 0)
	want := make(map[string]bool, len(now)+len(t.opened))
	for _, p := range now {
		want[p] = true
	}
	for _, p := range t.opened {
		want[p] = true
	}
	for _, l := range t.linger {
		if l.g.leftTarget {
			want[l.g.name] = true // an old target lingering: its writer's appends wake the tailer
		}
	}
	for _, l := range t.leftGood {
		if l.e.Name != "" && l.e.Name == l.name && !t.isRotatedOf(l.name) {
			want[l.name] = true // an old target left (after a restart): so do its writer's
		}
	}
	for p, s := range t.tsubs {
		if !want[p] {
			s.Cancel()
			delete(t.tsubs, p)
		}
	}
	for p := range want {
		if t.tsubs[p] != nil {
			continue
		}
		base := filepath.Base(p)
		s, err := t.s.watcher.subscribeName(filepath.Dir(p), base, t.tc)
		if err != nil {
			continue
		}
		t.tsubs[p] = s
		t.log.Info("following a symlink; watching its target's directory", "target", p)
	}
}

// symlinkChain returns what path leads through when it is a symlink or below one: the
// target of each link in turn (when a target is missing, the path where it will appear),
// and the file it resolves to. It is empty for a path without symlinks.
func symlinkChain(path string) []string {
	var chain []string
	p := path
	for range 40 { // the kernel's limit (ELOOP)
		li, err := os.Lstat(p)
		if err != nil || li.Mode()&fs.ModeSymlink == 0 {
			break
		}
		tgt, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(tgt) {
			dir := filepath.Dir(p)
			if r, err := filepath.EvalSymlinks(dir); err == nil {
				dir = r
			}
			tgt = filepath.Join(dir, tgt)
		}
		p = filepath.Clean(tgt)
		chain = append(chain, p)
	}
	r, err := filepath.EvalSymlinks(path)
	if err != nil {
		// Missing, maybe below a dangling symlinked directory (a release's "current"
		// link made before its directory): where the file will appear.
		r = resolveExisting(path, 0)
	}
	if r != filepath.Clean(path) && !slices.Contains(chain, r) {
		chain = append(chain, r)
	}
	return chain
}

// resolveExisting returns path with the symlinks among its existing components resolved,
// dangling ones included (their target, where it will appear), and the missing rest
// appended as it is.
func resolveExisting(path string, depth int) string {
	cur, rest := filepath.Clean(path), ""
	for depth < 40 { // the kernel's limit (ELOOP)
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		if li, err := os.Lstat(cur); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			tgt, err := os.Readlink(cur)
			if err != nil {
				break
			}
			if !filepath.IsAbs(tgt) {
				tgt = filepath.Join(filepath.Dir(cur), tgt)
			}
			return resolveExisting(filepath.Join(tgt, rest), depth+1)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			break
		}
		rest, cur = filepath.Join(filepath.Base(cur), rest), parent
	}
	return filepath.Join(cur, rest)
}

// idle runs before the tailer sleeps: an empty read buffer is released, and while other
// tailers wait for a descriptor, a file read to its end that is still linked is closed
// (reopened by identity on the next event).
func (t *Tailer) idle() {
	t.c.idle()
	if len(t.ahead) > 0 && t.s.fds.contended() {
		t.releaseAhead()
	}
	if len(t.linger) > 0 && t.s.fds.contended() {
		t.releaseLinger()
	}
	if t.g.f == nil || t.g.nlink == 0 || t.g.copyOf > 0 || !t.s.fds.contended() {
		return
	}
	if slices.ContainsFunc(t.ahead, func(a aheadFile) bool { return a.f != nil }) {
		// Deleted generations held ahead (releaseAhead keeps them): reopening this one
		// would wait for a slot while holding theirs.
		return
	}
	t.detach()
}

// holdsSlots reports whether the tailer holds a descriptor slot that idle can give up:
// its file's, a generation's ahead or lingering.
func (t *Tailer) holdsSlots() bool {
	return t.g.f != nil || len(t.linger) > 0 || slices.ContainsFunc(t.ahead, func(a aheadFile) bool { return a.f != nil })
}

// fail records that the file cannot be read now: counted and logged when the state
// changes, retried with backoff.
func (t *Tailer) fail(err error) {
	reason := errorReason(err)
	if reason != t.failing {
		if t.failing == "" {
			t.s.m.FilesUnreadable.Inc()
		}
		t.s.m.FileErrors.WithLabelValues(reason).Inc()
		attrs := []any{"reason", reason, "err", err}
		if reason == FileErrorPermission {
			attrs = append(attrs, "remedy", permissionRemedy(t.path))
		}
		if stateFull(err) {
			// The state directory is full: logged once for every source (stateHealth).
			t.log.Debug("cannot record the file's generation; waiting for space in the state directory, retrying with backoff", attrs...)
		} else {
			t.log.Warn("cannot read file; other files are not affected, retrying with backoff", attrs...)
		}
		t.failing = reason
		t.backoff = 0
	}
	t.failErr = err
	t.backoff = min(max(2*t.backoff, time.Second), max(t.s.cfg.PollInterval, time.Second))
	t.retryAt = time.Now().Add(t.backoff)
}

// seeIrregular counts and logs, once until a regular file is back, a path that names
// something else than a regular file (a FIFO, a socket, a device), which is never opened.
func (t *Tailer) seeIrregular(pi fs.FileInfo, err error) {
	irregular := err == nil && !pi.Mode().IsRegular() && !pi.IsDir()
	if irregular && !t.irregular && t.failing == "" {
		t.s.m.FileErrors.WithLabelValues(FileErrorNotRegular).Inc()
		t.log.Warn("the path names something else than a regular file; it is not read (other files are not affected) until a regular file is put there",
			"reason", FileErrorNotRegular, "err", notRegular("stat", t.path, pi.Mode()))
	}
	t.irregular = irregular
}

// recovered ends a failure state.
func (t *Tailer) recovered() {
	if t.failing == "" {
		return
	}
	if stateFull(t.failErr) {
		t.log.Debug("generation recorded; reading again", "was", t.failing)
	} else {
		t.log.Info("file readable again", "was", t.failing)
	}
	t.s.m.FilesUnreadable.Dec()
	t.failing, t.failErr, t.backoff, t.retryAt = "", nil, 0, time.Time{}
}

// failure returns the error that keeps the file from being read (for OpenFileToEnd's
// Next, which does not wait for it to be readable): the error as it came (errors.Is
// matches it: fs.ErrPermission, ErrNotRegular), naming the path once, with what to do.
func (t *Tailer) failure() error {
	err := t.failErr
	var remedy string
	switch t.failing {
	case FileErrorPermission:
		remedy = permissionRemedy(t.path)
	case FileErrorLimit:
		remedy = "the process is out of file descriptors: raise its limit with ulimit -n or LimitNOFILE= in the systemd unit, or lower --max-open-files (YAML max_open_files)"
	case FileErrorVanished:
		remedy = "it was deleted or renamed before it could be read; run again once it is in place"
	case FileErrorNotRegular:
		remedy = "only regular files are read; leave it out of the arguments"
	case FileErrorIO:
		remedy = "an I/O error from its device: check the device and the kernel log, dmesg"
	}
	if pe, ok := errors.AsType[*fs.PathError](err); !ok || pe.Path != t.path {
		err = fmt.Errorf("%s: %w", t.path, err) // (the error names no path, or another name of the file)
	}
	if remedy == "" {
		return err
	}
	return fmt.Errorf("%w; %s", err, remedy)
}

// errorReason maps an error to a FileErrors reason.
func errorReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return FileErrorPermission
	case errors.Is(err, fs.ErrNotExist):
		return FileErrorVanished
	case errors.Is(err, errNotRegular), errors.Is(err, syscall.EISDIR):
		return FileErrorNotRegular
	case isFDLimit(err):
		return FileErrorLimit
	case errors.Is(err, syscall.EIO):
		return FileErrorIO
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "read" {
		return FileErrorIO
	}
	return FileErrorOther
}

// wait sleeps until an event of concern: a change to the file, a timer (backoff, grace,
// lingering generations), a hand-over, ctx done, or, while the tailer holds descriptor
// slots, press closed (another tailer began to wait for a slot: idle gives them up).
func (t *Tailer) wait(ctx context.Context, press <-chan struct{}) error {
	var timer <-chan time.Time
	var until time.Time
	switch {
	case t.failing != "":
		until = t.retryAt
	case !t.graceTill.IsZero():
		until = t.graceTill
	}
	if len(t.linger) > 0 && (until.IsZero() || time.Until(until) > lingerPoll) {
		until = time.Now().Add(lingerPoll) // a deleted file's writes make no event
	}
	if !until.IsZero() {
		tm := time.NewTimer(max(time.Until(until), time.Millisecond))
		defer tm.Stop()
		timer = tm.C
	}
	if !t.holdsSlots() {
		press = nil // nothing to give up: a tailer waiting for a slot is no concern
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-press:
	case <-t.sub.C():
	case <-t.tc:
	case <-t.handc:
	case <-t.s.waker.Wake():
	case <-timer:
		if t.failing != "" {
			t.retryAt = time.Time{} // retry now
		}
	}
	t.wakeups.Add(1)
	t.s.m.Wakeups.Inc()
	return nil
}

// Ack implements Source: it saves pos.
func (t *Tailer) Ack(pos Checkpoint) error {
	t.noteAck(pos.Offset)
	t.lastAck.Store(&pos)
	err := t.s.store.Save(pos)
	if err == nil {
		t.unsaved.Store(false)
		t.durable.Store(&[2]uint64{pos.Dev, pos.Ino})
	}
	return err
}

// Forgot reports whether the state directory no longer has stream (see Store.Forgot).
func (t *Tailer) Forgot(stream uint64) bool { return t.s.store.Forgot(stream) }

// Forgotten receives a value (coalesced) after a source of the state directory was
// forgotten (see Store.Forgotten).
func (t *Tailer) Forgotten() <-chan struct{} { return t.s.store.Forgotten() }

// noteAck records that the stream is acknowledged up to off.
func (t *Tailer) noteAck(off uint64) {
	for {
		cur := t.acked.Load()
		if off <= cur || t.acked.CompareAndSwap(cur, off) {
			break
		}
	}
	if t.ackWait.Load() {
		t.poke() // a move to or from a lingering generation waits for it (linger.go)
	}
}

// Close implements Source.
func (t *Tailer) Close() error {
	t.s.looker.remove(t)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if !t.noStop {
		t.stopSave()
	}
	t.sub.Cancel()
	for _, s := range t.rsubs {
		s.Cancel()
	}
	t.rsubs = nil
	for p, s := range t.tsubs {
		s.Cancel()
		delete(t.tsubs, p)
	}
	for p, s := range t.lsubs {
		s.Cancel()
		delete(t.lsubs, p)
	}
	if t.failing != "" {
		t.s.m.FilesUnreadable.Dec()
		t.failing = ""
	}
	if t.unfollow != nil {
		t.unfollow()
		t.s.m.FilesFollowed.Dec()
	}
	for i := range t.linger {
		t.closeLinger(&t.linger[i], true)
	}
	t.linger = nil
	if p := t.parked; p != nil {
		t.s.release(t, p.owned, handOver{off: -1}, false, true)
		if p.g.f != nil {
			t.closeHeld(p.g.f)
		}
	}
	t.parked = nil
	t.s.forgetTailer(t)
	t.dropLive()
	t.dropAhead(false)
	if !t.noStop {
		t.gens.closeMark(t.stream, max(t.reach, t.c.off))
	}
	if err := t.gens.close(); err != nil && !t.s.store.health.fail("record of generations of "+t.path, err) {
		t.log.Debug("cannot record the file generation; a restart before it is acknowledged may resend it at other offsets", "err", err)
	}
	var err error
	t.openID.Store(nil)
	if t.g.f != nil {
		err = t.closeHeld(t.g.f)
		t.g.f = nil
	}
	return err
}

// openFault, set by tests, makes opening a name fail with the error it returns (a
// shortage of descriptors for chosen names: EMFILE); nil opens normally.
var openFault atomic.Pointer[func(name string) error]

// openName opens the regular file name for reading (openRegular: never blocks on a FIFO
// or a device, which fail with errNotRegular), with openFault.
func openName(name string) (*os.File, error) {
	if h := openFault.Load(); h != nil {
		if err := (*h)(name); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
	return openRegular(name)
}

// enterLeftElsewhere enters the generation just set (setGen, its file attached) where
// another stream of the state directory left it, when it is one that stream read and
// left (in this run or a run before): a file renamed to the followed path from another
// followed name (a glob's matches that rotated names also match, logrotate's "extension
// .log": app.1.log's stream given app.log's old file, which app.log's stream read). It
// is not read again from its start. It reports whether it entered it.
func (t *Tailer) enterLeftElsewhere() bool {
	if t.g.f == nil {
		return false
	}
	fi, err := t.g.f.Stat()
	if err != nil {
		return false
	}
	lg, tail, ok := t.s.store.left.readTo(t.g.f, fi, t.stream)
	if !ok {
		return false
	}
	if off := uint64(lg.left); t.c.off < off && t.c.off == t.start.Offset && t.c.r == t.c.w && !t.c.frag {
		// A stream that used no offset yet (a match that waited from its start) takes
		// the file's offsets. One that did enters it there all the same, never again
		// from its start (what was read of it was shipped by the other stream): the
		// generation's base in the stream is then below 0 (genEntry.start).
		t.c.off = off
	}
	t.log.Info("the file is a generation another stream read and left (renamed to this name from another followed one); reading on from where it was left",
		"file", t.g.name, "stream_path", t.s.store.pathOf(lg.stream), "file_offset", lg.left, "size", fi.Size())
	t.g.key.fpLen, t.g.key.fp = lg.fpLen, lg.fp
	t.g.tailN = copy(t.g.tail[:], tail)
	t.enterAt(lg.left, false)
	return true
}

// A pubGen is what a tailer published of its followed generation (Tailer.pub).
type pubGen struct {
	id   [2]uint64
	head []byte // the head read (headB), nil when not known
}

// publish makes the followed generation's identity and head readable without t.mu
// (Tailer.pub); t.mu is held.
func (t *Tailer) publish() {
	var p pubGen
	if t.g.has {
		p.id = [2]uint64{t.g.key.dev, t.g.key.ino}
		if len(t.g.headB) == t.g.key.fpLen && t.g.key.fpLen > 0 {
			p.head = t.g.headB
		}
	}
	if o := t.pub.Load(); o != nil && o.id == p.id && bytes.Equal(o.head, p.head) {
		return
	}
	if p.id == ([2]uint64{}) && t.pub.Load() == nil {
		return
	}
	p.head = bytes.Clone(p.head)
	t.pub.Store(&p)
}

// resumeLeftElsewhere resumes at the file at the path, which another stream read and
// left at lg (its last bytes read before there: tail), from there; a new stream (no
// checkpoint found) takes the file's offsets.
func (t *Tailer) resumeLeftElsewhere(lg leftGen, tail []byte, found bool) {
	off := lg.left
	if !found {
		t.c.off = uint64(off) // a new stream takes the file's offsets
	}
	t.g.readOff, t.g.from, t.g.blind = off, uint64(off), false
	t.g.key.fpLen, t.g.key.fp = lg.fpLen, lg.fp
	t.g.tailN = copy(t.g.tail[:], tail)
	t.g.base, t.g.baseKnown = t.c.off-uint64(off), true
	t.log.Info("following", "from", "where another stream left the file", "stream_path", t.s.store.pathOf(lg.stream), "file_offset", off)
}

// resumeEnteredPast resumes, at the file at the path (f, seen as fi) with no checkpoint
// of it, the walk from the next offset when the record says the stream entered that file
// there past its start (From: a file another stream left, handed over at the offset it
// shipped up to, at a next offset below it): the walk reads it on from From at the
// offsets it had, never again from its start (those offsets carried other bytes: a
// rewind to the stream's start, a restart before its first checkpoint). It reports
// whether it resumed so.
func (t *Tailer) resumeEnteredPast(f *os.File, fi fs.FileInfo) bool {
	if t.gens.past(t.c.off) {
		return false
	}
	head, ok := readHeadAt(f, fi.Size())
	if !ok {
		return false
	}
	dev, ino, _ := fileID(fi)
	e, ok := t.gens.continuedAt(dev, ino, t.c.off, head)
	if !ok || e.Dev != dev || e.Ino != ino || int64(e.From) > fi.Size() {
		return false
	}
	if at := e.start(); at != t.c.off {
		if !offAfter(at, t.c.off) {
			return false
		}
		t.skipSent(int64(at-t.c.off), "read before the tailer resumed, from generations destroyed since", true)
		t.c.off = at
	}
	t.g.readOff, t.g.from, t.g.blind = int64(e.From), e.From, false
	t.g.key.fpLen, t.g.key.fp, t.g.headLine = e.FPLen, e.FP, e.Line
	t.g.base, t.g.baseKnown = e.Base, true
	t.log.Info("following", "from", "where the stream entered the file before it resumed", "file_offset", e.From, "offset", t.c.off,
		"note", "the stream entered it past its start (a file another stream left); read on from there at the offsets it had")
	return true
}
