package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

// indexFixture mixes small entries (records inline in the head), one of
// 130 objects (records in parts), publisher checksums and none.
func indexFixture(t *testing.T) *fixture {
	fx := newFixture(t, 5, 3, 200, map[string]string{"checksum": "md5", "size": "known"})
	fx.entries[0].Params["checksum"] = ""
	var names []string
	for j := range annotations.InlineRecords + 30 {
		names = append(names, fmt.Sprintf("f%d.dat", j))
	}
	e := entry("e100", "astronomy", "famb", map[string]string{"files": strings.Join(names, ",")})
	e.URL = fx.srv.URL() + "/e100"
	for _, nm := range names {
		fx.serve(e, nm, payload("e100"+nm, 50))
	}
	fx.entries = append(fx.entries, e)
	return fx
}

// serve puts (or replaces) one object of e at the source.
func (fx *fixture) serve(e sources.Entry, name string, data []byte) {
	fx.srv.AddFile("/"+e.ID+"/"+name, data, time.Now())
	fx.content[e.KeyPrefix()+"/"+name] = data
}

func (fx *fixture) entry(id string) sources.Entry {
	for _, e := range fx.entries {
		if e.ID == id {
			return e
		}
	}
	panic("no entry " + id)
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// indexRows reads one index file whole.
func readIndexRows(t *testing.T, b bucket.Reader, key string) []index.Row {
	t.Helper()
	var out []index.Row
	for row, err := range index.Read(context.Background(), b, key) {
		if err != nil {
			t.Fatalf("read index %s: %v", key, err)
		}
		out = append(out, row)
	}
	return out
}

// indexKeys lists every index file in the bucket.
func indexKeys(t *testing.T, b bucket.Reader) []string {
	t.Helper()
	var keys []string
	for info, err := range b.List(context.Background(), index.Prefix) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

// wantRowsOf checks that rows are exactly the records, with the entry's
// description on every row.
func wantRowsOf(t *testing.T, m annotations.Meta, recs []annotations.Record, rows []index.Row) {
	t.Helper()
	if len(rows) != len(recs) {
		t.Fatalf("%s: %d index rows for %d records", m.ID, len(rows), len(recs))
	}
	for i, rec := range recs {
		got, want := rows[i], index.RowOf(m, rec)
		if got.Key != want.Key || got.Size != want.Size || got.SHA256 != want.SHA256 || got.SourceURL != want.SourceURL ||
			fmt.Sprint(deref(got.PublisherChecksumAlgo), deref(got.PublisherChecksum)) != fmt.Sprint(deref(want.PublisherChecksumAlgo), deref(want.PublisherChecksum)) ||
			got.Entry != m.ID || got.Family != m.Family || got.Domain != m.Domain || got.License != m.License ||
			got.Citation != m.Citation || got.DOI != m.DOI || got.ContentType != want.ContentType ||
			!got.RetrievedAt.Equal(want.RetrievedAt.Truncate(time.Millisecond)) || got.RunID != want.RunID {
			t.Fatalf("%s row %d:\n got %+v\nwant %+v", m.ID, i, got, want)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// checkIndex holds every entry's index file to its records: the head
// names the file, and its rows are the records.
func checkIndex(t *testing.T, b bucket.Reader, entries []sources.Entry) {
	t.Helper()
	for _, e := range entries {
		h, err := annotations.ReadHead(context.Background(), b, e.ID)
		if err != nil || h == nil {
			t.Fatalf("head %s: %v, %v", e.ID, h, err)
		}
		if want := index.Key(h.Meta, nil); h.Index != want {
			t.Fatalf("head %s names index %q, want %q", e.ID, h.Index, want)
		}
		wantRowsOf(t, h.Meta, recordsOf(t, b, e.ID), readIndexRows(t, b, h.Index))
	}
}

// After a run each entry's index file holds its records, one row each;
// a rerun of unchanged entries writes and reads no index file; a
// changed object changes its row, and only its entry's file is written.
func TestIndexFollowsRecords(t *testing.T) {
	ctx := context.Background()
	fx := indexFixture(t)
	b := newCountingBucket()
	rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	if rec.Counts.Failed != 0 || rec.Counts.Done != len(fx.entries) {
		t.Fatalf("first run: %+v %v", rec.Counts, rec.Failures)
	}
	checkIndex(t, b, fx.entries)
	if h, _ := annotations.ReadHead(ctx, b, "e100"); len(h.Parts) == 0 {
		t.Fatalf("e100 has no parts; the fixture must cover entries with parts")
	}
	if n := len(indexKeys(t, b)); n != len(fx.entries) {
		t.Errorf("%d index files, want one per entry (%d)", n, len(fx.entries))
	}
	var cat Catalog
	if ok, err := readJSON(ctx, b, CatalogKey, &cat); !ok || err != nil || cat.Index != index.Prefix {
		t.Errorf("catalog points to the index at %q (%v, %v), want %q", cat.Index, ok, err, index.Prefix)
	}

	b.reset()
	rec = mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	if rec.Counts.Unchanged != len(fx.entries) {
		t.Fatalf("rerun: %+v %v", rec.Counts, rec.Failures)
	}
	for _, op := range []string{"put", "open", "list"} {
		if n := b.countUnder(op, index.Prefix); n != 0 {
			t.Errorf("unchanged rerun: %d %s requests under %s, want none", n, op, index.Prefix)
		}
	}
	checkIndex(t, b, fx.entries)

	// One object of e002 and one of the parted e100 change at the source.
	for _, id := range []string{"e002", "e100"} {
		e := fx.entry(id)
		fx.serve(e, "f1.dat", []byte("changed "+id))
	}
	b.reset()
	rec = mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	if rec.Counts.ObjectsUploaded != 2 || rec.Counts.Failed != 0 {
		t.Fatalf("run after the change: %+v %v", rec.Counts, rec.Failures)
	}
	if n := b.countUnder("put", index.Prefix); n != 2 {
		t.Errorf("%d index files written after two entries changed, want 2", n)
	}
	checkIndex(t, b, fx.entries)
	for _, id := range []string{"e002", "e100"} {
		e := fx.entry(id)
		rows := readIndexRows(t, b, index.Key(annotations.MetaOf(e), nil))
		i := slices.IndexFunc(rows, func(r index.Row) bool { return r.Key == e.KeyPrefix()+"/f1.dat" })
		if i < 0 || rows[i].Size != int64(len("changed "+id)) || rows[i].SHA256 != sha256hex([]byte("changed "+id)) {
			t.Errorf("%s: row of the changed object %+v, want the new size and sha256", id, rows)
		}
	}
}

// A bucket written before the index existed (heads without "index")
// gets every entry's index file on its next run, without fetching any
// object again: the index is written from the records.
func TestIndexBackfillsOldBucket(t *testing.T) {
	ctx := context.Background()
	fx := indexFixture(t)
	b := mem.New()
	mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	// Make it the bucket an older build left: no index files, no names.
	for _, key := range indexKeys(t, b) {
		if err := b.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range fx.entries {
		h, err := annotations.ReadHead(ctx, b, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		h.Index = ""
		if _, err := annotations.WriteHead(ctx, b, ManifestKey(e.ID), h); err != nil {
			t.Fatal(err)
		}
	}
	fx.srv.ResetRequests()
	rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	if rec.Counts.Unchanged != len(fx.entries) || rec.Counts.ObjectsUploaded != 0 {
		t.Fatalf("run over the old bucket: %+v %v", rec.Counts, rec.Failures)
	}
	// Objects whose listing cannot tell are asked for conditionally (304).
	if n := fx.srv.CountRequests(func(r emulator.Request) bool { return r.Status != http.StatusNotModified }); n != 0 {
		t.Errorf("%d requests to the publisher other than 304s, want none: every object is unchanged", n)
	}
	checkIndex(t, b, fx.entries)
}

// failIndexPuts fails every Put under the index prefix, as a bucket
// refusing writes would.
type failIndexPuts struct{ bucket.Bucket }

func (f failIndexPuts) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if strings.HasPrefix(key, index.Prefix) {
		_, _ = io.Copy(io.Discard, r)
		return nil, errors.New("injected: no index writes")
	}
	return f.Bucket.Put(ctx, key, r, opts)
}

// An index file that cannot be written fails its entry (bucket_error),
// whose head records the objects but names no index and is left
// unchecked; the next run writes the index.
func TestIndexWriteFailureFailsEntry(t *testing.T) {
	ctx := context.Background()
	fx := indexFixture(t)
	b := mem.New()
	rec, err := Run(ctx, fx.cfg(failIndexPuts{b}, ModeBackfill))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Counts.Failed != len(fx.entries) || len(rec.Failures) != len(fx.entries) {
		t.Fatalf("run with index writes failing: %+v", rec.Counts)
	}
	for _, f := range rec.Failures {
		if f.Reason != sources.ReasonBucketError || !strings.Contains(f.Detail, "object index") {
			t.Errorf("failure %+v, want bucket_error naming the object index", f)
		}
	}
	for _, e := range fx.entries {
		h, err := annotations.ReadHead(ctx, b, e.ID)
		if err != nil || h == nil || h.Index != "" || h.Complete() || h.Objects != len(recordsOf(t, b, e.ID)) {
			t.Fatalf("head %s after the failed index write: %+v, %v", e.ID, h, err)
		}
	}
	rec = mustRun(t, ctx, fx.cfg(b, ModeRun))
	if rec.Counts.Failed != 0 || rec.Counts.ObjectsUploaded != 0 {
		t.Fatalf("next run: %+v %v", rec.Counts, rec.Failures)
	}
	checkIndex(t, b, fx.entries)
}

// An entry whose registry description changes (here its family) gets
// its index file at the new place, and the old one goes, so a family's
// glob never reads it twice.
func TestIndexMovesWithEntry(t *testing.T) {
	ctx := context.Background()
	fx := indexFixture(t)
	b := mem.New()
	mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	old := index.Key(annotations.MetaOf(fx.entries[1]), nil)
	fx.entries[1].Family = "moved"
	fx.entries[2].Meta.Citation = "A new citation"
	mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	checkIndex(t, b, fx.entries)
	keys := indexKeys(t, b)
	if slices.Contains(keys, old) || len(keys) != len(fx.entries) {
		t.Errorf("index files %v: want one per entry, without %s", keys, old)
	}
}

// Verify holds the object index to the heads: a named file that is
// gone, one with the wrong number of rows, and one no head names are
// each reported; a head naming none yet is not.
func TestVerifyIndex(t *testing.T) {
	ctx := context.Background()
	m := annotations.MetaOf(entry("e001", "biology", "fam1", nil))
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, b bucket.Bucket)
		want   string
	}{
		{"intact", func(*testing.T, bucket.Bucket) {}, ""},
		{"missing", func(t *testing.T, b bucket.Bucket) {
			if err := b.Delete(ctx, index.Key(m, nil)); err != nil {
				t.Fatal(err)
			}
		}, ProblemIndexMissing},
		{"wrong-rows", func(t *testing.T, b bucket.Bucket) {
			one := func(yield func(index.Row, error) bool) { yield(index.Row{Key: "x"}, nil) }
			if _, err := index.Write(ctx, b, index.Key(m, nil), one); err != nil {
				t.Fatal(err)
			}
		}, ProblemIndexRows},
		{"orphan", func(t *testing.T, b bucket.Bucket) {
			if _, err := index.Write(ctx, b, index.Key(m, &annotations.Shard{Index: 0, Count: 2}), func(func(index.Row, error) bool) {}); err != nil {
				t.Fatal(err)
			}
		}, ProblemIndexOrphan},
		{"not-yet-written", func(t *testing.T, b bucket.Bucket) {
			h, _ := annotations.ReadHead(ctx, b, "e001")
			h.Index = ""
			if _, err := annotations.WriteHead(ctx, b, ManifestKey("e001"), h); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, index.Key(m, nil)); err != nil {
				t.Fatal(err)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, 3, 2, 100, nil)
			b := mem.New()
			mustRun(t, ctx, fx.cfg(b, ModeBackfill))
			tc.damage(t, b)
			rep, err := Verify(ctx, b, false, 2)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, p := range rep.Problems {
				kinds = append(kinds, p.Kind)
			}
			if want := strings.Fields(tc.want); !slices.Equal(kinds, want) {
				t.Errorf("problems %+v, want kinds %v", rep.Problems, want)
			}
		})
	}
}
