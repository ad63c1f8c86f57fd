package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/ingest/annotations"
)

// putObject commits data under key, failing the test on any error.
func putObject(t *testing.T, b bucket.Bucket, key, data string) {
	t.Helper()
	ctx := context.Background()
	p, err := b.Put(ctx, key, strings.NewReader(data), bucket.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// A bucket with no catalog, no manifests and no data is not a mirror (an
// empty directory, a wrong prefix): Verify says so instead of passing it.
func TestVerifyNoMirror(t *testing.T) {
	ctx := context.Background()
	rep, err := Verify(ctx, mem.New(), true, 2)
	if !errors.Is(err, ErrNoMirror) {
		t.Fatalf("Verify of an empty bucket: report %+v, err %v; want ErrNoMirror", rep, err)
	}

	// Objects outside the domains (a probe left-over, another tool's
	// files) do not make it a mirror either.
	b := mem.New()
	putObject(t, b, "_probe/x/1KiB-000", "x")
	if _, err := Verify(ctx, b, false, 2); !errors.Is(err, ErrNoMirror) {
		t.Fatalf("Verify of a bucket with only non-mirror keys: %v, want ErrNoMirror", err)
	}

	// Data without annotations is a damaged mirror: its objects are
	// reported, not waved off as "no mirror here".
	b = mem.New()
	putObject(t, b, "climate/x.nc", "data")
	rep, err = Verify(ctx, b, false, 2)
	if err != nil {
		t.Fatalf("Verify of data without annotations: %v", err)
	}
	if rep.OK() || !hasProblem(rep, ProblemOrphan, "climate/x.nc") {
		t.Fatalf("problems %+v, want climate/x.nc reported as an orphan", rep.Problems)
	}
}

func hasProblem(rep *VerifyReport, kind, key string) bool {
	for _, p := range rep.Problems {
		if p.Kind == kind && p.Key == key {
			return true
		}
	}
	return false
}

// mirrorEntry commits one data object for entry id and its manifest.
func mirrorEntry(t *testing.T, b bucket.Bucket, id, data string) {
	t.Helper()
	key := "climate/" + id + ".nc"
	putObject(t, b, key, data)
	sum := sha256.Sum256([]byte(data))
	m := annotations.Head{Meta: annotations.Meta{ID: id, Family: "f", Domain: "climate"}, SchemaVersion: 2, Objects: 1, Records: []ObjectRecord{
		{Key: key, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])},
	}}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, b, ManifestKey(id), string(raw))
}

func putCatalog(t *testing.T, b bucket.Bucket, ids ...string) {
	t.Helper()
	c := Catalog{Generated: time.Now().UTC(), Entries: []CatalogEntry{}}
	for _, id := range ids {
		c.Entries = append(c.Entries, CatalogEntry{ID: id, Domain: "climate", Family: "f", Manifest: ManifestKey(id)})
	}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, b, CatalogKey, string(raw))
}

// The catalog is what the training side reads first, so Verify checks it
// against the manifests: missing, unreadable, or naming other entries.
func TestVerifyCatalog(t *testing.T) {
	type want struct{ kind, key, entry string }
	tests := []struct {
		name  string
		setup func(t *testing.T, b bucket.Bucket)
		want  []want
	}{
		{"consistent", func(t *testing.T, b bucket.Bucket) {
			mirrorEntry(t, b, "a", "alpha")
			mirrorEntry(t, b, "b", "bravo")
			putCatalog(t, b, "a", "b")
		}, nil},
		{"missing", func(t *testing.T, b bucket.Bucket) {
			mirrorEntry(t, b, "a", "alpha")
		}, []want{{ProblemCatalogMissing, CatalogKey, ""}}},
		{"not JSON", func(t *testing.T, b bucket.Bucket) {
			mirrorEntry(t, b, "a", "alpha")
			putObject(t, b, CatalogKey, `{"entries": [`)
		}, []want{{ProblemCatalogUnreadable, CatalogKey, ""}}},
		{"catalog only", func(t *testing.T, b bucket.Bucket) {
			putCatalog(t, b, "gone")
		}, []want{{ProblemNoManifest, ManifestKey("gone"), "gone"}}},
		{"out of step", func(t *testing.T, b bucket.Bucket) {
			mirrorEntry(t, b, "a", "alpha")
			mirrorEntry(t, b, "new", "november")
			putCatalog(t, b, "a", "gone")
		}, []want{{ProblemNoManifest, ManifestKey("gone"), "gone"}, {ProblemNotInCatalog, ManifestKey("new"), "new"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mem.New()
			tt.setup(t, b)
			rep, err := Verify(context.Background(), b, true, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != len(tt.want) {
				t.Fatalf("problems %+v, want %+v", rep.Problems, tt.want)
			}
			for i, w := range tt.want {
				if p := rep.Problems[i]; p.Kind != w.kind || p.Key != w.key || p.Entry != w.entry {
					t.Errorf("problem %d: %+v, want %+v", i, p, w)
				}
			}
			if rep.OK() != (len(tt.want) == 0) {
				t.Errorf("OK() = %v with problems %+v", rep.OK(), rep.Problems)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 4, 2, 500, nil)
	b := mem.New()
	mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	rep, err := Verify(ctx, b, true, 4)
	if err != nil || !rep.OK() || rep.Objects != 8 || rep.Manifests != 4 {
		t.Fatalf("clean verify: %+v %v", rep, err)
	}
	put := func(key string, data []byte) {
		p, err := b.Put(ctx, key, bytes.NewReader(data), bucketOpts())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	k0 := fx.entries[0].KeyPrefix() + "/f0.dat"
	k1 := fx.entries[1].KeyPrefix() + "/f1.dat"
	k2 := fx.entries[2].KeyPrefix() + "/f0.dat"
	b.Delete(ctx, k0)
	put(k1, []byte("short"))
	same := bytes.Clone(fx.content[k2])
	same[0] ^= 1
	put(k2, same)
	put("astronomy/stray/file.fits", []byte("nobody claims me"))
	for _, deep := range []bool{false, true} {
		rep, err := Verify(ctx, b, deep, 4)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{k0: ProblemMissing, k1: ProblemWrongSize, "astronomy/stray/file.fits": ProblemOrphan}
		if deep {
			want[k2] = ProblemWrongHash
		}
		got := map[string]string{}
		for _, p := range rep.Problems {
			got[p.Key] = p.Kind
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("deep=%v problems %v, want %v", deep, got, want)
		}
	}
}
