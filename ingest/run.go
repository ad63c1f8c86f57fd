package ingest

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/sources"
	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Config is everything one run needs. The command fills it from flags and
// environment; zero values of the tuning fields take the defaults noted.
type Config struct {
	Bucket  bucket.Bucket
	Entries []sources.Entry
	Hosts   []sources.HostPolicy
	// Kinds maps a registry kind name to its implementation.
	Kinds map[string]sources.Kind

	Mode       Mode
	Selection  Selection
	Shard      Shard
	Force      bool
	AllowGated bool

	Workers  int   // concurrent object transfers (default 4)
	BWLimit  int64 // bytes/s for the whole run, 0 = unlimited
	MaxBytes int64 // byte budget for the whole run, 0 = unlimited

	Version  string // for the User-Agent
	Homepage string
	// Transport is the base HTTP transport (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	Getenv    func(string) string // default os.Getenv
	Now       func() time.Time    // default time.Now
	Logger    *slog.Logger        // default slog.Default()
	Metrics   *Metrics            // nil records nothing
	RunID     string              // default: time, shard and a random suffix
	Holder    string              // lease holder; default host+pid+run id
	// Job is the job token of a sharded run: the shards of one job (one
	// Kubernetes Indexed Job) share it, so they may hold the bucket's
	// write lease together while a second job of the same selection may
	// not. Default: env JOB_NAME. See BucketLeaseKey.
	Job string

	// Progress receives the live display (ProgressTTY) or, when nil or not
	// a terminal, progress goes to Logger every ProgressInterval.
	Progress         io.Writer
	ProgressTTY      bool
	ProgressInterval time.Duration // default 5s (250ms on a terminal)

	LeaseTTL         time.Duration // default 10m; renewed every TTL/3
	StaleGrace       time.Duration // staged uploads older than lease start minus this are cleaned (default 24h)
	HTTPAttempts     int           // attempts per request incl. the first (default 5)
	RetryWaitMin     time.Duration // default 1s
	RetryWaitMax     time.Duration // default 30s
	MaxRetryAfter    time.Duration // cap on a server's Retry-After (default 5m)
	TransferAttempts int           // clean restarts of a broken download (default 3)
	MaxResumes       int           // Range resumes per download (default 5)
	StallTimeout     time.Duration // no bytes for this long aborts a download (default 2m)
}

// UsageError is invalid usage or configuration (exit 2); nothing was
// written. Err, when set, is the cause and is what Unwrap returns, so
// callers can still test for it; Msg, when set, says what was checked.
type UsageError struct {
	Msg string
	Err error
}

func (e *UsageError) Error() string {
	switch {
	case e.Err == nil:
		return e.Msg
	case e.Msg == "":
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *UsageError) Unwrap() error { return e.Err }

func (c *Config) defaults() error {
	if c.Bucket == nil {
		return &UsageError{Msg: "no bucket configured"}
	}
	if c.Mode == "" {
		c.Mode = ModeRun
	}
	if c.Mode != ModeRun && c.Mode != ModeBackfill {
		return &UsageError{Msg: fmt.Sprintf("unknown mode %q", c.Mode)}
	}
	if err := c.Selection.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	if c.Mode == ModeBackfill && c.Selection.Empty() {
		return &UsageError{Msg: "backfill needs a selection: give --domain, --family or --source GLOB"}
	}
	if c.Shard.Count < 1 {
		c.Shard = Shard{Index: 0, Count: 1}
	}
	if c.Shard.Index < 0 || c.Shard.Index >= c.Shard.Count {
		return &UsageError{Msg: fmt.Sprintf("shard %d/%d: index out of range", c.Shard.Index, c.Shard.Count)}
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Every worker may hold a connection to the same publisher. With
		// the default of two idle connections per host the others were
		// closed after each response and dialled again: on many small
		// objects, dialling was a sixth of the engine's CPU.
		t.MaxIdleConnsPerHost = c.Workers + 4
		c.Transport = t
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Homepage == "" {
		c.Homepage = "https://github.com/astroingest/astroingest"
	}
	if c.RunID == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.RunID = fmt.Sprintf("%s-s%dof%d-%s", c.Now().UTC().Format("20060102T150405Z"), c.Shard.Index, c.Shard.Count, hex.EncodeToString(b[:]))
	}
	if c.Job == "" {
		c.Job = c.Getenv("JOB_NAME")
	}
	if c.Holder == "" {
		host, _ := os.Hostname()
		c.Holder = fmt.Sprintf("%s/pid-%d/%s", host, os.Getpid(), c.RunID)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defi := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.LeaseTTL, 10*time.Minute)
	def(&c.StaleGrace, 24*time.Hour)
	def(&c.RetryWaitMin, time.Second)
	def(&c.RetryWaitMax, 30*time.Second)
	def(&c.MaxRetryAfter, 5*time.Minute)
	def(&c.StallTimeout, 2*time.Minute)
	defi(&c.HTTPAttempts, 5)
	defi(&c.TransferAttempts, 3)
	defi(&c.MaxResumes, 5)
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = 5 * time.Second
		if c.ProgressTTY {
			c.ProgressInterval = 250 * time.Millisecond
		}
	}
	return nil
}

func (c *Config) hostMap() map[string]sources.HostPolicy {
	m := make(map[string]sources.HostPolicy, len(c.Hosts))
	for _, h := range c.Hosts {
		m[strings.ToLower(h.Host)] = h
	}
	return m
}

// secrets are the values of every credential variable, for redaction.
func (c *Config) secrets() redactor {
	var vs []string
	for _, h := range c.Hosts {
		if h.Credential != nil && h.Credential.Env != "" {
			vs = append(vs, c.Getenv(h.Credential.Env))
		}
	}
	return newRedactor(vs...)
}

func (c *Config) planInput() planInput {
	return planInput{
		Bucket: c.Bucket, Entries: c.Entries, Hosts: c.hostMap(), Kinds: c.Kinds,
		Mode: c.Mode, Selection: c.Selection, Shard: c.Shard, Force: c.Force,
		AllowGated: c.AllowGated, Getenv: c.Getenv, Now: c.Now(),
	}
}

// BuildPlan selects and classifies the entries of a run without writing
// anything or touching the network.
func BuildPlan(ctx context.Context, cfg Config) (*Plan, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return buildPlan(ctx, cfg.planInput())
}

// Failure is one entry that did not finish, with its reason.
type Failure struct {
	Entry  string `json:"entry"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// RunCounts tallies a run.
type RunCounts struct {
	Selected         int `json:"selected"`
	Fresh            int `json:"fresh"` // not due by schedule, not touched
	Done             int `json:"done"`  // at least one object uploaded
	Unchanged        int `json:"unchanged"`
	Failed           int `json:"failed"`
	Skipped          int `json:"skipped"`    // budget or gate; not failures
	Unfinished       int `json:"unfinished"` // not reached or cut by an interruption
	ObjectsUploaded  int `json:"objects_uploaded"`
	ObjectsUnchanged int `json:"objects_unchanged"`
	ObjectsFailed    int `json:"objects_failed"`
}

// RunRecord is annotations/runs/<run-id>.json and the --json summary.
type RunRecord struct {
	RunID           string    `json:"run_id"`
	Mode            Mode      `json:"mode"`
	Selection       Selection `json:"selection"`
	Shard           Shard     `json:"shard"`
	Force           bool      `json:"force,omitempty"`
	Holder          string    `json:"holder"`
	Started         time.Time `json:"started"`
	Finished        time.Time `json:"finished"`
	DurationSeconds float64   `json:"duration_seconds"`
	Interrupted     bool      `json:"interrupted"`
	BudgetReached   bool      `json:"budget_reached,omitempty"`
	Counts          RunCounts `json:"counts"`
	Bytes           int64     `json:"bytes"`
	EstimatedBytes  int64     `json:"estimated_bytes"`
	Failures        []Failure `json:"failures"`
	Skipped         []Failure `json:"skipped,omitempty"`
	RecordKey       string    `json:"record_key"`
	CatalogEntries  int       `json:"catalog_entries"`
}

// Run plans and executes one run or backfill. It returns the run record
// (also written to the bucket) and an error only when the run could not
// start or finish its bookkeeping: a *UsageError or *LeaseHeldError (exit
// 2) or a storage error. Entry failures are in the record, never in the
// error; an interruption sets Interrupted.
//
// Byte budgets (--max-bytes, budget_bytes) end a run cleanly: entries left
// over are recorded under Skipped with reason budget_exceeded, stay due for
// the next run, and do not count as failures (the exit code stays 0), the
// way a nightly job with a budget is meant to fill a mirror over several
// nights. Gated hosts are skipped the same way.
func Run(ctx context.Context, cfg Config) (*RunRecord, error) {
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
	lh.renewEvery(ctx)
	defer func() {
		if rerr := lh.release(ctx); rerr != nil {
			log.Warn("releasing lease failed; it expires on its own", "err", rerr)
		}
	}()
	if sc, ok := cfg.Bucket.(bucket.StaleCleaner); ok {
		cutoff := started.Add(-cfg.StaleGrace)
		for _, d := range plannedDomains(plan) {
			n, err := sc.CleanStale(ctx, d+"/", cutoff)
			if err != nil {
				log.Warn("cleaning stale uploads failed", "prefix", d+"/", "err", err)
			} else if n > 0 {
				log.Info("cleaned stale uploads left by an earlier run", "prefix", d+"/", "removed", n)
			}
		}
	}

	attrs := []any{"mode", cfg.Mode, "selection", cfg.Selection.String(), "shard", cfg.Shard.String(),
		"selected", counts.Selected, "to_fetch", counts.ToFetch, "fresh", counts.Fresh,
		"estimated_bytes", counts.EstimatedBytes, "unknown_size_entries", counts.UnknownSize}
	if cfg.MaxBytes == 0 {
		attrs = append(attrs, "budget", "none")
	} else {
		attrs = append(attrs, "max_bytes", cfg.MaxBytes)
	}
	log.Info("plan", attrs...)

	r := newRunner(cfg, log)
	// When a dead run's lease was taken over (a kill -9), its unfinished
	// uploads are stale as of its expiry, not in StaleGrace. doEntry sweeps
	// them entry by entry.
	r.staleBefore = lh.staleBefore()
	r.rec.Started = started.UTC()
	r.rec.EstimatedBytes = counts.EstimatedBytes
	for _, t := range plan.Tasks {
		if t.Prev != nil {
			k := ManifestKey(t.Entry.ID)
			r.known.add(k, plan.manifestETags[k], t.Prev)
		}
	}
	r.rec.Counts.Selected = counts.Selected
	for _, t := range plan.Tasks {
		cfg.Metrics.entryState(t.Entry.Domain, "planned", 1)
		if t.Stale {
			cfg.Metrics.entryState(t.Entry.Domain, "stale", 1)
		}
		if t.Fetch() {
			r.prog.total.Add(1)
		}
	}
	stopProgress := r.prog.start(cfg.Progress, cfg.ProgressTTY, cfg.ProgressInterval, log)
	stopClock := cfg.Metrics.runClock(started, cfg.Now, time.Second)
	r.present = buildPresence(ctx, cfg.Bucket, plan, cfg.Force)
	r.execute(ctx, plan)
	stopClock()
	stopProgress()

	// Bookkeeping must survive an interruption: it records what finished.
	bctx := context.WithoutCancel(ctx)
	rec := r.rec
	rec.Interrupted = ctx.Err() != nil
	rec.BudgetReached = r.budget.reached()
	if cat, err := rebuildCatalog(bctx, cfg.Bucket, cfg.Now(), &r.known); err != nil {
		log.Error("rebuilding the catalog failed", "err", err)
	} else {
		rec.CatalogEntries = len(cat.Entries)
	}
	rec.Finished = cfg.Now().UTC()
	rec.DurationSeconds = rec.Finished.Sub(rec.Started).Seconds()
	rec.RecordKey = RunPrefix + cfg.RunID + ".json"
	slices.SortFunc(rec.Failures, func(a, b Failure) int { return strings.Compare(a.Entry, b.Entry) })
	slices.SortFunc(rec.Skipped, func(a, b Failure) int { return strings.Compare(a.Entry, b.Entry) })
	if err := writeJSON(bctx, cfg.Bucket, rec.RecordKey, rec); err != nil {
		return rec, fmt.Errorf("write run record: %w", err)
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
	return rec, nil
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
	rc     *retryablehttp.Client
	client *http.Client // for kinds: same transport stack, with retries
	budget *budget
	bw     *rate.Limiter
	slots  chan struct{} // object transfers in flight, run-wide
	red    redactor
	prog   *progress
	// staleBefore, when set, is the expiry of the dead runs' leases this
	// run took over: uploads under this run's entries begun before it are
	// their leftovers (see runLease.staleBefore).
	staleBefore time.Time

	// present is a listing of the objects the run compares with their
	// records, nil when it stats them one by one.
	present *presence
	// known are the manifests planned or written by this run, which the
	// catalog rebuild need not read back.
	known knownManifests

	mu  sync.Mutex
	rec *RunRecord
}

func newRunner(cfg Config, log *slog.Logger) *runner {
	ua := fmt.Sprintf("astroingest/%s (+%s)", cfg.Version, cfg.Homepage)
	pt := newPoliteTransport(cfg.Transport, ua, cfg.hostMap(), cfg.Getenv, cfg.Metrics)
	rc := newRetryClient(pt, cfg.HTTPAttempts, cfg.RetryWaitMin, cfg.RetryWaitMax, cfg.MaxRetryAfter)
	fam := map[string]int64{}
	for _, e := range cfg.Entries {
		if e.BudgetBytes > 0 {
			fam[e.Family] = e.BudgetBytes
		}
	}
	return &runner{
		cfg: cfg, log: log, rc: rc, client: rc.StandardClient(),
		budget: newBudget(cfg.MaxBytes, fam), bw: newBWLimiter(cfg.BWLimit),
		slots: make(chan struct{}, cfg.Workers), red: cfg.secrets(), prog: newProgress(cfg.Now),
		rec: &RunRecord{
			RunID: cfg.RunID, Mode: cfg.Mode, Selection: cfg.Selection, Shard: cfg.Shard,
			Force: cfg.Force, Holder: cfg.Holder, Failures: []Failure{},
		},
	}
}

// execute runs every task on one errgroup bounded by Workers. Entries never
// return errors to the group: a failure is recorded and the others go on.
func (r *runner) execute(ctx context.Context, plan *Plan) {
	var g errgroup.Group
	g.SetLimit(r.cfg.Workers)
	hosts := r.cfg.hostMap()
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
			r.count(func(c *RunCounts) { c.Fresh++ })
			continue
		case StateGated:
			hp := hostPolicyFor(hosts, t.Entry.URL)
			r.skip(t.Entry, ReasonGated, fmt.Sprintf("host %s needs %s=1 or --allow-gated: %s", hp.Host, hp.Gate, hp.GateReason))
			continue
		case StateNoAuth:
			hp := hostPolicyFor(hosts, t.Entry.URL)
			r.record(t.Entry, &EntryError{Reason: ReasonAuthMissing, Detail: fmt.Sprintf("host %s requires the credential in env %s, which is not set", hp.Host, hp.Credential.Env)})
			noAuth[hp.Host] = missing{hp.Credential.Env, noAuth[hp.Host].entries + 1}
			continue
		case StateNoKind:
			r.fail(t.Entry, &EntryError{Reason: ReasonOther, Detail: fmt.Sprintf("kind %q is not available in this build (%s:%d)", t.Entry.Kind, t.Entry.File, t.Entry.Line)})
			continue
		}
		if ctx.Err() != nil {
			r.count(func(c *RunCounts) { c.Unfinished++ })
			continue
		}
		g.Go(func() error {
			r.doEntry(ctx, t)
			return nil
		})
	}
	for _, h := range slices.Sorted(maps.Keys(noAuth)) {
		m := noAuth[h]
		r.log.Warn("entries failed: their host requires a credential that is not set", "host", h,
			"env", m.env, "entries", m.entries, "reason", ReasonAuthMissing)
	}
	_ = g.Wait()
}

func (r *runner) count(f func(*RunCounts)) {
	r.mu.Lock()
	f(&r.rec.Counts)
	r.mu.Unlock()
}

// fail records the entry's failure and logs it.
func (r *runner) fail(e sources.Entry, err error) {
	f := r.record(e, err)
	r.log.Warn("entry failed", "entry", e.ID, "reason", f.Reason, "detail", f.Detail)
}

// record counts the entry as failed in the run record and metrics, without
// a log line, for failures the caller reports in summary.
func (r *runner) record(e sources.Entry, err error) Failure {
	f := Failure{Entry: e.ID, Reason: classify(err), Detail: r.red.String(err.Error())}
	r.mu.Lock()
	r.rec.Failures = append(r.rec.Failures, f)
	r.rec.Counts.Failed++
	r.mu.Unlock()
	r.prog.failed.Add(1)
	r.cfg.Metrics.failure(e.Domain, f.Reason)
	r.cfg.Metrics.entryState(e.Domain, "failed", 1)
	return f
}

func (r *runner) skip(e sources.Entry, reason, detail string) {
	r.mu.Lock()
	r.rec.Skipped = append(r.rec.Skipped, Failure{Entry: e.ID, Reason: reason, Detail: r.red.String(detail)})
	r.rec.Counts.Skipped++
	r.mu.Unlock()
	r.log.Debug("entry skipped", "entry", e.ID, "reason", reason)
}

// objStatus is the outcome of one object.
type objStatus int

const (
	objUploaded objStatus = iota
	objUnchanged
	objFailed
	objSkipped   // budget
	objCancelled // run interrupted
)

type objResult struct {
	status objStatus
	rec    ObjectRecord
	err    error
}

func (r *runner) doEntry(ctx context.Context, t Task) {
	e := t.Entry
	defer r.prog.done.Add(1)
	if r.budget.blocked(e.Family) {
		r.skip(e, ReasonBudgetExceeded, "byte budget reached before the entry started")
		return
	}
	objs, err := r.cfg.Kinds[e.Kind].Objects(ctx, r.client, e)
	if ctx.Err() != nil {
		r.count(func(c *RunCounts) { c.Unfinished++ })
		return
	}
	if err != nil {
		r.fail(e, fmt.Errorf("list objects: %w", err))
		return
	}
	keys := make([]string, len(objs))
	seen := map[string]bool{}
	for i, o := range objs {
		k := e.KeyPrefix()
		if o.Name != "" {
			k += "/" + o.Name
		}
		if err := bucket.ValidateKey(k); err != nil {
			r.fail(e, &EntryError{Reason: ReasonOther, Detail: fmt.Sprintf("object %q from %s: %v", o.Name, redactURL(o.URL, false), err), Err: err})
			return
		}
		if seen[k] {
			r.fail(e, &EntryError{Reason: ReasonOther, Detail: fmt.Sprintf("listing names key %s twice", k)})
			return
		}
		seen[k] = true
		keys[i] = k
	}

	r.cleanStaleEntry(ctx, e, objs)

	results := make([]objResult, len(objs))
	var wg sync.WaitGroup
	for i, o := range objs {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			results[i] = objResult{status: objCancelled}
			continue
		}
		wg.Go(func() {
			defer func() { <-r.slots }()
			results[i] = r.object(ctx, e, o, keys[i], t.Prev.record(keys[i]))
		})
	}
	wg.Wait()
	r.finishEntry(ctx, t, results)
}

// cleanStaleEntry aborts the unfinished uploads that a dead lease holder
// left under the entry's keys. The sweep is per entry, not per domain: the
// other shards of this run's job may be uploading live elsewhere in the
// same domain, and their uploads may have begun before our cutoff. A
// failure only delays the cleanup to the StaleGrace sweep.
func (r *runner) cleanStaleEntry(ctx context.Context, e sources.Entry, objs []sources.Object) {
	sc, ok := r.cfg.Bucket.(bucket.StaleCleaner)
	if !ok || r.staleBefore.IsZero() {
		return
	}
	prefix := e.KeyPrefix() + "/"
	if len(objs) == 1 && objs[0].Name == "" {
		prefix = e.KeyPrefix() // a one-object entry: the key itself
	}
	n, err := sc.CleanStale(ctx, prefix, r.staleBefore)
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Warn("cleaning a dead run's uploads failed", "entry", e.ID, "prefix", prefix, "err", err)
	case n > 0:
		r.log.Info("cleaned uploads left by a dead run", "entry", e.ID, "prefix", prefix, "removed", n)
	}
}

// finishEntry writes the manifest and records the outcome. A complete
// entry gets a fresh CheckedAt; an incomplete one that still committed
// objects gets a manifest too (so the manifest always describes what the
// bucket holds) but with CheckedAt zero, which keeps it due.
func (r *runner) finishEntry(ctx context.Context, t Task, results []objResult) {
	e := t.Entry
	now := r.cfg.Now().UTC()
	m := newManifest(e)
	m.RunID = r.cfg.RunID
	var uploaded, unchanged int
	var firstFail, firstSkip error
	cancelled := false
	for _, res := range results {
		switch res.status {
		case objUploaded:
			uploaded++
			m.Objects = append(m.Objects, res.rec)
		case objUnchanged:
			unchanged++
			m.Objects = append(m.Objects, res.rec)
		default:
			switch res.status {
			case objFailed:
				if firstFail == nil {
					firstFail = res.err
				}
			case objSkipped:
				if firstSkip == nil {
					firstSkip = res.err
				}
			case objCancelled:
				cancelled = true
			}
			if res.rec.Key != "" {
				m.Objects = append(m.Objects, res.rec) // the previous, still valid record
			}
		}
	}
	if m.Objects == nil {
		m.Objects = []ObjectRecord{}
	}
	slices.SortFunc(m.Objects, func(a, b ObjectRecord) int { return strings.Compare(a.Key, b.Key) })
	complete := firstFail == nil && firstSkip == nil && !cancelled
	m.UpdatedAt = now
	if uploaded == 0 && t.Prev != nil {
		m.UpdatedAt = t.Prev.UpdatedAt
	}
	if complete {
		m.CheckedAt = now
	}
	if complete || uploaded > 0 {
		info, err := writeJSONInfo(context.WithoutCancel(ctx), r.cfg.Bucket, ManifestKey(e.ID), m)
		if err != nil {
			r.fail(e, fmt.Errorf("write manifest: %w", err))
			return
		}
		r.known.add(ManifestKey(e.ID), info.ETag, m)
	}
	switch {
	case firstFail != nil:
		r.fail(e, firstFail)
	case cancelled:
		r.count(func(c *RunCounts) { c.Unfinished++ })
	case firstSkip != nil:
		r.skip(e, ReasonBudgetExceeded, firstSkip.Error())
	case uploaded > 0:
		r.count(func(c *RunCounts) { c.Done++ })
		r.cfg.Metrics.entryState(e.Domain, "done", 1)
		r.refreshed(t)
	default:
		r.count(func(c *RunCounts) { c.Unchanged++ })
		r.cfg.Metrics.entryState(e.Domain, "unchanged", 1)
		r.refreshed(t)
	}
}

// refreshed takes an entry that was stale at plan time out of the stale
// gauge once it is brought up to date, so the gauge (and the alert on it)
// counts only entries this run could not refresh.
func (r *runner) refreshed(t Task) {
	if t.Stale {
		r.cfg.Metrics.entryState(t.Entry.Domain, "stale", -1)
	}
}

// object brings one object up to date: unchanged detection, budget, then
// download attempts. The returned record is the new one on success, or the
// previous one (still valid, as nothing was committed) otherwise.
func (r *runner) object(ctx context.Context, e sources.Entry, o sources.Object, key string, prev *ObjectRecord) objResult {
	keep := ObjectRecord{}
	if prev != nil {
		keep = *prev
	}
	result := func(st objStatus, err error) objResult {
		switch st {
		case objFailed:
			r.cfg.Metrics.object(e.Domain, "failed")
			r.count(func(c *RunCounts) { c.ObjectsFailed++ })
		case objUnchanged:
			r.cfg.Metrics.object(e.Domain, "unchanged")
			r.count(func(c *RunCounts) { c.ObjectsUnchanged++ })
		}
		return objResult{status: st, rec: keep, err: err}
	}

	var cond *ObjectRecord
	if prev != nil && !r.cfg.Force {
		info, err := r.present.stat(ctx, r.cfg.Bucket, key)
		switch {
		case err == nil && info.Size == prev.Size:
			switch u := unchangedByListing(o, prev); {
			case u == listingSame:
				return result(objUnchanged, nil)
			case u == listingUnknown && (prev.SourceETag != "" || prev.LastModified != ""):
				cond = prev
			}
		case err != nil && ctx.Err() != nil:
			return result(objCancelled, nil)
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return result(objFailed, &bucketError{fmt.Errorf("stat %s: %w", key, err)})
		}
	}

	known := o.Size
	if known <= 0 && cond != nil {
		known = prev.Size // a changed object is usually about its old size
	}
	ch, err := r.budget.start(e.Family, known)
	if err != nil {
		return result(objSkipped, err)
	}
	mismatchRetried := false
	for attempt := 1; ; attempt++ {
		rec, st, err := r.attempt(ctx, e, o, key, cond, ch)
		if err == nil {
			if st == objUnchanged {
				ch.settle(0)
				return result(objUnchanged, nil)
			}
			ch.settle(rec.Size)
			r.count(func(c *RunCounts) { c.ObjectsUploaded++ })
			r.cfg.Metrics.object(e.Domain, "uploaded")
			r.cfg.Metrics.addBytes(e.Domain, rec.Size)
			r.mu.Lock()
			r.rec.Bytes += rec.Size
			r.mu.Unlock()
			return objResult{status: objUploaded, rec: rec}
		}
		if ctx.Err() != nil {
			ch.settle(0)
			return result(objCancelled, nil)
		}
		var me *mismatchError
		var te *transientError
		var be *budgetError
		switch {
		case errors.As(err, &be):
			ch.settle(0)
			return result(objSkipped, err)
		case errors.As(err, &me) && !mismatchRetried:
			mismatchRetried = true
			cond = nil // the fresh retry must not be answered with a 304
			r.log.Warn("object failed verification, retrying once", "entry", e.ID, "key", key, "reason", me.reason)
			continue
		case errors.As(err, &te) && attempt < r.cfg.TransferAttempts:
			r.log.Info("download broke, restarting", "entry", e.ID, "key", key, "attempt", attempt, "err", r.red.String(err.Error()))
			select {
			case <-time.After(r.cfg.RetryWaitMin * time.Duration(attempt)):
			case <-ctx.Done():
				ch.settle(0)
				return result(objCancelled, nil)
			}
			continue
		}
		ch.settle(0)
		return result(objFailed, fmt.Errorf("%s: %w", key, err))
	}
}

type listingVerdict int

const (
	listingUnknown listingVerdict = iota
	listingSame
	listingChanged
)

// unchangedByListing compares what the listing says with the recorded
// object, so unchanged objects cost no request at all when the publisher
// gives a checksum, an ETag or a Last-Modified.
func unchangedByListing(o sources.Object, prev *ObjectRecord) listingVerdict {
	if o.Size >= 0 && o.Size != prev.Size {
		return listingChanged
	}
	if o.Checksum != nil {
		if pc := prev.PublisherChecksum; pc != nil && pc.Algo == o.Checksum.Algo && strings.EqualFold(pc.Value, o.Checksum.Value) {
			return listingSame
		}
		return listingChanged
	}
	if o.ETag != "" && prev.SourceETag != "" {
		if o.ETag == prev.SourceETag {
			return listingSame
		}
		return listingChanged
	}
	if !o.LastModified.IsZero() && prev.LastModified != "" {
		if t, err := http.ParseTime(prev.LastModified); err == nil && t.Equal(o.LastModified.Truncate(time.Second)) {
			return listingSame
		}
		return listingChanged
	}
	return listingUnknown
}

func newHash(algo string) (hash.Hash, error) {
	switch algo {
	case "sha256":
		return sha256.New(), nil
	case "md5":
		return md5.New(), nil
	case "sha1":
		return sha1.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unsupported publisher checksum algorithm %q", algo)
}

// attempt is one download of an object streamed into the bucket:
// body -> budget/bwlimit meter -> hashes (tee) -> bucket.Put, then the
// staged object is checked against the publisher's size and checksum and
// committed only if both agree.
func (r *runner) attempt(ctx context.Context, e sources.Entry, o sources.Object, key string, cond *ObjectRecord, ch *charge) (ObjectRecord, objStatus, error) {
	sha := sha256.New()
	hashes := []io.Writer{sha}
	var pub hash.Hash
	if o.Checksum != nil {
		if o.Checksum.Algo == "sha256" {
			pub = sha
		} else {
			h, err := newHash(o.Checksum.Algo)
			if err != nil {
				return ObjectRecord{}, 0, err
			}
			pub = h
			hashes = append(hashes, h)
		}
	}

	octx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(r.cfg.StallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()

	start := time.Now()
	dl, err := openObject(octx, r.rc, o, cond, r.cfg.MaxResumes)
	if err != nil {
		if errors.Is(context.Cause(octx), errStalled) && ctx.Err() == nil {
			return ObjectRecord{}, 0, &transientError{errStalled}
		}
		return ObjectRecord{}, 0, err
	}
	if dl.notModified {
		return ObjectRecord{}, objUnchanged, nil
	}
	defer dl.body.Close()

	mr := &meteredReader{ctx: octx, r: dl.body, lim: r.bw, charge: ch, onRead: func(n int) {
		stall.Reset(r.cfg.StallTimeout)
		r.prog.bytes.Add(int64(n))
	}}
	hint := o.Size
	if hint <= 0 {
		hint = max(dl.contentLength, 0)
	}
	ctype := o.ContentType
	if ctype == "" {
		ctype = dl.contentType
	}
	r.cfg.Metrics.inflightAdd(1)
	defer r.cfg.Metrics.inflightAdd(-1)
	// On cancellation the source read stops at once (mr and the body are
	// bound to octx) and Put aborts. Letting parts already on the wire
	// finish before the abort, so that none revives the upload, is the
	// bucket's job (bucket/s3 does it under its own bounded grace).
	p, err := r.cfg.Bucket.Put(octx, key, io.TeeReader(mr, io.MultiWriter(hashes...)), bucket.PutOptions{SizeHint: hint, ContentType: ctype})
	if err != nil {
		var te *transientError
		var be *budgetError
		switch {
		case ctx.Err() != nil:
			return ObjectRecord{}, 0, ctx.Err()
		case errors.Is(context.Cause(octx), errStalled):
			return ObjectRecord{}, 0, &transientError{errStalled}
		case errors.As(err, &te), errors.As(err, &be):
			return ObjectRecord{}, 0, err
		}
		return ObjectRecord{}, 0, &bucketError{err}
	}
	abort := func() {
		if aerr := p.Abort(context.WithoutCancel(ctx)); aerr != nil {
			r.log.Warn("aborting a staged object failed", "key", key, "err", aerr)
		}
	}
	n := p.Size()
	var mis *mismatchError
	switch {
	case n != mr.n:
		mis = &mismatchError{ReasonSizeMismatch, fmt.Sprintf("bucket staged %d bytes, %d were read", n, mr.n)}
	case o.Size >= 0 && n != o.Size:
		mis = &mismatchError{ReasonSizeMismatch, fmt.Sprintf("got %d bytes, publisher lists %d", n, o.Size)}
	case o.Checksum != nil && hex.EncodeToString(pub.Sum(nil)) != strings.ToLower(o.Checksum.Value):
		mis = &mismatchError{ReasonChecksumMismatch, fmt.Sprintf("%s %s, publisher lists %s", o.Checksum.Algo, hex.EncodeToString(pub.Sum(nil)), strings.ToLower(o.Checksum.Value))}
	}
	if mis != nil {
		abort()
		return ObjectRecord{}, 0, mis
	}
	if _, err := p.Commit(ctx); err != nil {
		abort()
		if ctx.Err() != nil {
			return ObjectRecord{}, 0, ctx.Err()
		}
		return ObjectRecord{}, 0, &bucketError{fmt.Errorf("commit %s: %w", key, err)}
	}
	r.cfg.Metrics.transfer(e.Domain, time.Since(start).Seconds())
	rec := ObjectRecord{
		Key: key, SourceURL: r.red.String(redactURL(o.URL, true)), Size: n, SHA256: hex.EncodeToString(sha.Sum(nil)),
		PublisherChecksum: o.Checksum, SourceETag: dl.etag, LastModified: dl.lastModified,
		ContentType: ctype, RetrievedAt: r.cfg.Now().UTC(), RunID: r.cfg.RunID,
	}
	if rec.SourceETag == "" {
		rec.SourceETag = o.ETag
	}
	if rec.LastModified == "" && !o.LastModified.IsZero() {
		rec.LastModified = o.LastModified.UTC().Format(http.TimeFormat)
	}
	return rec, objUploaded, nil
}
