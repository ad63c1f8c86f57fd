package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/internal/proctest"
)

func pod(job, uid string, index int) *Workload {
	return &Workload{Job: job, JobUID: uid, Index: index}
}

func cronPod(cron, job, uid string) *Workload {
	return &Workload{CronJob: cron, Job: job, JobUID: uid, Index: 0}
}

// A live lease is taken over at once only where its holder is known to be
// gone: the previous pod of the same Job index (Kubernetes starts the
// replacement once the old pod is terminal), the CronJob's previous Job
// (concurrencyPolicy: Forbid), or a holder named by --break-lease. The
// takeover is logged with the holder's name and sweeps the gone holder's
// uploads under this run's entries up to the takeover; anything else is
// busy and writes nothing.
func TestLiveLeaseTakeover(t *testing.T) {
	ctx := context.Background()
	live := time.Now().Add(time.Hour).UTC()
	dead := Lease{Holder: "pod-a/pid-1/r0", RunID: "r0", Mode: ModeBackfill, Expires: live}
	with := func(w *Workload) Lease { l := dead; l.Workload = w; return l }
	tests := []struct {
		name      string
		held      Lease
		me        *Workload
		breakName string
		taken     bool
	}{
		{"the previous pod of the same Job index", with(pod("bf", "uid-1", 0)), pod("bf", "uid-1", 0), "", true},
		{"the same Job by name when the uid is unknown", with(pod("bf", "", 0)), pod("bf", "uid-1", 0), "", true},
		{"the CronJob's previous Job", with(cronPod("astroingest", "astroingest-29000000", "uid-1")), cronPod("astroingest", "astroingest-29001440", "uid-2"), "", true},
		{"--break-lease naming the holder", dead, nil, "pod-a/pid-1/r0", true},
		{"--break-lease naming the holder's run", dead, nil, "r0", true},

		{"a run outside Kubernetes", dead, pod("bf", "uid-1", 0), "", false},
		{"another index of the same Job", with(pod("bf", "uid-1", 1)), pod("bf", "uid-1", 0), "", false},
		{"a Job of the same name recreated (another uid)", with(pod("bf", "uid-1", 0)), pod("bf", "uid-2", 0), "", false},
		{"a pod without an index", with(pod("bf", "uid-1", -1)), pod("bf", "uid-1", -1), "", false},
		{"another CronJob", with(cronPod("other", "other-1", "uid-1")), cronPod("astroingest", "astroingest-2", "uid-2"), "", false},
		{"the same CronJob Job's other index", with(&Workload{CronJob: "astroingest", Job: "j", JobUID: "u", Index: 1}), cronPod("astroingest", "j", "u"), "", false},
		{"a backfill Job while the CronJob runs", with(cronPod("astroingest", "astroingest-1", "uid-1")), pod("bf", "uid-2", 0), "", false},
		{"--break-lease naming someone else", dead, nil, "pod-b/pid-2/r9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 4, 1, 100, nil)
			b := &staleRecorder{Bucket: mem.New()}
			var logs proctest.Buffer
			c := fx.cfg(b, ModeBackfill)
			c.Workload, c.BreakLease = tt.me, tt.breakName
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			if err := writeJSON(ctx, b, BucketLeaseKey, tt.held); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, b)
			started := time.Now().UTC()
			rec, err := Run(ctx, c)
			if !tt.taken {
				var lh *LeaseHeldError
				if !errors.As(err, &lh) || lh.Holder != tt.held.Holder {
					t.Fatalf("err = %v, want busy: a LeaseHeldError naming %s", err, tt.held.Holder)
				}
				if got := snapshot(t, b); !maps.Equal(got, before) || fx.srv.TotalRequests() != 0 || len(b.take()) != 0 {
					t.Fatalf("a busy run wrote, swept or fetched: %d source requests", fx.srv.TotalRequests())
				}
				return
			}
			if err != nil || rec.Counts.Done != 4 {
				t.Fatalf("err = %v, counts %+v; want the lease taken over and every entry done", err, rec)
			}
			if !strings.Contains(logs.String(), "taking over the lease") || !strings.Contains(logs.String(), tt.held.Holder) {
				t.Errorf("the takeover was not logged naming %s:\n%s", tt.held.Holder, logs.String())
			}
			var swept []string
			for _, s := range b.take() {
				if !s.cutoff.Before(started) {
					swept = append(swept, s.prefix)
				}
			}
			var want []string
			for _, e := range fx.entries {
				// before the entry's uploads and after them
				want = append(want, e.KeyPrefix()+"/", e.KeyPrefix()+"/")
			}
			slices.Sort(swept)
			slices.Sort(want)
			if !slices.Equal(swept, want) {
				t.Errorf("swept %q up to the takeover, want every entry of the run %q", swept, want)
			}
			if l := liveLeases(t, b); len(l) != 0 {
				t.Errorf("live leases after the run: %q", l)
			}
		})
	}
}

// A retried shard takes over its own shard lease from its dead
// predecessor, joins the job's bucket lease, which a live sibling holds,
// and leaves the sibling's leases alone.
func TestRetriedShardTakesOverItsShardLease(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 8, 1, 100, nil)
	b := &staleRecorder{Bucket: mem.New()}
	c := fx.cfg(b, ModeBackfill)
	c.Shard, c.Job, c.Workload = Shard{1, 2}, "bf", pod("bf", "uid-1", 1)
	job := JobID(c.Mode, c.Selection, 2, "bf")
	live := time.Now().Add(time.Hour).UTC()
	sibling := Lease{Holder: "pod-0/pid-1/s0", RunID: "s0", Job: job, Shards: 2, Workload: pod("bf", "uid-1", 0), Expires: live}
	deadPod := Lease{Holder: "pod-1/pid-2/s1", RunID: "s1", Job: job, Shards: 2, Workload: pod("bf", "uid-1", 1), Expires: live}
	for k, l := range map[string]Lease{BucketLeaseKey: sibling, ShardLeaseKey(job, 0): sibling, ShardLeaseKey(job, 1): deadPod} {
		if err := writeJSON(ctx, b, k, l); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now().UTC()
	rec := mustRun(t, ctx, c)
	if rec.Counts.Failed != 0 || rec.Counts.Done == 0 {
		t.Fatalf("counts %+v", rec.Counts)
	}
	var swept, want []string
	for _, s := range b.take() {
		if !s.cutoff.Before(started) {
			swept = append(swept, s.prefix)
		}
	}
	for _, e := range fx.entries {
		if c.Shard.Has(e.ID) {
			want = append(want, e.KeyPrefix()+"/", e.KeyPrefix()+"/") // before its uploads and after
		}
	}
	slices.Sort(swept)
	slices.Sort(want)
	if !slices.Equal(swept, want) {
		t.Errorf("swept %q, want exactly shard 1's entries %q", swept, want)
	}
	bl, _, _ := readLease(ctx, b, BucketLeaseKey)
	if bl.Holder != sibling.Holder || bl.Released {
		t.Errorf("bucket lease %+v, want still the live sibling's", bl.Lease)
	}
	if l := liveLeases(t, b); !slices.Equal(l, []string{ShardLeaseKey(job, 0), BucketLeaseKey}) && !slices.Equal(l, []string{BucketLeaseKey, ShardLeaseKey(job, 0)}) {
		t.Errorf("live leases %q, want the sibling's two", l)
	}
}

// barrierBucket holds every conditional write of key until n of them are
// in, then lets them race to commit.
type barrierBucket struct {
	bucket.Bucket
	key     string
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func newBarrier(b bucket.Bucket, key string, n int) *barrierBucket {
	return &barrierBucket{Bucket: b, key: key, n: n, all: make(chan struct{})}
}

func (bb *barrierBucket) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	p, err := bb.Bucket.Put(ctx, key, r, opts)
	if err != nil || key != bb.key || opts.IfMatch == "" {
		return p, err
	}
	bb.mu.Lock()
	bb.arrived++
	if bb.arrived == bb.n {
		close(bb.all)
	}
	bb.mu.Unlock()
	select {
	case <-bb.all:
	case <-time.After(5 * time.Second):
	}
	return p, nil
}

// Two runs that take over the same lease at once compare-and-swap it:
// exactly one wins, and the other is busy, refused by the winner, rather
// than taking the winner's lease in turn (which the same Job index would
// otherwise allow).
func TestTakeoverRace(t *testing.T) {
	ctx := context.Background()
	expired := time.Now().Add(-time.Minute).UTC()
	live := time.Now().Add(time.Hour).UTC()
	tests := []struct {
		name      string
		held      Lease
		workload  *Workload
		breakName string
	}{
		{"an expired lease", Lease{Holder: "dead", RunID: "d", Expires: expired}, nil, ""},
		{"--break-lease", Lease{Holder: "dead", RunID: "d", Expires: live}, nil, "dead"},
		{"the same Job index twice", Lease{Holder: "dead", RunID: "d", Workload: pod("bf", "u", 0), Expires: live}, pod("bf", "u", 0), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := mem.New()
			if err := writeJSON(ctx, inner, BucketLeaseKey, tt.held); err != nil {
				t.Fatal(err)
			}
			b := newBarrier(inner, BucketLeaseKey, 2)
			type result struct {
				h   *leaseHandle
				err error
			}
			results := make([]result, 2)
			var wg sync.WaitGroup
			for i := range results {
				wg.Go(func() {
					env := testEnv(b, time.Minute)
					env.breakHolder = tt.breakName
					want := Lease{Holder: []string{"run-a", "run-b"}[i], RunID: []string{"a", "b"}[i], Workload: tt.workload}
					h, err := acquireLease(ctx, env, BucketLeaseKey, want, false)
					results[i] = result{h, err}
				})
			}
			wg.Wait()
			var winner *leaseHandle
			for i, r := range results {
				var lh *LeaseHeldError
				switch {
				case r.err == nil && winner != nil:
					t.Fatalf("both runs took the lease over")
				case r.err == nil:
					winner = r.h
				case !errors.As(r.err, &lh):
					t.Fatalf("run %d: %v, want a LeaseHeldError", i, r.err)
				}
			}
			if winner == nil {
				t.Fatal("neither run took the lease over")
			}
			for _, r := range results {
				var lh *LeaseHeldError
				if errors.As(r.err, &lh) && lh.Holder != winner.lease.Holder {
					t.Errorf("the loser was refused by %s, want the winner %s", lh.Holder, winner.lease.Holder)
				}
			}
			if cur, _, _ := readLease(ctx, inner, BucketLeaseKey); cur.Holder != winner.lease.Holder {
				t.Errorf("the lease names %s, want the winner %s", cur.Holder, winner.lease.Holder)
			}
		})
	}
}
