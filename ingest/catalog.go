package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"golang.org/x/sync/errgroup"
)

// CatalogEntry indexes one manifest.
type CatalogEntry struct {
	ID       string    `json:"id"`
	Domain   string    `json:"domain"`
	Family   string    `json:"family"`
	Title    string    `json:"title"`
	Manifest string    `json:"manifest"`
	Objects  int       `json:"objects"`
	Bytes    int64     `json:"bytes"`
	Updated  time.Time `json:"updated"`
}

// Catalog is annotations/catalog.json, the first file the training side reads.
type Catalog struct {
	Generated time.Time      `json:"generated"`
	Entries   []CatalogEntry `json:"entries"`
}

// AllManifests reads every manifest in the bucket, in key order.
func AllManifests(ctx context.Context, b bucket.Reader) ([]*Manifest, error) {
	return allManifests(ctx, b, nil)
}

func allManifests(ctx context.Context, b bucket.Reader, known *knownManifests) ([]*Manifest, error) {
	var infos []bucket.ObjectInfo
	for info, err := range b.List(ctx, ManifestPrefix) {
		if err != nil {
			return nil, &bucketError{fmt.Errorf("list %s: %w", ManifestPrefix, err)}
		}
		if strings.HasSuffix(info.Key, ".json") {
			infos = append(infos, info)
		}
	}
	out := make([]*Manifest, len(infos))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, info := range infos {
		if m := known.get(info.Key, info.ETag); m != nil {
			out[i] = m
			continue
		}
		k := info.Key
		g.Go(func() error {
			var m Manifest
			ok, err := readJSON(gctx, b, k, &m)
			if err != nil {
				return err
			}
			if ok {
				out[i] = &m
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(m *Manifest) bool { return m == nil }), nil
}

// RebuildCatalog rewrites the catalog from every manifest in the bucket, so
// shards that each wrote only their own manifests still merge into one index.
// Two shards finishing together may race; the later writer still lists
// every manifest committed before its listing began.
func RebuildCatalog(ctx context.Context, b bucket.Bucket, now time.Time) (*Catalog, error) {
	return rebuildCatalog(ctx, b, now, nil)
}

func rebuildCatalog(ctx context.Context, b bucket.Bucket, now time.Time, known *knownManifests) (*Catalog, error) {
	ms, err := allManifests(ctx, b, known)
	if err != nil {
		return nil, err
	}
	c := &Catalog{Generated: now.UTC(), Entries: []CatalogEntry{}}
	for _, m := range ms {
		c.Entries = append(c.Entries, CatalogEntry{
			ID: m.ID, Domain: m.Domain, Family: m.Family, Title: m.Title,
			Manifest: ManifestKey(m.ID), Objects: len(m.Objects), Bytes: m.Bytes(), Updated: m.UpdatedAt,
		})
	}
	slices.SortFunc(c.Entries, func(a, b CatalogEntry) int { return strings.Compare(a.ID, b.ID) })
	if err := writeJSON(ctx, b, CatalogKey, c); err != nil {
		return nil, err
	}
	return c, nil
}
