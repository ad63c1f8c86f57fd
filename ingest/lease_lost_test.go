package ingest

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/internal/proctest"
	"github.com/astroingest/astroingest/sources"
)

// leaseFaults fails every write of a lease object while failing is set,
// as a bucket outage or a revoked token would.
type leaseFaults struct {
	bucket.Bucket
	failing atomic.Bool
}

var errLeaseWrite = errors.New("injected: lease write refused")

func (f *leaseFaults) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if f.failing.Load() && strings.HasPrefix(key, LeasePrefix) {
		return nil, errLeaseWrite
	}
	return f.Bucket.Put(ctx, key, r, opts)
}

func (f *leaseFaults) Staged() int { return f.Bucket.(*mem.Bucket).Staged() }

// A run that loses its lease mid-run (another run takes it, or it cannot
// be renewed before it expires) stops: it starts no more work, aborts its
// in-flight uploads, writes nothing more (no manifest, no catalog, no run
// record) and returns its record, whose cut entries failed with reason
// lease_lost, with a LeaseLostError; the entry that finished before the
// loss keeps what it wrote.
func TestLostLeaseStopsTheRun(t *testing.T) {
	tests := []struct {
		name  string
		fault func(ctx context.Context, b *leaseFaults)
		// thief is who must hold the lease afterwards, "" when nobody
		// took it.
		thief string
	}{
		{"another run takes the lease", func(ctx context.Context, b *leaseFaults) {
			writeJSON(ctx, b.Bucket, BucketLeaseKey, Lease{Holder: "thief/pid-9/t", RunID: "t", Expires: time.Now().Add(time.Hour)})
		}, "thief/pid-9/t"},
		{"renewals fail until the lease would expire", func(_ context.Context, b *leaseFaults) { b.failing.Store(true) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			// Entry 0 finishes; entries 1 to 3 commit f0 and are held in
			// f1, so that without the fence their manifests (of one
			// committed object each) would be written after the loss.
			fx := newFixture(t, 4, 2, 100, nil)
			gate := make(chan struct{})
			t.Cleanup(func() { close(gate) })
			var committed []string
			for _, e := range fx.entries[1:] {
				fx.srv.Fault("/"+e.ID+"/f1.dat", emulator.Fault{Kind: emulator.Hold, Until: gate})
				committed = append(committed, e.KeyPrefix()+"/f0.dat")
			}
			b := &leaseFaults{Bucket: mem.New()}
			c := fx.cfg(b, ModeBackfill)
			c.Lease.TTL = 150 * time.Millisecond
			type result struct {
				rec *RunRecord
				err error
			}
			done := make(chan result, 1)
			go func() {
				rec, err := Run(ctx, c)
				done <- result{rec, err}
			}()
			proctest.WaitFor(t, 5*time.Second, "three held downloads after their entries' first objects, and one finished entry", func() bool {
				return fx.srv.Inflight() == 3 && allExist(b, append(committed, ManifestKey(fx.entries[0].ID)))
			})
			before := snapshot(t, b)
			delete(before, BucketLeaseKey)
			tt.fault(ctx, b)

			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the run went on after losing its lease")
			}
			checkLostRun(t, r.rec, r.err, tt.thief)
			after := snapshot(t, b)
			delete(after, BucketLeaseKey)
			if !maps.Equal(after, before) {
				t.Errorf("the run wrote after losing its lease:\nbefore %v\nafter  %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
			}
			for _, k := range []string{CatalogKey} {
				if exists(b, k) {
					t.Errorf("%s was written after the loss", k)
				}
			}
			if n := b.Staged(); n != 0 {
				t.Errorf("%d uploads left staged", n)
			}
			cur, ok, _ := readLease(ctx, b, BucketLeaseKey)
			if tt.thief != "" && (!ok || cur.Holder != tt.thief || cur.Released) {
				t.Errorf("the lost lease is now %+v (present %v), want the thief's, untouched", cur.Lease, ok)
			}
		})
	}
}

// checkLostRun checks what Run returned after losing its lease to thief
// ("" for nobody): the LeaseLostError, and a record that was not written
// whose cut entries failed with reason lease_lost.
func checkLostRun(t *testing.T, rec *RunRecord, err error, thief string) {
	t.Helper()
	lost := lostError(err)
	if lost == nil || lost.Key != BucketLeaseKey || lost.Holder != thief {
		t.Fatalf("Run: %v, want a LeaseLostError for %s naming %q", err, BucketLeaseKey, thief)
	}
	if rec == nil || rec.Interrupted || rec.RecordKey != "" || rec.Counts.Done != 1 || rec.Counts.Failed != 3 || rec.Counts.Unfinished != 0 {
		t.Fatalf("record %+v, want 1 done, 3 failed, not interrupted, not written", rec)
	}
	for _, f := range rec.Failures {
		if f.Reason != sources.ReasonLeaseLost {
			t.Errorf("failure %+v, want reason %s", f, sources.ReasonLeaseLost)
		}
	}
}

func allExist(b bucket.Reader, keys []string) bool {
	for _, k := range keys {
		if !exists(b, k) {
			return false
		}
	}
	return true
}

func exists(b bucket.Reader, key string) bool {
	_, err := b.Stat(context.Background(), key)
	return err == nil
}

// The fence refuses every write of a run that lost its lease, and a
// commit it refuses leaves nothing staged; reads pass, and the backend
// stays reachable for tests.
func TestFence(t *testing.T) {
	ctx := context.Background()
	inner := &staleRecorder{Bucket: mem.New()}
	var lost *LeaseLostError
	b := fence(inner, func() *LeaseLostError { return lost })
	if _, ok := b.(bucket.StaleCleaner); !ok {
		t.Fatal("the fence hides the backend's StaleCleaner")
	}
	if got, ok := bucket.As[*staleRecorder](b); !ok || got != inner {
		t.Fatal("bucket.As does not see through the fence")
	}
	if err := writeJSON(ctx, b, "a/before", 1); err != nil {
		t.Fatal(err)
	}
	staged, err := b.Put(ctx, "a/staged", strings.NewReader("x"), bucket.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lost = &LeaseLostError{Key: BucketLeaseKey, Holder: "thief"}
	isLost := func(what string, err error) {
		t.Helper()
		if classify(err) != sources.ReasonLeaseLost || lostError(err) == nil {
			t.Errorf("%s after the loss: %v, want a lease_lost error", what, err)
		}
	}
	_, err = staged.Commit(ctx)
	isLost("Commit", err)
	if n := inner.Bucket.(*mem.Bucket).Staged(); n != 0 {
		t.Errorf("a refused commit left %d staged", n)
	}
	_, err = b.Put(ctx, "a/after", strings.NewReader("x"), bucket.PutOptions{})
	isLost("Put", err)
	isLost("Delete", b.Delete(ctx, "a/before"))
	_, err = b.(bucket.StaleCleaner).CleanStale(ctx, "a/", time.Now())
	isLost("CleanStale", err)
	if len(inner.take()) != 0 {
		t.Error("a sweep went through after the loss")
	}
	if _, err := b.Stat(ctx, "a/before"); err != nil {
		t.Errorf("a read after the loss: %v", err)
	}
	if exists(inner, "a/staged") || exists(inner, "a/after") {
		t.Error("an object was written after the loss")
	}
}

// leaseLost tells the loss of the lease from an interruption.
func TestLeaseLostTellsLossFromInterrupt(t *testing.T) {
	lost := &LeaseLostError{Key: BucketLeaseKey}
	live, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	if leaseLost(live) != nil {
		t.Error("a live context reads as lost")
	}
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	if leaseLost(interrupted) != nil {
		t.Error("an interrupted context reads as lost")
	}
	cut, stopCut := context.WithCancelCause(context.Background())
	stopCut(lost)
	if leaseLost(cut) != lost {
		t.Error("a context ended by the loss does not read as lost")
	}
	child, cancelChild := context.WithTimeout(cut, time.Hour)
	defer cancelChild()
	if leaseLost(child) != lost {
		t.Error("a context derived from the run's does not read as lost")
	}
}
