package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"

	"github.com/logspread/logspread/collector/segment"
)

// recoveryReport says what recoverIntent found.
type recoveryReport struct {
	complete int // frames found complete: kept, their lines committed
	torn     int // frames found partly written or not at all: cut off
	missing  int // segments that do not exist (not by name, nor by identity)
	moved    int // segments found renamed, by their identity
	cut      int // segments truncated back (or removed when the frame was their only content)
	holes    int // stream spans of torn frames that are holes again (a resend fills them)
}

// recoverIntent applies the intent of a state saved by flushCycle (frames in flight
// at a crash) to the segments in fsys and returns the state to start from, with no
// intent.
//
// For each frame of the intent, the segment's size decides:
//   - at least "after": the frame is complete and stays; its spans are added to the
//     written spans of their streams. A larger size is logged and left.
//   - between "before" and "after": the frame is torn or was never written; the
//     segment is truncated back to "before" (removed if "before" is 0, an empty
//     segment created for the frame), so it is again a sequence of complete frames.
//     Its spans are holes again: a resend writes them.
//   - missing, or shorter than "before" (changed by someone else): left alone and
//     logged; its spans are holes again.
//
// The segment is the file of the frame's identity (device and inode, version 5 state
// files), not merely of its name: when its name points to no file or to another one
// (logrotate renamed it after the frame was written, and perhaps created a new file
// under the name), the file of that identity is looked for in the segment's directory,
// then below the output directory (logrotate's olddir), and the rules apply to it
// under its new name; a file of another identity under the name is then left alone.
// When no file has the identity, the directories are a copy (a restored backup: every
// identity changed) or the segment left them (deleted, moved elsewhere, compressed by
// logrotate): the file under the name is taken, as in older state files, and the
// segment is missing only when there is none.
//
// Complete frames add their exact spans; then every torn frame's spans, its Rest
// included, are taken out again. Each line is in one frame, so with exact spans the
// second step changes nothing; it matters only for a frame whose spans were cut to
// maxIntentSpans (see limitSpans), where it may turn written lines into holes (a
// resend writes them twice) but never counts unwritten lines as written.
//
// recoverIntent is idempotent: running it again on its own output's input (a crash
// during recovery) reaches the same result.
func recoverIntent(fsys segment.FS, st State, log *slog.Logger) (State, recoveryReport, error) {
	var rep recoveryReport
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	streams := make(map[uint64]StreamState, len(st.Streams))
	for id, ss := range st.Streams {
		streams[id] = ss
	}
	complete := make([]bool, len(st.Intent))
	for i, fi := range st.Intent {
		name, size, err := locateSegment(fsys, fi)
		if name != fi.Segment && err == nil {
			rep.moved++
			log.Info("segment of a frame in flight was renamed (logrotate?); recovering it under its new name",
				"segment", fi.Segment, "now", name)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			rep.missing++
			if fi.Before > 0 {
				log.Error("segment named in the state file's intent is missing (not found by name or, renamed, by identity in its directory or the output directory); its last frame's lines are not counted as written",
					"segment", fi.Segment, "before", fi.Before, "after", fi.After)
			} else {
				log.Info("segment of a frame in flight was never created", "segment", fi.Segment)
			}
		case err != nil:
			return State{}, rep, fmt.Errorf("check segment %s of the state file's intent: %w", fi.Segment, err)
		case size >= fi.After:
			complete[i] = true
			rep.complete++
			if size > fi.After {
				log.Warn("segment is longer than the state file's intent says; left as it is",
					"segment", name, "size", size, "after", fi.After)
			}
		case size < fi.Before:
			rep.torn++
			log.Error("segment is shorter than its complete frames (changed outside the collector?); left as it is",
				"segment", name, "size", size, "before", fi.Before)
		default:
			rep.torn++
			if fi.Before == 0 && name == fi.Segment {
				// The segment was created for this frame: without it, it is empty.
				err = fsys.Remove(name)
				if err == nil {
					err = fsys.SyncDir(path.Dir(name))
				}
			} else if size > fi.Before {
				// (A renamed segment is cut back, never removed: it is logrotate's now.)
				err = fsys.Truncate(name, fi.Before)
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return State{}, rep, fmt.Errorf("cut torn frame off segment %s: %w", name, err)
			}
			if size > fi.Before || fi.Before == 0 {
				rep.cut++
			}
			log.Warn("frame torn by the last stop cut off; its lines were not written",
				"segment", name, "size", size, "cut_to", fi.Before, "frame_bytes", fi.After-fi.Before)
		}
	}
	add := func(id uint64, f func(*rangeSet)) {
		ss := streams[id]
		r := rangeSet(slices.Clone(ss.Written))
		f(&r)
		ss.Written = r
		streams[id] = ss
	}
	for i, fi := range st.Intent {
		if !complete[i] {
			continue
		}
		for id, fs := range fi.Streams {
			add(id, func(r *rangeSet) { r.addAll(fs.Spans) })
		}
	}
	for i, fi := range st.Intent {
		if complete[i] {
			continue
		}
		for id, fs := range fi.Streams {
			if _, ok := streams[id]; !ok {
				continue
			}
			rep.holes += len(fs.Spans)
			add(id, func(r *rangeSet) {
				for _, sp := range fs.Spans {
					r.remove(sp.From, sp.To)
				}
				if fs.Rest != nil {
					r.remove(fs.Rest.From, fs.Rest.To)
				}
			})
		}
	}
	return State{Streams: streams, Logs: st.Logs, Expired: st.Expired}, rep, nil
}

// maxLocateEntries bounds the directory entries locateSegment examines below the
// output directory looking for a renamed segment.
const maxLocateEntries = 1 << 20

// locateSegment returns the name and size of the segment of intent frame fi: the file
// named fi.Segment when it has the frame's identity (or the identity is unknown),
// else the file of that identity in fi.Segment's directory or, for a relative name,
// anywhere below the output directory, else (no file has it: the directories are a
// copy) the file named fi.Segment. The error satisfies errors.Is(err, fs.ErrNotExist)
// when there is none.
func locateSegment(fsys segment.FS, fi FrameIntent) (string, int64, error) {
	st, err := fsys.Stat(fi.Segment)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", 0, err
	}
	named := err == nil
	if named && (!fi.ID.Known() || segment.IDOf(st) == fi.ID) {
		size, err := fsys.Size(fi.Segment)
		return fi.Segment, size, err
	}
	if fi.ID.Known() {
		dir := path.Dir(fi.Segment)
		if name, size, ok, err := findByID(fsys, dir, fi.ID, false, new(int)); ok || err != nil {
			return name, size, err
		}
		if !path.IsAbs(fi.Segment) {
			budget := 0
			if name, size, ok, err := findByID(fsys, ".", fi.ID, true, &budget); ok || err != nil {
				return name, size, err
			}
		}
	}
	if named {
		// No file has the identity: the directories were copied (a backup restored,
		// a disk image), which changes every identity. Go by the name.
		size, err := fsys.Size(fi.Segment)
		return fi.Segment, size, err
	}
	return "", 0, fs.ErrNotExist
}

// findByID looks for the regular file of identity id in directory dir (and, if deep,
// its subdirectories), counting the entries it examines in *seen.
func findByID(fsys segment.FS, dir string, id segment.FileID, deep bool, seen *int) (string, int64, bool, error) {
	names, err := fsys.List(dir)
	if err != nil {
		return "", 0, false, fmt.Errorf("look for a renamed segment in %s: %w", dir, err)
	}
	var subdirs []string
	for _, n := range names {
		if *seen++; *seen > maxLocateEntries {
			return "", 0, false, nil
		}
		name := path.Join(dir, n)
		st, err := fsys.Stat(name)
		if err != nil {
			continue // gone meanwhile
		}
		switch {
		case st.Mode().IsRegular() && segment.IDOf(st) == id:
			return name, st.Size(), true, nil
		case st.IsDir() && deep:
			subdirs = append(subdirs, name)
		}
	}
	for _, d := range subdirs {
		if name, size, ok, err := findByID(fsys, d, id, deep, seen); ok || err != nil {
			return name, size, ok, err
		}
	}
	return "", 0, false, nil
}
