package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/astroingest/astroingest/ingest"
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
	b, err := openBucket(ctx, *bucketURL, readOnly, os.Getenv, logger)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return exitUsage
	}
	rep, err := ingest.Verify(ctx, b, *deep, *workers)
	if errors.Is(err, ingest.ErrNoMirror) {
		fmt.Fprintf(stderr, "verify: no mirror found at %s (no %s, no manifests); check --bucket\n", redact(*bucketURL), ingest.CatalogKey)
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
			switch {
			case p.Want != "" || p.Got != "":
				fmt.Fprintf(stdout, "%-13s %s (entry %s): want %s, got %s\n", p.Kind, p.Key, orDash(p.Entry), orDash(p.Want), orDash(p.Got))
			default:
				fmt.Fprintf(stdout, "%-13s %s (entry %s)\n", p.Kind, p.Key, orDash(p.Entry))
			}
		}
		mode := "sizes"
		if *deep {
			mode = "sizes and sha256"
		}
		fmt.Fprintf(stdout, "checked %d manifests, %d objects (%s, %s): %d problem(s)\n",
			rep.Manifests, rep.Objects, ingest.HumanBytes(rep.Bytes), mode, len(rep.Problems))
	}
	if !rep.OK() {
		return exitFailed
	}
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
