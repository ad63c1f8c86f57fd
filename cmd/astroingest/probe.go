package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/probe"
	"github.com/astroingest/astroingest/internal/units"
)

const probeHelp = `
Usage: astroingest probe [flags]

Validates the data flow to a bucket, as the platform plan asks for the R2
connection ("test data flow, 60 rounds validation"): each round puts,
stats, reads in full, reads a random range and deletes one object of each
size, verifies every byte read back, and times each operation. It prints
latency p50/p95/p99 per operation and size, and throughput.

Objects go under _probe/<id>/ and are deleted, also when interrupted.
Exit status 1 if any byte differs or any operation fails.

Examples:
  astroingest probe --bucket file://./mirror --rounds 5
  astroingest probe --bucket r2://astrobio-data --sizes 1KiB,1MiB,64MiB --json
`

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("probe", probeHelp, stderr)
	bucketURL := bucketFlag(fs, defaultBucket)
	rounds := fs.Int("rounds", 60, "rounds of put, stat, get, ranged get and delete per size")
	sizes := fs.String("sizes", "1KiB,1MiB,64MiB", "comma-separated object sizes (B, KiB, MiB, GiB; K, M and G are the same binary units)")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout")
	debugOn := fs.Bool("debug", false, "log debug events")
	if code := parseNoArgs(fs, args); code >= 0 {
		return code
	}
	if *rounds < 1 {
		fmt.Fprintf(stderr, "probe: --rounds %d: must be at least 1\n", *rounds)
		return exitUsage
	}
	opts := probe.Options{Rounds: *rounds}
	for s := range strings.SplitSeq(*sizes, ",") {
		n, err := units.ParseBytes(s)
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "probe: --sizes %q: %q is not a size such as 1KiB, 1MiB or 64MiB\n", *sizes, s)
			return exitUsage
		}
		opts.Sizes = append(opts.Sizes, n)
	}
	opts.Logger = newLogger(stderr, *debugOn)
	b, err := openBucket(ctx, *bucketURL, os.Getenv, opts.Logger, nil)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return exitUsage
	}
	return probeAndReport(ctx, b, opts, *asJSON, stdout, stderr)
}

// probeAndReport probes b, prints the report (as JSON with jsonOut) and
// maps the outcome to an exit code.
func probeAndReport(ctx context.Context, b bucket.Bucket, opts probe.Options, jsonOut bool, stdout, stderr io.Writer) int {
	rep, err := probe.Run(ctx, b, opts)
	if rep != nil {
		if jsonOut {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(rep)
		} else {
			writeProbeTable(stdout, rep)
		}
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "probe: interrupted; probe objects deleted")
		return exitInterrupted
	case err != nil:
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func writeProbeTable(w io.Writer, r *probe.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tsize\tn\tp50 ms\tp95 ms\tp99 ms\tMiB/s\t")
	for _, s := range r.Ops {
		mibs := "-"
		if s.MiBps > 0 {
			mibs = fmt.Sprintf("%.1f", s.MiBps)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%s\t\n", s.Op, s.Size, s.Count, s.P50ms, s.P95ms, s.P99ms, mibs)
	}
	tw.Flush()
	if len(r.Errors) == 0 {
		fmt.Fprintf(w, "\nOK: %d rounds, every byte read back matched what was written; probe objects deleted.\n", r.Rounds)
		return
	}
	fmt.Fprintf(w, "\n%d errors:\n", len(r.Errors))
	for _, e := range r.Errors {
		fmt.Fprintln(w, "  "+e)
	}
}
