package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/fs"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

func backends(t *testing.T) map[string]func(t *testing.T) bucket.Bucket {
	return map[string]func(t *testing.T) bucket.Bucket{
		"mem": func(t *testing.T) bucket.Bucket { return mem.New() },
		"fs": func(t *testing.T) bucket.Bucket {
			b, err := fs.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
}

// Every object arrives byte-exact, every manifest matches the bucket, and a
// second backfill transfers nothing: only conditional requests, all 304.
func TestMirrorAndRerun(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			fx := newFixture(t, 9, 3, 3000, map[string]string{"checksum": "md5"})
			// One entry without publisher checksum exercises conditional GETs.
			fx.entries[0].Params["checksum"] = ""
			b := mk(t)
			rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
			if rec.Counts.Done != 9 || rec.Counts.Failed != 0 || rec.Counts.ObjectsUploaded != 27 {
				t.Fatalf("first run counts = %+v, failures %v", rec.Counts, rec.Failures)
			}
			var total int64
			for key, want := range fx.content {
				if got := readAll(t, b, key); !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes differ from source (%d bytes)", key, len(got), len(want))
				}
				total += int64(len(want))
			}
			if rec.Bytes != total {
				t.Errorf("record bytes = %d, want %d", rec.Bytes, total)
			}
			for _, e := range fx.entries {
				m, err := ReadManifest(ctx, b, e.ID)
				if err != nil || m == nil {
					t.Fatalf("manifest %s: %v %v", e.ID, m, err)
				}
				if m.Title != e.Meta.Title || m.DOI != e.Meta.DOI || m.License != e.Meta.License || len(m.Objects) != 3 || m.CheckedAt.IsZero() {
					t.Errorf("manifest %s = %+v", e.ID, m)
				}
				for _, o := range m.Objects {
					data := fx.content[o.Key]
					sum := sha256.Sum256(data)
					if o.SHA256 != hex.EncodeToString(sum[:]) || o.Size != int64(len(data)) || o.RunID != rec.RunID || o.SourceETag == "" {
						t.Errorf("record %+v does not match the source", o)
					}
				}
			}
			var cat Catalog
			if ok, err := readJSON(ctx, b, CatalogKey, &cat); !ok || err != nil || len(cat.Entries) != 9 {
				t.Fatalf("catalog: %v %v %d entries", ok, err, len(cat.Entries))
			}
			var stored RunRecord
			if ok, err := readJSON(ctx, b, rec.RecordKey, &stored); !ok || err != nil || stored.Counts != rec.Counts {
				t.Fatalf("run record: %v %v %+v", ok, err, stored.Counts)
			}
			if n := staged(b); n != 0 {
				t.Errorf("%d uploads left staged", n)
			}
			if l := liveLeases(t, b); len(l) != 0 {
				t.Errorf("leases not released: %q", l)
			}

			before := fx.srv.TotalRequests()
			rec2 := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
			if rec2.Counts.Unchanged != 9 || rec2.Bytes != 0 || rec2.Counts.ObjectsUnchanged != 27 {
				t.Fatalf("rerun counts = %+v bytes %d", rec2.Counts, rec2.Bytes)
			}
			after := fx.srv.RequestLog("/")[before:]
			for _, r := range after {
				if r.Status != http.StatusNotModified {
					t.Errorf("rerun request %s %s answered %d; want only 304s", r.Method, r.Path, r.Status)
				}
			}
			// Only the entry without publisher checksums needed requests.
			if len(after) != 3 {
				t.Errorf("rerun made %d requests, want 3 conditional ones", len(after))
			}

			// `run` honours the monthly schedule: nothing is due.
			before = fx.srv.TotalRequests()
			rec3 := mustRun(t, ctx, fx.cfg(b, ModeRun))
			if rec3.Counts.Fresh != 9 || fx.srv.TotalRequests() != before {
				t.Fatalf("scheduled rerun: counts %+v, %d requests", rec3.Counts, fx.srv.TotalRequests()-before)
			}
		})
	}
}

func TestChangedSourceIsRefetched(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 2, 2, 1000, nil)
	b := mem.New()
	mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	newData := []byte("a new version of the file")
	fx.srv.SetFile("/e001/f1.dat", newData, time.Now())
	rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	if rec.Counts.Done != 1 || rec.Counts.Unchanged != 1 || rec.Counts.ObjectsUploaded != 1 {
		t.Fatalf("counts = %+v", rec.Counts)
	}
	key := fx.entries[1].KeyPrefix() + "/f1.dat"
	if got := readAll(t, b, key); !bytes.Equal(got, newData) {
		t.Fatalf("bucket has %q", got)
	}
	m, _ := ReadManifest(ctx, b, "e001")
	r := m.record(key)
	sum := sha256.Sum256(newData)
	if r == nil || r.SHA256 != hex.EncodeToString(sum[:]) || r.RunID != rec.RunID {
		t.Fatalf("manifest record = %+v", r)
	}
	if other := m.record(fx.entries[1].KeyPrefix() + "/f0.dat"); other == nil || other.RunID == rec.RunID {
		t.Fatalf("unchanged object's record should keep its first run id: %+v", other)
	}
}

// A source whose bytes disagree with the publisher's checksum is never
// made visible: the staged object is aborted, retried once, and the entry
// fails while the previous object and record stay.
func TestCorruptSourceNeverVisible(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 2, 1, 2000, map[string]string{"checksum": "md5"})
	b := mem.New()
	mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	key := fx.entries[0].KeyPrefix() + "/f0.dat"
	good := readAll(t, b, key)
	oldM, _ := ReadManifest(ctx, b, "e000")

	// The publisher announces a new version (new ETag and checksum) but
	// serves it with a byte flipped on the way.
	fx.srv.SetFile("/e000/f0.dat", append(bytes.Clone(good), "v2"...), time.Now())
	fx.srv.Fault("/e000/f0.dat", emulator.Fault{Kind: emulator.Corrupt, After: 10})
	before := fx.srv.CountRequests(func(r emulator.Request) bool { return r.Path == "/e000/f0.dat" })
	rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	if len(rec.Failures) != 1 || rec.Failures[0].Entry != "e000" || rec.Failures[0].Reason != sources.ReasonChecksumMismatch {
		t.Fatalf("failures = %+v", rec.Failures)
	}
	if got := fx.srv.CountRequests(func(r emulator.Request) bool { return r.Path == "/e000/f0.dat" }) - before; got != 2 {
		t.Errorf("corrupt object fetched %d times, want 2 (one retry)", got)
	}
	if !bytes.Equal(readAll(t, b, key), good) {
		t.Fatal("corrupt bytes became visible")
	}
	newM, _ := ReadManifest(ctx, b, "e000")
	if newM.record(key).SHA256 != oldM.record(key).SHA256 || !newM.CheckedAt.Equal(oldM.CheckedAt) {
		t.Fatal("manifest changed after a failed refresh")
	}
	if staged(b) != 0 {
		t.Fatal("staged upload left behind")
	}

	// A first fetch of a corrupt object commits nothing at all.
	b2 := mem.New()
	rec = mustRun(t, ctx, fx.cfg(b2, ModeBackfill))
	if rec.Counts.Failed != 1 {
		t.Fatalf("counts = %+v", rec.Counts)
	}
	if _, err := b2.Stat(ctx, key); err == nil {
		t.Fatal("corrupt object visible on first fetch")
	}
	if m, _ := ReadManifest(ctx, b2, "e000"); m != nil {
		t.Fatal("manifest written for a failed entry with nothing committed")
	}
}

func TestTransientFaultsSurvived(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 4, 1, 200_000, map[string]string{"checksum": "md5"})
	fx.srv.Fault("/e000/f0.dat", emulator.Fault{Kind: emulator.Status, Code: 503, Times: 2})
	fx.srv.Fault("/e001/f0.dat", emulator.Fault{Kind: emulator.TooManyRequests, RetryAfter: time.Second, Times: 1})
	fx.srv.Fault("/e002/f0.dat", emulator.Fault{Kind: emulator.Reset, After: 70_000, Times: 1}) // resumable: ETag + Accept-Ranges
	fx.srv.SetDynamic("/e003/f0.dat")
	fx.srv.Fault("/e003/f0.dat", emulator.Fault{Kind: emulator.Reset, After: 50_000, Times: 1}) // must restart cleanly
	b := mem.New()
	rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	if rec.Counts.Done != 4 || len(rec.Failures) != 0 {
		t.Fatalf("counts %+v failures %+v", rec.Counts, rec.Failures)
	}
	for key, want := range fx.content {
		if !bytes.Equal(readAll(t, b, key), want) {
			t.Errorf("%s differs", key)
		}
	}
	reqs := fx.srv.RequestLog("/")
	var at429, after429 time.Time
	var ranged, e3 []emulator.Request
	for _, r := range reqs {
		switch r.Path {
		case "/e001/f0.dat":
			if r.Status == 429 {
				at429 = r.At
			} else {
				after429 = r.At
			}
		case "/e002/f0.dat":
			if r.Header.Get("Range") != "" {
				ranged = append(ranged, r)
			}
		case "/e003/f0.dat":
			e3 = append(e3, r)
		}
	}
	if gap := after429.Sub(at429); gap < 900*time.Millisecond {
		t.Errorf("retried 429 after %v, Retry-After said 1s", gap)
	}
	if len(ranged) != 1 || ranged[0].Header.Get("Range") != "bytes=70000-" || ranged[0].Header.Get("If-Range") == "" || ranged[0].Status != 206 {
		t.Errorf("resume requests = %+v", ranged)
	}
	if len(e3) != 2 || e3[1].Header.Get("Range") != "" {
		t.Errorf("non-resumable object: %d requests, want a clean restart", len(e3))
	}
	if n := fx.srv.CountRequests(func(r emulator.Request) bool { return r.Path == "/e000/f0.dat" && r.Status == 503 }); n != 2 {
		t.Errorf("503s seen = %d", n)
	}
}

func TestPermanentErrorsClassified(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 3, 1, 100, nil)
	fx.srv.Fault("/e000/f0.dat", emulator.Fault{Kind: emulator.Status, Code: 404, Times: 100})
	fx.srv.Fault("/e001/f0.dat", emulator.Fault{Kind: emulator.Status, Code: 500, Times: 100})
	c := fx.cfg(mem.New(), ModeBackfill)
	c.Retry.Attempts = 3
	rec := mustRun(t, ctx, c)
	got := map[string]string{}
	for _, f := range rec.Failures {
		got[f.Entry] = f.Reason
	}
	want := map[string]string{"e000": sources.ReasonHTTP404, "e001": sources.ReasonHTTP5xx}
	if len(got) != 2 || got["e000"] != want["e000"] || got["e001"] != want["e001"] || rec.Counts.Done != 1 {
		t.Fatalf("failures %v, counts %+v", got, rec.Counts)
	}
	if n := fx.srv.CountRequests(func(r emulator.Request) bool { return r.Path == "/e001/f0.dat" }); n != 3*c.Retry.Restarts && n != 3 {
		t.Errorf("500 retried %d times", n)
	}
	if n := fx.srv.CountRequests(func(r emulator.Request) bool { return r.Path == "/e000/f0.dat" }); n != 1 {
		t.Errorf("404 requested %d times, want 1", n)
	}
}

func TestHostPolitenessHonoured(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 10, 1, 100, nil)
	c := fx.cfg(mem.New(), ModeBackfill)
	c.Workers = 6
	editHosts(&c, func(h []sources.HostPolicy) []sources.HostPolicy {
		h[0].RPS, h[0].Burst, h[0].Concurrency = 20, 1, 1
		return h
	})
	rec := mustRun(t, ctx, c)
	if rec.Counts.Done != 10 {
		t.Fatalf("counts %+v", rec.Counts)
	}
	reqs := fx.srv.RequestLog("/")
	times := make([]time.Time, len(reqs))
	for i, r := range reqs {
		times[i] = r.At
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	span := times[len(times)-1].Sub(times[0])
	// 10 requests at 20/s with burst 1 need at least 9 intervals of 50ms.
	if span < 400*time.Millisecond {
		t.Errorf("10 requests took %v; rate limit of 20/s not honoured", span)
	}
	if mi := fx.srv.MaxInflight(); mi != 1 {
		t.Errorf("max concurrent requests = %d, host concurrency is 1", mi)
	}
}

func TestCancellationLeavesNothingPartial(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			fx := newFixture(t, 6, 1, 50_000, nil)
			block := make(chan struct{})
			fx.srv.Fault("/e003/f0.dat", emulator.Fault{Kind: emulator.Hold, Until: block, Times: 1})
			b := mk(t)
			ctx, cancel := context.WithCancel(context.Background())
			c := fx.cfg(b, ModeBackfill)
			c.Workers = 2
			go func() {
				for fx.srv.CountRequests(func(r emulator.Request) bool { return r.Status == 200 }) < 3 {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
			}()
			rec := mustRun(t, ctx, c)
			close(block)
			if !rec.Interrupted || len(rec.Failures) != 0 || rec.Counts.Done == 6 {
				t.Fatalf("interrupted=%v failures=%+v counts=%+v", rec.Interrupted, rec.Failures, rec.Counts)
			}
			if rec.Counts.Done+rec.Counts.Unfinished != 6 {
				t.Errorf("done %d + unfinished %d != 6", rec.Counts.Done, rec.Counts.Unfinished)
			}
			for key, want := range fx.content {
				got, err := b.Stat(context.Background(), key)
				if err == nil && got.Size != int64(len(want)) {
					t.Errorf("partial object %s visible", key)
				}
			}
			if staged(b) != 0 {
				t.Error("staged uploads left")
			}
			var stored RunRecord
			if ok, _ := readJSON(context.Background(), b, rec.RecordKey, &stored); !ok || !stored.Interrupted {
				t.Fatal("run record missing after interruption")
			}
			rec2 := mustRun(t, context.Background(), fx.cfg(b, ModeBackfill))
			if rec2.Counts.Done+rec2.Counts.Unchanged != 6 || rec2.Counts.Done != rec.Counts.Unfinished {
				t.Fatalf("rerun counts %+v after %+v", rec2.Counts, rec.Counts)
			}
			for key, want := range fx.content {
				if !bytes.Equal(readAll(t, b, key), want) {
					t.Errorf("%s differs after rerun", key)
				}
			}
		})
	}
}
