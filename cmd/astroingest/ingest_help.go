package main

const runHelp = `
Usage: astroingest run [--registry PATH ...] [flags]

Incremental sync of the registry, for the CronJob: fetches every selected
entry whose schedule is due (or that was never fetched) and skips objects
that are unchanged at the source.

Examples:
  astroingest run --bucket r2://mirror --workers 8
  JOB_COMPLETION_INDEX=2 astroingest run --shard-count 8 --pushgateway http://pushgateway:9091
  astroingest run --domain climate --max-bytes 200G --bwlimit 50M
` + concurrencyHelp + leaseHelp

// concurrencyHelp is the rule of the transfer slots (ingest/slots.go) and
// the memory it costs, as deploy/'s policy test checks it.
const concurrencyHelp = `
Concurrency:
  --workers N transfers of large objects (unknown size, or 1 MiB and up) run
  at once, and as many entries are listed at once. Small objects (known size
  under 1 MiB) cost almost no memory, so 4 x N of them run besides, never
  waiting behind a large one. Each publisher host still gets no more than its
  registry policy's concurrency (default 4) and request rate. Memory bound on
  S3/R2: N x (5 parts x 16 MiB + 4 x 1 MiB) + ~64 MiB, e.g. 736 MiB at 8
  workers; measured peaks are far lower (README "Performance").
`

const backfillHelp = `
Usage: astroingest backfill (--domain D | --family F | --source GLOB)... [--registry PATH ...] [flags]

One-off fetch of a named selection, ignoring schedules. Unchanged objects
are still skipped unless --force is given.

Examples:
  astroingest backfill --family noaa-ersst-v5
  astroingest backfill --source 'gaia-dr3-*' --force --bucket s3://mirror/test
` + concurrencyHelp + leaseHelp

const planHelp = `
Usage: astroingest plan [--backfill] [selection flags] [--registry PATH ...]

Shows what run (or, with --backfill, backfill) would do: entries per domain
and family, how many are new, due or fresh, and the bytes expected from the
last manifests. It reads the bucket's manifests and writes nothing.

The registry is the built-in one unless --registry PATH names files or
folders, one per flag (repeat it for several).

Examples:
  astroingest plan --bucket r2://mirror
  astroingest plan --registry ./my-sources/ --registry extra.yaml
  astroingest plan --backfill --domain astronomy --json
`
