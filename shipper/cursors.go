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

// loadCursors reads the cursor file into l's tracker.
func (l *sendLoop) loadCursors() error {
	name := l.cfg.cursorsPath()
	if name == "" {
		return nil
	}
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read collector cursors: %w", err)
	}
	var doc cursorsDoc
	if err := json.Unmarshal(b, &doc); err != nil || doc.Version != cursorsVersion {
		if err == nil {
			err = fmt.Errorf("version %d, want %d", doc.Version, cursorsVersion)
		}
		return fmt.Errorf("%w: collector cursors %s: %w (move the file away to start without them: the shipper then waits for no absent collector)", ErrConfig, name, err)
	}
	for _, e := range doc.Collectors {
		if !envelope.ValidCollectorName(e.Name) {
			return fmt.Errorf("%w: collector cursors %s: invalid collector name %q", ErrConfig, name, e.Name)
		}
		l.tr.load(e.Name, e.Streams, e.From, e.Final, e.TimedOut)
	}
	return nil
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

// writeCursors writes the cursor file (in the acker's goroutine).
func writeCursors(name string, b []byte) error {
	if err := atomicfile.Write(name, b, 0o640); err != nil { // as checkpoints: the service's group may read it
		return fmt.Errorf("save collector cursors %s: %w", name, err)
	}
	return nil
}
