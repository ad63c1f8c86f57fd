package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/emulator/demo"
	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/internal/units"
	"github.com/prometheus/client_golang/prometheus"
)

const defaultDemoBucket = "file://./demo-mirror"

const demoHelp = `
Usage: astroingest demo [flags]

The whole pipeline offline, for a first look and for benchmarks. demo starts
emulators of the publishers on 127.0.0.1 (an HTTP file tree with Apache,
nginx and S3 listings, md5sum and metalink checksum files, NCBI
assembly_summary.txt, MAST, the Copernicus CDS API and an ESO-like TAP
service), generates a registry of --entries entries across every kind and
all four domains (ERSST-like monthly netCDF, Gaia-like gaia_source with
_MD5SUM.txt, NCBI assembly folders, UniProt metalink, JWST products, ERA5
jobs, ESO cubes and spectra, the PHOENIX FITS grid ...), and mirrors it into
--bucket exactly as 'astroingest run' would: the same engine, progress,
summary (--json), metrics and exit codes. Only the sources are emulated; the
bucket is real.

The data are deterministic pseudo-random bytes, and every manifest marks them
as demo data (title "DEMO: ...", keys under <domain>/demo/). Run demo twice
into one bucket and the second run rewrites nothing: entries are fresh by
their schedule, or with --recheck every source is asked again and every
object is found unchanged (checksums, ETags, 304s). The default of 300
entries is about 100 MiB and takes seconds. The emulated CDS accepts a demo
token that is set only inside this process; your own credentials are never
read or sent.

ASTROINGEST_BUCKET is deliberately not used: demo data never lands in your
configured bucket unless you name it with --bucket.

Examples:
  astroingest demo                                  # into ./demo-mirror
  astroingest verify --deep --bucket file://./demo-mirror
  astroingest demo --recheck                        # ask every source again: all unchanged
  astroingest demo --entries 3000 --workers 16 --json --bucket file:///tmp/bench
  AWS_ENDPOINT_URL_S3=http://127.0.0.1:7070 astroingest demo --bucket s3://demo
  astroingest demo --keep-serving                   # then explore with --registry
`

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", demoHelp, stderr)
	bucketURL := fs.String("bucket", defaultDemoBucket, "destination: file://DIR, s3://BUCKET[/PREFIX] or r2://BUCKET[/PREFIX] (ASTROINGEST_BUCKET is not read)")
	workers := fs.Int("workers", 4, "concurrent object transfers")
	entries := fs.Int("entries", demo.DefaultEntries, fmt.Sprintf("registry entries to generate, %d to %d (about 0.4 MiB of data each)", demo.MinEntries(), demo.MaxEntries))
	recheck := fs.Bool("recheck", false, "ask every source again even when its schedule says fresh (backfill without --force): shows the unchanged path")
	jsonOut := fs.Bool("json", false, "print a final summary as JSON on stdout")
	metricsListen := fs.String("metrics-listen", "", "serve /metrics on this address while running (e.g. :9090)")
	pushgateway := fs.String("pushgateway", "", "push the run's metrics to this Pushgateway URL at the end")
	keepServing := fs.Bool("keep-serving", false, "after the run, keep the emulators up and write their registry to a temporary folder until interrupted")
	debug := fs.Bool("debug", false, "debug logging")
	if code := parseNoArgs(fs, args); code >= 0 {
		return code
	}
	if err := (&ingest.Config{Workers: *workers}).Validate(); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", asFlagError(err))
		return exitUsage
	}
	if err := checkOutputFlags(*metricsListen, *pushgateway); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitUsage
	}
	if lo, hi := demo.MinEntries(), demo.MaxEntries; *entries < lo || *entries > hi {
		fmt.Fprintf(stderr, "demo: --entries %d: want %d to %d (the smallest demo still covers every kind and domain)\n", *entries, lo, hi)
		return exitUsage
	}
	logger := newLogger(stderr, *debug)

	// The bucket first: a wrong --bucket is reported before anything starts.
	metrics := prometheus.NewRegistry() // the bucket's; runEngine adds the engine's
	b, err := openBucket(ctx, *bucketURL, os.Getenv, logger, metrics)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitUsage
	}
	world, err := demo.Start(demo.Options{Entries: *entries})
	if err != nil {
		// The size was checked above: what is left is a bug in the demo.
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return exitFailed
	}
	defer world.Close()
	reg := world.Registry
	kinds := kindTable()
	cfg := ingest.Config{
		Bucket: b, Entries: reg.Entries, Hosts: reg.Hosts, Kinds: kinds,
		Mode: ingest.ModeRun, Workers: *workers,
		Getenv:    world.Getenv,
		UserAgent: userAgent(), Holder: processName(), Logger: logger,
	}
	if *recheck {
		cfg.Mode, cfg.Selection = ingest.ModeBackfill, ingest.Selection{Sources: []string{"*"}}
	}
	logger.Info("demo sources started", "url", world.Server.URL(), "entries", len(reg.Entries),
		"objects", world.Objects, "bytes", world.Bytes, "size", units.FormatBytes(world.Bytes), "bucket", redact.URL(*bucketURL))

	code, rec := runEngine(ctx, "demo", cfg, engineOutput{registry: metrics, metricsListen: *metricsListen, pushgateway: *pushgateway, jsonOut: *jsonOut}, stdout, stderr)
	if rec != nil && !*jsonOut {
		unfinished := ""
		if rec.Counts.Unfinished > 0 {
			unfinished = fmt.Sprintf(", %d unfinished", rec.Counts.Unfinished)
		}
		fmt.Fprintf(stderr, "\ndemo: %d entries: %d mirrored, %d unchanged, %d fresh, %d failed%s; %d objects uploaded (%s), %d unchanged, in %.1fs\n",
			rec.Counts.Selected, rec.Counts.Done, rec.Counts.Unchanged, rec.Counts.Fresh, rec.Counts.Failed, unfinished,
			rec.Counts.ObjectsUploaded, units.FormatBytes(rec.Bytes), rec.Counts.ObjectsUnchanged, rec.DurationSeconds)
	}
	// A half-made mirror is not one to verify: the rerun comes first.
	if !noteInterrupted(stderr, "demo", rec) && rec != nil && !*jsonOut {
		fmt.Fprintf(stderr, "next: astroingest verify --deep --bucket %s\n      astroingest demo --recheck --bucket %s\n", redact.URL(*bucketURL), redact.URL(*bucketURL))
	}
	if *keepServing && ctx.Err() == nil {
		if err := serveDemo(ctx, world, *bucketURL, stderr); err != nil {
			fmt.Fprintf(stderr, "demo: --keep-serving: %v\n", err)
			return exitFailed
		}
	}
	return code
}

// serveDemo keeps the emulators up until ctx ends, with their registry
// written where other commands can read it.
func serveDemo(ctx context.Context, world *demo.World, bucketURL string, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "astroingest-demo-registry-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := world.WriteRegistry(dir); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ndemo: the emulators keep serving at %s until Ctrl-C.\n", world.Server.URL())
	fmt.Fprintf(&b, "Their registry is in %s (removed on exit). Try:\n", dir)
	fmt.Fprintf(&b, "  astroingest sources list --registry %s\n", dir)
	fmt.Fprintf(&b, "  astroingest plan --backfill --domain climate --registry %s --bucket %s\n", dir, redact.URL(bucketURL))
	fmt.Fprintf(&b, "  %s=%s astroingest backfill --source 'demo-era5-*' --registry %s --bucket %s\n",
		demo.CDSEnv, demo.CDSToken, dir, redact.URL(bucketURL))
	fmt.Fprintf(&b, "  curl %s/Gaia/gdr3/gaia_source/_MD5SUM.txt\n", world.Server.URL())
	fmt.Fprintf(&b, "(%s=%s is the emulator's published demo token, not a secret.)\n", demo.CDSEnv, demo.CDSToken)
	fmt.Fprint(stderr, b.String())
	<-ctx.Done()
	return nil
}
