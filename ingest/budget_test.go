package ingest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/sources"
)

// The budget reserves known sizes up front, charges unknown ones as bytes
// arrive, refunds what did not land, and stays exhausted once hit.
func TestBudget(t *testing.T) {
	type step struct {
		op     string // start, seen, settle
		fam    string
		n      int64
		errs   bool // start or seen must fail
		blockA bool // family a blocked afterwards
	}
	tests := []struct {
		name   string
		max    int64
		famMax map[string]int64
		steps  []step
	}{
		{"unlimited", 0, nil, []step{{"start", "a", 1 << 40, false, false}, {"settle", "a", 1 << 40, false, false}}},
		{"known size does not fit", 100, nil, []step{{"start", "a", 60, false, false}, {"start", "a", 50, true, true}}},
		{"refund keeps room", 100, nil, []step{{"start", "a", 60, false, false}, {"settle", "a", 0, false, false}, {"start", "a", 90, false, false}}},
		{"unknown size charged as it arrives", 100, nil, []step{{"start", "a", 0, false, false}, {"seen", "a", 80, false, false}, {"seen", "a", 101, true, true}}},
		{"family budget blocks only its family", 0, map[string]int64{"b": 10}, []step{{"start", "b", 11, true, false}, {"start", "a", 1000, false, false}}},
		{"family budget blocks its family", 0, map[string]int64{"a": 10}, []step{{"start", "a", 11, true, true}, {"start", "a", 1, true, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudget(tt.max, tt.famMax)
			var c *charge
			for i, s := range tt.steps {
				var err error
				switch s.op {
				case "start":
					var nc *charge
					nc, err = b.start(s.fam, s.n)
					if err == nil {
						c = nc
					}
				case "seen":
					err = c.seen(s.n)
				case "settle":
					c.settle(s.n)
				}
				var be *budgetError
				if s.errs != (err != nil) || err != nil && !errors.As(err, &be) {
					t.Fatalf("step %d %+v: err %v", i, s, err)
				}
				if got := b.blocked("a"); got != s.blockA {
					t.Fatalf("step %d %+v: blocked(a) = %v, want %v", i, s, got, s.blockA)
				}
			}
		})
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
