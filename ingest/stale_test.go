package ingest

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
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
// but only under this run's own entries (other shards of its job may be
// uploading live in the same domains); without a takeover only the
// StaleGrace sweep of the domains runs.
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

	expired := time.Now().Add(-time.Minute).UTC()
	dead := Lease{Holder: "host/pid-9/dead", RunID: "dead", Acquired: expired.Add(-time.Hour), Expires: expired}
	if err := writeJSON(ctx, b, BucketLeaseKey, dead); err != nil {
		t.Fatal(err)
	}
	mustRun(t, ctx, c)
	// Each entry once: nothing changed, so no entry is swept again after
	// its uploads (see TestTakeoverSweepsAgainAfterTheEntry).
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

// cancelInPut cancels the run from inside the first Put once some bytes
// have been read, then reads on and records what its reader and its own
// context say.
type cancelInPut struct {
	bucket.Bucket
	cancel context.CancelFunc
	once   sync.Once
	mu     sync.Mutex
	seen   []putSeen
}

type putSeen struct {
	readErr error
}

func (b *cancelInPut) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if strings.HasPrefix(key, "annotations/") {
		return b.Bucket.Put(ctx, key, r, opts)
	}
	buf := make([]byte, 1024)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	b.once.Do(b.cancel)
	_, err := io.Copy(io.Discard, r)
	if err == nil {
		return nil, errors.New("the reader ran to EOF after the run was cancelled")
	}
	b.mu.Lock()
	b.seen = append(b.seen, putSeen{readErr: err})
	b.mu.Unlock()
	return nil, err
}

// On cancellation the source read stops at once, the entry is recorded as
// unfinished rather than failed, and the bucket is left to abort the put.
func TestCancelStopsRead(t *testing.T) {
	fx := newFixture(t, 1, 1, 1<<20, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &cancelInPut{Bucket: mem.New(), cancel: cancel}
	rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
	if !rec.Interrupted || rec.Counts.Unfinished != 1 || len(rec.Failures) != 0 {
		t.Fatalf("record: interrupted %v counts %+v failures %+v", rec.Interrupted, rec.Counts, rec.Failures)
	}
	if len(b.seen) != 1 {
		t.Fatalf("%d Puts saw the cancellation, want 1", len(b.seen))
	}
	s := b.seen[0]
	if !errors.Is(s.readErr, context.Canceled) {
		t.Errorf("the source read failed with %v, want the cancellation", s.readErr)
	}
}

// revealingBucket holds one upload of a dead run at hidden that no sweep
// finds until a Put of hidden has begun, as versitygw's posix backend does
// with an upload whose creation was killed halfway (its key is named only
// by the next CreateMultipartUpload of that key).
type revealingBucket struct {
	bucket.Bucket
	hidden    string
	initiated time.Time
	mu        sync.Mutex
	revealed  bool
	aborted   bool
}

func (b *revealingBucket) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if key == b.hidden {
		b.mu.Lock()
		b.revealed = true
		b.mu.Unlock()
	}
	return b.Bucket.Put(ctx, key, r, opts)
}

func (b *revealingBucket) CleanStale(_ context.Context, prefix string, cutoff time.Time) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.revealed && !b.aborted && strings.HasPrefix(b.hidden, prefix) && b.initiated.Before(cutoff) {
		b.aborted = true
		return 1, nil
	}
	return 0, nil
}

// A dead run's upload that the store shows only once this run has written
// the same key is still swept: each entry is swept again when its own
// uploads are over.
func TestTakeoverSweepsAgainAfterTheEntry(t *testing.T) {
	ctx := context.Background()
	for _, single := range []bool{true, false} {
		fx := newFixture(t, 2, 2, 100, nil)
		hidden := fx.entries[0].KeyPrefix() + "/f0.dat"
		if single {
			fx.entries[0].Params["single"] = "true"
			fx.entries[0].Params["files"] = "f0.dat"
			hidden = fx.entries[0].KeyPrefix()
		}
		expired := time.Now().Add(-time.Minute).UTC()
		b := &revealingBucket{Bucket: mem.New(), hidden: hidden, initiated: expired.Add(-time.Minute)}
		dead := Lease{Holder: "host/pid-9/dead", RunID: "dead", Acquired: expired.Add(-time.Hour), Expires: expired}
		if err := writeJSON(ctx, b, BucketLeaseKey, dead); err != nil {
			t.Fatal(err)
		}
		rec := mustRun(t, ctx, fx.cfg(b, ModeBackfill))
		if !b.revealed || rec.Counts.Done != 2 {
			t.Fatalf("single %v: the run did not write %s (counts %+v)", single, hidden, rec.Counts)
		}
		if !b.aborted {
			t.Errorf("single %v: the dead run's upload of %s, shown once this run wrote the key, is left", single, hidden)
		}
	}
}
