package ingest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

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
