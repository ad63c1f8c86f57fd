package annotations

import (
	"context"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
)

// TestCatalogRowsComputedAfterTheRead is the race of two shards of one split
// entry: the slow shard sums the heads while the other is not done, and the
// fast shard then writes the complete row. The slow shard's write must not
// undo it: its condition fails, and its rows, computed again, are complete.
func TestCatalogRowsComputedAfterTheRead(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	complete := CatalogEntry{ID: "big", Objects: 200, Split: 2, Checked: now}
	stale := CatalogEntry{ID: "big", Objects: 100, Split: 2}
	calls := 0
	c, err := UpdateCatalogFunc(ctx, b, now, func(ctx context.Context) ([]CatalogEntry, error) {
		calls++
		if calls > 1 {
			return []CatalogEntry{complete}, nil
		}
		// The fast shard lands between this shard's read and its write.
		if _, err := UpdateCatalog(ctx, b, now, []CatalogEntry{complete}); err != nil {
			return nil, err
		}
		return []CatalogEntry{stale}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadCatalog(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, cat := range []*Catalog{c, got} {
		if len(cat.Entries) != 1 || cat.Entries[0].Objects != 200 || cat.Entries[0].Checked.IsZero() {
			t.Errorf("catalog %+v after %d computations, want the complete row", cat.Entries, calls)
		}
	}
	if calls != 2 {
		t.Errorf("rows computed %d times, want 2 (once more after the lost condition)", calls)
	}
}
