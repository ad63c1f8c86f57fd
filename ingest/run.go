package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/sources"
	"golang.org/x/sync/errgroup"
)

// BuildPlan selects and classifies the entries of a run, reading the last
// manifests through r. It writes nothing and touches no publisher;
// cfg.Bucket is not used.
func BuildPlan(ctx context.Context, r bucket.Reader, cfg Config) (*Plan, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	in := cfg.planInput()
	in.Bucket = r
	return buildPlan(ctx, in)
}

// Run plans and executes one run or backfill. It returns the run record
// (also written to the bucket) and an error only when the run could not
// start or finish its bookkeeping: a *UsageError (exit 2), a
// *LeaseHeldError (busy, exit 4: nothing was written), a *LeaseLostError
// (exit 1, see below) or a storage error. Entry failures are in the
// record, never in the error; an interruption sets Interrupted.
//
// A run that loses its lease (see BucketLeaseKey) cancels its context
// with the *LeaseLostError as cause: it starts no more work, aborts its
// uploads, writes nothing more (no manifest, catalog or run record; the
// bucket is fenced) and returns the record, whose unfinished entries are
// failures with reason lease_lost, with the *LeaseLostError.
//
// Byte budgets (--max-bytes, budget_bytes) end a run cleanly: entries left
// over are recorded under Skipped with reason budget_exceeded, stay due for
// the next run, and do not count as failures (the exit code stays 0), the
// way a nightly job with a budget is meant to fill a mirror over several
// nights. Gated hosts are skipped the same way.
func Run(ctx context.Context, cfg Config) (*RunRecord, error) {
	if cfg.Bucket == nil {
		return nil, &UsageError{Msg: "no bucket configured"}
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("run_id", cfg.RunID)
	started := cfg.Now()
	plan, err := buildPlan(ctx, cfg.planInput())
	if err != nil {
		return nil, err
	}
	counts := plan.Counts()

	lh, err := acquireRunLease(ctx, &cfg, log)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	lh.renewEvery(ctx, func(lease string, err error) {
		if lost := lostError(err); lost != nil {
			// The loss itself is the run's error (Run returns it); the
			// log marks the moment, since stopping takes a while.
			log.Warn("lease lost: stopping, writing nothing more", "lease", lease, "holder", lost.Holder)
			stop(lost)
			return
		}
		log.Warn("lease renewal failed; retrying", "lease", lease, "err", err)
	})
	cfg.Bucket = fence(cfg.Bucket, func() *LeaseLostError { return leaseLost(ctx) })
	defer func() {
		if rerr := lh.release(ctx); rerr != nil {
			log.Warn("releasing lease failed; it expires on its own", "err", rerr)
		}
	}()
	sweepStale(ctx, cfg.Bucket, plannedDomains(plan), started.Add(-cfg.Lease.StaleGrace), log)
	logPlan(log, cfg, counts)

	r := newRunner(cfg, log)
	r.out.cut = func() error {
		if lost := leaseLost(ctx); lost != nil {
			return lost.entryError()
		}
		return nil
	}
	// When a dead run's lease was taken over (a kill -9), its unfinished
	// uploads are stale as of its expiry, not in StaleGrace. doEntry sweeps
	// them entry by entry.
	r.staleBefore = lh.staleBefore()
	r.rec.Started = started.UTC()
	r.rec.EstimatedBytes = counts.EstimatedBytes
	r.out.planned(plan.Tasks)
	stopProgress := r.prog.start(cfg.Progress, log)
	stopClock := cfg.Metrics.runClock(started, cfg.Now, time.Second)
	r.present = buildPresence(ctx, cfg.Bucket, plan, cfg.Force)
	r.execute(ctx, plan)
	stopClock()
	stopProgress()
	return r.finish(ctx)
}

// sweepStale aborts uploads that earlier runs left unfinished under the
// domains this run writes, once they are older than cutoff. A failure is
// only logged: the next run sweeps again.
func sweepStale(ctx context.Context, b bucket.Bucket, domains []string, cutoff time.Time, log *slog.Logger) {
	sc, ok := b.(bucket.StaleCleaner)
	if !ok {
		return
	}
	for _, d := range domains {
		n, err := sc.CleanStale(ctx, d+"/", cutoff)
		if err != nil {
			log.Warn("cleaning stale uploads failed", "prefix", d+"/", "err", err)
		} else if n > 0 {
			log.Info("cleaned stale uploads left by an earlier run", "prefix", d+"/", "removed", n)
		}
	}
}

func logPlan(log *slog.Logger, cfg Config, counts PlanCounts) {
	attrs := []any{"mode", cfg.Mode, "selection", cfg.Selection.String(), "shard", cfg.Shard.String(),
		"selected", counts.Selected, "to_fetch", counts.ToFetch, "fresh", counts.Fresh,
		"estimated_bytes", counts.EstimatedBytes, "unknown_size_entries", counts.UnknownSize}
	if cfg.MaxBytes == 0 {
		attrs = append(attrs, "budget", "none")
	} else {
		attrs = append(attrs, "max_bytes", cfg.MaxBytes)
	}
	log.Info("plan", attrs...)
}

func plannedDomains(p *Plan) []string {
	var ds []string
	for _, t := range p.Tasks {
		if t.Fetch() && !slices.Contains(ds, t.Entry.Domain) {
			ds = append(ds, t.Entry.Domain)
		}
	}
	slices.Sort(ds)
	return ds
}

// runner is the state of one run. Nothing in it outlives Run.
type runner struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client // for kinds: the source transport stack, with retries
	xfer   *transfer
	budget *budget
	slots  *transferSlots // object transfers in flight, run-wide
	prog   *progress
	out    *outcomes
	rec    *RunRecord // changed only through out until the run is over
	// staleBefore, when set, is the expiry of the dead runs' leases this
	// run took over: uploads under this run's entries begun before it are
	// their leftovers (see runLease.staleBefore).
	staleBefore time.Time

	// present is the run's listing of its small entries' keys.
	present *presence
	// touched are the heads this run wrote, for the catalog.
	touched touchedEntries
	// down are the hosts found unreachable this run.
	down downHosts
}

func newRunner(cfg Config, log *slog.Logger) *runner {
	rc := newSourceClient(cfg.Transport, cfg.UserAgent, cfg.Hosts, cfg.Getenv, cfg.Metrics, cfg.Retry)
	fam := map[string]int64{}
	for _, e := range cfg.Entries {
		if e.BudgetBytes > 0 {
			fam[e.Family] = e.BudgetBytes
		}
	}
	red := cfg.secrets()
	rec := &RunRecord{
		RunID: cfg.RunID, Mode: cfg.Mode, Selection: cfg.Selection, Shard: cfg.Shard,
		Force: cfg.Force, Holder: cfg.leaseHolder(), Failures: []Failure{},
	}
	prog := newProgress(cfg.Now)
	r := &runner{
		cfg: cfg, log: log, client: rc.StandardClient(),
		budget: newBudget(cfg.MaxBytes, fam),
		slots:  newTransferSlots(cfg.Workers, cfg.SmallWorkers, cfg.SmallBelow), prog: prog, rec: rec,
		out: newOutcomes(rec, prog, cfg.Metrics, red),
	}
	r.xfer = &transfer{
		bucket: cfg.Bucket, client: rc, bw: newBWLimiter(cfg.BWLimit), retry: cfg.Retry,
		now: cfg.Now, runID: cfg.RunID, red: red, metrics: cfg.Metrics, log: log,
		onRead: r.out.bytesRead, onRetry: r.retried,
	}
	return r
}

// retried reports a transfer's retry: a failed verification (retried once,
// fresh) or a broken download (restarted).
func (r *runner) retried(key string, attempt int, err error) {
	if me, ok := err.(*mismatchError); ok {
		r.log.Warn("object failed verification, retrying once", "key", key, "reason", me.reason)
		return
	}
	r.log.Info("download broke, restarting", "key", key, "attempt", attempt, "err", r.out.red.String(err.Error()))
}

// execute runs every due task on one errgroup bounded by Workers, the same
// bound as the object slots: an entry that lists while all slots are busy
// would only queue its objects behind them. Entries never return errors
// to the group: a failure is recorded and the others go on.
func (r *runner) execute(ctx context.Context, plan *Plan) {
	var g errgroup.Group
	g.SetLimit(r.cfg.Workers)
	// A missing credential fails every entry of its host (1,442 for ERA5):
	// each is recorded, but the log gets one line per host.
	type missing struct {
		env     string
		entries int
	}
	noAuth := map[string]missing{}
	for _, t := range plan.Tasks {
		switch t.State {
		case StateFresh:
			r.out.fresh()
			continue
		case StateGated:
			hp := r.cfg.Hosts.For(t.Entry.URL)
			r.skip(t.Entry, sources.ReasonGated, fmt.Sprintf("host %s is gated: set %s=1 to allow it (%s)", hp.Host, hp.Gate, hp.GateReason))
			continue
		case StateNoAuth:
			hp := r.cfg.Hosts.For(t.Entry.URL)
			r.out.failed(t.Entry, &EntryError{Reason: sources.ReasonAuthMissing, Detail: fmt.Sprintf("host %s requires the credential in env %s, which is not set", hp.Host, hp.Credential.Env)})
			noAuth[hp.Host] = missing{hp.Credential.Env, noAuth[hp.Host].entries + 1}
			continue
		case StateNoKind:
			r.fail(t.Entry, &EntryError{Reason: sources.ReasonOther, Detail: fmt.Sprintf("kind %q is not available in this build (%s:%d)", t.Entry.Kind, t.Entry.File, t.Entry.Line)})
			continue
		}
		if ctx.Err() != nil {
			r.out.ended(t, entryUnfinished)
			continue
		}
		g.Go(func() error {
			r.doEntry(ctx, t)
			return nil
		})
	}
	defer r.down.report(r.log)
	for _, h := range slices.Sorted(maps.Keys(noAuth)) {
		m := noAuth[h]
		r.log.Warn("entries failed: their host requires a credential that is not set", "host", h,
			"env", m.env, "entries", m.entries, "reason", sources.ReasonAuthMissing)
	}
	_ = g.Wait()
}

// fail records the entry's failure and logs it.
func (r *runner) fail(e sources.Entry, err error) {
	f := r.out.failed(e, err)
	r.log.Warn("entry failed", "entry", e.ID, "reason", f.Reason, "detail", f.Detail)
}

func (r *runner) skip(e sources.Entry, reason, detail string) {
	r.out.skipped(e, reason, detail)
	r.log.Debug("entry skipped", "entry", e.ID, "reason", reason)
}

// finish does the bookkeeping of a run that is over: the catalog, the run
// record, the run's metrics and the closing log line. It must survive an
// interruption, as it records what finished.
func (r *runner) finish(ctx context.Context) (*RunRecord, error) {
	cfg, log := r.cfg, r.log
	bctx := context.WithoutCancel(ctx)
	rec := r.rec
	// A run that lost its lease writes no catalog and no run record.
	lost := leaseLost(ctx)
	rec.Interrupted = ctx.Err() != nil && lost == nil
	rec.BudgetReached = r.budget.reached()
	if lost == nil {
		if cat, err := r.updateCatalog(bctx); err != nil {
			log.Error("updating the catalog failed", "err", err)
		} else {
			rec.CatalogEntries = len(cat.Entries)
		}
	}
	rec.Finished = cfg.Now().UTC()
	rec.DurationSeconds = rec.Finished.Sub(rec.Started).Seconds()
	slices.SortFunc(rec.Failures, func(a, b Failure) int { return strings.Compare(a.Entry, b.Entry) })
	slices.SortFunc(rec.Skipped, func(a, b Failure) int { return strings.Compare(a.Entry, b.Entry) })
	slices.SortFunc(rec.Partial, func(a, b Failure) int { return strings.Compare(a.Entry, b.Entry) })
	if lost == nil {
		rec.RecordKey = RunPrefix + cfg.RunID + ".json"
		if err := writeJSON(bctx, cfg.Bucket, rec.RecordKey, rec); err != nil {
			return rec, fmt.Errorf("write run record: %w", err)
		}
	}
	success := 0.0
	if len(rec.Failures) == 0 && !rec.Interrupted {
		success = float64(rec.Finished.Unix())
	}
	cfg.Metrics.finish(rec.DurationSeconds, success)
	if rec.BudgetReached {
		log.Warn("byte budget reached: remaining entries were skipped and stay due for the next run",
			"skipped", rec.Counts.Skipped, "bytes", rec.Bytes)
	}
	log.Info("run finished", "done", rec.Counts.Done, "unchanged", rec.Counts.Unchanged, "failed", rec.Counts.Failed,
		"skipped", rec.Counts.Skipped, "unfinished", rec.Counts.Unfinished, "bytes", rec.Bytes,
		"duration_seconds", rec.DurationSeconds, "interrupted", rec.Interrupted, "record", rec.RecordKey)
	if lost != nil {
		return rec, lost
	}
	return rec, nil
}
