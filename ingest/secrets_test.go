package ingest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A source URL with userinfo (from a listing, as the registry validator
// refuses them in entries) is fetched, but manifests, run records and logs
// keep it without the userinfo.
func TestUserinfoNeverStored(t *testing.T) {
	ctx := context.Background()
	const password = "hunter2pw"
	fx := newFixture(t, 2, 1, 100, map[string]string{"userinfo": "alice:" + password})
	fx.entries[1].Params["files"] = "missing.dat" // a 404: its failure is recorded
	var logs bytes.Buffer
	b := mem.New()
	c := fx.cfg(b, ModeBackfill)
	c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := mustRun(t, ctx, c)
	if rec.Counts.Done != 1 || rec.Counts.Failed != 1 {
		t.Fatalf("counts %+v failures %+v", rec.Counts, rec.Failures)
	}
	m, err := ReadManifest(ctx, b, fx.entries[0].ID)
	if err != nil || m == nil || len(m.Objects) != 1 {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	u, err := url.Parse(m.Objects[0].SourceURL)
	if err != nil || u.User != nil || u.Host != fx.srv.Host() || u.Path != "/e000/f0.dat" {
		t.Errorf("manifest source_url %q, want the URL without userinfo", m.Objects[0].SourceURL)
	}
	all := written(t, logs.Bytes(), rec, b, "annotations/")
	if !strings.Contains(all.String(), "/e000/f0.dat") {
		t.Fatal("the haystack is missing the manifest it should contain")
	}
	if strings.Contains(all.String(), password) || strings.Contains(all.String(), "alice:") {
		t.Errorf("userinfo stored or logged:\n%s", all.String())
	}
}

// A key sent as a query parameter travels percent-encoded, so a server or
// an error that echoes the request shows the encoded form: the redact.Redactor
// removes the raw, query-escaped and path-escaped forms alike.
func TestEncodedSecretsRedacted(t *testing.T) {
	ctx := context.Background()
	const secret = "k3y+with/slash=and:colon"
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	if forms[1] == secret || forms[2] == secret || forms[1] == forms[2] {
		t.Fatalf("the secret %q does not exercise distinct encodings: %q", secret, forms)
	}
	fx := newFixture(t, 1, 1, 100, nil)
	leaky := entry("leak", "climate", "famL", map[string]string{"echo": "1"})
	leaky.URL = fx.srv.URL() + "/echo"
	var logs bytes.Buffer
	b := mem.New()
	c := fx.cfg(b, ModeBackfill)
	c.Entries = append(fx.entries, leaky)
	editHosts(&c, func(h []sources.HostPolicy) []sources.HostPolicy {
		h[0].Credential = &sources.Credential{Env: "NCBI_API_KEY", Query: "api_key"}
		return h
	})
	c.Getenv = func(k string) string {
		if k == "NCBI_API_KEY" {
			return secret
		}
		return ""
	}
	c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := mustRun(t, ctx, c)
	if len(rec.Failures) != 1 || rec.Failures[0].Entry != "leak" || strings.Count(rec.Failures[0].Detail, "**redacted**") != 3 {
		t.Fatalf("failures = %+v, want the echo's three forms of the key redacted", rec.Failures)
	}
	all := written(t, logs.Bytes(), rec, b, "")
	for _, f := range forms {
		if strings.Contains(all.String(), f) {
			t.Errorf("the key leaked as %q:\n%s", f, all.String())
		}
	}
}

// A secret from the environment reaches only its own host and appears in no
// log line, run record, manifest, error or metric, even when a server echoes
// it back inside an error.
func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	const secret = "cds-secret-7f3a9c2e11"
	fx := newFixture(t, 2, 1, 100, nil)
	other := newFixture(t, 1, 1, 100, nil) // a second host without a credential
	other.entries[0].ID = "x000"
	other.entries[0].URL = other.srv.URL() + "/x000"
	other.srv.AddFile("/x000/f0.dat", []byte("other"), time.Now())
	leaky := entry("leak", "climate", "famL", map[string]string{"echo": "1"})
	leaky.URL = fx.srv.URL() + "/echo"

	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b := mem.New()
	c := fx.cfg(b, ModeBackfill)
	c.Entries = append(append(fx.entries, other.entries...), leaky)
	c.Kinds = map[string]sources.Kind{"fake": multiKind{fx.srv.URL(): fakeKind{fx.srv}, other.srv.URL(): fakeKind{other.srv}}}
	editHosts(&c, func(h []sources.HostPolicy) []sources.HostPolicy {
		h[0].Credential = &sources.Credential{Env: "CDS_API_KEY", Header: "PRIVATE-TOKEN", Required: true}
		return h
	})
	c.Getenv = func(k string) string {
		if k == "CDS_API_KEY" {
			return secret
		}
		return ""
	}
	c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c.Metrics = m
	rec := mustRun(t, ctx, c)
	if len(rec.Failures) != 1 || rec.Failures[0].Entry != "leak" || !strings.Contains(rec.Failures[0].Detail, "**redacted**") {
		t.Fatalf("failures = %+v", rec.Failures)
	}
	if n := fx.srv.CountRequests(func(r emulator.Request) bool { return r.Header.Get("PRIVATE-TOKEN") == secret }); n != 3 {
		t.Errorf("credential sent on %d requests to its host, want 3", n)
	}
	if n := other.srv.CountRequests(func(r emulator.Request) bool { return r.Header.Get("PRIVATE-TOKEN") != "" }); n != 0 {
		t.Errorf("credential sent to another host %d times", n)
	}
	if n := fx.srv.CountRequests(func(r emulator.Request) bool { return !strings.HasPrefix(r.Header.Get("User-Agent"), "astroingest/") }); n != 0 {
		t.Errorf("%d requests without the astroingest user agent", n)
	}
	all := written(t, logs.Bytes(), rec, b, "")
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(all, resp.Body)
	resp.Body.Close()
	if !bytes.Contains(all.Bytes(), []byte("astroingest_http_requests_total")) || !bytes.Contains(all.Bytes(), []byte(`"run_id"`)) {
		t.Fatal("the haystack is missing the outputs it should contain")
	}
	if bytes.Contains(all.Bytes(), []byte(secret)) {
		t.Fatal("the secret leaked into logs, bucket objects or metrics")
	}
}
