package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/astroingest/astroingest/bucket"
)

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
// It returns a *LeaseHeldError when another live run holds either.
func acquireRunLease(ctx context.Context, cfg *Config, log *slog.Logger) (*runLease, error) {
	env := leaseEnv{b: cfg.Bucket, ttl: cfg.Lease.TTL, now: cfg.Now, log: log, breakHolder: cfg.BreakLease}
	l := Lease{Holder: cfg.leaseHolder(), RunID: cfg.RunID, Mode: cfg.Mode, Selection: cfg.Selection.String(), Workload: cfg.Workload}
	sh := cfg.Shard
	sharded := sh.Count > 1
	if sharded {
		l.Job, l.Shards = JobID(cfg.Mode, cfg.Selection, sh.Count, cfg.Job), sh.Count
	}
	bh, err := acquireLease(ctx, env, BucketLeaseKey, l, sharded)
	if err != nil {
		return nil, err
	}
	rl := &runLease{bucket: bh, stop: make(chan struct{}), log: log}
	rl.dropDeadJob(ctx)
	if !sharded {
		return rl, nil
	}
	giveUp := func(h *leaseHandle) {
		if rerr := h.release(context.WithoutCancel(ctx)); rerr != nil {
			log.Warn("releasing lease failed; it expires on its own", "lease", h.key, "err", rerr)
		}
	}
	rl.shard, err = acquireLease(ctx, env, ShardLeaseKey(l.Job, sh.Index), l, false)
	if err != nil {
		giveUp(bh)
		return nil, err
	}
	if !bh.joined {
		return rl, nil
	}
	// The job's last other shard may have released the bucket lease after
	// we joined it: renewing takes it again for our job, or finds that
	// another run took it in between.
	if err := bh.renew(ctx); err != nil {
		giveUp(rl.shard)
		if cur, ok, _ := readLease(ctx, cfg.Bucket, BucketLeaseKey); ok && cur.Job != l.Job {
			return nil, heldError(BucketLeaseKey, cur.Lease)
		}
		return nil, fmt.Errorf("confirm lease %s: %w", BucketLeaseKey, err)
	}
	return rl, nil
}

// dropDeadJob deletes the shard leases of the sharded job whose bucket
// lease this run took over: that job is gone (a live shard keeps its
// bucket lease renewed), and nothing else would ever remove them. A
// failure is only logged; they are inert.
func (rl *runLease) dropDeadJob(ctx context.Context) {
	gone := rl.bucket.takenOver
	if gone == nil || gone.Job == "" || gone.Job == rl.bucket.lease.Job {
		return
	}
	prefix := LeasePrefix + gone.Job + "/"
	for info, err := range rl.bucket.env.b.List(ctx, prefix) {
		if err == nil {
			err = rl.bucket.env.b.Delete(ctx, info.Key)
		}
		if err != nil {
			rl.log.Warn("removing a dead job's shard leases failed", "prefix", prefix, "err", err)
			return
		}
	}
}

// staleBefore is the latest time up to which the gone holders this run
// replaced (or, for a joined bucket lease, those its job replaced) left
// unfinished uploads, zero when it replaced none. Uploads under this run's
// own entries begun before it are those holders' leftovers: while a lease
// was live only its holder wrote there, and this run's entries are its own
// alone (other shards of its job own other entries).
func (rl *runLease) staleBefore() time.Time {
	var t time.Time
	for _, h := range rl.handles() {
		if h.staleBefore.After(t) {
			t = h.staleBefore
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
// renewal is handed to onFail, the seam where the run decides what it
// means for it: a *LeaseLostError (errors.As) is the loss of the lease,
// reported once, after which that lease is no longer renewed; other
// errors are transient, and renewal goes on.
func (rl *runLease) renewEvery(ctx context.Context, onFail func(lease string, err error)) {
	rl.done.Add(1)
	go func() {
		defer rl.done.Done()
		t := time.NewTicker(renewInterval(rl.bucket.env.ttl))
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
				if h.lostErr() != nil {
					continue
				}
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

// leaseLost returns the loss of the run's lease when that is what ended
// ctx, the run's context, and nil when ctx is live or was interrupted.
// The run cancels its context when it loses its lease (see Run), so the
// code that stops starting work on ctx.Err() needs no change; what must
// tell a loss from an interruption (the bookkeeping at the end, which an
// interrupted run still writes and a run that lost its lease must not)
// asks this.
func leaseLost(ctx context.Context) *LeaseLostError {
	if ctx.Err() == nil {
		return nil
	}
	return lostError(context.Cause(ctx))
}

// fenced is the run's bucket while it holds its lease: once the lease is
// lost (lost returns non-nil), every write fails with the entry error
// lease_lost, so that the run writes nothing more whatever its code does
// next. It is the one guard under every writer of the run (objects,
// manifests, catalog, run record, sweeps); reads pass. It belongs to one
// run, which is why Run adds it rather than bucket.Stack. Unwrap returns
// the bucket it guards.
type fenced struct {
	bucket.Bucket
	lost func() *LeaseLostError
}

// fence returns b guarded by lost, keeping b's StaleCleaner.
func fence(b bucket.Bucket, lost func() *LeaseLostError) bucket.Bucket {
	f := &fenced{Bucket: b, lost: lost}
	if sc, ok := b.(bucket.StaleCleaner); ok {
		return fencedCleaner{f, sc}
	}
	return f
}

func (f *fenced) Unwrap() bucket.Bucket { return f.Bucket }

func (f *fenced) check() error {
	if l := f.lost(); l != nil {
		return l.entryError()
	}
	return nil
}

func (f *fenced) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	p, err := f.Bucket.Put(ctx, key, r, opts)
	if err != nil {
		return nil, err
	}
	return fencedPending{p, f}, nil
}

func (f *fenced) Delete(ctx context.Context, key string) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Bucket.Delete(ctx, key)
}

// fencedCleaner is a fenced StaleCleaner: a run that lost its lease must
// not abort uploads that are now the new holder's.
type fencedCleaner struct {
	*fenced
	sc bucket.StaleCleaner
}

func (f fencedCleaner) CleanStale(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	return f.sc.CleanStale(ctx, prefix, cutoff)
}

// fencedPending refuses to commit once the lease is lost, and aborts what
// it staged instead, so that nothing is left behind whatever the caller
// does after the error.
type fencedPending struct {
	bucket.Pending
	f *fenced
}

func (p fencedPending) Commit(ctx context.Context) (bucket.ObjectInfo, error) {
	if err := p.f.check(); err != nil {
		if aerr := p.Pending.Abort(context.WithoutCancel(ctx)); aerr != nil {
			err = errors.Join(err, aerr)
		}
		return bucket.ObjectInfo{}, err
	}
	return p.Pending.Commit(ctx)
}
