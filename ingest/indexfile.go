package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
)

// The object index (package index) is kept current entry by entry: when
// a layout's head is written, its index file is written too unless the
// previous head of the same layout names an index file for the very same
// records and description. Nothing is read to find out, so an unchanged
// entry's rerun costs no index request, and a bucket written before the
// index existed gets each entry's file the first time the entry runs.

// indexCurrent reports whether the previous head of this layout names
// the index file h needs, written from the same records: then the file
// is still right and h takes it over.
func (er *entryRun) indexCurrent(h *annotations.Head) bool {
	lp := er.layoutPrev()
	return lp != nil && lp.Index != "" && lp.Index == index.Key(h.Meta, h.Shard) &&
		lp.Meta == h.Meta && sameRecords(lp, h)
}

// sameRecords reports whether two heads of one layout list the same
// records: the same parts (immutable, named by run, checked by sha256) or
// equal inline records.
func sameRecords(a, b *annotations.Head) bool {
	if len(a.Parts) != len(b.Parts) || len(a.Records) != len(b.Records) {
		return false
	}
	for i, p := range a.Parts {
		if q := b.Parts[i]; p.Key != q.Key || p.SHA256 != q.SHA256 {
			return false
		}
	}
	for i, rec := range a.Records {
		if !rec.Equal(b.Records[i]) {
			return false
		}
	}
	return true
}

// writeIndex writes the layout's index file from the records h lists and
// names it in h. The records are read back from the head itself: inline
// ones are at hand, and parts are the entry's own, just written or kept,
// read only when the entry changed. Teeing them from the record sink
// instead would encode Parquet on every rerun of a big unchanged entry,
// whose records the part writer takes care never even to encode.
func (r *runner) writeIndex(ctx context.Context, h *annotations.Head) error {
	key := index.Key(h.Meta, h.Shard)
	rows := func(yield func(index.Row, error) bool) {
		for rec, err := range annotations.Records(ctx, r.cfg.Bucket, h) {
			if !yield(index.RowOf(h.Meta, rec), err) || err != nil {
				return
			}
		}
	}
	n, err := index.Write(ctx, r.cfg.Bucket, key, rows)
	if err != nil {
		return &bucketError{err}
	}
	if n != h.Objects {
		// The file is committed but disagrees with the head: it is not
		// named, so the next run writes it again.
		return fmt.Errorf("index %s: %d rows for the head's %d objects", key, n, h.Objects)
	}
	h.Index = key
	return nil
}

// collectIndexGarbage deletes the entry's index files that no head names
// any more, which a reader's glob would otherwise count twice: the file
// of the previous key when the entry moved to another domain or family,
// and, when the layout changed (split and unsplit, or split another
// number of ways), the files of the other layout, found by listing the
// entry's names in its family (the only listing, and only then). A shard
// leaves its siblings' files alone. Failures are only logged: a later
// layout change lists again, and verify reports what stays.
func (r *runner) collectIndexGarbage(ctx context.Context, er *entryRun, h *annotations.Head) {
	p := er.t.Prev
	if p == nil || p.SchemaVersion < annotations.SchemaVersion || h.Index == "" {
		return // nothing older than the index can have index files
	}
	if lp := er.layoutPrev(); lp != nil {
		if lp.Index != "" && lp.Index != h.Index {
			r.deleteIndexFile(ctx, er, lp.Index)
		}
		return
	}
	metas := []annotations.Meta{p.Meta}
	if index.FamilyPrefix(p.Domain, p.Family) != index.FamilyPrefix(h.Domain, h.Family) {
		metas = append(metas, h.Meta)
	}
	for _, m := range metas {
		files, err := index.EntryFiles(ctx, r.cfg.Bucket, m)
		if err != nil {
			r.log.Warn("listing the entry's old index files failed", "entry", h.ID, "err", err)
			return
		}
		for _, f := range files {
			if f.Key != h.Index && !er.sibling(f.Key, h) {
				r.deleteIndexFile(ctx, er, f.Key)
			}
		}
	}
}

// sibling reports whether key is another shard's index file of this
// run's layout, which that shard owns.
func (er *entryRun) sibling(key string, h *annotations.Head) bool {
	_, sh, ok := index.ParseKey(key)
	return ok && er.lay.split && sh != nil && sh.Count == er.lay.shard.Count &&
		key == index.Key(h.Meta, sh)
}

func (r *runner) deleteIndexFile(ctx context.Context, er *entryRun, key string) {
	if err := r.cfg.Bucket.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.log.Warn("deleting an old index file failed", "entry", er.t.Entry.ID, "key", key, "err", err)
	}
}
