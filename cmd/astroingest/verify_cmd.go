package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/internal/units"
)

const verifyHelp = `
Usage: astroingest verify [--deep] [--json] [--bucket URL]

Audits the bucket against the manifests under annotations/sources/: every
recorded object must exist with its recorded size (--deep also re-hashes
its sha256), and every object under a domain prefix must be claimed by a
manifest (otherwise it is reported as an orphan). annotations/catalog.json,
which the training side reads first, must exist, decode and index exactly
the manifests. Exit 1 on any discrepancy,
exit 2 when the bucket holds no mirror at all (no annotations/catalog.json,
no manifests, no data): usually a wrong --bucket or prefix.

Examples:
  astroingest verify --bucket r2://mirror
  astroingest verify --deep --json --bucket file://./mirror
`

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("verify", verifyHelp, stderr)
	bucketURL := bucketFlag(fs, defaultBucket)
	deep := fs.Bool("deep", false, "re-read every object and compare its sha256 with the manifest")
	workers := fs.Int("workers", 8, "concurrent checks")
	jsonOut := fs.Bool("json", false, "print the report as JSON on stdout")
	debug := fs.Bool("debug", false, "debug logging")
	if code := parseNoArgs(fs, args); code >= 0 {
		return code
	}
	logger := newLogger(stderr, *debug)
	r, err := openReader(ctx, *bucketURL, os.Getenv, logger)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return exitUsage
	}
	rep, err := ingest.Verify(ctx, r, *deep, *workers)
	if errors.Is(err, ingest.ErrNoMirror) {
		fmt.Fprintf(stderr, "verify: no mirror found at %s (no %s, no manifests); check --bucket\n", redact.URL(*bucketURL), ingest.CatalogKey)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailed
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "%-18s %s\n", p.Kind, describe(p))
		}
		mode := "sizes"
		if *deep {
			mode = "sizes and sha256"
		}
		if rep.More > 0 {
			fmt.Fprintf(stdout, "... and %d more problem(s) not listed\n", rep.More)
		}
		fmt.Fprintf(stdout, "checked %d manifests, %d objects (%s, %s): %d problem(s)\n",
			rep.Manifests, rep.Objects, units.FormatBytes(rep.Bytes), mode, len(rep.Problems)+rep.More)
		if ids := repairable(rep.Problems); len(ids) > 0 {
			fmt.Fprintf(stdout, "to repair %s, fetch again:\n", plural(len(ids), "damaged entry"))
			for _, id := range ids {
				fmt.Fprintf(stdout, "  astroingest backfill --source %s --force --bucket %s\n", id, redact.URL(*bucketURL))
			}
		}
	}
	if !rep.OK() {
		return exitFailed
	}
	return exitOK
}

// describe says in words what a problem is; the kind is printed before it.
func describe(p ingest.Problem) string {
	entry := ""
	if p.Entry != "" {
		entry = " (entry " + p.Entry + ")"
	}
	switch p.Kind {
	case ingest.ProblemOrphan:
		return fmt.Sprintf("%s (%s bytes): no manifest claims it", p.Key, p.Got)
	case ingest.ProblemMissing:
		return fmt.Sprintf("%s%s: in the manifest, not in the bucket", p.Key, entry)
	case ingest.ProblemWrongSize:
		return fmt.Sprintf("%s%s: want %s bytes, got %s", p.Key, entry, p.Want, p.Got)
	case ingest.ProblemWrongHash:
		return fmt.Sprintf("%s%s: want sha256 %s, got %s", p.Key, entry, p.Want, p.Got)
	case ingest.ProblemUnreadable, ingest.ProblemCatalogUnreadable:
		return fmt.Sprintf("%s%s: %s", p.Key, entry, p.Got)
	case ingest.ProblemCatalogMissing:
		return p.Key + ": not found; the next run or backfill rebuilds it from the manifests"
	case ingest.ProblemNoManifest:
		return fmt.Sprintf("%s%s: listed in the catalog, but the manifest does not exist", p.Key, entry)
	case ingest.ProblemIndexMissing:
		return fmt.Sprintf("%s%s: the manifest names this index file, which does not exist; a forced backfill of the entry writes it", p.Key, entry)
	case ingest.ProblemIndexRows:
		return fmt.Sprintf("%s%s: %s rows, the manifest counts %s objects", p.Key, entry, p.Got, p.Want)
	case ingest.ProblemIndexOrphan:
		return fmt.Sprintf("%s (%s bytes): an index file no manifest names; readers count its rows", p.Key, p.Got)
	case ingest.ProblemNotInCatalog:
		return fmt.Sprintf("%s%s: manifest not listed in the catalog; the next run or backfill adds it", p.Key, entry)
	}
	s := p.Key + entry
	if p.Want != "" || p.Got != "" {
		s += fmt.Sprintf(": want %q, got %q", p.Want, p.Got)
	}
	return s
}

// repairable lists, sorted and once each, the entries whose objects are
// damaged: a forced backfill fetches them again and rewrites them.
func repairable(probs []ingest.Problem) []string {
	var ids []string
	for _, p := range probs {
		switch p.Kind {
		case ingest.ProblemMissing, ingest.ProblemWrongSize, ingest.ProblemWrongHash, ingest.ProblemUnreadable:
			if p.Entry != "" {
				ids = append(ids, p.Entry)
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
