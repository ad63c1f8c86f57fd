package ingest

import (
	"reflect"
	"testing"

	"github.com/astroingest/astroingest/sources"
)

// Plan.Counts gives the per-family rows the plan command prints, so the
// command never tallies tasks itself.
func TestPlanCountsPerFamily(t *testing.T) {
	entry := func(dom, fam string) sources.Entry { return sources.Entry{ID: fam + "-x", Domain: dom, Family: fam} }
	prev := &Manifest{Objects: []ObjectRecord{{Key: "a", Size: 40}, {Key: "b", Size: 2}}}
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
