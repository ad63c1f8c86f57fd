package ingest

import (
	"context"
	"slices"
	"sync"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest/annotations"
)

// Catalog is annotations/catalog.json (see ingest/annotations).
type (
	Catalog      = annotations.Catalog
	CatalogEntry = annotations.CatalogEntry
)

// touchedEntries are the heads this run wrote, for the catalog update at
// its end: the catalog changes only where the run did, and no other
// entry's head or records is read for it. Safe for concurrent use.
type touchedEntries struct {
	mu sync.Mutex
	m  map[string]touched
}

type touched struct {
	lay  layout
	head *annotations.Head
}

func (t *touchedEntries) add(id string, lay layout, h *annotations.Head) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]touched{}
	}
	t.m[id] = touched{lay, h}
}

// updateCatalog writes the touched entries' rows into the catalog. A
// split entry's row sums all its shards' heads, read again now, so the
// last shard to finish leaves the complete row.
func (r *runner) updateCatalog(ctx context.Context) (*Catalog, error) {
	r.touched.mu.Lock()
	ids := make([]string, 0, len(r.touched.m))
	for id := range r.touched.m {
		ids = append(ids, id)
	}
	r.touched.mu.Unlock()
	slices.Sort(ids)
	c, err := annotations.UpdateCatalogFunc(ctx, r.cfg.Bucket, r.cfg.Now(), func(ctx context.Context) ([]CatalogEntry, error) {
		return r.catalogRows(ctx, ids)
	})
	if err != nil {
		return nil, &bucketError{err}
	}
	return c, nil
}

// catalogRows are the rows of ids; a split entry's row is read again from
// its shards' heads on every call (see annotations.UpdateCatalogFunc).
func (r *runner) catalogRows(ctx context.Context, ids []string) ([]CatalogEntry, error) {
	rows := make([]CatalogEntry, 0, len(ids))
	for _, id := range ids {
		tc := r.touched.m[id]
		if !tc.lay.split {
			rows = append(rows, annotations.EntryOf(tc.head, nil))
			continue
		}
		row, err := splitRow(ctx, r.cfg.Bucket, id)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// splitRow is the catalog row of a split entry, from its heads.
func splitRow(ctx context.Context, b bucket.Reader, id string) (CatalogEntry, error) {
	h, err := annotations.ReadHead(ctx, b, id)
	if err != nil || h == nil || h.Split == nil {
		if h != nil && h.Split == nil {
			return annotations.EntryOf(h, nil), nil
		}
		return CatalogEntry{}, err
	}
	shards := make([]*annotations.Head, h.Split.Shards)
	for i := range shards {
		if shards[i], err = annotations.ReadHeadAt(ctx, b, annotations.ShardHeadKey(id, i, h.Split.Shards)); err != nil {
			return CatalogEntry{}, err
		}
	}
	return annotations.EntryOf(h, shards), nil
}
