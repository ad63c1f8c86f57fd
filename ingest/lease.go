package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/astroingest/astroingest/bucket"
)

// Lease is annotations/leases/<scope>.json. It stops two runs of the same
// selection and shard from working on the same entries at once.
//
// The scope is the shard plus a hash of the selection, so only runs with the
// same selection and shard collide: a `run` of everything and a `backfill
// --domain climate` started together are not stopped by the lease and may
// fetch the same entries (each object is still committed atomically, so
// the worst outcome is duplicated work and a last-writer-wins manifest).
type Lease struct {
	Holder   string    `json:"holder"`
	RunID    string    `json:"run_id"`
	Scope    string    `json:"scope"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// LeaseHeldError is returned when a live lease belongs to another run.
type LeaseHeldError struct {
	Key     string
	Holder  string
	Expires time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("another run holds the lease %s: holder %s, expires %s (wait, or delete the lease object if that run is gone)",
		e.Key, e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

// LeaseScope names the lease of a selection and shard.
func LeaseScope(sel Selection, sh Shard) string {
	h := fnv.New64a()
	h.Write([]byte(sel.String()))
	c := max(sh.Count, 1)
	return fmt.Sprintf("shard-%d-of-%d-%016x", sh.Index, c, h.Sum64())
}

// leaseHandle is a held lease, renewed in the background until released.
type leaseHandle struct {
	b     bucket.Bucket
	key   string
	lease Lease
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger
	stop  chan struct{}
	done  sync.WaitGroup
	mu    sync.Mutex
	lost  bool
	// takenOver is the expired lease this handle replaced, nil when the
	// scope was free. Its holder is gone, so what it staged is stale now.
	takenOver *Lease
}

// acquireLease takes the scope's lease. An expired lease is taken over by
// delete-then-create; two runs racing for the same expired lease both
// delete, and CreateIfAbsent lets exactly one of them create.
func acquireLease(ctx context.Context, b bucket.Bucket, l Lease, ttl time.Duration, now func() time.Time, log *slog.Logger) (*leaseHandle, error) {
	key := LeasePrefix + l.Scope + ".json"
	l.Acquired = now().UTC()
	l.Expires = l.Acquired.Add(ttl)
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	opts := bucket.PutOptions{ContentType: "application/json", SizeHint: int64(len(data))}
	var expired *Lease
	for attempt := 0; attempt < 2; attempt++ {
		err = b.CreateIfAbsent(ctx, key, data, opts)
		if err == nil {
			h := &leaseHandle{b: b, key: key, lease: l, ttl: ttl, now: now, log: log, stop: make(chan struct{}), takenOver: expired}
			return h, nil
		}
		if !errors.Is(err, bucket.ErrExists) {
			return nil, &bucketError{fmt.Errorf("create lease %s: %w", key, err)}
		}
		var cur Lease
		ok, rerr := readJSON(ctx, b, key, &cur)
		if rerr != nil {
			return nil, rerr
		}
		if !ok {
			continue // released between our create and read
		}
		if cur.Expires.After(now()) {
			return nil, &LeaseHeldError{Key: key, Holder: cur.Holder, Expires: cur.Expires}
		}
		log.Warn("taking over expired lease", "lease", key, "holder", cur.Holder, "expired", cur.Expires.UTC().Format(time.RFC3339))
		expired = &cur
		if err := b.Delete(ctx, key); err != nil {
			return nil, &bucketError{fmt.Errorf("delete expired lease %s: %w", key, err)}
		}
	}
	var cur Lease
	_, _ = readJSON(ctx, b, key, &cur)
	return nil, &LeaseHeldError{Key: key, Holder: cur.Holder, Expires: cur.Expires}
}

// renewEvery rewrites the lease with a later expiry every ttl/3 until
// release, so a long run keeps it. If another holder has appeared (our lease
// expired while we were stalled and was taken over), renewing stops and
// the loss is logged; the run continues, as its object commits are atomic.
func (h *leaseHandle) renewEvery(ctx context.Context) {
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(max(h.ttl/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := h.renew(ctx); err != nil {
				h.log.Warn("lease renewal failed", "lease", h.key, "err", err)
			}
		}
	}()
}

func (h *leaseHandle) renew(ctx context.Context) error {
	var cur Lease
	ok, err := readJSON(ctx, h.b, h.key, &cur)
	if err != nil {
		return err
	}
	if !ok || cur.Holder != h.lease.Holder || cur.RunID != h.lease.RunID {
		h.mu.Lock()
		h.lost = true
		h.mu.Unlock()
		return fmt.Errorf("lease %s lost to %q", h.key, cur.Holder)
	}
	l := h.lease
	l.Expires = h.now().UTC().Add(h.ttl)
	if err := writeJSON(ctx, h.b, h.key, l); err != nil {
		return err
	}
	h.mu.Lock()
	h.lease = l
	h.mu.Unlock()
	return nil
}

// release stops renewal and deletes the lease if it is still ours. It uses a
// context that survives the run's cancellation, so an interrupted run does
// not leave its lease for the next one to wait out.
func (h *leaseHandle) release(ctx context.Context) error {
	close(h.stop)
	h.done.Wait()
	ctx = context.WithoutCancel(ctx)
	var cur Lease
	ok, err := readJSON(ctx, h.b, h.key, &cur)
	if err != nil {
		return err
	}
	if !ok || cur.Holder != h.lease.Holder || cur.RunID != h.lease.RunID {
		return nil
	}
	if err := h.b.Delete(ctx, h.key); err != nil {
		return &bucketError{fmt.Errorf("release lease %s: %w", h.key, err)}
	}
	return nil
}
