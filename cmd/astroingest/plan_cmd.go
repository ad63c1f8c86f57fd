package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/units"
)

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", planHelp, stderr)
	f := addRunFlags(fs, "plan")
	backfill := fs.Bool("backfill", false, "plan a backfill (ignore schedules) instead of a run")
	if code := parseNoArgs(fs, args); code >= 0 {
		return code
	}
	f.noteSetFlags(fs)
	mode := ingest.ModeRun
	if *backfill {
		mode = ingest.ModeBackfill
	}
	logger := newLogger(stderr, *f.debug)
	cfg, r, code := f.config(ctx, mode, "plan", stderr, logger, nil)
	if code >= 0 {
		return code
	}
	return printPlan(ctx, r, cfg, *f.jsonOut, stdout, stderr)
}

// planSummary is plan --json.
type planSummary struct {
	Mode      ingest.Mode       `json:"mode"`
	Selection ingest.Selection  `json:"selection"`
	Shard     ingest.Shard      `json:"shard"`
	Counts    ingest.PlanCounts `json:"counts"`
}

func printPlan(ctx context.Context, r bucket.Reader, cfg ingest.Config, jsonOut bool, stdout, stderr io.Writer) int {
	p, err := ingest.BuildPlan(ctx, r, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "plan: %v\n", err)
		var ue *ingest.UsageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailed
	}
	c := p.Counts()
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(planSummary{Mode: p.Mode, Selection: p.Selection, Shard: p.Shard, Counts: c})
		return exitOK
	}
	fmt.Fprintf(stdout, "%s plan, shard %s, selection %s\n\n", p.Mode, p.Shard, p.Selection)
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tFAMILY\tSELECTED\tTO FETCH\tFRESH\tSKIPPED\tEST. BYTES")
	for _, r := range c.Families {
		est := units.FormatBytes(r.EstimatedBytes)
		if r.UnknownSize > 0 {
			est += fmt.Sprintf(" + %d unknown", r.UnknownSize)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Domain, r.Family, r.Selected, r.ToFetch, r.Fresh, r.Skipped, est)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nselected %d: %d to fetch (%d new, %d due), %d fresh, %d gated, %d missing credentials, %d stale\n",
		c.Selected, c.ToFetch, c.New, c.Due, c.Fresh, c.Gated, c.AuthMissing, c.Stale)
	fmt.Fprintf(stdout, "estimated %s from the last manifests; %d entries never fetched (size unknown)\n",
		units.FormatBytes(c.EstimatedBytes), c.UnknownSize)
	return exitOK
}
