package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/astroingest/astroingest/bucket"
)

// leaseVersion is one version of a lease object: its content, its ETag
// and its bytes.
type leaseVersion struct {
	Lease
	etag string
	raw  []byte
}

// readLease reads the lease at key; ok is false when there is none. The
// ETag is read before the content: a write in between makes the ETag older
// than the content, so that a compare-and-swap on it fails rather than
// replacing a version that was never read.
func readLease(ctx context.Context, b bucket.Reader, key string) (v leaseVersion, ok bool, err error) {
	info, err := b.Stat(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return v, false, nil
	}
	if err != nil {
		return v, false, &bucketError{fmt.Errorf("read lease %s: %w", key, err)}
	}
	if info.ETag == "" {
		return v, false, &bucketError{fmt.Errorf("read lease %s: the bucket gives it no ETag, so it cannot be replaced conditionally", key)}
	}
	rc, err := b.Open(ctx, key, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return v, false, nil // deleted since the Stat
	}
	if err != nil {
		return v, false, &bucketError{fmt.Errorf("read lease %s: %w", key, err)}
	}
	defer rc.Close()
	// A lease is a few hundred bytes; a megabyte is not one.
	v.raw, err = io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return v, false, &bucketError{fmt.Errorf("read lease %s: %w", key, err)}
	}
	if err := json.Unmarshal(v.raw, &v.Lease); err != nil {
		return v, false, fmt.Errorf("lease %s is not a lease (%w): remove it if no run is writing", key, err)
	}
	v.etag = info.ETag
	return v, true, nil
}

// putLease writes l at key if the key still holds the version etag, or
// none when etag is "". It returns the new ETag, or an error matching
// bucket.ErrPrecondition when another write came first. A write whose
// answer was lost, and whose retry by the bucket backend then failed the
// condition against the write itself, is recognised by its bytes and
// counts as done.
func putLease(ctx context.Context, b bucket.Bucket, key string, l Lease, etag string) (string, error) {
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return "", err
	}
	opts := bucket.PutOptions{ContentType: "application/json", SizeHint: int64(len(data)), IfMatch: etag, IfNoneMatch: etag == ""}
	p, err := b.Put(ctx, key, bytes.NewReader(data), opts)
	if err != nil {
		return "", &bucketError{fmt.Errorf("write lease %s: %w", key, err)}
	}
	info, err := p.Commit(ctx)
	if err == nil {
		return info.ETag, nil
	}
	_ = p.Abort(context.WithoutCancel(ctx))
	if !errors.Is(err, bucket.ErrPrecondition) {
		return "", &bucketError{fmt.Errorf("write lease %s: %w", key, err)}
	}
	if cur, ok, rerr := readLease(ctx, b, key); rerr == nil && ok && bytes.Equal(cur.raw, data) {
		return cur.etag, nil
	}
	return "", fmt.Errorf("write lease %s: %w", key, err)
}

// leaseEnv is what every lease handle of a run shares.
type leaseEnv struct {
	b   bucket.Bucket
	ttl time.Duration
	now func() time.Time
	log *slog.Logger
	// breakHolder is Config.BreakLease: the holder whose live lease this
	// run may take over.
	breakHolder string
}

// leaseHandle is one held lease object.
type leaseHandle struct {
	env leaseEnv
	key string
	// lease is what this run writes when it writes its own lease. (A
	// joined bucket lease keeps naming the shard that created it.)
	lease Lease
	// joined: the lease was live, held by another shard of our job.
	joined bool
	// takenOver is the lease of the gone holder this run replaced, nil
	// when the key was free or held by our job; staleBefore is the time up
	// to which that holder's (or, for a joined lease, the job's
	// predecessor's) unfinished uploads are stale.
	takenOver   *Lease
	staleBefore time.Time

	mu sync.Mutex
	// expires is the expiry this run last wrote: the lease is surely its
	// own until then.
	expires time.Time
	lost    *LeaseLostError
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

// acquireLease takes the lease at key for want (a missing one by creating
// it, a released one or one whose holder is gone by replacing it, with
// join one of want's own job by joining it) or returns a *LeaseHeldError.
// Each move is a compare-and-swap; when it loses a race the key is read
// again, but a lease is taken over at most once per acquisition, so that
// of two runs taking over the same lease at once the loser is busy rather
// than taking the winner's.
func acquireLease(ctx context.Context, env leaseEnv, key string, want Lease, join bool) (*leaseHandle, error) {
	h := &leaseHandle{env: env, key: key, lease: want}
	tookOver := false
	for attempt := 0; attempt < 4; attempt++ {
		cur, ok, err := readLease(ctx, env.b, key)
		if err != nil {
			return nil, err
		}
		now := env.now().UTC()
		next := want
		next.Acquired, next.Expires = now, now.Add(env.ttl)
		live := ok && !cur.Released && cur.Expires.After(now)
		switch {
		case !ok:
		case live && join && want.Job != "" && cur.Job == want.Job:
			j := cur.Lease
			j.Expires = next.Expires
			if _, err := putLease(ctx, env.b, key, j, cur.etag); errors.Is(err, bucket.ErrPrecondition) {
				continue // a sibling renewed it meanwhile
			} else if err != nil {
				return nil, err
			}
			h.joined, h.staleBefore = true, j.StaleBefore
			h.wrote(j.Expires)
			return h, nil
		case cur.Released:
		default:
			reason := "it expired at " + cur.Expires.Format(time.RFC3339) + " without being renewed"
			stale := cur.Expires
			if live {
				reason, stale = takeoverReason(cur.Lease, want, env.breakHolder), now
			}
			if reason == "" || tookOver {
				return nil, heldError(key, cur.Lease)
			}
			env.log.Warn("taking over the lease of a run that is gone", "lease", key, "holder", cur.Holder,
				"run_id", cur.RunID, "expires", cur.Expires.Format(time.RFC3339), "why", reason)
			tookOver = true
			next.StaleBefore = stale
			gone := cur.Lease
			h.takenOver, h.staleBefore = &gone, stale
		}
		etag := ""
		if ok {
			etag = cur.etag
		}
		if _, err := putLease(ctx, env.b, key, next, etag); errors.Is(err, bucket.ErrPrecondition) {
			h.takenOver, h.staleBefore = nil, time.Time{}
			continue
		} else if err != nil {
			return nil, err
		}
		h.lease = next
		h.wrote(next.Expires)
		return h, nil
	}
	return nil, fmt.Errorf("acquire lease %s: it kept changing under us (%d attempts)", key, 4)
}

// wrote notes a successful write of the lease expiring at exp.
func (h *leaseHandle) wrote(exp time.Time) {
	h.mu.Lock()
	h.expires = exp
	h.mu.Unlock()
}

// lostErr is the loss of the lease, nil while it is held.
func (h *leaseHandle) lostErr() *LeaseLostError {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// renew pushes the lease's expiry a TTL ahead, by compare-and-swap. It
// returns a *LeaseLostError when the lease is lost: another run holds it
// now, or this one could not renew it in time, so that the lease may
// expire (and be taken over) before the next renewal. Other errors are
// transient; a lost lease stays lost.
func (h *leaseHandle) renew(ctx context.Context) error {
	if l := h.lostErr(); l != nil {
		return l
	}
	err := h.renewOnce(ctx)
	l := lostError(err)
	if l == nil && err != nil {
		h.mu.Lock()
		exp := h.expires
		h.mu.Unlock()
		if !h.env.now().Add(renewInterval(h.env.ttl)).Before(exp) {
			l = &LeaseLostError{Key: h.key, Err: fmt.Errorf("not renewed before it expires at %s: %w", exp.UTC().Format(time.RFC3339), err)}
		}
	}
	if l == nil {
		return err
	}
	h.mu.Lock()
	h.lost = l
	h.mu.Unlock()
	return l
}

func (h *leaseHandle) renewOnce(ctx context.Context) error {
	for range 3 {
		cur, ok, err := readLease(ctx, h.env.b, h.key)
		if err != nil {
			return err
		}
		var next Lease
		etag := ""
		switch {
		case ok && !cur.Released && h.ours(cur.Lease):
			next, etag = cur.Lease, cur.etag
		case h.shared() && (!ok || cur.Released && cur.Job == h.lease.Job):
			// The job's last other shard gave it up while this one was
			// joining: it is taken again for the job.
			next = h.lease
			if ok {
				etag = cur.etag
			}
		case !ok || cur.Released:
			return &LeaseLostError{Key: h.key, Err: errors.New("it was released or removed by someone else")}
		default:
			return &LeaseLostError{Key: h.key, Holder: cur.Holder}
		}
		next.Expires = h.env.now().UTC().Add(h.env.ttl)
		if _, err := putLease(ctx, h.env.b, h.key, next, etag); errors.Is(err, bucket.ErrPrecondition) {
			continue // a sibling renewed it, or it was taken: read again
		} else if err != nil {
			return err
		}
		h.wrote(next.Expires)
		return nil
	}
	return fmt.Errorf("renew lease %s: it kept changing under us", h.key)
}

// release gives the lease up if it is still ours. A shared bucket lease is
// kept while a live shard lease of the job remains; expired ones belong to
// dead shards and stay, so that the shard's next pod finds and sweeps what
// its predecessor left. The bucket lease is marked released by
// compare-and-swap (see BucketLeaseKey); a shard lease, written only by
// its holder, is deleted. A lost lease is left alone: it is someone else's.
func (h *leaseHandle) release(ctx context.Context) error {
	if h.lostErr() != nil {
		return nil
	}
	b, now := h.env.b, h.env.now()
	if h.shared() {
		prefix := LeasePrefix + h.lease.Job + "/"
		for info, err := range b.List(ctx, prefix) {
			if err != nil {
				return &bucketError{fmt.Errorf("list %s: %w", prefix, err)}
			}
			sl, ok, err := readLease(ctx, b, info.Key)
			if err != nil {
				return err
			}
			if ok && !sl.Released && sl.Expires.After(now) {
				return nil // a sibling still runs and keeps the bucket lease
			}
		}
	}
	cur, ok, err := readLease(ctx, b, h.key)
	if err != nil || !ok || cur.Released || !h.ours(cur.Lease) {
		return err
	}
	if h.key != BucketLeaseKey {
		if err := b.Delete(ctx, h.key); err != nil {
			return &bucketError{fmt.Errorf("release lease %s: %w", h.key, err)}
		}
		return nil
	}
	done := cur.Lease
	done.Released, done.Expires = true, now.UTC()
	if _, err := putLease(ctx, b, h.key, done, cur.etag); err != nil && !errors.Is(err, bucket.ErrPrecondition) {
		return err
	}
	// A failed condition: a sibling renewed it (it still runs) or a run
	// took it; either way it is not ours to release.
	return nil
}

// renewInterval is how often a lease of ttl is renewed.
func renewInterval(ttl time.Duration) time.Duration { return max(ttl/3, time.Millisecond) }
