package shipper

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/logspread/logspread/formats/envelope"
	"github.com/logspread/logspread/internal/atomicfile"
)

// CursorsFile is the name of the file, in Config.StateDir, that keeps per collector the
// written end of every stream it reported (AckWritten).
const CursorsFile = "collectors.json"

const cursorsVersion = 1

// cursorsDoc is the content of CursorsFile.
type cursorsDoc struct {
	Version    int            `json:"version"`
	Collectors []cursorsEntry `json:"collectors"`
}

type cursorsEntry struct {
	Name string `json:"name"`
	// Streams maps a stream id to the end the collector has written.
	Streams map[uint64]uint64 `json:"streams"`
	// From maps a stream id to where the range the collector reported starts, for the
	// streams where that is above 0 (it first had the stream in its middle).
	From map[uint64]uint64 `json:"from,omitempty"`
	// Final: its last report said it stopped cleanly. TimedOut: it was absent longer
	// than the absent timeout. Either way no one waits for it after a restart.
	Final    bool `json:"final,omitempty"`
	TimedOut bool `json:"timed_out,omitempty"`
}

// cursorsPath returns the cursor file of the configuration ("" without a state dir).
func (c *Config) cursorsPath() string {
	if c.StateDir == "" {
		return ""
	}
	return filepath.Join(c.StateDir, CursorsFile)
}

// loadCursors reads the cursor file into l's tracker. A cursor file that is corrupt
// (zeroed by a crash, damaged, another version; moved aside to CursorsFile+".corrupt")
// or missing falls back to its previous copy (CursorsFile+".prev", the one each save
// replaces), with a warning each; corrupt files count in
// logspread_shipper_collector_cursors_corrupt_total. An older copy only makes the
// shipper wait for more than its collectors lack (they drop what they get twice).
// Without a usable copy the shipper starts without cursors: it waits for no absent
// collector, and one that comes back lacking lines counts them as a gap. A file that
// cannot be read (permissions, I/O) is an error naming it.
func (l *sendLoop) loadCursors() error {
	name := l.cfg.cursorsPath()
	if name == "" {
		return nil
	}
	doc, err := readCursors(name)
	switch {
	case err == nil:
		l.loadDoc(doc)
		return nil
	case errors.Is(err, errCorruptCursors):
		l.s.m.CursorsCorrupt.Inc()
		// Not to become the previous copy at the next save.
		if rerr := os.Rename(name, name+".corrupt"); rerr != nil {
			return fmt.Errorf("%w (move it away to start without it: %w)", err, rerr)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	prev, perr := readCursors(name + ".prev")
	switch {
	case perr == nil:
		why := "missing (a crash while it was saved)"
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			why = err.Error()
		}
		l.s.log.Warn("collector cursors unusable; using their previous copy (collectors drop lines sent twice)", "why", why, "file", name+".prev")
		l.loadDoc(prev)
		return nil
	case errors.Is(perr, fs.ErrNotExist) && errors.Is(err, fs.ErrNotExist):
		return nil // none saved yet
	case errors.Is(perr, errCorruptCursors):
		l.s.m.CursorsCorrupt.Inc()
	case !errors.Is(perr, fs.ErrNotExist):
		return perr
	}
	l.s.log.Warn("collector cursors unusable and no usable previous copy; starting without them: no absent collector is waited for (one that comes back lacking lines counts them as a gap)",
		"err", err, "previous_copy", perr)
	return nil
}

// errCorruptCursors marks a cursor file that was read but cannot be used.
var errCorruptCursors = errors.New("corrupt collector cursors")

// readCursors reads and checks the cursor file name: fs.ErrNotExist when it does not
// exist, errCorruptCursors when it cannot be used.
func readCursors(name string) (cursorsDoc, error) {
	var doc cursorsDoc
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, err
	}
	if err != nil {
		return doc, fmt.Errorf("read collector cursors: %w (the shipper's user must be able to read its state directory)", err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("%w %s: %w", errCorruptCursors, name, err)
	}
	if doc.Version != cursorsVersion {
		return doc, fmt.Errorf("%w %s: version %d, want %d", errCorruptCursors, name, doc.Version, cursorsVersion)
	}
	for _, e := range doc.Collectors {
		if !envelope.ValidCollectorName(e.Name) {
			return doc, fmt.Errorf("%w %s: invalid collector name %q", errCorruptCursors, name, e.Name)
		}
	}
	return doc, nil
}

// loadDoc loads the cursors of doc into l's tracker.
func (l *sendLoop) loadDoc(doc cursorsDoc) {
	for _, e := range doc.Collectors {
		l.tr.load(e.Name, e.Streams, e.From, e.Final, e.TimedOut)
	}
}

// saveCursors hands the cursors to the acker, which writes them in its next round: at
// most once per CheckpointInterval unless force, and only when they changed.
func (l *sendLoop) saveCursors(force bool) {
	if l.tr == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(l.cursorsSave) < l.cfg.CheckpointInterval {
		return
	}
	l.updateMetrics()
	name := l.cfg.cursorsPath()
	changed := false
	for _, c := range l.tr.byName {
		changed = changed || c.changed
	}
	if name == "" || !changed {
		return
	}
	l.cursorsSave = now
	doc := cursorsDoc{Version: cursorsVersion}
	for _, c := range l.tr.byName {
		c.changed = false
		if !c.seen && len(c.cursor) == 0 {
			continue
		}
		streams := maps.Clone(c.owed)
		maps.Copy(streams, c.cursor)
		var from map[uint64]uint64
		if len(c.from) > 0 {
			from = maps.Clone(c.from)
		}
		doc.Collectors = append(doc.Collectors, cursorsEntry{Name: c.name, Streams: streams, From: from, Final: c.final && !c.present(), TimedOut: c.timedOut})
	}
	slices.SortFunc(doc.Collectors, func(a, b cursorsEntry) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	b, err := json.Marshal(&doc)
	if err != nil {
		l.s.log.Error("cannot encode collector cursors", "err", err)
		return
	}
	l.ack.setCursors(name, append(b, '\n'))
	l.ack.kick()
}

// writeCursors writes the cursor file (in the acker's goroutine), the file it replaces
// kept as its previous copy (loadCursors falls back to it).
func writeCursors(name string, b []byte) error {
	if err := os.Rename(name, name+".prev"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save collector cursors %s: keep the previous copy: %w", name, err)
	}
	if err := atomicfile.Write(name, b, 0o640); err != nil { // as checkpoints: the service's group may read it
		return fmt.Errorf("save collector cursors %s: %w", name, err)
	}
	return nil
}
