package main

import (
	"context"
	"log/slog"
	"slices"
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
