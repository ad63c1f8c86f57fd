package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/units"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/cds"
	"github.com/astroingest/astroingest/sources/httpkind"
	"github.com/astroingest/astroingest/sources/index"
	"github.com/astroingest/astroingest/sources/manifest"
	"github.com/astroingest/astroingest/sources/mast"
	"github.com/astroingest/astroingest/sources/tap"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// kindTable is the one place kinds are wired: no init() registration. The
// loader checks the registry against it and the engine runs entries with
// it, so a kind name is known to both or to neither.
func kindTable() map[string]sources.Kind {
	return map[string]sources.Kind{
		"http":     httpkind.New(),
		"index":    index.New(),
		"manifest": manifest.New(),
		"mast":     mast.New(mast.Options{}),
		"cds":      cds.New(cds.Options{}),
		"tap":      tap.New(tap.Options{}),
	}
}

// listFlag is a repeatable flag of selection values (domains, family IDs,
// ID globs); commas also separate values. --registry is registryPaths.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// bytesFlag accepts 10M, 1.5G, 64MiB and plain byte counts: the syntax of
// internal/units.
type bytesFlag int64

func (b *bytesFlag) String() string { return fmt.Sprint(int64(*b)) }
func (b *bytesFlag) Set(v string) error {
	n, err := units.ParseBytes(v)
	*b = bytesFlag(n)
	return err
}

// runFlags are the flags of run, backfill and plan.
type runFlags struct {
	bucket        *string
	registry      *registryPaths
	domains       listFlag
	families      listFlag
	sourceGlobs   listFlag
	workers       *int
	shard         *string
	shardCount    *int
	shardCountSet bool
	dryRun        *bool
	force         *bool
	allowGated    *bool
	bwlimit       bytesFlag
	maxBytes      bytesFlag
	metricsListen *string
	pushgateway   *string
	breakLease    *string
	leaseTTL      *time.Duration
	jsonOut       *bool
	debug         *bool
}

func addRunFlags(fs *flag.FlagSet, mode string) *runFlags {
	f := &runFlags{}
	f.bucket = bucketFlag(fs, defaultBucket)
	f.registry = registryFlag(fs)
	fs.Var(&f.domains, "domain", "select entries of this domain, repeatable: "+strings.Join(sources.Domains(), ", "))
	fs.Var(&f.families, "family", "select entries of this family ID, repeatable")
	fs.Var(&f.sourceGlobs, "source", "select entries whose ID matches this glob, repeatable (e.g. 'noaa-ersst-v5-2024*')")
	f.workers = fs.Int("workers", 4, "concurrent transfers of large objects and entries listed at once; small objects get 4x as many besides (see Concurrency below)")
	f.shard = fs.String("shard", "", "this process's shard I/N (default: JOB_COMPLETION_INDEX and --shard-count)")
	f.shardCount = fs.Int("shard-count", 0, "number of shards when --shard is not given (default: env SHARD_COUNT, else 1)")
	f.allowGated = fs.Bool("allow-gated", false, "also fetch from hosts whose gate variable is not set to 1 (read the host's gate_reason first)")
	f.force = fs.Bool("force", false, "refetch entries even when they are unchanged")
	if mode != "plan" {
		f.dryRun = fs.Bool("dry-run", false, "print the plan and exit without writing or fetching")
		fs.Var(&f.bwlimit, "bwlimit", "cap the whole run's download rate in bytes/s (e.g. 10M, 1.5G)")
		fs.Var(&f.maxBytes, "max-bytes", "stop starting downloads once this many bytes were fetched (e.g. 500G); the rest stays due")
		f.metricsListen = fs.String("metrics-listen", "", "serve /metrics on this address while running (e.g. :9090)")
		f.pushgateway = fs.String("pushgateway", "", "push the run's metrics to this Pushgateway URL at the end")
		f.breakLease = fs.String("break-lease", "", "take over the live lease of this `holder` (as a busy run names it), which you know is gone; logged as a warning")
		f.leaseTTL = fs.Duration("lease-ttl", 10*time.Minute, "how long the run's lease outlives its last renewal (renewed every third of it)")
	}
	f.jsonOut = fs.Bool("json", false, "print a final summary as JSON on stdout")
	f.debug = fs.Bool("debug", false, "debug logging")
	return f
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIngest(ctx, ingest.ModeRun, runHelp, args, stdout, stderr)
}

func runBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIngest(ctx, ingest.ModeBackfill, backfillHelp, args, stdout, stderr)
}

// setup parses the shared flags and builds the config (without metrics).
// noteSetFlags records which flags were given, for those whose zero
// value differs from "not given".
func (f *runFlags) noteSetFlags(fs *flag.FlagSet) {
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "shard-count" {
			f.shardCountSet = true
		}
	})
}

// config builds the engine's config from the flags. metrics is the registry
// the bucket's metrics go on (nil for none); plan and --dry-run get a
// read-only bucket without metrics.
func (f *runFlags) config(ctx context.Context, mode ingest.Mode, name string, stderr io.Writer, logger *slog.Logger, metrics prometheus.Registerer) (ingest.Config, bucket.Reader, int) {
	if f.metricsListen != nil {
		if err := checkOutputFlags(*f.metricsListen, *f.pushgateway); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return ingest.Config{}, nil, exitUsage
		}
	}
	// 0 is the flag's shown default, but an explicit --shard-count 0 is an
	// error, so "not given" is told apart by whether the flag was set.
	count := shardCountUnset
	if f.shardCountSet {
		count = *f.shardCount
	}
	sh, err := parseShard(*f.shard, count, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ingest.Config{}, nil, exitUsage
	}
	wl, err := workloadFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ingest.Config{}, nil, exitUsage
	}
	if f.leaseTTL != nil && *f.leaseTTL <= 0 {
		fmt.Fprintf(stderr, "%s: --lease-ttl %v: must be positive\n", name, *f.leaseTTL)
		return ingest.Config{}, nil, exitUsage
	}
	sel := ingest.Selection{Domains: f.domains, Families: f.families, Sources: f.sourceGlobs}
	choice := ingest.Config{Mode: mode, Selection: sel, Shard: sh, Workers: *f.workers}
	if err := choice.Validate(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, asFlagError(err))
		return ingest.Config{}, nil, exitUsage
	}
	kinds := kindTable()
	reg, err := loadRegistry(kinds, *f.registry)
	if err != nil {
		return ingest.Config{}, nil, reportRegistryError(stderr, name, err)
	}
	if n := countSelected(reg.Entries, sel); n == 0 {
		fmt.Fprintf(stderr, "%s: the selection (%s) matches no registry entry\n", name, sel)
		return ingest.Config{}, nil, exitUsage
	}
	r, b, err := f.open(ctx, logger, metrics)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ingest.Config{}, nil, exitUsage
	}
	cfg := ingest.Config{
		Bucket: b, Entries: reg.Entries, Hosts: reg.Hosts, Kinds: kinds,
		Mode: mode, Selection: sel, Shard: sh, Force: *f.force, AllowGated: *f.allowGated,
		Workers: *f.workers, BWLimit: int64(f.bwlimit), MaxBytes: int64(f.maxBytes),
		UserAgent: userAgent(), Holder: processName(), Job: os.Getenv("JOB_NAME"), Logger: logger,
		Workload: wl,
	}
	if f.breakLease != nil {
		cfg.BreakLease, cfg.Lease.TTL = *f.breakLease, *f.leaseTTL
	}
	return cfg, r, -1
}

// open opens --bucket. plan and --dry-run only read the manifests, so
// they get a bucket.Reader and no bucket to write (w is nil); the run
// commands get both, as one bucket.
func (f *runFlags) open(ctx context.Context, logger *slog.Logger, reg prometheus.Registerer) (r bucket.Reader, w bucket.Bucket, err error) {
	if f.dryRun == nil || *f.dryRun {
		r, err = openReader(ctx, *f.bucket, os.Getenv, logger)
		return r, nil, err
	}
	w, err = openBucket(ctx, *f.bucket, os.Getenv, logger, reg)
	return w, w, err
}

func countSelected(es []sources.Entry, sel ingest.Selection) int {
	n := 0
	for _, e := range es {
		if sel.Match(e) {
			n++
		}
	}
	return n
}

func runIngest(ctx context.Context, mode ingest.Mode, help string, args []string, stdout, stderr io.Writer) int {
	name := string(mode)
	fs := newFlagSet(name, help, stderr)
	f := addRunFlags(fs, name)
	if code := parseNoArgs(fs, args); code >= 0 {
		return code
	}
	f.noteSetFlags(fs)
	logger := newLogger(stderr, *f.debug)
	metrics := prometheus.NewRegistry()
	cfg, r, code := f.config(ctx, mode, name, stderr, logger, metrics)
	if code >= 0 {
		return code
	}
	if *f.dryRun {
		return printPlan(ctx, r, cfg, *f.jsonOut, stdout, stderr)
	}
	code, rec := runEngine(ctx, name, cfg, engineOutput{registry: metrics, metricsListen: *f.metricsListen, pushgateway: *f.pushgateway, jsonOut: *f.jsonOut}, stdout, stderr)
	noteInterrupted(stderr, name, rec)
	return code
}

// noteInterrupted tells a person reading stderr that the run did not
// finish, what is left and that a rerun resumes, so that an interrupted
// run's counts do not read like a finished one's.
func noteInterrupted(stderr io.Writer, name string, rec *ingest.RunRecord) bool {
	if rec == nil || !rec.Interrupted {
		return false
	}
	fmt.Fprintf(stderr, "%s: interrupted: %s unfinished; rerun to resume\n", name, plural(rec.Counts.Unfinished, "entry"))
	return true
}

// engineOutput is how a run reports: /metrics while running, a push at the
// end, and the --json summary. registry is required: the one the bucket's
// metrics are already on (see openBucket), which the engine's join, so
// that /metrics and the push carry both.
type engineOutput struct {
	registry                   *prometheus.Registry
	metricsListen, pushgateway string
	jsonOut                    bool
}

// runEngine runs cfg the way run, backfill and demo share: metrics, the
// terminal progress, the push, the summary and the exit-code mapping.
// name is the command, which also groups the pushed metrics.
func runEngine(ctx context.Context, name string, cfg ingest.Config, out engineOutput, stdout, stderr io.Writer) (int, *ingest.RunRecord) {
	logger := cfg.Logger
	reg := out.registry
	m, err := ingest.NewMetrics(reg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFailed, nil
	}
	cfg.Metrics = m
	if out.metricsListen != "" {
		ln, err := net.Listen("tcp", out.metricsListen)
		if err != nil {
			fmt.Fprintf(stderr, "%s: --metrics-listen %q: %v\n", name, out.metricsListen, err)
			return exitUsage, nil
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		logger.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	}
	if isTerminal(stderr) {
		cfg.Progress = ingest.ProgressConfig{Out: stderr, TTY: true}
	}

	rec, err := ingest.Run(ctx, cfg)
	var busy *ingest.LeaseHeldError
	if out.pushgateway != "" {
		// Pushed also after failures and interruptions, so the dashboard
		// sees the run that went wrong; a push failure never changes the
		// exit code. A busy run did nothing: it only records that it was
		// skipped, and the last real run's numbers stay.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		succeeded := err == nil && rec != nil && rec.Counts.Failed == 0 && ctx.Err() == nil
		var perr error
		if errors.As(err, &busy) {
			perr = ingest.PushBusy(pctx, out.pushgateway, name, cfg.Shard, time.Now(), nil)
		} else {
			perr = ingest.Push(pctx, out.pushgateway, name, cfg.Shard, succeeded, reg, nil)
		}
		if perr != nil {
			logger.Warn("pushing metrics failed", "err", perr)
		}
		cancel()
	}
	// The record is printed whenever the engine returned one, also with an
	// error (its write to the bucket failed): then it is the only account
	// of what the run did.
	if out.jsonOut && rec != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rec)
	}
	if err != nil {
		var ue *ingest.UsageError
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		switch {
		case errors.As(err, &ue):
			return exitUsage, rec
		case busy != nil || errors.As(err, &busy):
			return exitBusy, rec
		}
		if rec == nil && ctx.Err() != nil {
			return exitInterrupted, rec
		}
		return exitFailed, rec
	}
	return runExitCode(rec), rec
}

// runExitCode maps a finished run to the exit-code contract.
func runExitCode(rec *ingest.RunRecord) int {
	switch {
	case rec.Interrupted:
		return exitInterrupted
	case len(rec.Failures) > 0:
		return exitFailed
	}
	return exitOK
}

// asFlagError words the engine's field errors as the flags that set
// those fields; other errors are returned as they are.
func asFlagError(err error) error {
	var fe *ingest.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	flagOf := map[string]string{
		ingest.FieldSources: "--source", ingest.FieldDomains: "--domain",
		ingest.FieldShard: "--shard",
	}
	switch {
	case fe.Field == ingest.FieldSelection:
		return errors.New("name what to backfill with --domain, --family or --source GLOB")
	case fe.Field == ingest.FieldWorkers:
		return fmt.Errorf("--workers %s: %w", fe.Value, fe.Err)
	case flagOf[fe.Field] != "":
		return fmt.Errorf("%s %q: %w", flagOf[fe.Field], fe.Value, fe.Err)
	}
	return err
}
