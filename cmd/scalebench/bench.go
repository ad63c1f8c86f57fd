package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// sample is one measured process.
type sample struct {
	wall time.Duration
	rss  int64 // peak RSS, KiB
	code int
}

func (s sample) mib() float64 { return float64(s.rss) / 1024 }

// env is what every run shares.
type env struct {
	o        options
	bin      string
	scratch  string // on a tmpfs when there is one
	disk     string // for versitygw
	src      *emulator.Server
	registry string
	log      io.Writer
}

// measure runs a command to completion and takes its wall time and peak
// RSS. The RSS comes from GNU time, which reports exactly its child's: the
// ru_maxrss wait4 gives for a direct child of this driver carries the
// driver's own high-water mark across the fork and exec (a 1M-object
// listing held by the emulator here), so every run after a big one would
// read as big as the driver.
func (e *env) measure(ctx context.Context, extraEnv []string, name string, args ...string) (sample, error) {
	if _, err := os.Stat(timeBin); err != nil {
		return sample{}, fmt.Errorf("%s is needed for exact peak RSS (Debian package time): %w", timeBin, err)
	}
	timeOut := filepath.Join(e.scratch, fmt.Sprintf("time-%d.txt", time.Now().UnixNano()))
	cmd := exec.CommandContext(ctx, timeBin, append([]string{"-f", "%M", "-o", timeOut, name}, args...)...)
	cmd.Env = append(os.Environ(), extraEnv...)
	logf, err := os.Create(filepath.Join(e.scratch, fmt.Sprintf("log-%d.txt", time.Now().UnixNano())))
	if err != nil {
		return sample{}, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	err = cmd.Run()
	s := sample{wall: time.Since(start), code: cmd.ProcessState.ExitCode()}
	if data, rerr := os.ReadFile(timeOut); rerr == nil {
		// The last line: time prints "Command exited with non-zero
		// status N" first when the command fails.
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if kib, perr := strconv.ParseInt(lines[len(lines)-1], 10, 64); perr == nil {
			s.rss = kib
		}
	}
	if err != nil && s.code != 1 {
		return s, fmt.Errorf("%s %s: %v (log %s)", filepath.Base(name), strings.Join(args, " "), err, logf.Name())
	}
	return s, nil
}

// timeBin is GNU time.
const timeBin = "/usr/bin/time"

func bench(ctx context.Context, o options, stdout, log io.Writer) error {
	base := os.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	scratch, err := os.MkdirTemp(base, "scalebench-")
	if err != nil {
		return err
	}
	disk, err := os.MkdirTemp("", "scalebench-gw-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(scratch)
		defer os.RemoveAll(disk)
	}
	e := &env{o: o, scratch: scratch, disk: disk, log: log}
	e.bin = filepath.Join(scratch, "astroingest")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", e.bin, "./cmd/astroingest").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	e.src = emulator.NewServer()
	defer e.src.Close()
	e.src.KeepNoLog()
	for _, n := range append(append([]int(nil), o.sizes...), mirrorEntryObjects) {
		e.src.AddSynthetic(entryPath(n), n, func(int) int64 { return o.objBytes })
	}
	if e.registry, err = e.writeRegistry(); err != nil {
		return err
	}
	var rows []row
	for _, n := range o.sizes {
		fmt.Fprintf(log, "scalebench: entry of %d objects\n", n)
		r, err := e.entryRows(ctx, n)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	var m *mirrorResult
	if o.mirror > 0 {
		fmt.Fprintf(log, "scalebench: mirror of %d objects\n", o.mirror)
		if m, err = e.mirrorRun(ctx); err != nil {
			return err
		}
	}
	printTables(stdout, o, rows, m)
	return nil
}

// mirrorEntryObjects is the size of the entry backfilled into the mirror.
const mirrorEntryObjects = 2000

func entryPath(n int) string { return fmt.Sprintf("/e%d/", n) }
func entryID(n int) string   { return fmt.Sprintf("scale-%d", n) }

// writeRegistry declares one family per entry size over the emulator.
func (e *env) writeRegistry() (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "hosts:\n  - host: %q\n    concurrency: 64\n    rps: 1000000\n    burst: 100000\nfamilies:\n", e.src.Host())
	for _, n := range append(append([]int(nil), e.o.sizes...), mirrorEntryObjects) {
		id := entryID(n)
		fmt.Fprintf(&b, "  - id: %s\n    domain: astronomy\n    title: \"Scale %d\"\n    provider: \"Emulator\"\n", id, n)
		fmt.Fprintf(&b, "    license: \"CC0\"\n    citation: \"Emulator (2026)\"\n    homepage: \"https://example.org/%s\"\n", id)
		fmt.Fprintf(&b, "    kind: index\n    schedule: monthly\n    allow_http: true\n    allow_http_reason: \"loopback emulator\"\n")
		fmt.Fprintf(&b, "    entry:\n      id: %q\n      key: \"scale/%s\"\n      url: %q\n", id, id, e.src.URL()+entryPath(n))
	}
	p := filepath.Join(e.scratch, "registry.yaml")
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}

// store is a bucket to run against.
type store struct {
	name string
	url  string
	env  []string
	stop func()
}

// stores are the buckets an entry of n objects runs on.
func (e *env) stores(ctx context.Context, n int) ([]store, error) {
	if n > e.o.storeMax {
		s, err := startNullS3()
		if err != nil {
			return nil, err
		}
		return []store{{name: "null S3", url: "s3://scale", env: s3Env(s.endpoint()), stop: s.close}}, nil
	}
	dir := filepath.Join(e.scratch, fmt.Sprintf("file-%d", n))
	out := []store{{name: "file:// (tmpfs)", url: "file://" + dir, stop: func() { os.RemoveAll(dir) }}}
	gwDir := filepath.Join(e.disk, fmt.Sprintf("gw-%d", n))
	if err := os.MkdirAll(gwDir, 0o755); err != nil {
		return nil, err
	}
	gw, err := versitygw.Launch(ctx, versitygw.Binary(), gwDir, versitygw.Options{})
	if err != nil {
		return nil, fmt.Errorf("versitygw: %w", err)
	}
	bucket := "scale"
	if _, err := gw.Client().CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		gw.Stop()
		return nil, fmt.Errorf("versitygw: create bucket: %w", err)
	}
	out = append(out, store{name: "versitygw", url: "s3://" + bucket, env: gwEnv(gw), stop: func() { gw.Stop(); os.RemoveAll(gwDir) }})
	return out, nil
}

func s3Env(endpoint string) []string {
	return []string{"AWS_ACCESS_KEY_ID=scale", "AWS_SECRET_ACCESS_KEY=scalebench-secret", "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL_S3=" + endpoint}
}

func gwEnv(gw *versitygw.Gateway) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + gw.AccessKey, "AWS_SECRET_ACCESS_KEY=" + gw.SecretKey, "AWS_REGION=" + versitygw.Region, "AWS_ENDPOINT_URL_S3=" + gw.Endpoint}
}
