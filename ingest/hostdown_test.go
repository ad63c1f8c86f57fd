package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/httpkind"
)

// A host that does not resolve fails its entries with reason network: the
// first after one try (a missing name is not retried), the rest at once,
// and the log has one line for the host, not one per entry.
func TestUnresolvableHostFailsAsAHost(t *testing.T) {
	var dials atomic.Int32
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		host, _, _ := net.SplitHostPort(addr)
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	var entries []sources.Entry
	for i := range 12 {
		entries = append(entries, sources.Entry{ID: fmt.Sprintf("ersst-%02d", i), Family: "ersst", Domain: "climate", Kind: "http",
			Key: fmt.Sprintf("noaa/ersst/%02d.nc", i), URL: fmt.Sprintf("https://www.ncei.noaa.example/ersst/%02d.nc", i), Schedule: "monthly"})
	}
	var logs bytes.Buffer
	c := Config{Bucket: mem.New(), Entries: entries, Kinds: map[string]sources.Kind{"http": httpkind.New()}, Transport: tr,
		Mode: ModeBackfill, Selection: Selection{Sources: []string{"*"}}, Workers: 1, Getenv: func(string) string { return "" },
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Retry: RetryPolicy{WaitMin: 50 * time.Millisecond, WaitMax: time.Second}}
	start := time.Now()
	rec := mustRun(t, context.Background(), c)
	if rec.Counts.Failed != 12 {
		t.Fatalf("counts %+v", rec.Counts)
	}
	for _, f := range rec.Failures {
		if f.Reason != sources.ReasonNetwork {
			t.Errorf("%s failed with %s (%s), want network", f.Entry, f.Reason, f.Detail)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1: the name's absence is not retried, and the host's other entries are not tried", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("12 entries on a dead host took %v", d)
	}
	if n := strings.Count(logs.String(), `"msg":"entries failed: their host is unreachable"`); n != 1 || !strings.Contains(logs.String(), `"entries":12`) {
		t.Errorf("%d host lines in the log, want 1 naming 12 entries:\n%s", n, logs.String())
	}
}

// A host that refuses connections is retried as a request is, then fails
// its entries the same way.
func TestRefusingHostFailsAsAHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var entries []sources.Entry
	for i := range 5 {
		entries = append(entries, sources.Entry{ID: fmt.Sprintf("e%d", i), Family: "f", Domain: "climate", Kind: "http",
			Key: fmt.Sprintf("f/%d.nc", i), URL: fmt.Sprintf("http://%s/%d.nc", addr, i), Schedule: "monthly"})
	}
	c := Config{Bucket: mem.New(), Entries: entries, Kinds: map[string]sources.Kind{"http": httpkind.New()}, Workers: 1,
		Mode: ModeBackfill, Selection: Selection{Sources: []string{"*"}}, Getenv: func(string) string { return "" },
		Logger: discardLog(), Retry: RetryPolicy{Attempts: 3, WaitMin: 5 * time.Millisecond, WaitMax: 20 * time.Millisecond}}
	rec := mustRun(t, context.Background(), c)
	if rec.Counts.Failed != 5 {
		t.Fatalf("counts %+v", rec.Counts)
	}
	for _, f := range rec.Failures {
		if f.Reason != sources.ReasonNetwork {
			t.Errorf("%s: %s (%s), want network", f.Entry, f.Reason, f.Detail)
		}
	}
	if !strings.Contains(rec.Failures[4].Detail, "unreachable this run") && !strings.Contains(rec.Failures[0].Detail, "unreachable this run") {
		t.Errorf("no entry was failed at once for its host: %+v", rec.Failures)
	}
}

// Redirects: a loop and a long chain are too_many_redirects; a redirect
// to another host is followed only where the family allows that host.
func TestRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("the data")) }))
	defer other.Close()
	away := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) // another host name for the same server
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/chain/"):
			var n int
			fmt.Sscanf(r.URL.Path, "/chain/%d", &n)
			http.Redirect(w, r, fmt.Sprintf("/chain/%d", n+1), http.StatusFound)
		case r.URL.Path == "/away":
			http.Redirect(w, r, away+"/file", http.StatusFound)
		}
	}))
	defer srv.Close()
	tests := []struct {
		path, reason string
		allow        []string
	}{
		{"/loop", sources.ReasonTooManyRedirects, nil},
		{"/chain/0", sources.ReasonTooManyRedirects, nil},
		{"/away", sources.ReasonBadResponse, nil},
		{"/away", "", []string{"localhost"}},
	}
	for _, tt := range tests {
		e := sources.Entry{ID: "r", Family: "f", Domain: "climate", Kind: "http", Key: "f/r.nc", URL: srv.URL + tt.path, Schedule: "monthly", RedirectHosts: tt.allow}
		c := Config{Bucket: mem.New(), Entries: []sources.Entry{e}, Kinds: map[string]sources.Kind{"http": httpkind.New()},
			Mode: ModeBackfill, Selection: Selection{Sources: []string{"*"}}, Getenv: func(string) string { return "" }, Logger: discardLog(),
			Retry: RetryPolicy{WaitMin: time.Millisecond, WaitMax: 5 * time.Millisecond}}
		rec := mustRun(t, context.Background(), c)
		switch {
		case tt.reason == "" && rec.Counts.ObjectsUploaded != 1:
			t.Errorf("%s allowed to %v: %+v %+v", tt.path, tt.allow, rec.Counts, rec.Failures)
		case tt.reason != "" && (len(rec.Failures) != 1 || rec.Failures[0].Reason != tt.reason):
			t.Errorf("%s: failures %+v, want %s", tt.path, rec.Failures, tt.reason)
		}
	}
}
