package ingest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
)

type sweep struct {
	prefix string
	cutoff time.Time
}

// staleRecorder is a bucket that records the CleanStale sweeps asked of it.
type staleRecorder struct {
	bucket.Bucket
	mu     sync.Mutex
	sweeps []sweep
}

func (s *staleRecorder) CleanStale(_ context.Context, prefix string, cutoff time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweeps = append(s.sweeps, sweep{prefix, cutoff})
	return 0, nil
}

func (s *staleRecorder) take() []sweep {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sweeps
	s.sweeps = nil
	return out
}

// After a dead run's lease is taken over, its uploads are swept at once,
// but only under this run's own entries (other scopes may be uploading
// live in the same domains); without a takeover only the StaleGrace sweep
// of the domains runs.
func TestTakeoverSweepsDeadRunsUploadsPerEntry(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 3, 2, 100, nil)
	fx.entries[2].Params["single"] = "true" // one object at the entry's key
	fx.entries[2].Params["files"] = "f0.dat"
	b := &staleRecorder{Bucket: mem.New()}
	c := fx.cfg(b, ModeBackfill)
	domains := []string{fx.entries[0].Domain + "/", fx.entries[1].Domain + "/", fx.entries[2].Domain + "/"}

	graceCutoff := time.Now().Add(-23 * time.Hour) // the default grace is 24 h
	mustRun(t, ctx, c)
	for _, s := range b.take() {
		if !slices.Contains(domains, s.prefix) || s.cutoff.After(graceCutoff) {
			t.Errorf("without a takeover: sweep of %s before %v, want only the entries' domains past the grace", s.prefix, s.cutoff)
		}
	}

	scope := LeaseScope(c.Selection, Shard{0, 1})
	expired := time.Now().Add(-time.Minute).UTC()
	dead := Lease{Holder: "host/pid-9/dead", RunID: "dead", Scope: scope, Acquired: expired.Add(-time.Hour), Expires: expired}
	if err := writeJSON(ctx, b, LeasePrefix+scope+".json", dead); err != nil {
		t.Fatal(err)
	}
	mustRun(t, ctx, c)
	want := []string{fx.entries[0].KeyPrefix() + "/", fx.entries[1].KeyPrefix() + "/", fx.entries[2].KeyPrefix()}
	var got []string
	for _, s := range b.take() {
		switch {
		case s.cutoff.Equal(expired):
			got = append(got, s.prefix)
		case !slices.Contains(domains, s.prefix) || s.cutoff.After(graceCutoff):
			t.Errorf("after a takeover: sweep of %s before %v is neither a grace sweep of a domain nor up to the dead lease's expiry", s.prefix, s.cutoff)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("swept %q up to the dead lease's expiry, want exactly this run's entries %q", got, want)
	}
}
