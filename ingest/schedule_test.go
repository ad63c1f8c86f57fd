package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/sources"
	"github.com/prometheus/client_golang/prometheus"
)

// A daily entry checked a little less than a day ago is due (runs start at
// slightly different times), and one not refreshed for two intervals is
// stale.
func TestScheduleDueAndStale(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 3, 17, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		checked   time.Duration // before now
		wantState string
		wantStale bool
	}{
		{"checked an hour ago", time.Hour, StateFresh, false},
		{"checked 23h37m ago by yesterday's slower run", 23*time.Hour + 37*time.Minute, StateDue, false},
		{"checked 30h ago", 30 * time.Hour, StateDue, false},
		{"missed a whole run", 49 * time.Hour, StateDue, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mem.New()
			e := sources.Entry{ID: "e1", Domain: "climate", Kind: "http", Schedule: "daily", Key: "x/e1", URL: "https://example.org/e1"}
			writeTestHead(t, b, e, now.Add(-tc.checked))
			p, err := buildPlan(ctx, planInput{Bucket: b, Entries: []sources.Entry{e}, Mode: ModeRun, Now: now, Getenv: func(string) string { return "" }})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Tasks[0]; got.State != tc.wantState || got.Stale != tc.wantStale {
				t.Errorf("state %s stale %v, want %s %v", got.State, got.Stale, tc.wantState, tc.wantStale)
			}
		})
	}
}

func TestRunClock(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-42 * time.Second)
	stop := m.runClock(start, time.Now, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if v := value(t, m.runDuration); v < 42 || v > 60 {
		t.Errorf("run_duration_seconds while running = %v, want about 42", v)
	}
	stop()
	stop() // idempotent
}
