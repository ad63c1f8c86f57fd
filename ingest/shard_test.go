package ingest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/index"
)

// bigEntry is one index entry over a synthetic directory of n files.
func bigEntry(t *testing.T, n int) (*emulator.Server, sources.Entry) {
	srv := emulator.NewServer()
	t.Cleanup(srv.Close)
	srv.KeepNoLog()
	srv.AddSynthetic("/big/", n, func(i int) int64 { return int64(i%97 + 1) })
	e := sources.Entry{ID: "big", Family: "bigfam", Domain: "astronomy", Kind: "index", Schedule: "monthly",
		Key: "bigfam/big", URL: srv.URL() + "/big/", Meta: sources.Meta{Title: "Big", Provider: "P", License: "L", Citation: "C"}}
	return srv, e
}

func bigConfig(b bucket.Bucket, srv *emulator.Server, e sources.Entry) Config {
	return Config{
		Bucket: b, Entries: []sources.Entry{e}, Kinds: map[string]sources.Kind{"index": index.New()},
		Mode: ModeBackfill, Selection: Selection{Sources: []string{"*"}}, Workers: 8, SmallWorkers: 32,
		Hosts:  sources.NewHosts([]sources.HostPolicy{{Host: srv.Host(), Concurrency: 64, RPS: 1e6, Burst: 1e6}}),
		Logger: discardLog(), Getenv: func(string) string { return "" }, Job: "big-job",
		// In process: this test is about the engine's logic over 200,000
		// objects, not loopback TCP, which would cost more than the engine.
		Transport: srv.Transport(),
	}
}

// recordsOf reads every record of an entry, split or not.
func recordsOf(t *testing.T, b bucket.Reader, id string) []annotations.Record {
	t.Helper()
	h, err := annotations.ReadHead(context.Background(), b, id)
	if err != nil || h == nil {
		t.Fatalf("head of %s: %v, %v", id, h, err)
	}
	var out []annotations.Record
	for r, err := range annotations.Records(context.Background(), b, h) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// Eight shards of one job over one 200,000-object entry: the entry is
// split below the entry, each shard takes 12.5% ± 2% of the objects,
// every object is mirrored exactly once, and the merged records equal an
// unsharded run's.
func TestShardsSplitOneBigEntry(t *testing.T) {
	const n, shards = 200_000, 8
	srv, e := bigEntry(t, n)
	b := mem.New()
	recs := make([]*RunRecord, shards)
	var wg sync.WaitGroup
	for i := range shards {
		wg.Go(func() {
			c := bigConfig(b, srv, e)
			c.Shard = Shard{Index: i, Count: shards}
			rec, err := Run(context.Background(), c)
			if err != nil {
				t.Errorf("shard %d: %v", i, err)
				return
			}
			recs[i] = rec
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := 0
	for i, rec := range recs {
		got := rec.Counts.ObjectsUploaded
		total += got
		if lo, hi := n*(125-20)/1000, n*(125+20)/1000; got < lo || got > hi || len(rec.Failures) != 0 {
			t.Errorf("shard %d uploaded %d objects (failures %v), want 12.5%% ± 2%% of %d: [%d, %d]", i, got, rec.Failures, n, lo, hi)
		}
	}
	if total != n {
		t.Errorf("the shards uploaded %d objects in all, want %d", total, n)
	}
	h, _ := annotations.ReadHead(context.Background(), b, e.ID)
	if h == nil || h.Split == nil || h.Split.Shards != shards {
		t.Fatalf("head %+v, want split over %d shards", h, shards)
	}
	sharded := recordsOf(t, b, e.ID)

	whole := mem.New()
	rec := mustRun(t, context.Background(), bigConfig(whole, srv, e))
	if rec.Counts.ObjectsUploaded != n {
		t.Fatalf("unsharded run: %+v", rec.Counts)
	}
	unsharded := recordsOf(t, whole, e.ID)
	if len(sharded) != n || len(unsharded) != n {
		t.Fatalf("%d records sharded, %d unsharded, want %d", len(sharded), len(unsharded), n)
	}
	for i := range sharded {
		s, u := sharded[i], unsharded[i]
		if s.Key != u.Key || s.Size != u.Size || s.SHA256 != u.SHA256 || s.SourceURL != u.SourceURL {
			t.Fatalf("record %d: sharded %+v, unsharded %+v", i, s, u)
		}
		if i > 0 && sharded[i-1].Key >= s.Key {
			t.Fatalf("records out of order or repeated at %d: %s then %s", i, sharded[i-1].Key, s.Key)
		}
	}
	var cat Catalog
	readJSON(context.Background(), b, CatalogKey, &cat)
	if len(cat.Entries) != 1 || cat.Entries[0].Objects != n || cat.Entries[0].Split != shards || cat.Entries[0].Checked.IsZero() {
		t.Errorf("catalog %+v", cat.Entries)
	}
	_ = fmt.Sprint
}
