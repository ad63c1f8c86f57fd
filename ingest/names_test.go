package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/index"
)

// One odd name does not poison a listing: names no bucket key can hold
// are skipped and reported, hostile hrefs are ignored as before, and the
// rest of the entry is mirrored. The entry is partial, not failed.
func TestOddNamesSkipped(t *testing.T) {
	srv := newSource(t)
	for _, n := range []string{"good.nc", "also good.nc"} {
		srv.AddFile("/pub/"+n, []byte("data of "+n), time.Now())
	}
	srv.HandleFunc("/pub/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><body><pre>\n")
		for _, href := range []string{"good.nc", "also%20good.nc", "nul%00byte.nc", `back\slash.nc`, "ctl%07bell.nc",
			"../../etc/passwd", "..%2F..%2Fx", "sub/../../x", "/abs.nc", "https://other.example/x.nc"} {
			fmt.Fprintf(w, "<a href=\"%s\">x</a> 01-May-2024 12:00 -\n", href)
		}
		fmt.Fprint(w, "</pre></body></html>\n")
	})
	e := sources.Entry{ID: "odd", Family: "f", Domain: "climate", Kind: "index", Key: "f/odd", URL: srv.URL() + "/pub/", Schedule: "monthly"}
	c := Config{Bucket: mem.New(), Entries: []sources.Entry{e}, Kinds: map[string]sources.Kind{"index": index.New()},
		Mode: ModeBackfill, Selection: Selection{Sources: []string{"*"}}, Logger: discardLog(), Getenv: func(string) string { return "" },
		Hosts: sources.NewHosts([]sources.HostPolicy{{Host: srv.Host(), RPS: 1000, Burst: 100}})}
	rec := mustRun(t, context.Background(), c)
	if rec.Counts.Done != 1 || rec.Counts.Failed != 0 || rec.Counts.ObjectsUploaded != 2 || rec.Counts.Partial != 1 {
		t.Fatalf("counts %+v, failures %+v", rec.Counts, rec.Failures)
	}
	p := rec.Partial[0]
	if p.Entry != "odd" || p.Reason != sources.ReasonUnrepresentableName || !strings.Contains(p.Detail, "3 listed names") ||
		!strings.Contains(p.Detail, `"nul\x00byte.nc"`) || !strings.Contains(p.Detail, `back\\slash.nc`) {
		t.Fatalf("partial %+v", p)
	}
	m, _ := ReadManifest(context.Background(), c.Bucket, "odd")
	if m == nil || len(m.Objects) != 2 || m.CheckedAt.IsZero() {
		t.Fatalf("manifest %+v", m)
	}
}

// A listing that suddenly names nothing (a login page where the index
// was) fails the entry and leaves its records as they were.
func TestEmptyListingKeepsRecords(t *testing.T) {
	srv := newSource(t)
	srv.AddFile("/pub/a.nc", []byte("aaaa"), time.Now())
	srv.AddFile("/pub/b.nc", []byte("bbbb"), time.Now())
	e := sources.Entry{ID: "pub", Family: "f", Domain: "climate", Kind: "index", Key: "f/pub", URL: srv.URL() + "/pub/", Schedule: "monthly"}
	c := Config{Bucket: mem.New(), Entries: []sources.Entry{e}, Kinds: map[string]sources.Kind{"index": index.New()},
		Mode: ModeBackfill, Selection: Selection{Sources: []string{"*"}}, Logger: discardLog(), Getenv: func(string) string { return "" },
		Hosts: sources.NewHosts([]sources.HostPolicy{{Host: srv.Host(), RPS: 1000, Burst: 100}})}
	if rec := mustRun(t, context.Background(), c); rec.Counts.ObjectsUploaded != 2 {
		t.Fatalf("first run %+v", rec.Counts)
	}
	srv.HandleFunc("/pub/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><body><h1>Please sign in</h1><a href=\"https://login.example/\">here</a></body></html>")
	})
	rec := mustRun(t, context.Background(), c)
	if rec.Counts.Failed != 1 || rec.Failures[0].Reason != sources.ReasonBadResponse || !strings.Contains(rec.Failures[0].Detail, "names no file, where 2 were recorded") {
		t.Fatalf("rerun over an empty listing: %+v %+v", rec.Counts, rec.Failures)
	}
	if m, _ := ReadManifest(context.Background(), c.Bucket, "pub"); m == nil || len(m.Objects) != 2 {
		t.Fatalf("records after the empty listing: %+v", m)
	}
}

// A file the entry's checksum listing does not name is reported as
// checksum_missing and not mirrored; the others are.
func TestChecksumMissingReported(t *testing.T) {
	srv := newSource(t)
	srv.AddFile("/pub/a.nc", []byte("aaaa"), time.Now())
	srv.AddFile("/pub/b.nc", []byte("bbbb"), time.Now())
	srv.AddFile("/sums/MD5SUMS", []byte(srv.MD5("/pub/a.nc")+"  a.nc\n"), time.Now())
	e := sources.Entry{ID: "pub", Family: "f", Domain: "climate", Kind: "index", Key: "f/pub", URL: srv.URL() + "/pub/", Schedule: "monthly",
		Checksums: srv.URL() + "/sums/MD5SUMS"}
	c := Config{Bucket: mem.New(), Entries: []sources.Entry{e}, Kinds: map[string]sources.Kind{"index": index.New()},
		Mode: ModeBackfill, Selection: Selection{Sources: []string{"*"}}, Logger: discardLog(), Getenv: func(string) string { return "" },
		Hosts: sources.NewHosts([]sources.HostPolicy{{Host: srv.Host(), RPS: 1000, Burst: 100}})}
	rec := mustRun(t, context.Background(), c)
	if rec.Counts.ObjectsUploaded != 1 || rec.Counts.ObjectsFailed != 1 || len(rec.Failures) != 1 ||
		rec.Failures[0].Reason != sources.ReasonChecksumMissing || !strings.Contains(rec.Failures[0].Detail, "no line for b.nc") {
		t.Fatalf("counts %+v failures %+v", rec.Counts, rec.Failures)
	}
	if _, err := c.Bucket.Stat(context.Background(), "climate/f/pub/b.nc"); err == nil {
		t.Fatal("b.nc was mirrored unverified")
	}
}
