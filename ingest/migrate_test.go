package ingest

import (
	"context"
	"os"
	"testing"

	fsbucket "github.com/astroingest/astroingest/bucket/fs"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/sources"
)

// v1Fixture is the mirror the migration test upgrades.
func v1Fixture(t *testing.T) *fixture {
	fx := newFixture(t, 6, 3, 300, map[string]string{"checksum": "md5", "size": "known"})
	fx.entries[5].Params = map[string]string{"files": "f0.dat", "single": "true", "checksum": "md5", "size": "known"}
	return fx
}

// A bucket written in format version 1 by the old engine keeps working: a
// run over it reads the old manifests, finds every object unchanged,
// rewrites each entry it touches in version 2, and the result verifies.
func TestMigrateVersion1Bucket(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/v1-bucket")); err != nil {
		t.Fatal(err)
	}
	b, err := fsbucket.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"e000", "e005"} {
		if h, err := annotations.ReadHead(ctx, b, id); err != nil || h.SchemaVersion != 1 {
			t.Fatalf("fixture head %s: %+v, %v; want version 1", id, h, err)
		}
	}
	fx := v1Fixture(t)
	// The rerun touches five entries; e004 is left as it was.
	c := fx.cfg(b, ModeBackfill)
	c.Selection = Selection{Sources: []string{"e00[0-3]", "e005"}}
	rec := mustRun(t, ctx, c)
	if rec.Counts.Unchanged != 5 || rec.Counts.ObjectsUploaded != 0 || rec.Counts.ObjectsUnchanged != 13 || len(rec.Failures) != 0 {
		t.Fatalf("run over the version 1 bucket: %+v, failures %+v", rec.Counts, rec.Failures)
	}
	if n := fx.srv.TotalRequests(); n != 0 {
		t.Errorf("%d requests to the publisher, want none: every object is unchanged", n)
	}
	for _, id := range []string{"e000", "e001", "e002", "e003", "e004", "e005"} {
		h, err := annotations.ReadHead(ctx, b, id)
		if err != nil {
			t.Fatal(err)
		}
		want := 2
		if id == "e004" {
			want = 1
		}
		if h.SchemaVersion != want || h.CheckedAt.IsZero() {
			t.Errorf("head %s: version %d, checked %v; want version %d", id, h.SchemaVersion, h.CheckedAt, want)
		}
		// Migrated entries get their index file; e004 waits for its run.
		if hasIndex := h.Index != ""; hasIndex != (want == 2) {
			t.Errorf("head %s (version %d) names index %q", id, h.SchemaVersion, h.Index)
		}
	}
	checkIndex(t, b, []sources.Entry{fx.entries[0], fx.entries[1], fx.entries[2], fx.entries[3], fx.entries[5]})
	m, err := ReadManifest(ctx, b, "e005")
	if err != nil || len(m.Objects) != 1 || m.Objects[0].Key != fx.entries[5].KeyPrefix() || m.Objects[0].RunID == rec.RunID {
		t.Fatalf("e005 after migration: %+v, %v; want its one record, unchanged", m, err)
	}
	rep, err := Verify(ctx, b, true, 4)
	if err != nil || !rep.OK() || rep.Manifests != 6 || rep.Objects != 16 {
		t.Fatalf("verify after migration: %+v, %v", rep, err)
	}
	var cat Catalog
	readJSON(ctx, b, CatalogKey, &cat)
	if cat.SchemaVersion != 2 || len(cat.Entries) != 6 {
		t.Errorf("catalog after migration: version %d, %d entries", cat.SchemaVersion, len(cat.Entries))
	}
}
