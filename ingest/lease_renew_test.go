package ingest

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
)

func testEnv(b bucket.Bucket, ttl time.Duration) leaseEnv {
	return leaseEnv{b: b, ttl: ttl, now: time.Now, log: discardLog()}
}

// A held lease is renewed every TTL/3 and cannot be taken meanwhile; when
// another run's lease appears in its place, the next renewal reports the
// loss once, as a LeaseLostError naming the new holder, and release then
// leaves that lease alone.
func TestLeaseRenewal(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	key := LeasePrefix + "s.json"
	// Renewed every 200 ms: generous enough that a loaded machine still
	// renews before the 600 ms expiry.
	h, err := acquireLease(ctx, testEnv(b, 600*time.Millisecond), key, Lease{Holder: "me", RunID: "r"}, false)
	if err != nil {
		t.Fatal(err)
	}
	rl := &runLease{bucket: h, stop: make(chan struct{}), log: discardLog()}
	first, _, _ := readLease(ctx, b, key)
	failed := make(chan error, 10)
	rl.renewEvery(ctx, func(lease string, err error) { failed <- err })
	time.Sleep(300 * time.Millisecond)
	later, _, _ := readLease(ctx, b, key)
	if !later.Expires.After(first.Expires) {
		t.Fatalf("lease not renewed: %v then %v", first.Expires, later.Expires)
	}
	if _, err := acquireLease(ctx, testEnv(b, time.Minute), key, Lease{Holder: "you", RunID: "r2"}, false); err == nil {
		t.Fatal("renewed lease was taken")
	}
	if len(failed) != 0 {
		t.Fatalf("a renewal of a held lease was reported failed: %v", <-failed)
	}
	// Another run's lease in its place (ours expired while we stalled and
	// was taken over): the next renewal reports the loss.
	thief := Lease{Holder: "thief", RunID: "r3", Expires: time.Now().Add(time.Hour)}
	writeJSON(ctx, b, key, thief)
	select {
	case err := <-failed:
		if l := lostError(err); l == nil || l.Key != key || l.Holder != "thief" {
			t.Fatalf("renewal failed with %v, want a LeaseLostError for %s naming thief", err, key)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a lost lease was never reported")
	}
	time.Sleep(500 * time.Millisecond) // two more renewal ticks
	if len(failed) != 0 {
		t.Errorf("the loss was reported again: %v", <-failed)
	}
	if err := rl.release(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, ok, _ := readLease(ctx, b, key); !ok || cur.Holder != "thief" || cur.Released {
		t.Fatalf("release touched the lease it lost: %+v (present %v)", cur.Lease, ok)
	}
}

// A renewal racing a sibling's renewal of the shared bucket lease retries
// on the sibling's version instead of failing; a renewal racing a run that
// takes the lease over loses it.
func TestRenewalIsCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	job := "job-x"
	mine := Lease{Holder: "me", RunID: "r1", Job: job, Shards: 2}
	t.Run("a sibling renews too", func(t *testing.T) {
		inner := mem.New()
		h, err := acquireLease(ctx, testEnv(inner, time.Minute), BucketLeaseKey, mine, true)
		if err != nil {
			t.Fatal(err)
		}
		sib, err := acquireLease(ctx, testEnv(inner, time.Minute), BucketLeaseKey, Lease{Holder: "sib", RunID: "r2", Job: job, Shards: 2}, true)
		if err != nil || !sib.joined {
			t.Fatalf("sibling did not join: %v", err)
		}
		b := newBarrier(inner, BucketLeaseKey, 2)
		h.env.b, sib.env.b = b, b
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, x := range []*leaseHandle{h, sib} {
			wg.Go(func() { errs[i] = x.renew(ctx) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("concurrent renewals of a shared lease: %v, %v; want both to succeed", errs[0], errs[1])
		}
	})
	t.Run("a run takes it over", func(t *testing.T) {
		inner := mem.New()
		own := Lease{Holder: "me", RunID: "r1"}
		h, err := acquireLease(ctx, testEnv(inner, time.Minute), BucketLeaseKey, own, false)
		if err != nil {
			t.Fatal(err)
		}
		b := newBarrier(inner, BucketLeaseKey, 2)
		h.env.b = b
		var renewErr, takeErr error
		var wg sync.WaitGroup
		wg.Go(func() { renewErr = h.renew(ctx) })
		wg.Go(func() {
			env := testEnv(b, time.Minute)
			env.breakHolder = "me"
			_, takeErr = acquireLease(ctx, env, BucketLeaseKey, Lease{Holder: "breaker", RunID: "r9"}, false)
		})
		wg.Wait()
		cur, _, _ := readLease(ctx, inner, BucketLeaseKey)
		switch {
		case takeErr == nil && cur.Holder == "breaker":
			if lostError(renewErr) == nil {
				t.Fatalf("the lease was broken but the renewal said %v, want a LeaseLostError", renewErr)
			}
		case renewErr == nil && cur.Holder == "me":
			var lh *LeaseHeldError
			if !errors.As(takeErr, &lh) {
				t.Fatalf("the renewal won but the takeover said %v, want busy", takeErr)
			}
		default:
			t.Fatalf("renewal %v, takeover %v, lease held by %s: want exactly one winner", renewErr, takeErr, cur.Holder)
		}
	})
}

// A failed renewal is only transient while the lease cannot expire before
// the next one: then it is lost.
func TestRenewalFailsUntilExpiry(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &leaseFaults{Bucket: mem.New()}
	env := leaseEnv{b: b, ttl: 9 * time.Minute, now: func() time.Time { return now }, log: discardLog()}
	h, err := acquireLease(ctx, env, BucketLeaseKey, Lease{Holder: "me", RunID: "r"}, false)
	if err != nil {
		t.Fatal(err)
	}
	b.failing.Store(true)
	now = now.Add(3 * time.Minute) // expires in 6 min, next renewal in 3
	if err := h.renew(ctx); err == nil || lostError(err) != nil || !errors.Is(err, errLeaseWrite) {
		t.Fatalf("first failed renewal: %v, want the transient error", err)
	}
	now = now.Add(3 * time.Minute) // expires in 3 min, the next renewal would be too late
	err = h.renew(ctx)
	if l := lostError(err); l == nil || !errors.Is(err, errLeaseWrite) {
		t.Fatalf("second failed renewal: %v, want a LeaseLostError wrapping the cause", err)
	}
	b.failing.Store(false)
	if err := h.renew(ctx); lostError(err) == nil {
		t.Fatalf("renewal after the loss: %v, want it to stay lost", err)
	}
}

// ackLost commits a conditional write and then answers ErrPrecondition,
// as when an answer is lost and the backend's retry fails the condition
// against its own first attempt.
type ackLost struct{ bucket.Bucket }

func (a ackLost) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	p, err := a.Bucket.Put(ctx, key, r, opts)
	if err != nil {
		return nil, err
	}
	return ackLostPending{p}, nil
}

type ackLostPending struct{ bucket.Pending }

func (p ackLostPending) Commit(ctx context.Context) (bucket.ObjectInfo, error) {
	if _, err := p.Pending.Commit(ctx); err != nil {
		return bucket.ObjectInfo{}, err
	}
	return bucket.ObjectInfo{}, bucket.ErrPrecondition
}

// A lease write whose answer was lost is recognised by its bytes: the
// acquisition and the renewal succeed instead of reporting the lease as
// someone else's.
func TestLeaseWriteWithLostAnswer(t *testing.T) {
	ctx := context.Background()
	b := ackLost{mem.New()}
	h, err := acquireLease(ctx, testEnv(b, time.Minute), BucketLeaseKey, Lease{Holder: "me", RunID: "r"}, false)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if err := h.renew(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
}
