package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

func TestShardsCoverEveryEntryOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		seen := map[string]int{}
		for i := range n {
			for j := range 2000 {
				id := fmt.Sprintf("entry-%d", j)
				if (Shard{i, n}).Has(id) {
					seen[id]++
				}
			}
		}
		for j := range 2000 {
			if c := seen[fmt.Sprintf("entry-%d", j)]; c != 1 {
				t.Fatalf("N=%d: entry-%d in %d shards", n, j, c)
			}
		}
	}
	// End to end: shards run one after another fill one bucket exactly.
	ctx := context.Background()
	fx := newFixture(t, 12, 1, 100, nil)
	b := mem.New()
	total := 0
	for i := range 3 {
		c := fx.cfg(b, ModeRun)
		c.Shard = Shard{i, 3}
		rec := mustRun(t, ctx, c)
		total += rec.Counts.Done
		if rec.Counts.Selected == 12 {
			t.Fatalf("shard %d selected everything", i)
		}
	}
	if total != 12 || fx.srv.CountRequests(func(r emulator.Request) bool { return r.Status == 200 }) != 12 {
		t.Fatalf("shards fetched %d entries with %d downloads, want 12 each", total, fx.srv.CountRequests(func(r emulator.Request) bool { return r.Status == 200 }))
	}
	var cat Catalog
	readJSON(ctx, b, CatalogKey, &cat)
	if len(cat.Entries) != 12 {
		t.Fatalf("merged catalog has %d entries", len(cat.Entries))
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

// multiKind routes entries to the fake kind of their server.
type multiKind map[string]fakeKind

func (m multiKind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	for prefix, k := range m {
		if strings.HasPrefix(e.URL, prefix) {
			return k.Objects(ctx, c, e)
		}
	}
	return nil, fmt.Errorf("no server for %s", e.URL)
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

func TestBudgetEndsRunCleanly(t *testing.T) {
	ctx := context.Background()
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprint("known=", known), func(t *testing.T) {
			params := map[string]string{}
			if known {
				params["size"] = "known"
			}
			fx := newFixture(t, 6, 1, 10_000, params)
			b := mem.New()
			c := fx.cfg(b, ModeBackfill)
			c.Workers = 1
			c.MaxBytes = 25_000
			rec := mustRun(t, ctx, c)
			if len(rec.Failures) != 0 || !rec.BudgetReached || rec.Counts.Skipped == 0 || rec.Counts.Done+rec.Counts.Skipped != 6 {
				t.Fatalf("counts %+v failures %+v", rec.Counts, rec.Failures)
			}
			if known && rec.Bytes > c.MaxBytes {
				t.Errorf("uploaded %d bytes over a %d budget", rec.Bytes, c.MaxBytes)
			}
			if !known && rec.Bytes > c.MaxBytes+int64(len(fx.content[fx.entries[5].KeyPrefix()+"/f0.dat"])) {
				t.Errorf("uploaded %d bytes, far over the %d budget", rec.Bytes, c.MaxBytes)
			}
			for _, s := range rec.Skipped {
				if s.Reason != sources.ReasonBudgetExceeded {
					t.Errorf("skip reason %q", s.Reason)
				}
			}
			if staged(b) != 0 {
				t.Error("staged upload left by a stopped download")
			}
			c.MaxBytes = 0
			rec2 := mustRun(t, ctx, c)
			if rec2.Counts.Done != rec.Counts.Skipped || rec2.Counts.Unchanged != rec.Counts.Done {
				t.Fatalf("second run %+v after %+v", rec2.Counts, rec.Counts)
			}
		})
	}
	// A family budget stops only that family.
	fx := newFixture(t, 6, 1, 10_000, map[string]string{"size": "known"})
	for i := range fx.entries {
		if fx.entries[i].Family == "fam0" {
			fx.entries[i].BudgetBytes = 5_000
		}
	}
	rec := mustRun(t, ctx, fx.cfg(mem.New(), ModeBackfill))
	if rec.Counts.Skipped != 2 || rec.Counts.Done != 4 {
		t.Fatalf("family budget: %+v %+v", rec.Counts, rec.Skipped)
	}
}

func TestBandwidthLimit(t *testing.T) {
	fx := newFixture(t, 2, 1, 100_000, nil)
	c := fx.cfg(mem.New(), ModeBackfill)
	c.BWLimit = 400_000
	start := time.Now()
	rec := mustRun(t, context.Background(), c)
	el := time.Since(start)
	// 200 kB at 400 kB/s, minus one burst of 50 kB: at least ~0.35 s.
	if rec.Counts.Done != 2 || el < 300*time.Millisecond {
		t.Fatalf("200 kB at 400 kB/s took %v (%+v)", el, rec.Counts)
	}
}

// plan must not write: the bucket is identical before and after.
func TestPlanWritesNothing(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 6, 1, 100, nil)
	b := mem.New()
	c := fx.cfg(b, ModeRun)
	c.Selection = Selection{Domains: []string{"climate", "biology"}}
	mustRun(t, ctx, c) // fetches e000, e001, e004, e005
	fx.srv.SetFile("/e002/f0.dat", []byte("x"), time.Now())
	before := snapshot(t, b)
	reqs := fx.srv.TotalRequests()
	p, err := BuildPlan(ctx, b, fx.cfg(b, ModeRun))
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, b); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("plan changed the bucket")
	}
	if fx.srv.TotalRequests() != reqs {
		t.Fatal("plan touched the network")
	}
	got := p.Counts()
	if got.Selected != 6 || got.Fresh != 4 || got.New != 2 || got.ToFetch != 2 || got.UnknownSize != 2 || got.ByDomain["climate"] != 2 {
		t.Fatalf("counts %+v", got)
	}
	pb, err := BuildPlan(ctx, b, Config{Entries: fx.entries, Mode: ModeBackfill, Selection: Selection{Domains: []string{"climate"}}})
	if err != nil {
		t.Fatal(err)
	}
	if bc := pb.Counts(); bc.Due != 2 || bc.EstimatedBytes == 0 {
		t.Fatalf("backfill plan %+v", bc)
	}
	if _, err := BuildPlan(ctx, b, Config{Mode: ModeBackfill}); err == nil {
		t.Fatal("backfill without a selection accepted")
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 4, 2, 500, nil)
	b := mem.New()
	mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	rep, err := Verify(ctx, b, true, 4)
	if err != nil || !rep.OK() || rep.Objects != 8 || rep.Manifests != 4 {
		t.Fatalf("clean verify: %+v %v", rep, err)
	}
	put := func(key string, data []byte) {
		p, err := b.Put(ctx, key, bytes.NewReader(data), bucketOpts())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	k0 := fx.entries[0].KeyPrefix() + "/f0.dat"
	k1 := fx.entries[1].KeyPrefix() + "/f1.dat"
	k2 := fx.entries[2].KeyPrefix() + "/f0.dat"
	b.Delete(ctx, k0)
	put(k1, []byte("short"))
	same := bytes.Clone(fx.content[k2])
	same[0] ^= 1
	put(k2, same)
	put("astronomy/stray/file.fits", []byte("nobody claims me"))
	for _, deep := range []bool{false, true} {
		rep, err := Verify(ctx, b, deep, 4)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{k0: ProblemMissing, k1: ProblemWrongSize, "astronomy/stray/file.fits": ProblemOrphan}
		if deep {
			want[k2] = ProblemWrongHash
		}
		got := map[string]string{}
		for _, p := range rep.Problems {
			got[p.Key] = p.Kind
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("deep=%v problems %v, want %v", deep, got, want)
		}
	}
}

func TestMetricsAndPush(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 4, 1, 1000, nil)
	fx.srv.Fault("/e003/f0.dat", emulator.Fault{Kind: emulator.Status, Code: 404, Times: 10})
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := fx.cfg(mem.New(), ModeBackfill)
	c.Metrics = m
	rec := mustRun(t, ctx, c)
	doms := map[string]int{}
	for _, e := range fx.entries[:3] {
		doms[e.Domain]++
	}
	for d, n := range doms {
		if v := value(t, m.objects.WithLabelValues(d, "uploaded")); v != float64(n) {
			t.Errorf("objects_total{%s,uploaded} = %v, want %d", d, v, n)
		}
		if v := value(t, m.entries.WithLabelValues(d, "done")); v != float64(n) {
			t.Errorf("entries{%s,done} = %v", d, v)
		}
	}
	failDom := fx.entries[3].Domain
	if v := value(t, m.failures.WithLabelValues(failDom, sources.ReasonHTTP404)); v != 1 {
		t.Errorf("entry_failures_total{%s,http_404} = %v", failDom, v)
	}
	if v := value(t, m.httpRequests.WithLabelValues(fx.srv.Host(), "200")); v != 3 {
		t.Errorf("http_requests_total{200} = %v", v)
	}
	var bytesTotal float64
	for _, d := range sources.Domains() {
		bytesTotal += value(t, m.bytes.WithLabelValues(d))
	}
	if int64(bytesTotal) != rec.Bytes || value(t, m.inflight) != 0 || value(t, m.lastSuccess) != 0 {
		t.Errorf("bytes %v vs %d, inflight %v, last success %v (a run with failures)", bytesTotal, rec.Bytes, value(t, m.inflight), value(t, m.lastSuccess))
	}

	var mu sync.Mutex
	var gotPath, gotMethod, gotBody string
	pg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotPath, gotMethod, gotBody = r.URL.Path, r.Method, string(body)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer pg.Close()
	// A failed run leaves the last success time out of its push, so that
	// the gateway keeps the previous one; a successful run includes it.
	for _, tc := range []struct {
		succeeded   bool
		lastSuccess bool
	}{{false, false}, {true, true}} {
		if err := Push(ctx, pg.URL, "backfill", Shard{2, 4}, tc.succeeded, reg, nil); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		// The client orders grouping labels as it likes; compare them as a set.
		if groupingOf(gotPath) != "command=backfill,job=astroingest,shard=2" || gotMethod != http.MethodPost || !strings.Contains(gotBody, "astroingest_objects_total") {
			t.Fatalf("push: %s %s (%d bytes)", gotMethod, gotPath, len(gotBody))
		}
		if got := strings.Contains(gotBody, "astroingest_last_success_timestamp_seconds"); got != tc.lastSuccess {
			t.Errorf("succeeded=%v: push contains last_success_timestamp_seconds = %v, want %v", tc.succeeded, got, tc.lastSuccess)
		}
		mu.Unlock()
	}
	pg.Close()
	if err := Push(ctx, pg.URL, "run", Shard{0, 1}, true, reg, nil); err == nil {
		t.Fatal("push to a closed gateway succeeded")
	}
}

// value reads a counter or gauge without the testutil package.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatal("not a counter or gauge")
	return 0
}

// groupingOf turns a push path /metrics/job/J/l1/v1/l2/v2 into sorted
// "job=J,l1=v1,l2=v2".
func groupingOf(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/metrics/"), "/")
	var pairs []string
	for i := 0; i+1 < len(parts); i += 2 {
		pairs = append(pairs, parts[i]+"="+parts[i+1])
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}
