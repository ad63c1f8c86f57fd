package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/internal/units"
	"github.com/astroingest/astroingest/sources"
)

const pullHelp = `
Usage: astroingest pull --to DIR [--domain D | --family F | --source GLOB]... [--max-bytes N] [--bucket URL]

Copies the mirror, or a selection of it, onto local disk (a training
pod's scratch volume, say), keeping the bucket's layout: the object at key
K lands at DIR/K. Without a selection, every entry of
annotations/catalog.json is pulled.

Every file is verified while it streams against the sha256 and size that
its entry's object index (annotations/index/) records; an entry written
before the index existed is verified against its head's records instead,
with a warning. A file that does not match is fetched once more, then
reported by key (exit 1) and never left under its name: a file gets its
name only once it is complete, verified and synced. On Linux it has no
name at all until then (O_TMPFILE, then linked in place); elsewhere, or
where the filesystem cannot, it is written under a temporary name beside
its final one, then renamed.

A rerun skips files already present and verified without reading them
again: DIR/.astroingest/ keeps, per entry, a journal of the size, mtime
and sha256 of every file pull verified. A file changed since is fetched
again; --verify re-hashes every present file instead of trusting the
journal. Objects of at least twice --part-size are fetched in parallel
ranged GETs.

Pull only reads the bucket. On R2, give it a token of its own: in the
Cloudflare dashboard, R2 > Manage API tokens > Create API token, with
permission "Object Read only", applied to the one bucket. Pods that must
hold no key at all can use 'astroingest presign' URLs instead.

Interrupted (SIGINT, SIGTERM), it removes its temporary files and exits 3:
only complete, verified files are left, and a rerun goes on from there.

Examples:
  astroingest pull --bucket r2://mirror --family noaa-ersst-v5 --to /data
  astroingest pull --bucket r2://mirror --domain climate --max-bytes 500GiB --to /scratch/mirror
  astroingest pull --bucket s3://mirror/prefix --source 'gaia-dr3-*' --to /data --bwlimit 200MiB --json
  astroingest pull --bucket r2://mirror --family noaa-ersst-v5 --to /data --verify

Exit codes: 0 everything selected is in DIR, verified (what --max-bytes
left out is named in the summary); 1 some objects failed (named); 2 bad
usage or configuration, or no such mirror or selection (nothing written);
3 interrupted; 4 another pull is writing into DIR.
`

type pullFlags struct {
	bucket   *string
	to       *string
	domains  listFlag
	families listFlag
	globs    listFlag
	maxBytes bytesFlag
	bwlimit  bytesFlag
	partSize bytesFlag
	workers  *int
	verify   *bool
	jsonOut  *bool
	debug    *bool
}

func addPullFlags(fs *flag.FlagSet) *pullFlags {
	f := &pullFlags{partSize: s3.DefaultPartSize}
	f.bucket = bucketFlag(fs, defaultBucket)
	f.to = fs.String("to", "", "destination `DIR` (required); the object at key K lands at DIR/K")
	fs.Var(&f.domains, "domain", "select entries of this domain, repeatable: one of "+fmt.Sprint(sources.Domains()))
	fs.Var(&f.families, "family", "select entries of this family ID, repeatable")
	fs.Var(&f.globs, "source", "select entries whose ID matches this glob, repeatable (e.g. 'gaia-dr3-*')")
	fs.Var(&f.maxBytes, "max-bytes", "stop adding objects once the selection passes this size (e.g. 500GiB); the summary says what was left out")
	fs.Var(&f.bwlimit, "bwlimit", "cap the read rate in bytes/s (e.g. 100MiB)")
	fs.Var(&f.partSize, "part-size", "ranged GET size for large objects (those of at least twice it are fetched in parallel parts); as upload parts, 5MiB to 5GiB")
	f.workers = fs.Int("workers", 4, "concurrent large objects (1 MiB and up), each with 4 ranged GETs in flight; small objects get 4x as many besides")
	f.verify = fs.Bool("verify", false, "re-hash every file already present instead of trusting DIR/.astroingest's journal")
	f.jsonOut = fs.Bool("json", false, "print a final summary as JSON on stdout")
	f.debug = fs.Bool("debug", false, "debug logging")
	return f
}

// config checks the flags before anything is opened, so that a bad value
// writes nothing and names its flag.
func (f *pullFlags) config() (ingest.PullConfig, error) {
	cfg := ingest.PullConfig{
		Dir:       *f.to,
		Selection: ingest.Selection{Domains: f.domains, Families: f.families, Sources: f.globs},
		Workers:   *f.workers, PartSize: int64(f.partSize),
		MaxBytes: int64(f.maxBytes), BWLimit: int64(f.bwlimit), Verify: *f.verify,
	}
	var fe *ingest.FieldError
	switch err := cfg.Validate(); {
	case err == nil:
	case errors.As(err, &fe) && fe.Field == ingest.FieldDir:
		return cfg, errors.New("--to DIR is required: where the files go")
	case errors.As(err, &fe) && fe.Field == ingest.FieldPartSize:
		return cfg, fmt.Errorf("--part-size %s: %w", units.FormatBytes(cfg.PartSize), fe.Err)
	case errors.As(err, &fe) && fe.Field == ingest.FieldWorkers:
		return cfg, fmt.Errorf("--workers %d: %w", *f.workers, fe.Err)
	default:
		return cfg, asFlagError(err)
	}
	switch {
	case *f.workers < 1:
		return cfg, fmt.Errorf("--workers %d: want 1 to 1024", *f.workers)
	case f.maxBytes < 0:
		return cfg, fmt.Errorf("--max-bytes %d: must not be negative", f.maxBytes)
	case f.bwlimit < 0:
		return cfg, fmt.Errorf("--bwlimit %d: must not be negative", f.bwlimit)
	}
	return cfg, nil
}

func runPull(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pull", pullHelp, stderr)
	f := addPullFlags(fs)
	if code := parseNoArgs(fs, args); code >= 0 {
		return code
	}
	cfg, err := f.config()
	if err != nil {
		fmt.Fprintf(stderr, "pull: %v\n", err)
		return exitUsage
	}
	logger := newLogger(stderr, *f.debug)
	r, err := openReader(ctx, *f.bucket, os.Getenv, logger)
	if err != nil {
		fmt.Fprintf(stderr, "pull: %v\n", err)
		return exitUsage
	}
	cfg.Bucket, cfg.Logger = r, logger
	tuneGC(os.Getenv)
	cfg.Progress = ingest.ProgressConfig{Out: stderr, TTY: isTerminal(stderr)}
	sum, err := ingest.Pull(ctx, cfg)
	return pullExit(ctx, stdout, stderr, logger, f, sum, err)
}

// pullGCPercent is pull's GOGC. Its live heap is a few MiB (chunk
// buffers, one entry's journal), so at the default of 100 the collector
// ran every few MiB allocated, and with the SDK's garbage per request
// that was a fifth of the CPU of 16 KiB objects: 5,000 of them went from
// 70 to 87 MiB/s at 400, for some 20 MiB more of peak RSS.
const pullGCPercent = 400

// tuneGC sets pullGCPercent unless the user set GOGC.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(pullGCPercent)
	}
}

// pullExit reports the outcome: the summary on stderr (and stdout with
// --json) and the exit code of the contract.
func pullExit(ctx context.Context, stdout, stderr io.Writer, logger *slog.Logger, f *pullFlags, sum ingest.PullSummary, err error) int {
	var usage *ingest.UsageError
	switch {
	case errors.Is(err, ingest.ErrNoMirror):
		fmt.Fprintf(stderr, "pull: no mirror found at %s (no annotations/catalog.json); check --bucket\n", redact.URL(*f.bucket))
		return exitUsage
	case errors.Is(err, ingest.ErrNoEntryMatches):
		sel := ingest.Selection{Domains: f.domains, Families: f.families, Sources: f.globs}
		fmt.Fprintf(stderr, "pull: %v the selection (%s)\n", err, sel)
		return exitUsage
	case errors.Is(err, ingest.ErrDirBusy):
		fmt.Fprintf(stderr, "pull: --to %s: %v; retry when it is done\n", *f.to, ingest.ErrDirBusy)
		return exitBusy
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "pull: --to %s: %v\n", *f.to, err)
		return exitUsage
	}
	logPullSummary(logger, sum)
	if *f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sum)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "pull: interrupted; only complete, verified files are in %s, and a rerun goes on from there\n", *f.to)
		return exitInterrupted
	case err != nil && sum.Failed == 0:
		// Not an object's failure (those are listed below): the pull
		// stopped before or between objects, and says why.
		fmt.Fprintf(stderr, "pull: %v\n", err)
		return exitFailed
	case err != nil:
		for _, fl := range sum.Failures {
			fmt.Fprintf(stderr, "pull: failed: %s\n", failureText(fl))
		}
		if n := sum.Failed - len(sum.Failures); n > 0 {
			fmt.Fprintf(stderr, "pull: ... and %d more\n", n)
		}
		return exitFailed
	}
	return exitOK
}

func failureText(fl ingest.PullFailure) string {
	if fl.Key == "" {
		return fmt.Sprintf("entry %s: %s", fl.Entry, fl.Error)
	}
	return fmt.Sprintf("%s (entry %s): %s", fl.Key, fl.Entry, fl.Error)
}

func logPullSummary(logger *slog.Logger, s ingest.PullSummary) {
	logger.Info("pulled", "entries", s.Entries, "objects", s.Objects, "bytes", s.Bytes,
		"fetched", s.Fetched, "fetched_bytes", s.FetchedBytes, "present", s.Present, "rehashed", s.Rehashed,
		"failed", s.Failed, "seconds", s.Seconds)
	if l := s.LeftOut; l != nil {
		logger.Warn("--max-bytes left objects out", "objects", l.Objects, "bytes", l.Bytes,
			"size", units.FormatBytes(l.Bytes), "from_key", l.FirstKey, "entries_not_started", l.Entries)
	}
	if len(s.FromRecords) > 0 {
		logger.Warn("entries verified against their head's records (no object index yet; astroingest run writes it)", "entries", s.FromRecords)
	}
}
