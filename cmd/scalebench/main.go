// Command scalebench measures how astroingest's cost grows with the size
// of an entry and of the mirror: wall time, µs per object and peak RSS of
// a first run, a no-op rerun, verify and plan over one entry of 10,000,
// 100,000 and 1,000,000 objects, beside rclone's no-op copy of the same
// listing; and a one-entry backfill into an empty bucket and into a
// mirror that records ten million objects elsewhere, with a verify of
// that mirror. It is `make bench-scale`: a benchmark, not a test.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

const help = `Usage: go run ./cmd/scalebench [flags]

Serves entries of N generated files from the in-process emulator (an nginx
listing of N names, bytes made on the fly: no disk tree), and runs the built
astroingest binary over them, measuring wall time and peak RSS of each run:

  first    backfill of the entry into an empty bucket
  noop     the same backfill again: nothing changed
  verify   verify of the bucket
  plan     plan of the entry

Buckets: file:// on a tmpfs (/dev/shm) and versitygw for sizes up to
--store-max; above it the "null" bucket, an S3 API in this process that
keeps keys and sizes and drops the bytes (a disk would measure fsync, not
the engine). rclone's no-op copy of the same listing (http remote to a
local folder) is timed at the sizes up to --rclone-max.

--mirror N writes a mirror recording N objects elsewhere (synthetic
manifests, through the format's own writer), then times a backfill of one
2,000-object entry into it and into an empty bucket, and a verify of it.

Examples:
  go run ./cmd/scalebench
  go run ./cmd/scalebench --sizes 10000,100000 --mirror 0
  make bench-scale

Flags:
`

type options struct {
	sizes     []int
	storeMax  int
	rcloneMax int
	mirror    int
	workers   int
	objBytes  int64
	rclone    string
	keep      bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scalebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), help); fs.PrintDefaults() }
	var o options
	sizes := fs.String("sizes", "10000,100000,1000000", "entry sizes, comma-separated")
	fs.IntVar(&o.storeMax, "store-max", 100_000, "largest entry run on file:// and versitygw; larger ones use the null bucket")
	fs.IntVar(&o.rcloneMax, "rclone-max", 100_000, "largest entry rclone copies")
	fs.IntVar(&o.mirror, "mirror", 10_000_000, "objects recorded in the big mirror (0: skip)")
	fs.IntVar(&o.workers, "workers", 8, "astroingest --workers and rclone --transfers")
	fs.Int64Var(&o.objBytes, "object-bytes", 256, "bytes per generated object")
	fs.StringVar(&o.rclone, "rclone", "rclone", "rclone binary")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directories")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for s := range strings.SplitSeq(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "scalebench: --sizes: %q is not a positive count\n", s)
			return 2
		}
		o.sizes = append(o.sizes, n)
	}
	slices.Sort(o.sizes)
	if err := bench(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "scalebench: %v\n", err)
		return 1
	}
	return 0
}
