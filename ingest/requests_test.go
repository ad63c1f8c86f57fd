package ingest

import (
	"context"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/sources"
)

// countingBucket counts the requests the engine makes, by operation and
// key's directory, so tests can hold the engine to its per-object request budget.
type countingBucket struct {
	bucket.Bucket
	mu    sync.Mutex
	calls map[string]int // "op" and "op prefix"
}

func newCountingBucket() *countingBucket {
	return &countingBucket{Bucket: mem.New(), calls: map[string]int{}}
}

func (c *countingBucket) note(op, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
	if i := strings.LastIndex(key, "/"); i >= 0 {
		c.calls[op+" "+key[:i+1]]++
	}
}

func (c *countingBucket) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

func (c *countingBucket) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
}

func (c *countingBucket) Stat(ctx context.Context, key string) (bucket.ObjectInfo, error) {
	c.note("stat", key)
	return c.Bucket.Stat(ctx, key)
}

func (c *countingBucket) Open(ctx context.Context, key string, rng *bucket.Range) (io.ReadCloser, error) {
	c.note("open", key)
	return c.Bucket.Open(ctx, key, rng)
}

func (c *countingBucket) List(ctx context.Context, prefix string) iter.Seq2[bucket.ObjectInfo, error] {
	c.note("list", prefix)
	return c.Bucket.List(ctx, prefix)
}

func (c *countingBucket) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	c.note("put", key)
	return c.Bucket.Put(ctx, key, r, opts)
}

// countUnder sums the calls of op under a key prefix.
func (c *countingBucket) countUnder(op, prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.calls {
		if rest, ok := strings.CutPrefix(k, op+" "); ok && strings.HasPrefix(rest, prefix) {
			n += v
		}
	}
	return n
}

func writeTestHead(t *testing.T, b bucket.Bucket, e sources.Entry, checked time.Time) {
	t.Helper()
	h := &annotations.Head{Meta: annotations.MetaOf(e), CheckedAt: checked}
	if _, err := annotations.WriteHead(context.Background(), b, ManifestKey(e.ID), h); err != nil {
		t.Fatal(err)
	}
}

// TestPlanReadsOnlyExistingHeads: a large selection lists the manifest
// prefix once and reads only the heads that exist, while a small one
// reads each entry's head directly; both plan the same states.
func TestPlanReadsOnlyExistingHeads(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		entries   int
		withPrev  int
		wantLists int
		wantOpens int
	}{
		{"large-first-run", 500, 0, 1, 0},
		{"large-partly-mirrored", 500, 40, 1, 40},
		{"small-selection", listHeadsAbove, 10, 0, listHeadsAbove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newCountingBucket()
			var es []sources.Entry
			for i := range tc.entries {
				es = append(es, entry(fmt.Sprintf("p%05d", i), "climate", "fam", nil))
			}
			for _, e := range es[:tc.withPrev] {
				writeTestHead(t, b, e, now.Add(-time.Hour))
			}
			// A head of an entry outside the selection must not matter.
			writeTestHead(t, b, entry("zz-other", "climate", "x", nil), now)
			b.reset()
			p, err := buildPlan(ctx, planInput{Bucket: b, Entries: es, Mode: ModeRun, Now: now, Getenv: func(string) string { return "" }})
			if err != nil {
				t.Fatal(err)
			}
			if got := b.count("list"); got != tc.wantLists {
				t.Errorf("%d listings, want %d", got, tc.wantLists)
			}
			if got := b.count("open"); got != tc.wantOpens {
				t.Errorf("%d head reads, want %d", got, tc.wantOpens)
			}
			for i, task := range p.Tasks {
				wantState := StateNew
				if i < tc.withPrev {
					wantState = StateFresh
				}
				if task.State != wantState || (task.Prev != nil) != (i < tc.withPrev) {
					t.Fatalf("task %s: state %v, prev %v; want state %v, prev %v", task.Entry.ID, task.State, task.Prev != nil, wantState, i < tc.withPrev)
				}
			}
		})
	}
}

// TestRerunRequestBudget: a rerun of many unchanged entries reads each
// head once (at plan time) and nothing else under the manifests, rewrites
// only the heads, lists the data instead of a Stat per object, and leaves
// a catalog with a row per entry.
func TestRerunRequestBudget(t *testing.T) {
	ctx := context.Background()
	const n = listHeadsAbove + 16
	fx := newFixture(t, n, 1, 100, map[string]string{"checksum": "md5"})
	b := newCountingBucket()
	c := fx.cfg(b, ModeBackfill)
	c.Workers = 8
	if rec := mustRun(t, ctx, c); rec.Counts.Done != n {
		t.Fatalf("first run: %+v", rec.Counts)
	}
	b.reset()
	rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	if rec.Counts.Unchanged != n || rec.CatalogEntries != n {
		t.Fatalf("rerun: %+v, catalog %d", rec.Counts, rec.CatalogEntries)
	}
	if got := b.countUnder("open", ManifestPrefix); got != n {
		t.Errorf("rerun read %s %d times, want %d (each head once, at plan time)", ManifestPrefix, got, n)
	}
	if got := b.countUnder("put", ManifestPrefix); got != n {
		t.Errorf("rerun wrote %s %d times, want %d (the heads only)", ManifestPrefix, got, n)
	}
	for _, d := range sources.Domains() {
		if got := b.countUnder("stat", d+"/"); got != 0 {
			t.Errorf("rerun stated %d objects under %s/, want none", got, d)
		}
	}
	var got Catalog
	if ok, err := readJSON(ctx, b, CatalogKey, &got); !ok || err != nil || len(got.Entries) != n {
		t.Fatalf("read catalog: %v %v, %d entries", ok, err, len(got.Entries))
	}
	for _, e := range got.Entries {
		if e.Objects != 1 || e.Checked.IsZero() || e.Manifest != ManifestKey(e.ID) {
			t.Fatalf("catalog row %+v", e)
		}
	}
}

// TestCatalogUpdatedFromTouchedEntries: a backfill of one entry reads no
// other entry's head or records for the catalog, keeps their rows, and
// updates its own.
func TestCatalogUpdatedFromTouchedEntries(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 12, 2, 100, nil)
	b := newCountingBucket()
	mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	var before Catalog
	readJSON(ctx, b, CatalogKey, &before)
	fx.srv.SetFile("/e003/f0.dat", []byte("a new version"), time.Now())
	b.reset()
	c := fx.cfg(b, ModeBackfill)
	c.Selection = Selection{Sources: []string{"e003"}}
	rec := mustRun(t, ctx, c)
	if rec.Counts.Done != 1 {
		t.Fatalf("backfill of e003: %+v", rec.Counts)
	}
	if got := b.countUnder("open", ManifestPrefix); got != 1 {
		t.Errorf("%d reads under %s, want 1 (e003's head)", got, ManifestPrefix)
	}
	var after Catalog
	readJSON(ctx, b, CatalogKey, &after)
	if len(after.Entries) != 12 {
		t.Fatalf("catalog has %d rows", len(after.Entries))
	}
	for i, e := range after.Entries {
		was := before.Entries[i]
		switch {
		case e.ID == "e003" && e.Bytes == was.Bytes:
			t.Errorf("e003's row did not change: %+v", e)
		case e.ID != "e003" && e != was:
			t.Errorf("row %s changed: %+v, was %+v", e.ID, e, was)
		}
	}
}

// TestRerunListsInsteadOfStating: a rerun checks that unchanged objects are
// present with their recorded size through listings, never a Stat each,
// at any size; objects the listing does not show (deleted from the bucket,
// resized) are still caught and fetched again.
func TestRerunListsInsteadOfStating(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		entries   int
		files     int
		wantLists int // under the data prefix
	}{
		{"one-large-entry", 1, 150, 1},
		{"many-one-file-entries", 80, 1, 1},
		{"a-few-small-entries", 4, 4, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, tc.entries, tc.files, 200, map[string]string{"checksum": "md5"})
			for i := range fx.entries {
				e := &fx.entries[i]
				old := e.KeyPrefix() + "/"
				e.Domain = "climate" // one domain, one listing
				for k, v := range fx.content {
					if rest, ok := strings.CutPrefix(k, old); ok {
						delete(fx.content, k)
						fx.content[e.KeyPrefix()+"/"+rest] = v
					}
				}
			}
			b := newCountingBucket()
			if rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill)); rec.Counts.ObjectsUploaded != tc.entries*tc.files {
				t.Fatalf("first run: %+v", rec.Counts)
			}
			var keys []string
			for info, err := range b.Bucket.List(ctx, "climate/") {
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, info.Key)
			}
			// One object vanishes and another is replaced by a different
			// size behind the engine's back.
			if err := b.Bucket.Delete(ctx, keys[0]); err != nil {
				t.Fatal(err)
			}
			p, err := b.Bucket.Put(ctx, keys[1], strings.NewReader("short"), bucket.PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			b.reset()
			rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
			if rec.Counts.ObjectsUploaded != 2 || rec.Counts.ObjectsUnchanged != len(keys)-2 {
				t.Errorf("rerun uploaded %d, unchanged %d; want 2 and %d", rec.Counts.ObjectsUploaded, rec.Counts.ObjectsUnchanged, len(keys)-2)
			}
			for _, k := range keys[:2] {
				if got := readAll(t, b.Bucket, k); string(got) != string(fx.content[k]) {
					t.Errorf("%s not restored: %d bytes", k, len(got))
				}
			}
			if got := b.countUnder("stat", "climate/"); got != 0 {
				t.Errorf("%d Stats on the rerun, want none", got)
			}
			if got := b.countUnder("list", "climate/"); got != tc.wantLists {
				t.Errorf("%d listings under climate/, want %d", got, tc.wantLists)
			}
		})
	}
}
