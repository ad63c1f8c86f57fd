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

// BucketLeaseKey is the bucket's write lease. Every run takes it before it
// writes anything, so runs whose entries may overlap (a nightly `run` and a
// `backfill --domain climate`, or runs with different shard counts, which
// split the entries differently) never write at once.
//
// An unsharded run holds it alone. The shards of one sharded job (the
// pods of a Kubernetes Indexed Job) hold it together: the first to start
// creates it naming the job (JobID), the others find their job in it and
// join, and each shard also takes its own shard lease (ShardLeaseKey), so
// that two pods of the same index are refused while different indexes,
// which own disjoint entries, run in parallel. Anything else is refused
// while the bucket lease is live.
//
// Every holder renews the bucket lease, and its shard lease, every TTL/3.
// A shard that finishes deletes its shard lease, and the bucket lease too
// once no live shard lease of its job remains. A lease past its expiry
// belongs to a dead run (every live holder renews it) and is taken over;
// what its holder staged before it expired is then stale (see runLease).
//
// The bucket offers conditional create but no conditional update or
// delete, so two moves can still race: a shard joining at the instant the
// job's last other shard releases the bucket lease (the joiner re-checks
// the lease after taking its shard lease, which narrows this to the gap
// between a read and a delete), and two runs taking over the same expired
// lease at once. In both cases the loser notices at its next renewal.
const BucketLeaseKey = LeasePrefix + "bucket.json"

// ShardLeaseKey is the lease of shard index of the sharded job.
func ShardLeaseKey(job string, index int) string {
	return fmt.Sprintf("%s%s/shard-%d.json", LeasePrefix, job, index)
}

// JobID names a sharded job. Runs agreeing on it are shards of one job:
// same mode, selection and shard count (so the shards partition the same
// entries), and the same job token (Config.Job), which keeps a second job
// of the same selection from joining a running one.
func JobID(mode Mode, sel Selection, shards int, token string) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s", mode, sel.String(), shards, token)
	return fmt.Sprintf("job-%016x", h.Sum64())
}

// Lease is the content of a lease object.
type Lease struct {
	Holder    string `json:"holder"`
	RunID     string `json:"run_id"`
	Mode      Mode   `json:"mode,omitempty"`
	Selection string `json:"selection,omitempty"`
	// Job is set when the holder is a shard of a sharded job: the other
	// shards of that job (and only they) may join the bucket lease.
	Job      string    `json:"job,omitempty"`
	Shards   int       `json:"shards,omitempty"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// LeaseHeldError is returned when a live lease belongs to another run.
type LeaseHeldError struct {
	Key     string
	Holder  string
	Expires time.Time
	// What the holder runs, when its lease says.
	Mode      Mode
	Selection string
	Shards    int
}

func (e *LeaseHeldError) Error() string {
	what := ""
	if e.Mode != "" {
		what = fmt.Sprintf(" (%s of %s", e.Mode, e.Selection)
		if e.Shards > 1 {
			what += fmt.Sprintf(" in %d shards", e.Shards)
		}
		what += ")"
	}
	return fmt.Sprintf("another run holds the lease %s: holder %s%s, expires %s (wait, or delete the lease object if that run is gone)",
		e.Key, e.Holder, what, e.Expires.UTC().Format(time.RFC3339))
}

func heldError(key string, l Lease) *LeaseHeldError {
	return &LeaseHeldError{Key: key, Holder: l.Holder, Expires: l.Expires, Mode: l.Mode, Selection: l.Selection, Shards: l.Shards}
}

// leaseHandle is one held lease object.
type leaseHandle struct {
	b   bucket.Bucket
	key string
	// lease is what this run wrote, or would write: for a bucket lease
	// joined from another shard, the object names that shard as holder.
	lease Lease
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger
	// joined: the lease was live, held by another shard of our job.
	joined bool
	mu     sync.Mutex
	lost   bool
	// takenOver is the expired lease this run found here and removed (or
	// saw removed), nil when the key was free or held by our job. Its
	// holder is gone, so what it staged before its expiry is stale now.
	takenOver *Lease
}

// shared reports whether the lease is held by a job's shards together, so
// that it is matched by job rather than by holder.
func (h *leaseHandle) shared() bool { return h.lease.Job != "" && h.key == BucketLeaseKey }

func (h *leaseHandle) ours(cur Lease) bool {
	if h.shared() {
		return cur.Job == h.lease.Job
	}
	return cur.Holder == h.lease.Holder && cur.RunID == h.lease.RunID
}

// acquireLease takes the lease at key. An expired lease is taken over by
// delete-then-create; of several runs racing for it, CreateIfAbsent lets
// exactly one create. With join, a live lease of the same job is joined
// instead of refused.
func acquireLease(ctx context.Context, b bucket.Bucket, key string, l Lease, join bool, ttl time.Duration, now func() time.Time, log *slog.Logger) (*leaseHandle, error) {
	l.Acquired = now().UTC()
	l.Expires = l.Acquired.Add(ttl)
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	opts := bucket.PutOptions{ContentType: "application/json", SizeHint: int64(len(data))}
	h := &leaseHandle{b: b, key: key, lease: l, ttl: ttl, now: now, log: log}
	var cur Lease
	for attempt := 0; attempt < 3; attempt++ {
		err = bucket.CreateIfAbsent(ctx, b, key, data, opts)
		if err == nil {
			return h, nil
		}
		if !errors.Is(err, bucket.ErrExists) {
			return nil, &bucketError{fmt.Errorf("create lease %s: %w", key, err)}
		}
		cur = Lease{}
		ok, rerr := readJSON(ctx, b, key, &cur)
		if rerr != nil {
			return nil, rerr
		}
		if !ok {
			continue // released between our create and read
		}
		if cur.Expires.After(now()) {
			if join && l.Job != "" && cur.Job == l.Job {
				h.joined = true
				return h, nil
			}
			return nil, heldError(key, cur)
		}
		log.Warn("taking over expired lease", "lease", key, "holder", cur.Holder, "expired", cur.Expires.UTC().Format(time.RFC3339))
		expired := cur
		h.takenOver = &expired
		if err := b.Delete(ctx, key); err != nil {
			return nil, &bucketError{fmt.Errorf("delete expired lease %s: %w", key, err)}
		}
	}
	return nil, heldError(key, cur)
}

// renew pushes the lease's expiry a TTL ahead. A shared bucket lease keeps
// the holder that created it, and is created again if it has vanished (the
// job's last other shard released it while this one was joining). If
// another run's lease has appeared (ours expired while we were stalled and
// was taken over), the loss is reported; the run continues, as its object
// commits are atomic.
func (h *leaseHandle) renew(ctx context.Context) error {
	var cur Lease
	ok, err := readJSON(ctx, h.b, h.key, &cur)
	if err != nil {
		return err
	}
	if !ok && h.shared() {
		l := h.lease
		l.Expires = h.now().UTC().Add(h.ttl)
		data, err := json.MarshalIndent(l, "", "  ")
		if err != nil {
			return err
		}
		err = bucket.CreateIfAbsent(ctx, h.b, h.key, data, bucket.PutOptions{ContentType: "application/json", SizeHint: int64(len(data))})
		if !errors.Is(err, bucket.ErrExists) {
			return err
		}
		// Created meanwhile, by a sibling or by another run.
		if ok, err = readJSON(ctx, h.b, h.key, &cur); err != nil {
			return err
		}
	}
	if !ok || !h.ours(cur) {
		h.mu.Lock()
		h.lost = true
		h.mu.Unlock()
		return fmt.Errorf("lease %s lost to %q", h.key, cur.Holder)
	}
	cur.Expires = h.now().UTC().Add(h.ttl)
	return writeJSON(ctx, h.b, h.key, cur)
}

// release deletes the lease if it is still ours. A shared bucket lease is
// deleted only once no live shard lease of the job remains; expired ones
// belong to dead shards and stay, so that the shard's next pod finds and
// sweeps what its predecessor left.
func (h *leaseHandle) release(ctx context.Context) error {
	if h.shared() {
		prefix := LeasePrefix + h.lease.Job + "/"
		for info, err := range h.b.List(ctx, prefix) {
			if err != nil {
				return &bucketError{fmt.Errorf("list %s: %w", prefix, err)}
			}
			var sl Lease
			ok, err := readJSON(ctx, h.b, info.Key, &sl)
			if err != nil {
				return err
			}
			if ok && sl.Expires.After(h.now()) {
				return nil // a sibling still runs and keeps the bucket lease
			}
		}
	}
	var cur Lease
	ok, err := readJSON(ctx, h.b, h.key, &cur)
	if err != nil {
		return err
	}
	if !ok || !h.ours(cur) {
		return nil
	}
	if err := h.b.Delete(ctx, h.key); err != nil {
		return &bucketError{fmt.Errorf("release lease %s: %w", h.key, err)}
	}
	return nil
}

// runLease is the write lease of one run: the bucket lease and, for a shard
// of a sharded job, its shard lease. Both are renewed until release.
type runLease struct {
	bucket *leaseHandle
	shard  *leaseHandle // nil when unsharded
	stop   chan struct{}
	done   sync.WaitGroup
	log    *slog.Logger
}

// acquireRunLease takes the run's leases: the bucket lease (joined when a
// shard of the same job holds it), then the shard lease of a sharded run.
func acquireRunLease(ctx context.Context, cfg *Config, log *slog.Logger) (*runLease, error) {
	b, ttl, now := cfg.Bucket, cfg.Lease.TTL, cfg.Now
	l := Lease{Holder: cfg.leaseHolder(), RunID: cfg.RunID, Mode: cfg.Mode, Selection: cfg.Selection.String()}
	sh := cfg.Shard
	sharded := sh.Count > 1
	if sharded {
		l.Job, l.Shards = JobID(cfg.Mode, cfg.Selection, sh.Count, cfg.Job), sh.Count
	}
	bh, err := acquireLease(ctx, b, BucketLeaseKey, l, sharded, ttl, now, log)
	if err != nil {
		return nil, err
	}
	rl := &runLease{bucket: bh, stop: make(chan struct{}), log: log}
	if !sharded {
		return rl, nil
	}
	rl.shard, err = acquireLease(ctx, b, ShardLeaseKey(l.Job, sh.Index), l, false, ttl, now, log)
	if err != nil {
		if rerr := bh.release(context.WithoutCancel(ctx)); rerr != nil {
			log.Warn("releasing lease failed; it expires on its own", "lease", bh.key, "err", rerr)
		}
		return nil, err
	}
	if !bh.joined {
		return rl, nil
	}
	// The job's last other shard may have released the bucket lease after
	// we joined it: renewing creates it again for our job, or finds that
	// another run took it in between.
	if err := bh.renew(ctx); err != nil {
		if rerr := rl.shard.release(context.WithoutCancel(ctx)); rerr != nil {
			log.Warn("releasing lease failed; it expires on its own", "lease", rl.shard.key, "err", rerr)
		}
		var cur Lease
		if ok, _ := readJSON(ctx, b, BucketLeaseKey, &cur); ok && cur.Job != l.Job {
			return nil, heldError(BucketLeaseKey, cur)
		}
		return nil, fmt.Errorf("confirm lease %s: %w", BucketLeaseKey, err)
	}
	return rl, nil
}

// staleBefore is the latest expiry of the dead holders this run replaced,
// zero when it replaced none. Uploads under this run's own entries begun
// before it are those holders' leftovers: while a lease was live only its
// holder wrote there, and this run's entries are its own alone (other
// shards of its job own other entries).
func (rl *runLease) staleBefore() time.Time {
	var t time.Time
	for _, h := range []*leaseHandle{rl.bucket, rl.shard} {
		if h != nil && h.takenOver != nil && h.takenOver.Expires.After(t) {
			t = h.takenOver.Expires
		}
	}
	return t
}

func (rl *runLease) handles() []*leaseHandle {
	if rl.shard == nil {
		return []*leaseHandle{rl.bucket}
	}
	return []*leaseHandle{rl.shard, rl.bucket}
}

// renewEvery renews the leases every TTL/3 until release. Each failed
// renewal is handed to onFail, the seam where the run decides what a lost
// lease means for it; renewal goes on either way.
func (rl *runLease) renewEvery(ctx context.Context, onFail func(lease string, err error)) {
	rl.done.Add(1)
	go func() {
		defer rl.done.Done()
		t := time.NewTicker(max(rl.bucket.ttl/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-rl.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, h := range rl.handles() {
				if err := h.renew(ctx); err != nil {
					onFail(h.key, err)
				}
			}
		}
	}()
}

// release stops renewal and gives the leases up, the shard lease first so
// that the bucket lease sees this shard gone. It uses a context that
// survives the run's cancellation, so an interrupted run does not leave its
// lease for the next one to wait out.
func (rl *runLease) release(ctx context.Context) error {
	close(rl.stop)
	rl.done.Wait()
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, h := range rl.handles() {
		errs = append(errs, h.release(ctx))
	}
	return errors.Join(errs...)
}
