package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/sources"
)

// A missing required credential is one warning per host, with the number
// of entries and the variable to set, not one per entry; the run record
// still lists every entry.
func TestAuthMissingLoggedOncePerHost(t *testing.T) {
	fx := newFixture(t, 5, 1, 10, nil)
	other := newFixture(t, 2, 1, 10, nil)
	for i := range other.entries {
		other.entries[i].ID = "x" + other.entries[i].ID
	}
	var logs bytes.Buffer
	c := fx.cfg(mem.New(), ModeBackfill)
	c.Entries = append(fx.entries, other.entries...)
	c.Kinds = map[string]sources.Kind{"fake": multiKind{fx.srv.URL(): fakeKind{fx.srv}, other.srv.URL(): fakeKind{other.srv}}}
	editHosts(&c, func(h []sources.HostPolicy) []sources.HostPolicy {
		h[0].Credential = &sources.Credential{Env: "CDS_API_KEY", Header: "X-Key", Required: true}
		return h
	})
	editHosts(&c, func(h []sources.HostPolicy) []sources.HostPolicy {
		return append(h, sources.HostPolicy{Host: other.srv.Host(), Credential: &sources.Credential{Env: "NCBI_API_KEY", Query: "api_key", Required: true}})
	})
	c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := mustRun(t, context.Background(), c)
	if rec.Counts.Failed != 7 || len(rec.Failures) != 7 {
		t.Fatalf("counts %+v, failures %+v: want every entry recorded", rec.Counts, rec.Failures)
	}
	for _, f := range rec.Failures {
		if f.Reason != sources.ReasonAuthMissing {
			t.Errorf("failure %+v, want auth_missing", f)
		}
	}
	type line struct {
		Level, Msg, Host, Env, Reason string
		Entries                       int
	}
	var warns []line
	sc := bufio.NewScanner(&logs)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Level == "WARN" || l.Level == "ERROR" {
			warns = append(warns, l)
		}
	}
	want := map[string]line{
		fx.srv.Host():    {Env: "CDS_API_KEY", Entries: 5},
		other.srv.Host(): {Env: "NCBI_API_KEY", Entries: 2},
	}
	if len(warns) != len(want) {
		t.Fatalf("%d warnings, want one per host: %+v", len(warns), warns)
	}
	for _, w := range warns {
		if exp, ok := want[w.Host]; !ok || w.Env != exp.Env || w.Entries != exp.Entries || w.Reason != sources.ReasonAuthMissing {
			t.Errorf("warning %+v, want host, env and entry count as in %+v", w, want)
		}
	}
}

func TestAuthMissingAndGated(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 2, 1, 100, nil)
	c := fx.cfg(mem.New(), ModeBackfill)
	editHosts(&c, func(h []sources.HostPolicy) []sources.HostPolicy {
		h[0].Credential = &sources.Credential{Env: "CDS_API_KEY", Header: "X-Key", Required: true}
		return h
	})
	rec := mustRun(t, ctx, c)
	if rec.Counts.Failed != 2 || rec.Failures[0].Reason != sources.ReasonAuthMissing || !strings.Contains(rec.Failures[0].Detail, "CDS_API_KEY") {
		t.Fatalf("failures %+v", rec.Failures)
	}
	if fx.srv.TotalRequests() != 0 {
		t.Fatal("auth_missing made requests")
	}
	c = fx.cfg(mem.New(), ModeBackfill)
	editHosts(&c, func(h []sources.HostPolicy) []sources.HostPolicy {
		h[0].Gate, h[0].GateReason = "KEGG_ACADEMIC_USE", "academic use only"
		return h
	})
	rec = mustRun(t, ctx, c)
	if rec.Counts.Skipped != 2 || len(rec.Failures) != 0 || rec.Skipped[0].Reason != sources.ReasonGated {
		t.Fatalf("gated run: %+v %+v", rec.Counts, rec.Skipped)
	}
	c.AllowGated = true
	if rec = mustRun(t, ctx, c); rec.Counts.Done != 2 {
		t.Fatalf("--allow-gated run: %+v", rec.Counts)
	}
}
