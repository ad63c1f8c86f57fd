package ingest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/sources"
)

// recordSink takes an entry's records in key order. same says the record
// is the previous one, unchanged.
type recordSink interface {
	add(ctx context.Context, rec annotations.Record, same bool) error
}

// inlineSink keeps a small entry's records for its head.
type inlineSink struct{ recs []annotations.Record }

func (s *inlineSink) add(_ context.Context, rec annotations.Record, _ bool) error {
	s.recs = append(s.recs, rec)
	return nil
}

// partSink writes records into parts.
type partSink struct{ w *annotations.PartWriter }

func (s *partSink) add(ctx context.Context, rec annotations.Record, same bool) error {
	return s.w.Add(ctx, rec, same)
}

// headFor is the head the entry's records make: parts or inline records,
// with CheckedAt set only when final and complete.
func (er *entryRun) headFor(parts []annotations.Part, inline []annotations.Record, c entryTally, final bool) *annotations.Head {
	r, t := er.r, er.t
	now := r.cfg.Now().UTC()
	h := &annotations.Head{Meta: annotations.MetaOf(t.Entry), RunID: r.cfg.RunID, Parts: parts, Records: inline, UpdatedAt: now}
	if er.lay.split {
		h.Shard = &er.lay.shard
	}
	if prev := er.layoutPrevAny(); prev != nil && (!final || c.uploaded == 0) {
		h.UpdatedAt = prev.UpdatedAt
	}
	for _, p := range parts {
		h.Objects += p.Objects
		h.Bytes += p.Bytes
	}
	for _, rec := range inline {
		h.Objects++
		h.Bytes += rec.Size
	}
	if final && c.complete() {
		h.CheckedAt = now
	}
	return h
}

// layoutPrevAny is the previous head whose UpdatedAt carries over: the
// layout's own, or the entry's head when the layout changed.
func (er *entryRun) layoutPrevAny() *annotations.Head {
	if p := er.layoutPrev(); p != nil {
		return p
	}
	return er.t.Prev
}

// finishEntry commits the entry's head and records the outcome. A
// complete entry gets a fresh CheckedAt; an incomplete one that still
// changed something gets a head too (so the records always describe what
// the bucket holds) but with CheckedAt zero, which keeps it due. The
// layout's object index file is written just before its head, unless the
// previous head's still holds (see indexfile.go). Parts and index files
// no head lists any more are deleted last.
func (r *runner) finishEntry(ctx context.Context, er *entryRun, c entryTally) {
	t := er.t
	e := t.Entry
	if leaseLost(ctx) != nil {
		// Another run owns the bucket now: nothing more is written, and
		// the entry is recorded as cut short by the loss.
		r.out.ended(t, entryUnfinished)
		return
	}
	wctx := context.WithoutCancel(ctx)
	var h *annotations.Head
	written := 0
	switch s := er.recs.(type) {
	case *inlineSink:
		h = er.headFor(nil, s.recs, c, true)
	case *partSink:
		parts, err := s.w.Close(wctx)
		if err != nil {
			r.fail(e, fmt.Errorf("write records: %w", err))
			return
		}
		written = s.w.Written()
		h = er.headFor(parts, nil, c, true)
	}
	migrate := t.Prev != nil && t.Prev.SchemaVersion < annotations.SchemaVersion
	current := er.indexCurrent(h)
	var indexErr error
	// A complete entry's head is written on every run (CheckedAt), so a
	// head that names no index gets its file on the entry's first
	// complete run, changed or not.
	if c.complete() || c.uploaded > 0 || written > 0 || migrate {
		if current {
			h.Index = er.layoutPrev().Index
		} else if indexErr = r.writeIndex(wctx, h); indexErr != nil {
			// The head still records what the bucket holds, but without
			// an index and unchecked, so the next run writes the index.
			h.CheckedAt = time.Time{}
		}
		if err := r.writeHeads(wctx, er, h); err != nil {
			r.fail(e, fmt.Errorf("write manifest: %w", err))
			return
		}
		if written > 0 || er.leavesGarbage(h) {
			r.collectGarbage(wctx, er, h)
		}
		if !current {
			r.collectIndexGarbage(wctx, er, h)
		}
	}
	switch {
	case c.firstFail != nil:
		r.down.note(e, c.firstFail)
		r.fail(e, c.firstFail)
	case indexErr != nil:
		r.fail(e, fmt.Errorf("write the object index: %w", indexErr))
	case c.cancelled:
		r.out.ended(t, entryUnfinished)
	case c.firstSkip != nil:
		r.skip(e, sources.ReasonBudgetExceeded, c.firstSkip.Error())
	case c.uploaded > 0:
		r.out.ended(t, entryDone)
	default:
		r.out.ended(t, entryUnchanged)
	}
}

// writeHeads commits the layout's head and, for a split entry, the
// entry's head that says so, then notes the entry for the catalog.
func (r *runner) writeHeads(ctx context.Context, er *entryRun, h *annotations.Head) error {
	b, id := r.cfg.Bucket, er.t.Entry.ID
	if _, err := annotations.WriteHead(ctx, b, er.lay.headKey(id), h); err != nil {
		return err
	}
	if er.lay.split {
		p := er.t.Prev
		if p == nil || p.Split == nil || p.Split.Shards != er.lay.shard.Count || p.Meta != h.Meta {
			main := &annotations.Head{Meta: h.Meta, RunID: r.cfg.RunID, UpdatedAt: h.UpdatedAt, Split: &annotations.Split{Shards: er.lay.shard.Count}}
			if _, err := annotations.WriteHead(ctx, b, annotations.HeadKey(id), main); err != nil {
				return err
			}
		}
	}
	r.touched.add(id, er.lay, h)
	return nil
}

// leavesGarbage reports whether the previous head listed something under
// the entry's parts prefix that h no longer does, so that an unchanged
// entry's rerun costs no listing.
func (er *entryRun) leavesGarbage(h *annotations.Head) bool {
	p := er.t.Prev
	if p == nil {
		return false
	}
	if (p.Split != nil) != er.lay.split {
		return true
	}
	lp := er.layoutPrev()
	if lp == nil {
		return p.Split != nil || len(p.Parts) > 0
	}
	keep := make(map[string]bool, len(h.Parts))
	for _, q := range h.Parts {
		keep[q.Key] = true
	}
	for _, q := range lp.Parts {
		if !keep[q.Key] {
			return true
		}
	}
	return false
}

// collectGarbage deletes what no head of the entry lists any more: the
// parts a new head replaced, and what another layout left. A shard of a
// split entry touches only its own shard's keys, as its siblings may be
// writing theirs; the rest goes when the entry is next written whole.
// Failures are only logged: a later run collects again.
func (r *runner) collectGarbage(ctx context.Context, er *entryRun, h *annotations.Head) {
	b, id := r.cfg.Bucket, er.t.Entry.ID
	keep := map[string]bool{er.lay.headKey(id): true}
	for _, p := range h.Parts {
		keep[p.Key] = true
	}
	prefix := annotations.EntryPartsPrefix(id)
	if er.lay.split {
		prefix += annotations.ShardTag(er.lay.shard.Index, er.lay.shard.Count) + "-"
	}
	for info, err := range b.List(ctx, prefix) {
		if err != nil {
			r.log.Warn("listing old parts failed; a later run deletes them", "entry", id, "err", err)
			return
		}
		if keep[info.Key] || !strings.HasPrefix(info.Key, prefix) {
			continue
		}
		if err := b.Delete(ctx, info.Key); err != nil {
			r.log.Warn("deleting an old part failed; a later run deletes it", "entry", id, "key", info.Key, "err", err)
		}
	}
}
