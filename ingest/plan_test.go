package ingest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

// Plan.Counts gives the per-family rows the plan command prints, so the
// command never tallies tasks itself.
func TestPlanCountsPerFamily(t *testing.T) {
	entry := func(dom, fam string) sources.Entry { return sources.Entry{ID: fam + "-x", Domain: dom, Family: fam} }
	prev := &annotations.Head{Objects: 2, Bytes: 42}
	p := &Plan{Tasks: []Task{
		{Entry: entry("climate", "sst"), State: StateNew},
		{Entry: entry("climate", "sst"), State: StateDue, Prev: prev},
		{Entry: entry("climate", "sst"), State: StateFresh, Prev: prev},
		{Entry: entry("biology", "genes"), State: StateGated},
		{Entry: entry("biology", "genes"), State: StateForced, Prev: prev},
		{Entry: entry("astronomy", "tess"), State: StateNoAuth},
	}}
	c := p.Counts()
	want := []FamilyCounts{
		{Domain: "astronomy", Family: "tess", Selected: 1, Skipped: 1},
		{Domain: "biology", Family: "genes", Selected: 2, ToFetch: 1, Skipped: 1, EstimatedBytes: 42},
		{Domain: "climate", Family: "sst", Selected: 3, ToFetch: 2, Fresh: 1, EstimatedBytes: 42, UnknownSize: 1},
	}
	if !reflect.DeepEqual(c.Families, want) {
		t.Fatalf("families:\n got %+v\nwant %+v", c.Families, want)
	}
	if c.Selected != 6 || c.ToFetch != 3 || c.EstimatedBytes != 84 || c.UnknownSize != 1 || c.Gated != 1 || c.AuthMissing != 1 {
		t.Fatalf("totals %+v", c)
	}
}

func TestShardsCoverEveryEntryOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		seen := map[string]int{}
		for i := range n {
			for j := range 2000 {
				id := fmt.Sprintf("entry-%d", j)
				if (Shard{i, n}).Has(id) {
					seen[id]++
				}
			}
		}
		for j := range 2000 {
			if c := seen[fmt.Sprintf("entry-%d", j)]; c != 1 {
				t.Fatalf("N=%d: entry-%d in %d shards", n, j, c)
			}
		}
	}
	// End to end: shards run one after another fill one bucket exactly.
	ctx := context.Background()
	fx := newFixture(t, 12, 1, 100, nil)
	b := mem.New()
	total := 0
	for i := range 3 {
		c := fx.cfg(b, ModeRun)
		c.Shard = Shard{i, 3}
		rec := mustRun(t, ctx, c)
		total += rec.Counts.Done
		if rec.Counts.Selected == 12 {
			t.Fatalf("shard %d selected everything", i)
		}
	}
	if total != 12 || fx.srv.CountRequests(func(r emulator.Request) bool { return r.Status == 200 }) != 12 {
		t.Fatalf("shards fetched %d entries with %d downloads, want 12 each", total, fx.srv.CountRequests(func(r emulator.Request) bool { return r.Status == 200 }))
	}
	var cat Catalog
	readJSON(ctx, b, CatalogKey, &cat)
	if len(cat.Entries) != 12 {
		t.Fatalf("merged catalog has %d entries", len(cat.Entries))
	}
}

// plan must not write: the bucket is identical before and after.
func TestPlanWritesNothing(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 6, 1, 100, nil)
	b := mem.New()
	c := fx.cfg(b, ModeRun)
	c.Selection = Selection{Domains: []string{"climate", "biology"}}
	mustRun(t, ctx, c) // fetches e000, e001, e004, e005
	fx.srv.SetFile("/e002/f0.dat", []byte("x"), time.Now())
	before := snapshot(t, b)
	reqs := fx.srv.TotalRequests()
	p, err := BuildPlan(ctx, b, fx.cfg(b, ModeRun))
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, b); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("plan changed the bucket")
	}
	if fx.srv.TotalRequests() != reqs {
		t.Fatal("plan touched the network")
	}
	got := p.Counts()
	if got.Selected != 6 || got.Fresh != 4 || got.New != 2 || got.ToFetch != 2 || got.UnknownSize != 2 || got.ByDomain["climate"] != 2 {
		t.Fatalf("counts %+v", got)
	}
	pb, err := BuildPlan(ctx, b, Config{Entries: fx.entries, Mode: ModeBackfill, Selection: Selection{Domains: []string{"climate"}}})
	if err != nil {
		t.Fatal(err)
	}
	if bc := pb.Counts(); bc.Due != 2 || bc.EstimatedBytes == 0 {
		t.Fatalf("backfill plan %+v", bc)
	}
	if _, err := BuildPlan(ctx, b, Config{Mode: ModeBackfill}); err == nil {
		t.Fatal("backfill without a selection accepted")
	}
}
