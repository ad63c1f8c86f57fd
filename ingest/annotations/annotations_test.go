package annotations

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
)

func rec(i int, run string) Record {
	return Record{Key: fmt.Sprintf("climate/e/f%06d.nc", i), SourceURL: fmt.Sprintf("https://pub.example/f%06d.nc", i),
		Size: int64(i), SHA256: strings.Repeat("a", 64), RetrievedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), RunID: run}
}

func collect(t *testing.T, seq iter.Seq2[Record, error]) []Record {
	t.Helper()
	var out []Record
	for r, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func writeAll(t *testing.T, b bucket.Bucket, prefix string, old []Part, recs []Record, same func(Record) bool) []Part {
	t.Helper()
	ctx := context.Background()
	w := NewPartWriter(b, prefix, old)
	for _, r := range recs {
		if err := w.Add(ctx, r, same(r)); err != nil {
			t.Fatal(err)
		}
	}
	parts, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

// Parts round-trip in key order; an unchanged rewrite keeps every part; a
// change rewrites only the part it falls in.
func TestPartWriterKeepsUnchangedParts(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	n := 2*PartRecords + 500
	var recs []Record
	for i := range n {
		recs = append(recs, rec(i, "r1"))
	}
	p1 := writeAll(t, b, "annotations/sources/e/r1-", nil, recs, func(Record) bool { return false })
	if len(p1) != 3 || p1[0].Objects != PartRecords || p1[2].Objects != 500 {
		t.Fatalf("parts %+v", p1)
	}
	h := &Head{SchemaVersion: 2, Parts: p1}
	if got := collect(t, Records(ctx, b, h)); !slices.EqualFunc(got, recs, Record.Equal) {
		t.Fatalf("read back %d records, want %d equal ones", len(got), len(recs))
	}

	// Nothing changed: every part is kept, nothing is written.
	p2 := writeAll(t, b, "annotations/sources/e/r2-", p1, recs, func(Record) bool { return true })
	if !slices.Equal(p2, p1) {
		t.Fatalf("unchanged rewrite: %+v, want the old parts", p2)
	}

	// One record of the middle part changes: only that part is new.
	recs2 := slices.Clone(recs)
	recs2[PartRecords+7] = rec(PartRecords+7, "r3")
	recs2[PartRecords+7].Size = 1
	p3 := writeAll(t, b, "annotations/sources/e/r3-", p1, recs2, func(r Record) bool { return r.RunID == "r1" })
	if len(p3) != 3 || p3[0] != p1[0] || p3[2] != p1[2] || p3[1] == p1[1] || !strings.HasPrefix(p3[1].Key, "annotations/sources/e/r3-") {
		t.Fatalf("one change: %+v", p3)
	}
	got := collect(t, Records(ctx, b, &Head{SchemaVersion: 2, Parts: p3}))
	if !slices.EqualFunc(got, recs2, Record.Equal) {
		t.Fatal("records after one change differ")
	}

	// A deleted object rewrites its part even though the rest is the same.
	recs3 := slices.Delete(slices.Clone(recs), 3, 4)
	p4 := writeAll(t, b, "annotations/sources/e/r4-", p1, recs3, func(Record) bool { return true })
	if p4[0] == p1[0] || p4[1] != p1[1] || p4[0].Objects != PartRecords-1 {
		t.Fatalf("a deletion: %+v", p4)
	}
}

// Records out of order are refused.
func TestPartWriterRefusesDisorder(t *testing.T) {
	w := NewPartWriter(mem.New(), "p-", nil)
	ctx := context.Background()
	if err := w.Add(ctx, rec(2, "r"), false); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, rec(1, "r"), false); err == nil {
		t.Fatal("a record before the last one was accepted")
	}
}

// A damaged part is an error, not fewer records.
func TestRecordsDetectDamagedPart(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	var recs []Record
	for i := range 100 {
		recs = append(recs, rec(i, "r1"))
	}
	parts := writeAll(t, b, "p-", nil, recs, func(Record) bool { return false })
	h := &Head{SchemaVersion: 2, Parts: parts}
	h.Parts[0].Objects = 101
	var err error
	for _, e := range Records(ctx, b, h) {
		err = e
	}
	if err == nil || !strings.Contains(err.Error(), "holds 100 records") {
		t.Fatalf("err = %v", err)
	}
	h.Parts[0].Objects = 100
	h.Parts[0].SHA256 = strings.Repeat("0", 64)
	err = nil
	for _, e := range Records(ctx, b, h) {
		err = e
	}
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("err = %v", err)
	}
}

// A version 1 manifest reads as a head with its counts, and its records
// stream in order.
func TestReadVersion1(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	v1 := map[string]any{
		"id": "e", "family": "f", "domain": "climate", "title": "T", "provider": "P", "license": "L", "citation": "C",
		"checked_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-01T00:00:00Z", "run_id": "old",
		"objects": []Record{rec(1, "old"), rec(2, "old"), rec(3, "old")},
	}
	if _, err := WriteJSON(ctx, b, HeadKey("e"), v1); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHead(ctx, b, "e")
	if err != nil {
		t.Fatal(err)
	}
	if h.SchemaVersion != 1 || h.Objects != 3 || h.Bytes != 6 || h.ID != "e" || h.Title != "T" || !h.Complete() {
		t.Fatalf("head %+v", h)
	}
	got := collect(t, Records(ctx, b, h))
	if len(got) != 3 || got[2].Key != rec(3, "").Key {
		t.Fatalf("records %+v", got)
	}
	// Stopping early stops the decode.
	for range Records(ctx, b, h) {
		break
	}
}

// A version 2 head round-trips, and one from a newer build is refused.
func TestHeadVersions(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	h := &Head{Meta: Meta{ID: "e", Domain: "climate"}, Objects: 5, Bytes: 1 << 40, Parts: []Part{{Key: "k", Objects: 5}}}
	if _, err := WriteHead(ctx, b, HeadKey("e"), h); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHead(ctx, b, "e")
	if err != nil || got.SchemaVersion != 2 || got.Objects != 5 || got.Bytes != 1<<40 || len(got.Parts) != 1 {
		t.Fatalf("head %+v, %v", got, err)
	}
	raw, _ := json.Marshal(map[string]any{"schema_version": 3, "id": "e"})
	p, _ := b.Put(ctx, HeadKey("n"), strings.NewReader(string(raw)), bucket.PutOptions{})
	p.Commit(ctx)
	if _, err := ReadHead(ctx, b, "n"); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("a version 3 head: %v", err)
	}
	if h, err := ReadHead(ctx, b, "missing"); h != nil || err != nil {
		t.Fatalf("a missing head: %v, %v", h, err)
	}
}

// Merge interleaves sorted streams into one sorted stream.
func TestMerge(t *testing.T) {
	seq := func(keys ...int) iter.Seq2[Record, error] {
		return func(yield func(Record, error) bool) {
			for _, k := range keys {
				if !yield(rec(k, ""), nil) {
					return
				}
			}
		}
	}
	var got []string
	for r, err := range Merge(seq(1, 4, 7), seq(2, 5), seq(), seq(3, 6, 8, 9)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Key)
	}
	if !slices.IsSorted(got) || len(got) != 9 {
		t.Fatalf("merged %v", got)
	}
}
