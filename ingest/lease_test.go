package ingest

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/internal/emulator"
)

// heldRun is a run started in the background whose downloads block until
// finish is called, so that it holds its leases meanwhile.
type heldRun struct {
	t      *testing.T
	gate   chan struct{}
	done   chan struct{}
	holder string
	rec    *RunRecord
	err    error
}

// holdRun starts c and returns once it holds its leases: when it is
// blocked in a download.
func holdRun(t *testing.T, fx *fixture, c Config) *heldRun {
	t.Helper()
	h := &heldRun{t: t, gate: make(chan struct{}), done: make(chan struct{})}
	blocked := 0
	for _, e := range fx.entries {
		if c.Selection.Match(e) && (c.Shard.Count <= 1 || c.Shard.Has(e.ID)) {
			fx.srv.Fault("/"+e.ID+"/f0.dat", emulator.Fault{Kind: emulator.Hold, Until: h.gate, Times: 1})
			blocked++
		}
	}
	if blocked == 0 {
		t.Fatal("holdRun: the run selects no entry, so nothing would hold it")
	}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	h.holder = c.leaseHolder()
	go func() {
		defer close(h.done)
		h.rec, h.err = Run(context.Background(), c)
	}()
	// A run downloads only once it holds its leases.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if fx.srv.Inflight() > 0 {
			return h
		}
		select {
		case <-h.done:
			t.Fatalf("the held run ended before downloading: %v", h.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the held run did not start downloading")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// finish lets the held run's downloads go and waits for its end.
func (h *heldRun) finish() *RunRecord {
	h.t.Helper()
	close(h.gate)
	<-h.done
	if h.err != nil {
		h.t.Fatalf("held run: %v", h.err)
	}
	return h.rec
}

func leaseKeys(t *testing.T, b bucket.Bucket) []string {
	t.Helper()
	var keys []string
	for info, err := range b.List(context.Background(), LeasePrefix) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

// liveLeases returns the lease objects that are not released: a run that
// is over leaves the bucket lease behind marked released (see
// BucketLeaseKey), and nothing else.
func liveLeases(t *testing.T, b bucket.Bucket) []string {
	t.Helper()
	var live []string
	for _, k := range leaseKeys(t, b) {
		l, ok, err := readLease(context.Background(), b, k)
		if err != nil {
			t.Fatal(err)
		}
		if ok && !l.Released {
			live = append(live, k)
		}
	}
	return live
}

// Runs whose entries may overlap never write at once, whatever their
// mode, selection or shard count: the second is refused, naming the first.
func TestOverlappingSelectionsRefused(t *testing.T) {
	sel := func(c Config, s Selection) Config { c.Selection = s; return c }
	shard := func(c Config, i, n int) Config { c.Shard = Shard{i, n}; return c }
	job := func(c Config, token string) Config { c.Job = token; return c }
	tests := []struct {
		name   string
		holder func(run, backfill Config) Config
		second func(run, backfill Config) Config
	}{
		{"backfill of a domain while the nightly run runs",
			func(run, _ Config) Config { return run },
			func(_, bf Config) Config { return sel(bf, Selection{Domains: []string{"climate"}}) }},
		{"nightly run while a backfill runs",
			func(_, bf Config) Config { return sel(bf, Selection{Domains: []string{"climate"}}) },
			func(run, _ Config) Config { return run }},
		{"disjoint selections too (the lease is bucket-wide)",
			func(_, bf Config) Config { return sel(bf, Selection{Domains: []string{"climate"}}) },
			func(_, bf Config) Config { return sel(bf, Selection{Domains: []string{"biology"}}) }},
		{"another shard count",
			func(run, _ Config) Config { return shard(run, 0, 2) },
			func(run, _ Config) Config { return shard(run, 1, 4) }},
		{"the same shard count, another selection",
			func(run, _ Config) Config { return shard(run, 0, 2) },
			func(run, _ Config) Config { return shard(sel(run, Selection{Domains: []string{"climate"}}), 1, 2) }},
		{"the same shard count, another mode",
			func(_, bf Config) Config { return shard(bf, 0, 2) },
			func(run, _ Config) Config { return shard(sel(run, Selection{Sources: []string{"*"}}), 1, 2) }},
		{"the same shard count and selection, another job",
			func(run, _ Config) Config { return job(shard(run, 0, 2), "astroingest-28512340") },
			func(run, _ Config) Config { return job(shard(run, 1, 2), "astroingest-28513780") }},
		{"an unsharded run while a sharded job runs",
			func(run, _ Config) Config { return shard(run, 0, 2) },
			func(run, _ Config) Config { return run }},
		{"the same shard of the same job twice",
			func(run, _ Config) Config { return job(shard(run, 1, 2), "j") },
			func(run, _ Config) Config { return job(shard(run, 1, 2), "j") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 8, 1, 100, nil)
			b := mem.New()
			run, bf := fx.cfg(b, ModeRun), fx.cfg(b, ModeBackfill)
			first := holdRun(t, fx, tt.holder(run, bf))
			// Bounded: a second run that is not refused blocks on the
			// first run's held downloads.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Run(ctx, tt.second(fx.cfg(b, ModeRun), fx.cfg(b, ModeBackfill)))
			var lh *LeaseHeldError
			if !errors.As(err, &lh) || lh.Holder != first.holder {
				t.Errorf("second run: err = %v, want a LeaseHeldError naming the first run", err)
			}
			rec := first.finish()
			if rec.Counts.Failed != 0 || rec.Counts.Done == 0 {
				t.Errorf("the first run: %+v", rec.Counts)
			}
			if l := liveLeases(t, b); len(l) != 0 {
				t.Errorf("leases left: %q", l)
			}
		})
	}
}

// The shards of one job (same mode, selection, count and job token) run in
// parallel; the last to finish gives the bucket lease up.
func TestShardsOfOneJobRunTogether(t *testing.T) {
	for _, token := range []string{"", "astroingest-backfill-x7k2q"} {
		t.Run("token="+token, func(t *testing.T) {
			fx := newFixture(t, 8, 1, 100, nil)
			b := mem.New()
			c := fx.cfg(b, ModeBackfill)
			c.Job = token
			s0, s1 := c, c
			s0.Shard, s1.Shard = Shard{0, 2}, Shard{1, 2}
			first := holdRun(t, fx, s0)
			rec1, err := Run(context.Background(), s1)
			if err != nil {
				t.Fatalf("shard 1/2 while shard 0/2 of its job runs: %v", err)
			}
			if rec1.Counts.Failed != 0 || rec1.Counts.Done == 0 {
				t.Fatalf("shard 1/2: %+v", rec1.Counts)
			}
			var bl Lease
			if ok, _ := readJSON(context.Background(), b, BucketLeaseKey, &bl); !ok || bl.Holder != first.holder {
				t.Errorf("after shard 1/2 finished, the bucket lease is %+v (present %v), want shard 0/2's, which still runs", bl, ok)
			}
			rec0 := first.finish()
			if rec0.Counts.Failed != 0 || rec0.Counts.Done+rec1.Counts.Done != len(fx.entries) {
				t.Errorf("shards did %d and %d entries of %d: %+v %+v", rec0.Counts.Done, rec1.Counts.Done, len(fx.entries), rec0.Counts, rec1.Counts)
			}
			if l := liveLeases(t, b); len(l) != 0 {
				t.Errorf("leases left after both shards: %q", l)
			}
		})
	}
}

// Expired leases are taken over, and the run sweeps at once the uploads
// the dead holder left, under its own entries only: a live sibling shard's
// entries are not touched.
func TestExpiredLeasesTakenOver(t *testing.T) {
	ctx := context.Background()
	expired := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	live := time.Now().Add(time.Hour).UTC()
	tests := []struct {
		name  string
		shard Shard
		// leases written before the run, by the key's job (filled in).
		leases func(job string) map[string]Lease
		// after the run: the leases left, by key.
		left func(job string) []string
	}{
		{"a dead unsharded run's bucket lease, taken by a shard", Shard{1, 2},
			func(string) map[string]Lease {
				return map[string]Lease{BucketLeaseKey: {Holder: "host/pid-9/dead", RunID: "dead", Expires: expired}}
			},
			func(string) []string { return nil }},
		{"a dead job's bucket and shard leases, taken by its next run", Shard{0, 2},
			func(job string) map[string]Lease {
				return map[string]Lease{
					BucketLeaseKey:        {Holder: "host/pid-9/dead", RunID: "dead", Job: job, Shards: 2, Expires: expired},
					ShardLeaseKey(job, 0): {Holder: "host/pid-9/dead", RunID: "dead", Job: job, Shards: 2, Expires: expired},
				}
			},
			func(string) []string { return nil }},
		{"a dead shard's lease while its sibling runs", Shard{0, 2},
			func(job string) map[string]Lease {
				return map[string]Lease{
					BucketLeaseKey:        {Holder: "host/pid-8/sibling", RunID: "sibling", Job: job, Shards: 2, Expires: live},
					ShardLeaseKey(job, 1): {Holder: "host/pid-8/sibling", RunID: "sibling", Job: job, Shards: 2, Expires: live},
					ShardLeaseKey(job, 0): {Holder: "host/pid-9/dead", RunID: "dead", Job: job, Shards: 2, Expires: expired},
				}
			},
			// The sibling still runs: the bucket lease stays, and so does
			// its shard lease.
			func(job string) []string { return []string{BucketLeaseKey, ShardLeaseKey(job, 1)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, 8, 1, 100, nil)
			b := &staleRecorder{Bucket: mem.New()}
			c := fx.cfg(b, ModeBackfill)
			c.Shard = tt.shard
			job := JobID(c.Mode, c.Selection, c.Shard.Count, "")
			for k, l := range tt.leases(job) {
				if err := writeJSON(ctx, b, k, l); err != nil {
					t.Fatal(err)
				}
			}
			rec := mustRun(t, ctx, c)
			if rec.Counts.Failed != 0 || rec.Counts.Done == 0 {
				t.Fatalf("counts %+v", rec.Counts)
			}
			var want, got []string
			for _, e := range fx.entries {
				if c.Shard.Has(e.ID) {
					want = append(want, e.KeyPrefix()+"/", e.KeyPrefix()+"/") // before its uploads and after
				}
			}
			for _, s := range b.take() {
				if s.cutoff.Equal(expired) {
					got = append(got, s.prefix)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("swept %q up to the dead lease's expiry, want exactly this shard's entries %q", got, want)
			}
			left := tt.left(job)
			slices.Sort(left)
			if l := liveLeases(t, b); !slices.Equal(l, left) {
				t.Errorf("leases after the run: %q, want %q", l, left)
			}
		})
	}
}

// raceAtShardLease runs swap once, just after the shard lease is created:
// the moment the job's last other shard may release the bucket lease, or
// another run take it.
type raceAtShardLease struct {
	bucket.Bucket
	swap func(context.Context, bucket.Bucket)
	once bool
}

func (r *raceAtShardLease) Put(ctx context.Context, key string, rd io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	p, err := r.Bucket.Put(ctx, key, rd, opts)
	if err != nil || !opts.IfNoneMatch || key == BucketLeaseKey {
		return p, err
	}
	return createdHook{p, func(ctx context.Context) {
		if !r.once {
			r.once = true
			r.swap(ctx, r.Bucket)
		}
	}}, nil
}

// createdHook runs after once its Pending is committed.
type createdHook struct {
	bucket.Pending
	after func(context.Context)
}

func (c createdHook) Commit(ctx context.Context) (bucket.ObjectInfo, error) {
	info, err := c.Pending.Commit(ctx)
	if err == nil {
		c.after(ctx)
	}
	return info, err
}

// A shard that joined its job's bucket lease checks it again once it holds
// its shard lease: a lease released meanwhile is taken again for the job,
// and one taken by another run refuses the shard.
func TestJoinConfirmsBucketLease(t *testing.T) {
	ctx := context.Background()
	sel := Selection{Sources: []string{"*"}}
	job := JobID(ModeBackfill, sel, 2, "")
	sibling := Lease{Holder: "host/pid-8/sibling", RunID: "sibling", Job: job, Shards: 2, Expires: time.Now().Add(time.Hour)}
	other := Lease{Holder: "host/pid-7/nightly", RunID: "nightly", Mode: ModeRun, Expires: time.Now().Add(time.Hour)}
	tests := []struct {
		name       string
		swap       func(context.Context, bucket.Bucket)
		wantHolder string // of the bucket lease after acquiring; "" when refused
		refusedBy  string
	}{
		{"released meanwhile", func(ctx context.Context, b bucket.Bucket) { b.Delete(ctx, BucketLeaseKey) }, "me/r1", ""},
		{"taken by another run", func(ctx context.Context, b bucket.Bucket) {
			b.Delete(ctx, BucketLeaseKey)
			writeJSON(ctx, b, BucketLeaseKey, other)
		}, "", other.Holder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &raceAtShardLease{Bucket: mem.New(), swap: tt.swap}
			if err := writeJSON(ctx, b, BucketLeaseKey, sibling); err != nil {
				t.Fatal(err)
			}
			c := Config{Bucket: b, Mode: ModeBackfill, Selection: sel, Shard: Shard{1, 2}, Holder: "me", RunID: "r1", Getenv: func(string) string { return "" }}
			if err := c.defaults(); err != nil {
				t.Fatal(err)
			}
			rl, err := acquireRunLease(ctx, &c, discardLog())
			var lh *LeaseHeldError
			switch {
			case tt.refusedBy != "":
				if !errors.As(err, &lh) || lh.Holder != tt.refusedBy {
					t.Fatalf("err = %v, want refused by %s", err, tt.refusedBy)
				}
				if l := leaseKeys(t, b); !slices.Equal(l, []string{BucketLeaseKey}) {
					t.Errorf("leases after the refusal: %q, want only the other run's", l)
				}
			case err != nil:
				t.Fatal(err)
			default:
				var cur Lease
				if ok, _ := readJSON(ctx, b, BucketLeaseKey, &cur); !ok || cur.Holder != tt.wantHolder || cur.Job != job {
					t.Errorf("bucket lease %+v (present %v), want held by %s for the job", cur, ok, tt.wantHolder)
				}
				if err := rl.release(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestOverlappingRunsRefused(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, 2, 1, 100, nil)
	b := mem.New()
	c := fx.cfg(b, ModeBackfill)
	now := time.Now()
	held := Lease{Holder: "other-host/pid-7/r1", RunID: "r1", Acquired: now, Expires: now.Add(time.Hour)}
	if err := writeJSON(ctx, b, BucketLeaseKey, held); err != nil {
		t.Fatal(err)
	}
	_, err := Run(ctx, c)
	var lh *LeaseHeldError
	if !errors.As(err, &lh) || lh.Holder != held.Holder {
		t.Fatalf("err = %v, want LeaseHeldError naming the holder", err)
	}
	if fx.srv.TotalRequests() != 0 {
		t.Fatal("a refused run touched the source")
	}
	// A shard has no lease of its own to hide behind: the bucket lease of
	// an unsharded run refuses it too.
	c2 := c
	c2.Shard = Shard{1, 2}
	if _, err := Run(ctx, c2); !errors.As(err, &lh) || lh.Holder != held.Holder {
		t.Fatalf("shard 1/2 while an unsharded run holds the bucket: err = %v, want LeaseHeldError", err)
	}
	// An expired lease is taken over.
	held.Expires = now.Add(-time.Minute)
	if err := writeJSON(ctx, b, BucketLeaseKey, held); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, c); err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
}
