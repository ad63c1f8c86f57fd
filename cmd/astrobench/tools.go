package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// sample is one measured run.
type sample struct {
	Wall    float64 `json:"wall_s"`
	CPU     float64 `json:"cpu_s"` // user+sys of the child; 0 for in-process limit runs
	MaxRSS  int64   `json:"max_rss_bytes"`
	Bytes   int64   `json:"bytes"`
	Objects int     `json:"objects"`
}

func (s sample) mibps() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return float64(s.Bytes) / mib / s.Wall
}

// cpuPerGiB is user+sys CPU seconds per GiB moved.
func (s sample) cpuPerGiB() float64 {
	if s.Bytes == 0 {
		return 0
	}
	return s.CPU / (float64(s.Bytes) / gib)
}

// child runs a command and measures it: wall time, user+sys CPU and peak
// RSS. The measurement goes through /usr/bin/time when it exists: the
// ru_maxrss that wait4 reports for a direct child also counts this driver's
// own memory, because Go starts children with vfork semantics and Linux
// carries the old address space's high-water mark across exec. Its stdout
// is returned, its stderr goes to logPath.
func child(ctx context.Context, logPath string, env []string, name string, args ...string) (sample, []byte, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return sample{}, nil, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "# %s %s\n", name, strings.Join(args, " "))
	timeOut := logPath + ".time"
	argv := append([]string{name}, args...)
	if _, err := os.Stat(timeBin); err == nil {
		argv = append([]string{timeBin, "-f", "%M %U %S", "-o", timeOut}, argv...)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = childEnv(os.Environ(), env)
	cmd.Stdout = &out
	cmd.Stderr = logf
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	s := sample{Wall: wall.Seconds()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		s.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		s.MaxRSS = ru.Maxrss * 1024 // KiB on Linux; an upper bound, see above
	}
	if data, rerr := os.ReadFile(timeOut); rerr == nil {
		// The last line: time prints "Command exited with non-zero
		// status N" first when the command fails.
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		var kib int64
		var user, sys float64
		if _, serr := fmt.Sscanf(lines[len(lines)-1], "%d %f %f", &kib, &user, &sys); serr == nil {
			s.MaxRSS, s.CPU = kib*1024, user+sys
		}
	}
	if err != nil {
		return s, out.Bytes(), fmt.Errorf("%s %s: %w (log: %s)", filepath.Base(name), args[0], err, logPath)
	}
	return s, out.Bytes(), nil
}

// timeBin is GNU time, which reports the peak RSS of exactly its child.
const timeBin = "/usr/bin/time"

// childEnv is base with the variables of add replaced. A value-less entry
// ("NAME=") removes the variable: Debian's rclone 1.60 refuses to start when
// AWS_CA_BUNDLE is set ("unable to load custom CA bundle, HTTPClient's
// transport unsupported type"), and the loopback gateway needs no CA.
func childEnv(base, add []string) []string {
	drop := map[string]bool{}
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	var out []string
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			out = append(out, kv)
		}
	}
	for _, kv := range add {
		if !strings.HasSuffix(kv, "=") {
			out = append(out, kv)
		}
	}
	return out
}

// env holds what both tools need to reach the gateway.
type env struct {
	gw          *gateway
	gwBin       string // the versitygw binary gw runs
	astroingest string
	rclone      string
	rcloneConf  string
	aws         string // "" when the AWS CLI is not there
	awsVersion  string
	workers     int
	// rcloneTransfers, when not 0, replaces workers for rclone.
	rcloneTransfers int
	partSize        int64
	concurrency     int
	dir             string // scratch: registries, logs
	pullDir         string // where the pull workloads' local folders go
	srcURL          string // http://127.0.0.1:PORT
}

func (e *env) awsEnv() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + e.gw.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + e.gw.SecretKey,
		"AWS_ENDPOINT_URL_S3=" + e.gw.Endpoint,
		"AWS_REGION=" + versitygw.Region,
		"ASTROINGEST_BUCKET=",
	}
}

// runRecord is the part of astroingest's --json summary the benchmark checks.
type runRecord struct {
	Counts struct {
		Failed           int `json:"failed"`
		ObjectsUploaded  int `json:"objects_uploaded"`
		ObjectsUnchanged int `json:"objects_unchanged"`
	} `json:"counts"`
	Bytes int64 `json:"bytes"`
}

// astroingestArgs is the command line for one run; the benchmark prints it.
func (e *env) astroingestArgs(cmd, registry, family, bucketName string) []string {
	return []string{cmd, "--registry", registry, "--family", family, "--bucket", "s3://" + bucketName, "--workers", fmt.Sprint(e.workers), "--json"}
}

func (e *env) runAstroingest(ctx context.Context, label, cmd, registry, family, bucketName string) (sample, runRecord, error) {
	s, out, err := child(ctx, filepath.Join(e.dir, label+".log"), e.awsEnv(), e.astroingest, e.astroingestArgs(cmd, registry, family, bucketName)...)
	var rec runRecord
	if err != nil {
		return s, rec, err
	}
	if err := json.Unmarshal(out, &rec); err != nil {
		return s, rec, fmt.Errorf("astroingest %s: decode --json summary: %w", label, err)
	}
	if rec.Counts.Failed > 0 {
		return s, rec, fmt.Errorf("astroingest %s: %d entries failed (log: %s)", label, rec.Counts.Failed, filepath.Join(e.dir, label+".log"))
	}
	s.Bytes, s.Objects = rec.Bytes, rec.Counts.ObjectsUploaded
	return s, rec, nil
}

// rcloneEnv defines the remote "benchs3" on the fly (no config file entry).
func (e *env) rcloneEnv() []string {
	return []string{
		"RCLONE_CONFIG_BENCHS3_TYPE=s3",
		"RCLONE_CONFIG_BENCHS3_PROVIDER=Other",
		"RCLONE_CONFIG_BENCHS3_ENDPOINT=" + e.gw.Endpoint,
		"RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID=" + e.gw.AccessKey,
		"RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY=" + e.gw.SecretKey,
		"RCLONE_CONFIG_BENCHS3_REGION=" + versitygw.Region,
		"RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE=true",
		"AWS_CA_BUNDLE=",
	}
}

// rcloneArgs gives rclone the same shape of work: --transfers = --workers,
// parts of the same size and concurrency, and the same single-part cutoff
// (astroingest sends one PutObject up to one part).
func (e *env) rcloneArgs(w workload, bucketName string) []string {
	part := fmt.Sprintf("%dM", e.partSize/mib)
	transfers := e.workers
	if e.rcloneTransfers > 0 {
		transfers = e.rcloneTransfers
	}
	return []string{"copy", ":http:", "benchs3:" + bucketName + "/" + strings.TrimSuffix(w.prefix(), "/"),
		"--http-url", e.srcURL + w.dir,
		"--config", e.rcloneConf,
		"--transfers", fmt.Sprint(transfers), "--checkers", fmt.Sprint(transfers),
		"--s3-upload-concurrency", fmt.Sprint(e.concurrency),
		"--s3-chunk-size", part, "--s3-upload-cutoff", part,
		"--s3-no-check-bucket", "--stats", "0", "--retries", "1"}
}

func (e *env) runRclone(ctx context.Context, label string, w workload, bucketName string) (sample, error) {
	s, _, err := child(ctx, filepath.Join(e.dir, label+".log"), e.rcloneEnv(), e.rclone, e.rcloneArgs(w, bucketName)...)
	return s, err
}

// readSource is the source half of the limit line: every file read to
// io.Discard by W concurrent plain GETs over kept-alive connections.
func readSource(ctx context.Context, base string, w workload, workers int) (sample, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	var mu sync.Mutex
	var total int64
	start := time.Now()
	for _, f := range w.files {
		g.Go(func() error {
			req, err := http.NewRequestWithContext(gctx, http.MethodGet, base+w.dir+f.name, nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: HTTP %d", req.URL, resp.StatusCode)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil {
				return err
			}
			if n != f.size {
				return fmt.Errorf("GET %s: %d bytes, want %d", req.URL, n, f.size)
			}
			mu.Lock()
			total += n
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	return sample{Wall: time.Since(start).Seconds(), Bytes: total, Objects: len(w.files)}, err
}

// writeBucket is the bucket half of the limit line: the same object sizes
// uploaded by astroingest's own S3 backend (same part size and part
// concurrency) from memory, W at a time.
func writeBucket(ctx context.Context, e *env, bucketName string, w workload) (sample, error) {
	b, err := s3.New(ctx, s3.Config{
		Bucket: bucketName, Endpoint: e.gw.Endpoint, Region: versitygw.Region, PathStyle: true,
		AccessKeyID: e.gw.AccessKey, SecretAccessKey: s3.Secret(e.gw.SecretKey),
		PartSize: e.partSize, Concurrency: e.concurrency,
	})
	if err != nil {
		return sample{}, err
	}
	pattern := make([]byte, 1*mib)
	for i := range pattern {
		pattern[i] = byte(i*131 + i>>8)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.workers)
	var mu sync.Mutex
	var total int64
	start := time.Now()
	for _, f := range w.files {
		g.Go(func() error {
			p, err := b.Put(gctx, w.prefix()+f.name, &cycleReader{pattern: pattern, left: f.size}, bucket.PutOptions{SizeHint: f.size})
			if err != nil {
				return err
			}
			if _, err := p.Commit(gctx); err != nil {
				return errors.Join(err, p.Abort(gctx))
			}
			mu.Lock()
			total += p.Size()
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	return sample{Wall: time.Since(start).Seconds(), Bytes: total, Objects: len(w.files)}, err
}

// cycleReader yields left bytes by repeating pattern: in-memory bytes at no
// generation cost.
type cycleReader struct {
	pattern []byte
	off     int
	left    int64
}

func (c *cycleReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && c.left > 0 {
		k := copy(p[n:min(len(p), n+int(min(c.left, int64(len(p)-n))))], c.pattern[c.off:])
		n += k
		c.left -= int64(k)
		c.off = (c.off + k) % len(c.pattern)
	}
	return n, nil
}
