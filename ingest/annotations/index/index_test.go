package index

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/sources"
)

var meta = annotations.Meta{
	ID: "gtdb-r226-taxonomy", Family: "gtdb", Domain: "biology",
	License: "CC-BY-SA-4.0", Citation: "Parks et al. 2022", DOI: "10.1093/nar/gkab776",
}

func records(n int) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for i := range n {
			rec := annotations.Record{
				Key: fmt.Sprintf("biology/gtdb/r226/f%07d.tsv", i), Size: int64(i),
				SHA256: fmt.Sprintf("%064x", i), SourceURL: "https://data.gtdb.ecogenomic.org/x",
				RetrievedAt: time.Date(2026, 12, 7, 1, 2, 3, 4_000_000, time.UTC), RunID: "r1",
			}
			if i%2 == 0 {
				rec.PublisherChecksum = &sources.Checksum{Algo: "md5", Value: fmt.Sprintf("%032x", i)}
			}
			if !yield(RowOf(meta, rec), nil) {
				return
			}
		}
	}
}

// TestWriteRead writes an entry's rows across several row groups and
// reads every one back as written, checksums and nulls included.
func TestWriteRead(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{0, 1, rowGroupRows + 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := mem.New()
			key := Key(meta, nil)
			got, err := Write(ctx, b, key, records(n))
			if err != nil || got != n {
				t.Fatalf("Write = %d, %v; want %d rows", got, err, n)
			}
			want := make([]Row, 0, n)
			for r := range records(n) {
				want = append(want, r)
			}
			i := 0
			for row, err := range Read(ctx, b, key) {
				if err != nil {
					t.Fatal(err)
				}
				if !rowEqual(row, want[i]) {
					t.Fatalf("row %d = %+v, want %+v", i, row, want[i])
				}
				i++
			}
			if i != n {
				t.Fatalf("read %d rows, want %d", i, n)
			}
		})
	}
}

func rowEqual(a, b Row) bool {
	if (a.PublisherChecksum == nil) != (b.PublisherChecksum == nil) {
		return false
	}
	if a.PublisherChecksum != nil && (*a.PublisherChecksum != *b.PublisherChecksum || *a.PublisherChecksumAlgo != *b.PublisherChecksumAlgo) {
		return false
	}
	if !a.RetrievedAt.Equal(b.RetrievedAt) {
		return false
	}
	a.PublisherChecksum, a.PublisherChecksumAlgo, b.PublisherChecksum, b.PublisherChecksumAlgo = nil, nil, nil, nil
	a.RetrievedAt, b.RetrievedAt = time.Time{}, time.Time{}
	return a == b
}

// TestWriteFailsVisibleNothing: a row stream that fails leaves no index
// file behind.
func TestWriteFailsVisibleNothing(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	boom := errors.New("records cut short")
	rows := func(yield func(Row, error) bool) {
		for r := range records(300) {
			if !yield(r, nil) {
				return
			}
		}
		yield(Row{}, boom)
	}
	if _, err := Write(ctx, b, Key(meta, nil), rows); !errors.Is(err, boom) {
		t.Fatalf("Write err = %v, want %v", err, boom)
	}
	if _, err := b.Stat(ctx, Key(meta, nil)); err == nil {
		t.Fatal("a failed write left an index file")
	}
}

func TestKeys(t *testing.T) {
	s38 := &annotations.Shard{Index: 3, Count: 8}
	fam := FamilyPrefix("biology", "gtdb")
	tests := []struct {
		key, id string
		shard   *annotations.Shard
		ok      bool
	}{
		{Key(meta, nil), meta.ID, nil, true},
		{Key(meta, s38), meta.ID, s38, true},
		{fam + "ncbi.v2.parquet", "ncbi.v2", nil, true},
		// Not ShardTag's form (a leading zero): part of the ID.
		{fam + "a.s01of2.parquet", "a.s01of2", nil, true},
		{fam + "x.s3of8.json", "", nil, false},
		{Prefix + "domain=biology/x.parquet", "", nil, false},
		{Prefix + "biology/gtdb/a.parquet", "", nil, false},
		{annotations.Prefix + "sources/x.parquet", "", nil, false},
	}
	for _, tt := range tests {
		id, sh, ok := ParseKey(tt.key)
		if id != tt.id || ok != tt.ok || fmt.Sprint(sh) != fmt.Sprint(tt.shard) {
			t.Errorf("ParseKey(%q) = %q, %v, %v; want %q, %v, %v", tt.key, id, sh, ok, tt.id, tt.shard, tt.ok)
		}
	}
	if got, want := Key(meta, &annotations.Shard{Index: 3, Count: 8}), "annotations/index/domain=biology/family=gtdb/gtdb-r226-taxonomy.s3of8.parquet"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
}

func TestEntryFiles(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	other := meta
	other.ID = meta.ID + ".extra" // shares the prefix "<id>."
	for _, k := range []string{Key(meta, nil), Key(meta, &annotations.Shard{Index: 0, Count: 2}), Key(other, nil)} {
		if _, err := Write(ctx, b, k, records(1)); err != nil {
			t.Fatal(err)
		}
	}
	files, err := EntryFiles(ctx, b, meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("EntryFiles = %v, want the entry's 2 files and not %s's", files, other.ID)
	}
}
