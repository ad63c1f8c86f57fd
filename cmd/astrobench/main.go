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
	gatewayBin  string
	jsonOut     string
	profileDir  string
	keep        bool
	sz          sizes
	wan         wanOptions
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
	fs.StringVar(&o.workloads, "workloads", "small,mixed,large,noop,plan", "workloads to run, comma-separated")
	fs.IntVar(&o.runs, "runs", 3, "measured rounds per workload (medians are reported)")
	fs.IntVar(&o.workers, "workers", 8, "concurrent object transfers for both tools (astroingest --workers, rclone --transfers)")
	fs.StringVar(&o.astroingest, "astroingest", "", "astroingest binary (default: built from ./cmd/astroingest into the scratch directory)")
	fs.StringVar(&o.rclone, "rclone", "rclone", "rclone binary")
	fs.StringVar(&o.gatewayBin, "versitygw", "", "versitygw binary (default: $PATH, then $(go env GOPATH)/bin)")
	fs.StringVar(&o.jsonOut, "json", "", "also write every sample and the medians as JSON to this file")
	fs.StringVar(&o.profileDir, "profile", "", "after the measured runs, run the engine in-process once per transfer workload and write CPU and heap profiles here")
	fs.BoolVar(&o.keep, "keep", false, "keep the scratch directory (registries, logs of every run)")
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
	var wls []string
	for w := range strings.SplitSeq(o.workloads, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains([]string{"small", "mixed", "large", "noop", "plan"}, w) {
			fmt.Fprintf(stderr, "astrobench: --workloads: unknown workload %q (want small, mixed, large, noop, plan)\n", w)
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
	e := &env{workers: o.workers, partSize: s3.DefaultPartSize, concurrency: s3.DefaultConcurrency, dir: scratch}

	if e.rclone, err = exec.LookPath(o.rclone); err != nil && needsRclone(wls) {
		return fmt.Errorf("--rclone %q: %w", o.rclone, err)
	}
	if e.astroingest = o.astroingest; e.astroingest == "" {
		e.astroingest = filepath.Join(scratch, "astroingest")
		log.Info("building astroingest", "out", e.astroingest)
		b := exec.CommandContext(ctx, "go", "build", "-o", e.astroingest, "./cmd/astroingest")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("build astroingest (run from the module root or pass --astroingest): %w", err)
		}
	}
	gwBin := o.gatewayBin
	if gwBin == "" {
		gwBin = versitygw.Binary()
	}
	if gwBin == "" {
		return errors.New("versitygw not found in $PATH or $(go env GOPATH)/bin; install with: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0, or pass --versitygw")
	}
	gwDir := filepath.Join(scratch, "gw")
	if err := os.Mkdir(gwDir, 0o755); err != nil {
		return err
	}
	gw, err := startGateway(ctx, gwBin, gwDir)
	if err != nil {
		return err
	}
	defer gw.stop()
	e.gw = gw
	if o.wan.Latency > 0 {
		if o.wan.Bin, err = toxiproxyBin(o.wan.Bin); err != nil {
			return err
		}
		link, err := startWAN(ctx, o.wan, strings.TrimPrefix(gw.Endpoint, "http://"), filepath.Join(scratch, "toxiproxy.log"))
		if err != nil {
			return err
		}
		defer link.stop()
		// Both tools and the bucket-alone limit line go through the link;
		// the benchmark's own bucket admin (gw.client) stays direct.
		gw.Endpoint = link.Endpoint
	}
	if e.rcloneConf, err = writeFile(scratch, "rclone.conf", ""); err != nil {
		return err
	}

	src := emulator.NewServer()
	defer src.Close()
	e.srcURL = src.URL()
	u, _ := url.Parse(src.URL())
	ws := buildWorkloads(o.sz)
	serve(src, ws)
	reg, err := writeFile(scratch, "registry.yaml", transferRegistry(u.Host, o.workers, ws))
	if err != nil {
		return err
	}
	res := newResults()
	res.Meta = meta{Workers: o.workers, PartSizeMiB: int(e.partSize / mib), PartsInFlight: e.concurrency, Runs: o.runs,
		Started: time.Now().UTC(), RcloneVersion: toolVersion(ctx, e.rclone, "version"), GatewayBinary: gwBin, Link: o.wan.describe()}

	for _, name := range wls {
		var err error
		switch name {
		case "small", "mixed", "large":
			err = benchTransfer(ctx, e, res, reg, ws[name], o.runs, log)
		case "noop":
			err = benchNoop(ctx, e, res, reg, ws["noop"], o.runs, log)
		case "plan":
			err = benchPlan(ctx, e, res, u.Host, o.sz.planCount, o.runs, log)
		}
		if err != nil {
			return fmt.Errorf("workload %s: %w", name, err)
		}
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

func needsRclone(wls []string) bool {
	return slices.ContainsFunc(wls, func(w string) bool { return w == "small" || w == "mixed" || w == "large" })
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

// verify checks that the bucket holds exactly the workload under its prefix.
func verify(ctx context.Context, e *env, bucketName string, w workload) error {
	n, b, err := e.gw.countObjects(ctx, bucketName, w.prefix())
	if err != nil {
		return err
	}
	if n != len(w.files) || b != w.bytes() {
		return fmt.Errorf("bucket %s holds %d objects / %d bytes under %s, want %d / %d", bucketName, n, b, w.prefix(), len(w.files), w.bytes())
	}
	return nil
}

func benchTransfer(ctx context.Context, e *env, res *results, reg string, w workload, runs int, log *slog.Logger) error {
	rerun := w.name == "small"
	res.command(w.name, "astroingest", e.astroingest+" "+strings.Join(e.astroingestArgs("backfill", reg, w.family, "BUCKET"), " "))
	res.command(w.name, "rclone", e.rclone+" "+strings.Join(e.rcloneArgs(w, "BUCKET"), " "))
	for i := range runs {
		// Limit line, same round.
		s, err := readSource(ctx, e.srcURL, w, e.workers)
		if err != nil {
			return fmt.Errorf("source alone: %w", err)
		}
		res.add(w.name, "source", s)
		bn, err := e.gw.newBucket(ctx, "limit")
		if err != nil {
			return err
		}
		s, err = writeBucket(ctx, e, bn, w)
		e.gw.dropBucket(bn)
		if err != nil {
			return fmt.Errorf("bucket alone: %w", err)
		}
		res.add(w.name, "bucket", s)

		tools := []string{"astroingest", "rclone"}
		if i%2 == 1 {
			slices.Reverse(tools)
		}
		for _, tool := range tools {
			bn, err := e.gw.newBucket(ctx, tool)
			if err != nil {
				return err
			}
			label := fmt.Sprintf("%s-%s-%d", w.name, tool, i+1)
			s, s2, err := transferOnce(ctx, e, tool, label, reg, w, bn, rerun)
			e.gw.dropBucket(bn)
			if err != nil {
				return err
			}
			res.add(w.name, tool, s)
			if rerun {
				res.add(w.name+"-rerun", tool, s2)
			}
			log.Info("run", "workload", w.name, "tool", tool, "round", i+1, "wall_s", round2(s.Wall), "MiB/s", round2(s.mibps()), "rss_MiB", s.MaxRSS/mib)
		}
	}
	return nil
}

// transferOnce mirrors w into an empty bucket, checks the result and, when
// rerun is set, times a second identical run against the mirrored bucket.
func transferOnce(ctx context.Context, e *env, tool, label, reg string, w workload, bn string, rerun bool) (first, second sample, err error) {
	do := func(label string) (sample, error) {
		if tool == "astroingest" {
			s, _, err := e.runAstroingest(ctx, label, "backfill", reg, w.family, bn)
			return s, err
		}
		s, err := e.runRclone(ctx, label, w, bn)
		s.Bytes, s.Objects = w.bytes(), len(w.files)
		return s, err
	}
	if first, err = do(label); err != nil {
		return first, second, err
	}
	if err = verify(ctx, e, bn, w); err != nil {
		return first, second, fmt.Errorf("%s: %w", label, err)
	}
	if !rerun {
		return first, second, nil
	}
	second, err = do(label + "-rerun")
	second.Bytes = 0 // nothing was transferred; the rerun is judged by wall time
	if tool == "astroingest" {
		second.Objects = len(w.files)
	}
	return first, second, err
}

func benchNoop(ctx context.Context, e *env, res *results, reg string, w workload, runs int, log *slog.Logger) error {
	res.command("noop-backfill-rerun", "astroingest", e.astroingest+" "+strings.Join(e.astroingestArgs("backfill", reg, w.family, "BUCKET"), " "))
	res.command("noop-run-nothing-due", "astroingest", e.astroingest+" "+strings.Join(e.astroingestArgs("run", reg, w.family, "BUCKET"), " "))
	for i := range runs {
		bn, err := e.gw.newBucket(ctx, "noop")
		if err != nil {
			return err
		}
		err = func() error {
			s, _, err := e.runAstroingest(ctx, fmt.Sprintf("noop-mirror-%d", i+1), "backfill", reg, w.family, bn)
			if err != nil {
				return err
			}
			res.add("noop-mirror", "astroingest", s)
			if err := verify(ctx, e, bn, w); err != nil {
				return err
			}
			s, rec, err := e.runAstroingest(ctx, fmt.Sprintf("noop-rerun-%d", i+1), "backfill", reg, w.family, bn)
			if err != nil {
				return err
			}
			if rec.Counts.ObjectsUploaded != 0 || rec.Counts.ObjectsUnchanged != len(w.files) {
				return fmt.Errorf("backfill rerun uploaded %d and found %d unchanged, want 0 and %d", rec.Counts.ObjectsUploaded, rec.Counts.ObjectsUnchanged, len(w.files))
			}
			s.Objects = len(w.files)
			res.add("noop-backfill-rerun", "astroingest", s)
			s, rec, err = e.runAstroingest(ctx, fmt.Sprintf("noop-run-%d", i+1), "run", reg, w.family, bn)
			if err != nil {
				return err
			}
			if rec.Counts.ObjectsUploaded != 0 {
				return fmt.Errorf("run with nothing due uploaded %d objects", rec.Counts.ObjectsUploaded)
			}
			s.Objects = len(w.files)
			res.add("noop-run-nothing-due", "astroingest", s)
			log.Info("run", "workload", "noop", "round", i+1, "run_wall_s", round2(s.Wall))
			return nil
		}()
		e.gw.dropBucket(bn)
		if err != nil {
			return err
		}
	}
	return nil
}

func benchPlan(ctx context.Context, e *env, res *results, host string, n, runs int, log *slog.Logger) error {
	reg, err := writeFile(e.dir, "plan-registry.yaml", planRegistry(host, n))
	if err != nil {
		return err
	}
	bn, err := e.gw.newBucket(ctx, "plan")
	if err != nil {
		return err
	}
	defer e.gw.dropBucket(bn)
	stats := []string{"sources", "stats", "--registry", reg, "--json"}
	plan := []string{"plan", "--registry", reg, "--bucket", "s3://" + bn, "--json"}
	res.command("sources-stats", "astroingest", e.astroingest+" "+strings.Join(stats, " "))
	res.command("plan", "astroingest", e.astroingest+" "+strings.Join(plan, " ")+"  (empty bucket)")
	for i := range runs {
		s, out, err := child(ctx, filepath.Join(e.dir, fmt.Sprintf("stats-%d.log", i+1)), e.awsEnv(), e.astroingest, stats...)
		if err != nil {
			return err
		}
		var st struct {
			Total int `json:"total"`
		}
		if err := json.Unmarshal(out, &st); err != nil || st.Total != n {
			return fmt.Errorf("sources stats reported %d entries (%v), want %d", st.Total, err, n)
		}
		s.Objects = n
		res.add("sources-stats", "astroingest", s)
		s, out, err = child(ctx, filepath.Join(e.dir, fmt.Sprintf("plan-%d.log", i+1)), e.awsEnv(), e.astroingest, plan...)
		if err != nil {
			return err
		}
		var pl struct {
			Counts struct {
				Selected int `json:"selected"`
			} `json:"counts"`
		}
		if err := json.Unmarshal(out, &pl); err != nil || pl.Counts.Selected != n {
			return fmt.Errorf("plan selected %d entries (%v), want %d", pl.Counts.Selected, err, n)
		}
		s.Objects = n
		res.add("plan", "astroingest", s)
		log.Info("run", "workload", "plan", "round", i+1, "plan_wall_s", round2(s.Wall))
	}
	return nil
}
