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

// TestPlanReadsOnlyExistingManifests: a large selection lists the manifest
// prefix once and reads only the manifests that exist, while a small one
// reads each entry's manifest directly; both plan the same states.
func TestPlanReadsOnlyExistingManifests(t *testing.T) {
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
		{"small-selection", listManifestsAbove, 10, 0, listManifestsAbove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newCountingBucket()
			var es []sources.Entry
			for i := range tc.entries {
				es = append(es, entry(fmt.Sprintf("p%05d", i), "climate", "fam", nil))
			}
			for _, e := range es[:tc.withPrev] {
				m := newManifest(e)
				m.CheckedAt = now.Add(-time.Hour)
				if err := writeJSON(ctx, b, ManifestKey(e.ID), m); err != nil {
					t.Fatal(err)
				}
			}
			// A manifest of an entry outside the selection must not matter.
			if err := writeJSON(ctx, b, ManifestKey("zz-other"), newManifest(entry("zz-other", "climate", "x", nil))); err != nil {
				t.Fatal(err)
			}
			b.reset()
			p, err := buildPlan(ctx, planInput{Bucket: b, Entries: es, Mode: ModeRun, Now: now, Getenv: func(string) string { return "" }})
			if err != nil {
				t.Fatal(err)
			}
			if got := b.count("list"); got != tc.wantLists {
				t.Errorf("%d listings, want %d", got, tc.wantLists)
			}
			if got := b.count("open"); got != tc.wantOpens {
				t.Errorf("%d manifest reads, want %d", got, tc.wantOpens)
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

// TestCatalogReusesKnownManifests: a rerun of many unchanged entries reads
// each manifest once (at plan time), not a second time for the catalog, and
// the catalog is still exactly what a rebuild from the bucket gives.
func TestCatalogReusesKnownManifests(t *testing.T) {
	ctx := context.Background()
	const n = listManifestsAbove + 16
	fx := newFixture(t, n, 1, 100, nil)
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
	if got := b.count("open " + ManifestPrefix); got != n {
		t.Errorf("rerun read %s %d times, want %d (each manifest once, at plan time)", ManifestPrefix, got, n)
	}
	var got Catalog
	if ok, err := readJSON(ctx, b, CatalogKey, &got); !ok || err != nil {
		t.Fatalf("read catalog: %v %v", ok, err)
	}
	want, err := RebuildCatalog(ctx, b.Bucket, got.Generated)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Entries) != fmt.Sprint(want.Entries) {
		t.Errorf("catalog from known manifests differs from one rebuilt from the bucket:\n got %v\nwant %v", got.Entries, want.Entries)
	}
}

// TestKnownManifestReadWhenChanged: a known manifest whose ETag no longer
// matches the listing (another run rewrote it) is read from the bucket.
func TestKnownManifestReadWhenChanged(t *testing.T) {
	ctx := context.Background()
	b := newCountingBucket()
	var known knownManifests
	for _, id := range []string{"same", "changed"} {
		m := newManifest(entry(id, "climate", "fam", nil))
		info, err := writeJSONInfo(ctx, b, ManifestKey(id), m)
		if err != nil {
			t.Fatal(err)
		}
		known.add(ManifestKey(id), info.ETag, m)
	}
	newer := newManifest(entry("changed", "climate", "fam", nil))
	newer.Title = "rewritten by another run"
	if err := writeJSON(ctx, b, ManifestKey("changed"), newer); err != nil {
		t.Fatal(err)
	}
	b.reset()
	ms, err := allManifests(ctx, b, &known)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].ID != "changed" || ms[0].Title != newer.Title {
		t.Fatalf("got %d manifests, first %+v; want the rewritten one", len(ms), ms[0])
	}
	if got := b.count("open"); got != 1 {
		t.Errorf("%d reads, want 1 (only the changed manifest)", got)
	}
}

// TestRerunListsInsteadOfStating: a rerun checks that unchanged objects are
// present with their recorded size through one listing, not a Stat each;
// objects the listing does not show (deleted from the bucket, resized) are
// still caught and fetched again. Below the threshold it stats as before.
func TestRerunListsInsteadOfStating(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		entries   int
		files     int
		wantStats int // on the rerun, with one object deleted and one resized
		wantLists int // under the data prefix
	}{
		{"one-large-entry", 1, 100, 1, 1},
		{"many-one-file-entries", 80, 1, 1, 1},
		{"below-threshold", 4, 4, 16, 0},
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
			// keys[1] is in the listing with the wrong size (no Stat needed
			// to see it changed); keys[0] is missing and is stated. The
			// lease's reads (a Stat before each compare-and-swap, a few per
			// run) are not the objects' budget.
			if got := b.count("stat") - b.count("stat "+LeasePrefix); got != tc.wantStats {
				t.Errorf("%d Stats on the rerun, want %d", got, tc.wantStats)
			}
			lists := 0
			for k, n := range b.calls {
				if strings.HasPrefix(k, "list climate/") {
					lists += n
				}
			}
			if lists != tc.wantLists {
				t.Errorf("%d listings under climate/, want %d", lists, tc.wantLists)
			}
		})
	}
}
