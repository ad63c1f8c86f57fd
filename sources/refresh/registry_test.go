package refresh

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/registry"
)

// embedded is the built-in registry as a MapFS the tests may change.
func embedded(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(registry.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(registry.FS, p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Every refresher's table is the built-in registry's: its families expand
// it (one row less is one entry less for each), and what the refresher
// reads from its index merges into it and still loads.
func TestRegistryTables(t *testing.T) {
	s, b := publishers(t)
	base, err := sources.Load(embedded(t), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range Specs(b) {
		name := sp.Refresher.Name()
		t.Run(name, func(t *testing.T) {
			reg := embedded(t)
			file := "tables/" + name + ".tsv"
			mf, ok := reg[file]
			if !ok {
				t.Fatalf("the registry has no %s", file)
			}
			old, err := ParseFile(mf.Data)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			fewer := old
			fewer.Rows = old.Rows[1:]
			reg[file] = &fstest.MapFile{Data: fewer.Bytes()}
			smaller, err := sources.Load(reg, ".")
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range sp.Families {
				f, ok := base.Family(id)
				g, _ := smaller.Family(id)
				if !ok || g.Count >= f.Count {
					t.Errorf("family %s (found %v): %d entries, %d with one row less: it does not expand %s", id, ok, f.Count, g.Count, file)
				}
			}
			tab, err := sp.Refresher.Refresh(context.Background(), s.Client())
			if err != nil {
				t.Fatal(err)
			}
			merged, _, err := Merge(old, tab, false)
			if err != nil {
				t.Fatalf("merging into %s: %v", file, err)
			}
			reg[file] = &fstest.MapFile{Data: merged.Bytes()}
			if _, err := sources.Load(reg, "."); err != nil {
				t.Fatalf("the registry with the refreshed %s: %v", file, err)
			}
		})
	}
}
