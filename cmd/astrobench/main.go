// Command astrobench races astroingest against rclone on loopback: a local
// versitygw (fresh bucket per run) as the destination and the emulated
// publisher of internal/emulator, serving generated files with nginx
// listings, as the source.
// It measures each workload in alternating runs, together with the limit
// line (source alone, bucket alone) in the same rounds, and reports medians.
//
// It is a benchmark driver, not a test: figures depend on the machine. See
// README.md in this directory for the workloads, the fairness settings and
// how to read the table.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/internal/versitygw"
)

const help = `Usage: go run ./cmd/astrobench [flags]

Races astroingest against rclone (copy from an http remote to an s3 remote)
on loopback and prints a table of medians. Both tools read the same
generated files from an in-process HTTP emulator (nginx-style listings) and
write to a local versitygw, a fresh bucket per run.

Workloads (--workloads, comma-separated):
  small   5,000 x 16 KiB (index entry); also times a rerun of each tool
          against the mirrored bucket (nothing changed)
  mixed   200 files of 1-8 MiB
  large   4 x 1 GiB, generated while streaming (no disk at the source)
  noop    3,500 http entries mirrored once, then timed: backfill rerun
          (conditional requests) and run with nothing due
  plan    sources stats and plan over a 100,000-entry registry
  pull-small  the read side: astroingest pull against rclone copy (and
          aws s3 sync, where the AWS CLI is installed) from the bucket to
          a local folder, the small workload's 5,000 x 16 KiB
  pull-large  the same, the large workload's 4 x 1 GiB (--large-count)
  pull-rerun  pull-small's rerun into the folder it filled (nothing to do)

Each round of a transfer workload measures, in this order: the source
alone (W parallel GETs to /dev/null), the bucket alone (astroingest's S3
backend uploading the same sizes from memory), then astroingest and rclone,
whose order alternates between rounds. The limit line is min(source,
bucket) of the same round.

Fairness: rclone gets --transfers W --checkers W, --s3-chunk-size and
--s3-upload-cutoff equal to astroingest's part size, --s3-upload-concurrency
equal to its parts in flight, and --s3-no-check-bucket. rclone HEADs every
source file (its http backend learns sizes that way) and every uploaded
object; astroingest computes sha256 of every byte for the manifest.

Examples:
  go run ./cmd/astrobench
  go run ./cmd/astrobench --workloads small,noop --runs 5 --json out.json
  go run ./cmd/astrobench --workloads mixed --profile /tmp/prof
  go run ./cmd/astrobench --wan-latency 15ms --workers 16 --workloads small,mixed,large

Flags:
`

type options struct {
	workloads   string
	runs        int
	workers     int
	astroingest string
	rclone      string
	aws         string
	gatewayBin  string
	jsonOut     string
	profileDir  string
	keep        bool
	// rcloneTransfers is rclone's --transfers and --checkers when not
	// --workers, for best-against-best rows; md5sums publishes an md5sum
	// listing per workload (see serve).
	rcloneTransfers int
	md5sums         bool
	pullDir         string
	sz              sizes
	wan             wanOptions
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("astrobench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), help); fs.PrintDefaults() }
	o := options{sz: defaultSizes()}
	fs.StringVar(&o.workloads, "workloads", "small,mixed,large,noop,plan,pull-small,pull-large,pull-rerun", "workloads to run, comma-separated")
	fs.IntVar(&o.runs, "runs", 3, "measured rounds per workload (medians are reported)")
	fs.IntVar(&o.workers, "workers", 8, "concurrent object transfers for both tools (astroingest --workers, rclone --transfers)")
	fs.StringVar(&o.astroingest, "astroingest", "", "astroingest binary (default: built from ./cmd/astroingest into the scratch directory)")
	fs.StringVar(&o.rclone, "rclone", "rclone", "rclone binary")
	fs.StringVar(&o.aws, "aws", "aws", "AWS CLI binary, the read workloads' second peer (aws s3 sync); left out when not found, or when empty")
	fs.StringVar(&o.gatewayBin, "versitygw", "", "versitygw binary (default: $PATH, then $(go env GOPATH)/bin)")
	fs.StringVar(&o.jsonOut, "json", "", "also write every sample and the medians as JSON to this file")
	fs.StringVar(&o.profileDir, "profile", "", "after the measured runs, run the engine in-process once per transfer workload and write CPU and heap profiles here")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory (registries, logs of every run)")
	fs.StringVar(&o.pullDir, "pull-dir", "", "where the pull workloads write their local folders (default: the scratch directory, on the disk of $TMPDIR; /dev/shm takes the disk out)")
	fs.IntVar(&o.rcloneTransfers, "rclone-transfers", 0, "rclone's --transfers and --checkers, when not --workers (to compare each tool at its best setting)")
	fs.BoolVar(&o.md5sums, "md5sums", false, "publish an md5sum listing per workload, which astroingest verifies against (and then writes one-part objects through)")
	fs.DurationVar(&o.wan.Latency, "wan-latency", 0, "put toxiproxy between both tools and versitygw with this latency each way (e.g. 15ms); 0: loopback")
	fs.Int64Var(&o.wan.RateKBs, "wan-rate", 0, "with --wan-latency, also a bandwidth toxic of this many KB/s each way (125000 = 1 Gbit/s)")
	fs.StringVar(&o.wan.Bin, "toxiproxy", "", "toxiproxy server binary (default: toxiproxy-server or server in $PATH, then $(go env GOPATH)/bin/server)")
	fs.IntVar(&o.sz.smallCount, "small-count", o.sz.smallCount, "files in the small workload")
	fs.IntVar(&o.sz.mixedCount, "mixed-count", o.sz.mixedCount, "files in the mixed workload")
	fs.IntVar(&o.sz.largeCount, "large-count", o.sz.largeCount, "files in the large workload")
	fs.Int64Var(&o.sz.largeSize, "large-size", o.sz.largeSize, "bytes per file in the large workload")
	fs.IntVar(&o.sz.noopCount, "noop-count", o.sz.noopCount, "entries in the no-op rerun registry")
	fs.IntVar(&o.sz.planCount, "plan-count", o.sz.planCount, "entries in the plan/stats registry")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.runs < 1 || o.workers < 1 {
		fmt.Fprintln(stderr, "astrobench: --runs and --workers must be at least 1")
		return 2
	}
	if o.rcloneTransfers < 0 {
		fmt.Fprintf(stderr, "astrobench: --rclone-transfers %d: must be 0 (as --workers) or more\n", o.rcloneTransfers)
		return 2
	}
	var wls []string
	for w := range strings.SplitSeq(o.workloads, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(workloadNames, w) {
			fmt.Fprintf(stderr, "astrobench: --workloads: unknown workload %q (want %s)\n", w, strings.Join(workloadNames, ", "))
			return 2
		}
		wls = append(wls, w)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := bench(ctx, o, wls, stdout, log); err != nil {
		fmt.Fprintf(stderr, "astrobench: %v\n", err)
		return 1
	}
	return 0
}

func bench(ctx context.Context, o options, wls []string, stdout io.Writer, log *slog.Logger) error {
	scratch, err := os.MkdirTemp("", "astrobench-")
	if err != nil {
		return err
	}
	if o.keep {
		log.Info("scratch directory kept", "dir", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	e := &env{workers: o.workers, rcloneTransfers: o.rcloneTransfers, partSize: s3.DefaultPartSize, concurrency: s3.DefaultConcurrency, dir: scratch, pullDir: scratch}
	if o.pullDir != "" {
		if e.pullDir, err = os.MkdirTemp(o.pullDir, "astrobench-pull-"); err != nil {
			return fmt.Errorf("--pull-dir: %w", err)
		}
		defer os.RemoveAll(e.pullDir)
	}

	stop, err := startTools(ctx, o, e, wls, scratch, log)
	if err != nil {
		return err
	}
	defer stop()
	if e.rcloneConf, err = writeFile(scratch, "rclone.conf", ""); err != nil {
		return err
	}

	src := emulator.NewServer()
	defer src.Close()
	e.srcURL = src.URL()
	u, _ := url.Parse(src.URL())
	ws := buildWorkloads(o.sz)
	serve(src, ws, o.md5sums)
	reg, err := writeFile(scratch, "registry.yaml", transferRegistry(u.Host, o.workers, ws, o.md5sums))
	if err != nil {
		return err
	}
	res := newResults()
	res.Meta = meta{Workers: o.workers, PartSizeMiB: int(e.partSize / mib), PartsInFlight: e.concurrency, Runs: o.runs,
		Started: time.Now().UTC(), RcloneVersion: toolVersion(ctx, e.rclone, "version"), AWSVersion: e.awsVersion, GatewayBinary: e.gwBin, Link: o.wan.describe()}

	if err := runWorkloads(ctx, e, res, reg, ws, wls, o, u.Host, log); err != nil {
		return err
	}
	if o.profileDir != "" {
		if err := profileEngine(ctx, e, res, reg, ws, wls, o.profileDir, log); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	res.report(stdout, e)
	if o.jsonOut != "" {
		data, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startTools finds or builds what the workloads run (rclone, the built
// astroingest, versitygw and, with --wan-latency, toxiproxy in front of
// it) and starts the servers. stop, which is never nil, stops what was
// started, in reverse order, on success and on failure alike.
func startTools(ctx context.Context, o options, e *env, wls []string, scratch string, log *slog.Logger) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if e.rclone, err = exec.LookPath(o.rclone); err != nil && needsRclone(wls) {
		return stop, fmt.Errorf("--rclone %q: %w", o.rclone, err)
	}
	if slices.ContainsFunc(wls, func(w string) bool { return pullWorkloads[w] != "" }) {
		e.aws, e.awsVersion = findAWS(ctx, o.aws, log)
	}
	if e.astroingest = o.astroingest; e.astroingest == "" {
		e.astroingest = filepath.Join(scratch, "astroingest")
		log.Info("building astroingest", "out", e.astroingest)
		b := exec.CommandContext(ctx, "go", "build", "-o", e.astroingest, "./cmd/astroingest")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return stop, fmt.Errorf("build astroingest (run from the module root or pass --astroingest): %w", err)
		}
	}
	gwBin := o.gatewayBin
	if gwBin == "" {
		gwBin = versitygw.Binary()
	}
	if gwBin == "" {
		return stop, errors.New("versitygw not found in $PATH or $(go env GOPATH)/bin; install with: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0, or pass --versitygw")
	}
	gwDir := filepath.Join(scratch, "gw")
	if err := os.Mkdir(gwDir, 0o755); err != nil {
		return stop, err
	}
	e.gwBin = gwBin
	gw, err := startGateway(ctx, gwBin, gwDir)
	if err != nil {
		return stop, err
	}
	stops = append(stops, gw.stop)
	e.gw = gw
	if o.wan.Latency > 0 {
		if o.wan.Bin, err = toxiproxyBin(o.wan.Bin); err != nil {
			return stop, err
		}
		link, err := startWAN(ctx, o.wan, strings.TrimPrefix(gw.Endpoint, "http://"), filepath.Join(scratch, "toxiproxy.log"))
		if err != nil {
			return stop, err
		}
		stops = append(stops, link.stop)
		// Both tools and the bucket-alone limit line go through the link;
		// the benchmark's own bucket admin (gw.client) stays direct.
		gw.Endpoint = link.Endpoint
	}
	return stop, nil
}

// runWorkloads measures each workload named in wls, in that order.
func runWorkloads(ctx context.Context, e *env, res *results, reg string, ws map[string]workload, wls []string, o options, srcHost string, log *slog.Logger) error {
	for _, name := range wls {
		var err error
		switch name {
		case "pull-small", "pull-rerun":
			if name == "pull-rerun" && slices.Contains(wls, "pull-small") {
				continue // measured with pull-small
			}
			err = benchPull(ctx, e, res, reg, ws["small"], o.runs, slices.Contains(wls, "pull-rerun"), log)
		case "pull-large":
			err = benchPull(ctx, e, res, reg, ws["large"], o.runs, false, log)
		case "small", "mixed", "large":
			err = benchTransfer(ctx, e, res, reg, ws[name], o.runs, log)
		case "noop":
			err = benchNoop(ctx, e, res, reg, ws["noop"], o.runs, log)
		case "plan":
			err = benchPlan(ctx, e, res, srcHost, o.sz.planCount, o.runs, log)
		}
		if err != nil {
			return fmt.Errorf("workload %s: %w", name, err)
		}
	}
	return nil
}

// workloadNames are the values --workloads takes.
var workloadNames = []string{"small", "mixed", "large", "noop", "plan", "pull-small", "pull-large", "pull-rerun"}

func needsRclone(wls []string) bool {
	return slices.ContainsFunc(wls, func(w string) bool {
		return w == "small" || w == "mixed" || w == "large" || pullWorkloads[w] != ""
	})
}

func toolVersion(ctx context.Context, bin string, args ...string) string {
	if bin == "" {
		return ""
	}
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
