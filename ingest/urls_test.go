package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket/mem"
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
	if err != nil || u.User != nil || u.Host != fx.srv.host() || u.Path != "/e000/f0.dat" {
		t.Errorf("manifest source_url %q, want the URL without userinfo", m.Objects[0].SourceURL)
	}
	var all bytes.Buffer
	all.Write(logs.Bytes())
	recJSON, _ := json.Marshal(rec)
	all.Write(recJSON)
	for info, err := range b.List(ctx, "annotations/") {
		if err != nil {
			t.Fatal(err)
		}
		all.Write(readAll(t, b, info.Key))
	}
	if !strings.Contains(all.String(), "/e000/f0.dat") {
		t.Fatal("the haystack is missing the manifest it should contain")
	}
	if strings.Contains(all.String(), password) || strings.Contains(all.String(), "alice:") {
		t.Errorf("userinfo stored or logged:\n%s", all.String())
	}
}
