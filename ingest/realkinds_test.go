package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/httpkind"
	"github.com/astroingest/astroingest/sources/index"
)

// The real http and index kinds against the publisher emulator: checksum
// listings, an autoindex directory, and the emulator's faults.
func TestEndToEndWithRealKinds(t *testing.T) {
	ctx := context.Background()
	srv := emulator.NewServer()
	defer srv.Close()
	mod := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 5 {
		srv.AddGenerated(fmt.Sprintf("/pub/f%d.nc", i), int64(150_000+i*1000), int64(i+1))
	}
	srv.AddChecksumFile("/pub/MD5SUMS", emulator.MD5Sum)
	for i := range 3 {
		srv.AddFile(fmt.Sprintf("/dir/sub/g%d.fits", i), bytes.Repeat([]byte{byte('a' + i)}, 40_000+i), mod)
	}
	host := strings.TrimPrefix(srv.URL(), "http://")
	var entries []sources.Entry
	for i := range 5 {
		e := entry(fmt.Sprintf("pub-f%d", i), "climate", "pub", nil)
		e.Kind, e.Key = "http", fmt.Sprintf("pub/f%d.nc", i)
		e.URL = fmt.Sprintf("%s/pub/f%d.nc", srv.URL(), i)
		e.Checksums = srv.URL() + "/pub/MD5SUMS"
		entries = append(entries, e)
	}
	dirE := entry("dir", "astronomy", "dir", map[string]string{"recursive": "true"})
	dirE.Kind, dirE.Key, dirE.URL = "index", "dir", srv.URL()+"/dir/"
	entries = append(entries, dirE)

	srv.Fault("/pub/f1.nc", emulator.Fault{Kind: emulator.Corrupt, After: 1234})
	srv.Fault("/pub/f2.nc", emulator.Fault{Kind: emulator.Reset, After: 60_000, Times: 1})
	srv.Fault("/pub/f3.nc", emulator.Fault{Kind: emulator.Unavailable, Times: 2})
	srv.Fault("/pub/f4.nc", emulator.Fault{Kind: emulator.TooManyRequests, Times: 1})

	b := mem.New()
	cfg := Config{
		Bucket: b, Entries: entries, Mode: ModeBackfill, Selection: Selection{Sources: []string{"*"}},
		Kinds:  map[string]sources.Kind{"http": httpkind.New(), "index": index.New()},
		Hosts:  sources.NewHosts([]sources.HostPolicy{{Host: host, Concurrency: 4, RPS: 500, Burst: 50}}),
		Logger: discardLog(),
		Retry:  RetryPolicy{WaitMin: 5 * time.Millisecond, WaitMax: 50 * time.Millisecond},
		Getenv: func(string) string { return "" },
	}
	rec := mustRun(t, ctx, cfg)
	if rec.Counts.Done != 5 || len(rec.Failures) != 1 || rec.Failures[0].Entry != "pub-f1" || rec.Failures[0].Reason != sources.ReasonChecksumMismatch {
		t.Fatalf("counts %+v failures %+v", rec.Counts, rec.Failures)
	}
	if _, err := b.Stat(ctx, "climate/pub/f1.nc"); err == nil {
		t.Fatal("corrupt object is visible")
	}
	check := func(key, path string) {
		t.Helper()
		got := readAll(t, b, key)
		sum := sha256.Sum256(got)
		if hex.EncodeToString(sum[:]) != srv.SHA256(path) {
			t.Errorf("%s does not match %s", key, path)
		}
	}
	for _, i := range []int{0, 2, 3, 4} {
		check(fmt.Sprintf("climate/pub/f%d.nc", i), fmt.Sprintf("/pub/f%d.nc", i))
	}
	for i := range 3 {
		check(fmt.Sprintf("astronomy/dir/sub/g%d.fits", i), fmt.Sprintf("/dir/sub/g%d.fits", i))
	}
	if rep, err := Verify(ctx, b, true, 4); err != nil || !rep.OK() || rep.Objects != 7 {
		t.Fatalf("verify: %+v %v", rep, err)
	}

	// Faults gone: the failed entry completes and nothing else is downloaded.
	srv.ClearFaults()
	dataGets := func() int {
		n := 0
		for _, r := range srv.RequestLog("/") {
			if (strings.HasSuffix(r.Path, ".nc") || strings.HasSuffix(r.Path, ".fits")) && r.Header.Get("If-None-Match") == "" && r.Header.Get("If-Modified-Since") == "" {
				n++
			}
		}
		return n
	}
	before := dataGets()
	rec = mustRun(t, ctx, cfg)
	if rec.Counts.Done != 1 || rec.Counts.Unchanged != 5 || len(rec.Failures) != 0 {
		t.Fatalf("rerun counts %+v failures %+v", rec.Counts, rec.Failures)
	}
	if n := dataGets() - before; n != 1 {
		t.Fatalf("rerun downloaded %d data files, want only f1 (others unchanged or answered conditionally)", n)
	}
	check("climate/pub/f1.nc", "/pub/f1.nc")
}
