package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// uniqueKeys is a slog.Handler that writes every key of a record once. Packages add
// their own attributes to the logger they are given (logger.With("component",
// "segment") under a logger that already says "component", "collector"); JSON log
// readers keep only one of two equal keys, and which one differs between readers. The
// last value given for a key wins: it is the most specific (the innermost component, an
// attribute of the record itself). Attributes after a WithGroup are nested in that group
// and passed through unchanged.
type uniqueKeys struct {
	inner slog.Handler
	attrs []slog.Attr // added with WithAttrs, each key once, in order of first use
}

func newUniqueKeys(h slog.Handler) *uniqueKeys { return &uniqueKeys{inner: h} }

func (h *uniqueKeys) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *uniqueKeys) WithAttrs(as []slog.Attr) slog.Handler {
	return &uniqueKeys{inner: h.inner, attrs: mergeAttrs(slices.Clone(h.attrs), as)}
}

func (h *uniqueKeys) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.inner.WithAttrs(h.attrs).WithGroup(name)
}

func (h *uniqueKeys) Handle(ctx context.Context, r slog.Record) error {
	own := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		own = append(own, a)
		return true
	})
	all := mergeAttrs(slices.Clone(h.attrs), own)
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(all...)
	return h.inner.Handle(ctx, out)
}

// mergeAttrs adds as to dst; an attribute whose key dst has replaces the value there.
func mergeAttrs(dst, as []slog.Attr) []slog.Attr {
	for _, a := range as {
		if a.Equal(slog.Attr{}) {
			continue
		}
		if i := slices.IndexFunc(dst, func(d slog.Attr) bool { return d.Key == a.Key }); i >= 0 && a.Key != "" {
			dst[i] = a
			continue
		}
		dst = append(dst, a)
	}
	return dst
}

// onceLog is a slog.Handler that, until done is called, passes each distinct record (its
// level, message and attributes, those of the logger included, not its time) once: a
// start retried while it waits for space (waitForSpace) logs what it logs at each
// attempt ("following ...", warnings about its arguments) only the first time, not every
// few seconds for as long as it waits. After done it passes every record, at the cost of
// one atomic load.
type onceLog struct {
	inner  slog.Handler
	prefix string // the attributes and groups added to the logger, formatted
	st     *onceState
}

type onceState struct {
	off  atomic.Bool
	mu   sync.Mutex
	seen map[string]bool // guarded by mu; nil once done
}

func newOnceLog(h slog.Handler) *onceLog {
	return &onceLog{inner: h, st: &onceState{seen: map[string]bool{}}}
}

// done makes the handler pass every record from now on, and forgets the records seen.
func (h *onceLog) done() {
	h.st.off.Store(true)
	h.st.mu.Lock()
	h.st.seen = nil
	h.st.mu.Unlock()
}

func (h *onceLog) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *onceLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &onceLog{inner: h.inner.WithAttrs(as), prefix: h.prefix + fmt.Sprint(as), st: h.st}
}

func (h *onceLog) WithGroup(name string) slog.Handler {
	return &onceLog{inner: h.inner.WithGroup(name), prefix: h.prefix + "(" + name + ")", st: h.st}
}

func (h *onceLog) Handle(ctx context.Context, r slog.Record) error {
	if !h.st.off.Load() {
		var b strings.Builder
		fmt.Fprintf(&b, "%s%v %q", h.prefix, r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %v", a)
			return true
		})
		key := b.String()
		h.st.mu.Lock()
		dup := h.st.seen != nil && h.st.seen[key]
		if h.st.seen != nil {
			h.st.seen[key] = true
		}
		h.st.mu.Unlock()
		if dup {
			return nil
		}
	}
	return h.inner.Handle(ctx, r)
}
