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
	missing  int // segments that do not exist
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
		size, err := fsys.Size(fi.Segment)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			rep.missing++
			if fi.Before > 0 {
				log.Error("segment named in the state file's intent is missing; its last frame's lines are not counted as written",
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
					"segment", fi.Segment, "size", size, "after", fi.After)
			}
		case size < fi.Before:
			rep.torn++
			log.Error("segment is shorter than its complete frames (changed outside the collector?); left as it is",
				"segment", fi.Segment, "size", size, "before", fi.Before)
		default:
			rep.torn++
			if fi.Before == 0 {
				// The segment was created for this frame: without it, it is empty.
				err = fsys.Remove(fi.Segment)
				if err == nil {
					err = fsys.SyncDir(path.Dir(fi.Segment))
				}
			} else if size > fi.Before {
				err = fsys.Truncate(fi.Segment, fi.Before)
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return State{}, rep, fmt.Errorf("cut torn frame off segment %s: %w", fi.Segment, err)
			}
			if size > fi.Before || fi.Before == 0 {
				rep.cut++
			}
			log.Warn("frame torn by the last stop cut off; its lines were not written",
				"segment", fi.Segment, "size", size, "cut_to", fi.Before, "frame_bytes", fi.After-fi.Before)
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
