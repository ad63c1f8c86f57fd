// Command astroingest mirrors public scientific data into an S3 or R2
// bucket. This package is deliberately thin: it parses flags and the
// environment into config structs, builds the stack and runs it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes are a contract with the CronJob's podFailurePolicy and with
// scripts: see DESIGN.md.
const (
	exitOK          = 0
	exitFailed      = 1 // one or more entries (or probe rounds) failed
	exitUsage       = 2 // invalid usage or configuration; nothing was written
	exitInterrupted = 3 // SIGINT/SIGTERM; in-flight work aborted, finished work recorded
	exitBusy        = 4 // another live run holds the lease; nothing written, retry later
)

// command is one subcommand. run returns the process exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "incremental sync of the registry, honouring schedules (the CronJob)", runRun},
		{"backfill", "one-off fetch of a named selection (--domain, --family, --source GLOB)", runBackfill},
		{"plan", "what run or backfill would do: counts and estimated bytes; writes nothing", runPlan},
		{"verify", "audit the bucket against the manifests: missing, wrong size, orphans (--deep re-hashes)", runVerify},
		{"sources", "inspect the registry: list, show ID, validate [FILE...], stats [--json]; refresh its growing tables", runSources},
		{"pull", "copy a selection of the mirror onto local disk (--to DIR), verifying every byte; read-only", runPull},
		{"presign", "time-limited GET URLs for a selection, for readers with no key (--format aria2 for aria2c)", runPresign},
		{"probe", "validate the bucket's data flow: rounds of put/stat/get/delete with latency percentiles", runProbe},
		{"demo", "the whole pipeline offline: emulated publishers on 127.0.0.1 mirrored into --bucket", runDemo},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		usage(stdout)
		return exitOK
	case "version", "--version":
		fmt.Fprintln(stdout, "astroingest", version())
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "astroingest: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `astroingest mirrors public scientific data (climate, biology, astronomy,
spectroscopy) into an S3 or Cloudflare R2 bucket, verifying every byte
against its publisher's checksum and describing it under annotations/.

Usage:
  astroingest <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Buckets (--bucket or ASTROINGEST_BUCKET):
  file://DIR               a local directory (default file://./mirror)
  s3://BUCKET[/PREFIX]     any S3 API; AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                           AWS_REGION, AWS_ENDPOINT_URL_S3
  r2://BUCKET[/PREFIX]     Cloudflare R2; as s3:// plus R2_ACCOUNT_ID

Exit codes: 0 ok, 1 some entries failed (or the run lost its lease),
2 bad usage or configuration (nothing written), 3 interrupted (rerun
resumes), 4 busy: another live run holds the bucket's lease (nothing
written, retry later).

Run 'astroingest <command> --help' for a command's flags and examples.
`)
}
