package ingest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

// runShards runs the shards of one job over e at once (shards 1: one
// unsharded run).
func runShards(t *testing.T, b bucket.Bucket, srv *emulator.Server, e sources.Entry, shards int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			c := bigConfig(b, srv, e)
			c.SplitAbove = 1000
			if shards > 1 {
				c.Shard = Shard{Index: i, Count: shards}
			}
			rec, err := Run(context.Background(), c)
			if err != nil || rec.Counts.Failed != 0 {
				t.Errorf("shard %d of %d: %v, %+v", i, shards, err, rec)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// splitIndex checks the index of a split (or whole) entry: exactly one
// file per shard, each named by its shard head, and their rows together
// equal the entry's records.
func splitIndex(t *testing.T, b bucket.Reader, e sources.Entry, shards int) []index.Row {
	t.Helper()
	ctx := context.Background()
	m := annotations.MetaOf(e)
	var want []string
	var rows []index.Row
	for i := range shards {
		key, headKey := index.Key(m, nil), ManifestKey(e.ID)
		if shards > 1 {
			sh := &annotations.Shard{Index: i, Count: shards}
			key, headKey = index.Key(m, sh), annotations.ShardHeadKey(e.ID, i, shards)
		}
		h, err := annotations.ReadHeadAt(ctx, b, headKey)
		if err != nil || h == nil || h.Index != key {
			t.Fatalf("head %s: %+v, %v; want it to name %s", headKey, h, err, key)
		}
		shardRows := readIndexRows(t, b, key)
		if len(shardRows) != h.Objects {
			t.Errorf("%s: %d rows, head counts %d objects", key, len(shardRows), h.Objects)
		}
		want = append(want, key)
		rows = append(rows, shardRows...)
	}
	if got := indexKeys(t, b); !slices.Equal(got, want) {
		t.Fatalf("index files %v, want %v", got, want)
	}
	slices.SortFunc(rows, func(a, b index.Row) int { return strings.Compare(a.Key, b.Key) })
	wantRowsOf(t, m, recordsOf(t, b, e.ID), rows)
	return rows
}

// Split entries write one index file per shard, whose union is what an
// unsplit run writes; a change of layout (split three ways, then two,
// then whole) leaves only the new layout's files.
func TestIndexSplitEntry(t *testing.T) {
	const n = 3000
	srv, e := bigEntry(t, n)
	whole := mem.New()
	runShards(t, whole, srv, e, 1)
	unsplit := splitIndex(t, whole, e, 1)

	b := mem.New()
	for _, shards := range []int{3, 2, 1, 3} {
		runShards(t, b, srv, e, shards)
		rows := splitIndex(t, b, e, shards)
		if len(rows) != n || len(unsplit) != n {
			t.Fatalf("%d shards: %d rows, unsplit %d, want %d", shards, len(rows), len(unsplit), n)
		}
		for i := range rows {
			if r, u := rows[i], unsplit[i]; r.Key != u.Key || r.Size != u.Size || r.SHA256 != u.SHA256 || r.SourceURL != u.SourceURL {
				t.Fatalf("%d shards, row %d: %+v, unsplit %+v", shards, i, r, u)
			}
		}
	}
}
