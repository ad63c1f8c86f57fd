package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/sources"
)

// ErrNoEntryMatches is SelectCatalog's error when the catalog has no entry
// that the selection matches.
var ErrNoEntryMatches = errors.New("no entry of the catalog matches")

// SelectCatalog returns the rows of annotations/catalog.json that sel
// matches, in catalog (ID) order: the one way the read side (presign,
// pull) turns --domain, --family and --source into entries, from the
// bucket alone, without the registry. A bucket with no catalog is
// ErrNoMirror; a selection with nothing in it, ErrNoEntryMatches. Only the
// catalog is read, which holds counts, never object lists.
func SelectCatalog(ctx context.Context, r bucket.Reader, sel Selection) ([]annotations.CatalogEntry, error) {
	cat, etag, err := annotations.ReadCatalog(ctx, r)
	if err != nil {
		return nil, err
	}
	if etag == "" {
		return nil, fmt.Errorf("%w: no %s", ErrNoMirror, annotations.CatalogKey)
	}
	var out []annotations.CatalogEntry
	for _, row := range cat.Entries {
		if sel.Match(sources.Entry{ID: row.ID, Domain: row.Domain, Family: row.Family}) {
			out = append(out, row)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoEntryMatches
	}
	return out, nil
}
