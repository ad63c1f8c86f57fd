package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/sources"
)

const presignHelp = `
Usage: astroingest presign [--domain D | --family F | --source GLOB]... [--expires DURATION] [--format lines|aria2] [--bucket URL]

Prints time-limited GET URLs for the objects of a selection of the mirror,
for readers that must hold no key at all (training pods): whoever holds a
URL can read that one object until it expires, and nothing else. The
objects and their sha256 are those 'astroingest pull' verifies against:
each entry's object index (annotations/index/), or its head's records
where it has none yet (with a warning). Without a selection, every entry
of annotations/catalog.json. Signing happens here, offline:
run it where the credentials are and hand the output to the pod.

The URLs are bearer secrets until they expire: they go to stdout only,
never to the log (stderr). Store the file as you would a key.

--expires is at most 7 days (168h), the limit of SigV4 presigned URLs on
S3 and R2 alike. --format aria2 writes an aria2c input file: each URL,
then its object's key as out= and its recorded sha256 as checksum=, so
that stock aria2c saves the mirror's layout and verifies every byte.

Needs an s3:// or r2:// bucket (a file:// directory has no URLs to give).

Examples:
  astroingest presign --bucket r2://mirror --family noaa-ersst-v5 > urls.txt
  astroingest presign --bucket r2://mirror --domain climate --expires 72h --format aria2 > urls.txt
  aria2c -i urls.txt --check-integrity=true -d /data
`

// presignFormats are the output formats of presign, by --format value.
var presignFormats = map[string]func(w io.Writer, url string, o ingest.EntryObject) error{
	"lines": func(w io.Writer, url string, _ ingest.EntryObject) error {
		_, err := fmt.Fprintln(w, url)
		return err
	},
	// aria2c's input file: a URI line, then options indented by white
	// space, one per line, that apply to that URI.
	"aria2": func(w io.Writer, url string, o ingest.EntryObject) error {
		if _, err := fmt.Fprintf(w, "%s\n  out=%s\n", url, o.Key); err != nil {
			return err
		}
		if o.SHA256 == "" {
			return nil
		}
		_, err := fmt.Fprintf(w, "  checksum=sha-256=%s\n", o.SHA256)
		return err
	},
}

type presignFlags struct {
	bucket   *string
	domains  listFlag
	families listFlag
	globs    listFlag
	expires  daysFlag
	format   *string
	debug    *bool
}

func runPresign(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("presign", presignHelp, stderr)
	f := addPresignFlags(fs)
	if code := parseNoArgs(fs, args); code >= 0 {
		return code
	}
	sel, write, err := f.check()
	if err != nil {
		fmt.Fprintf(stderr, "presign: %v\n", err)
		return exitUsage
	}
	logger := newLogger(stderr, *f.debug)
	r, err := openReader(ctx, *f.bucket, os.Getenv, logger)
	if err == nil {
		// Signing is local, so a key that is never read proves that this
		// bucket can presign before anything is printed.
		_, err = bucket.PresignGet(ctx, r, annotations.CatalogKey, f.expires.d)
	}
	if err != nil {
		fmt.Fprintf(stderr, "presign: --bucket %s: %v\n", redact.URL(*f.bucket), err)
		return exitUsage
	}
	out := bufio.NewWriter(stdout)
	n, err := presignSelection(ctx, r, sel, f.expires.d, logger, func(url string, o ingest.EntryObject) error {
		return write(out, url, o)
	})
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write: %w", ferr)
	}
	return presignExit(ctx, stderr, logger, f, n, err)
}

func addPresignFlags(fs *flag.FlagSet) *presignFlags {
	f := &presignFlags{}
	f.bucket = bucketFlag(fs, defaultBucket)
	fs.Var(&f.domains, "domain", "select entries of this domain, repeatable: one of "+fmt.Sprint(sources.Domains()))
	fs.Var(&f.families, "family", "select entries of this family ID, repeatable")
	fs.Var(&f.globs, "source", "select entries whose ID matches this glob, repeatable (e.g. 'gaia-dr3-*')")
	f.expires = daysFlag{d: 24 * time.Hour, raw: "24h"}
	fs.Var(&f.expires, "expires", "how long the URLs work, e.g. 90m, 24h, 3d; at most 7d (the S3 and R2 limit)")
	f.format = fs.String("format", "lines", "lines (one URL per line) or aria2 (an aria2c input file with out= and checksum=)")
	f.debug = fs.Bool("debug", false, "debug logging (never shows a URL)")
	return f
}

// check validates the flags before the bucket is opened, so a bad value
// prints nothing and names its flag.
func (f *presignFlags) check() (ingest.Selection, func(io.Writer, string, ingest.EntryObject) error, error) {
	if err := bucket.CheckPresignExpiry(f.expires.d); err != nil {
		return ingest.Selection{}, nil, fmt.Errorf("--expires %s: %w", f.expires.raw, err)
	}
	write, ok := presignFormats[*f.format]
	if !ok {
		return ingest.Selection{}, nil, fmt.Errorf("--format %q: want lines or aria2", *f.format)
	}
	sel := ingest.Selection{Domains: f.domains, Families: f.families, Sources: f.globs}
	if err := sel.Validate(); err != nil {
		return ingest.Selection{}, nil, asFlagError(err)
	}
	return sel, write, nil
}

// daysFlag is a time.Duration flag that also takes whole days (7d, 1d12h),
// the unit presign limits are stated in. raw is kept for error messages,
// so the user sees the value they typed.
type daysFlag struct {
	d   time.Duration
	raw string
}

func (f *daysFlag) String() string { return f.raw }
func (f *daysFlag) Set(v string) error {
	d, err := parseDays(v)
	if err != nil {
		return err
	}
	f.d, f.raw = d, v
	return nil
}

// parseDays is time.ParseDuration with an optional leading "Nd".
func parseDays(v string) (time.Duration, error) {
	days, rest, ok := strings.Cut(v, "d")
	n, err := strconv.Atoi(days)
	if !ok || err != nil {
		return time.ParseDuration(v)
	}
	if n > 100_000 || n < -100_000 { // beyond time.Duration's 292 years
		return 0, fmt.Errorf("time: invalid duration %q", v)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil || strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
		return 0, fmt.Errorf("time: invalid duration %q", v)
	}
	return d + r, nil
}

// presignSelection signs every object of the catalog's entries that sel
// matches, entry by entry in catalog order, from the rows pull verifies
// against (ingest.SelectCatalog and ingest.EntryObjects: the object index,
// else the head's records), so that presign and pull name the same objects
// and the same sha256. Only the catalog (counts, never object lists) and
// one entry's rows at a time are read, and the entries sel excludes never.
func presignSelection(ctx context.Context, r bucket.Reader, sel ingest.Selection, expires time.Duration, logger *slog.Logger, emit func(string, ingest.EntryObject) error) (int, error) {
	entries, err := ingest.SelectCatalog(ctx, r, sel)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		objs, fromRecords, err := ingest.EntryObjects(ctx, r, e)
		if err != nil {
			return n, fmt.Errorf("entry %s: %w", e.ID, err)
		}
		if fromRecords {
			logger.Warn("entry has no object index; presigning its head's records instead (astroingest run writes the index)", "entry", e.ID, "head", e.Manifest)
		}
		for o, err := range objs {
			if err != nil {
				return n, fmt.Errorf("entry %s: %w", e.ID, err)
			}
			url, err := bucket.PresignGet(ctx, r, o.Key, expires)
			if err != nil {
				return n, fmt.Errorf("entry %s: %w", e.ID, err)
			}
			if err := emit(url, o); err != nil {
				return n, fmt.Errorf("write: %w", err)
			}
			n++
		}
	}
	return n, nil
}

// presignExit reports the outcome on stderr: counts and errors, which
// name keys and entries, never a URL.
func presignExit(ctx context.Context, stderr io.Writer, logger *slog.Logger, f *presignFlags, n int, err error) int {
	switch {
	case err == nil:
		logger.Info("presigned", "objects", n, "expires", f.expires.raw, "format", *f.format)
		return exitOK
	case errors.Is(err, ingest.ErrNoMirror):
		fmt.Fprintf(stderr, "presign: no mirror found at %s (no %s); check --bucket\n", redact.URL(*f.bucket), annotations.CatalogKey)
		return exitUsage
	case errors.Is(err, ingest.ErrNoEntryMatches):
		sel := ingest.Selection{Domains: f.domains, Families: f.families, Sources: f.globs}
		fmt.Fprintf(stderr, "presign: %v the selection (%s)\n", err, sel)
		return exitUsage
	}
	fmt.Fprintf(stderr, "presign: %v (after %d URLs; the output is incomplete)\n", err, n)
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return exitFailed
}
