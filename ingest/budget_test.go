package ingest

import (
	"errors"
	"testing"
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
