package annotations

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"

	"github.com/astroingest/astroingest/bucket"
)

// CatalogEntry indexes one entry: its head, its counts and bytes, never
// its objects.
type CatalogEntry struct {
	ID       string    `json:"id"`
	Domain   string    `json:"domain"`
	Family   string    `json:"family"`
	Title    string    `json:"title"`
	Manifest string    `json:"manifest"`
	Objects  int       `json:"objects"`
	Bytes    int64     `json:"bytes"`
	Updated  time.Time `json:"updated"`
	// Checked is when the entry last finished; zero while it is not
	// known to be complete.
	Checked time.Time `json:"checked"`
	// Split is the number of shards the entry's records are spread over.
	Split int `json:"split,omitempty"`
}

// Catalog is annotations/catalog.json, the first file the training side
// reads.
type Catalog struct {
	SchemaVersion int            `json:"schema_version"`
	Generated     time.Time      `json:"generated"`
	Index         string         `json:"index"`
	Entries       []CatalogEntry `json:"entries"`
}

// EntryOf is the catalog row of a head (for a split entry, of its shard
// heads summed; shards that are missing or incomplete leave it
// unchecked).
func EntryOf(h *Head, shards []*Head) CatalogEntry {
	e := CatalogEntry{ID: h.ID, Domain: h.Domain, Family: h.Family, Title: h.Title, Manifest: HeadKey(h.ID),
		Objects: h.Objects, Bytes: h.Bytes, Updated: h.UpdatedAt, Checked: h.CheckedAt}
	if h.Split == nil {
		return e
	}
	e.Split = h.Split.Shards
	e.Checked = time.Time{}
	complete := len(shards) == h.Split.Shards
	for i, s := range shards {
		if s == nil || s.CheckedAt.IsZero() {
			complete = false
			continue
		}
		e.Objects += s.Objects
		e.Bytes += s.Bytes
		if s.UpdatedAt.After(e.Updated) {
			e.Updated = s.UpdatedAt
		}
		if i == 0 || e.Checked.IsZero() || s.CheckedAt.Before(e.Checked) {
			e.Checked = s.CheckedAt
		}
	}
	if !complete {
		e.Checked = time.Time{}
	}
	return e
}

// ReadCatalog reads the catalog and the ETag it was read at ("" and an
// empty catalog when there is none). The ETag is taken before the body,
// so a write conditional on it cannot overwrite a newer catalog.
func ReadCatalog(ctx context.Context, b bucket.Reader) (*Catalog, string, error) {
	info, err := b.Stat(ctx, CatalogKey)
	if errors.Is(err, fs.ErrNotExist) {
		return &Catalog{SchemaVersion: SchemaVersion, Index: IndexPrefix, Entries: []CatalogEntry{}}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("stat %s: %w", CatalogKey, err)
	}
	rc, err := b.Open(ctx, CatalogKey, nil)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", CatalogKey, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", CatalogKey, err)
	}
	var c Catalog
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, "", fmt.Errorf("decode %s: %w", CatalogKey, err)
	}
	return &c, info.ETag, nil
}

// catalogAttempts bounds the compare-and-swap loop: each loss means
// another shard's update landed, so a few suffice.
const catalogAttempts = 16

// UpdateCatalog sets the rows of the entries a run touched, leaving every
// other row as it is, with a write conditional on the catalog it read: if
// another writer (a sibling shard) got there first, it reads again and
// retries. It never reads an entry's records. rows replace the rows of
// the same ID.
func UpdateCatalog(ctx context.Context, b bucket.Bucket, now time.Time, rows []CatalogEntry) (*Catalog, error) {
	return UpdateCatalogFunc(ctx, b, now, func(context.Context) ([]CatalogEntry, error) { return rows, nil })
}

// UpdateCatalogFunc is UpdateCatalog with rows computed again on every
// attempt, after the catalog is read. A split entry's row sums heads that
// other shards are still writing: computed before the read, a slow shard's
// stale sum could land after a faster shard's complete one and undo it.
// Computed after, a stale sum can only meet a catalog that has changed
// since, so its write fails its condition and is computed again.
func UpdateCatalogFunc(ctx context.Context, b bucket.Bucket, now time.Time, rowsOf func(context.Context) ([]CatalogEntry, error)) (*Catalog, error) {
	var lastErr error
	for attempt := range catalogAttempts {
		c, etag, err := ReadCatalog(ctx, b)
		if err != nil {
			return nil, err
		}
		rows, err := rowsOf(ctx)
		if err != nil {
			return nil, err
		}
		c.Entries = mergeRows(c.Entries, rows)
		c.SchemaVersion, c.Index, c.Generated = SchemaVersion, IndexPrefix, now.UTC()
		opts := bucket.PutOptions{IfMatch: etag, IfNoneMatch: etag == ""}
		if _, err := WriteJSONWith(ctx, b, CatalogKey, c, opts); err == nil {
			return c, nil
		} else if !errors.Is(err, bucket.ErrPrecondition) {
			return nil, err
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("update %s: %d writers in a row got there first: %w", CatalogKey, catalogAttempts, lastErr)
}

// mergeRows replaces or adds rows by ID and keeps the catalog sorted.
func mergeRows(have, rows []CatalogEntry) []CatalogEntry {
	byID := make(map[string]int, len(have))
	for i, e := range have {
		byID[e.ID] = i
	}
	for _, r := range rows {
		if i, ok := byID[r.ID]; ok {
			have[i] = r
			continue
		}
		byID[r.ID] = len(have)
		have = append(have, r)
	}
	slices.SortFunc(have, func(a, b CatalogEntry) int { return cmp.Compare(a.ID, b.ID) })
	return have
}

// WriteJSONWith is WriteJSON with put options (a condition, say).
func WriteJSONWith(ctx context.Context, b bucket.Bucket, key string, v any, opts bucket.PutOptions) (bucket.ObjectInfo, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("encode %s: %w", key, err)
	}
	data = append(data, '\n')
	opts.SizeHint, opts.ContentType = int64(len(data)), "application/json"
	p, err := b.Put(ctx, key, bytes.NewReader(data), opts)
	if err != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	info, err := p.Commit(ctx)
	if err != nil {
		_ = p.Abort(context.WithoutCancel(ctx))
		return bucket.ObjectInfo{}, fmt.Errorf("commit %s: %w", key, err)
	}
	return info, nil
}
