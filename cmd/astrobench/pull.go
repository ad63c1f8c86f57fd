package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// The read side: `astroingest pull` against `rclone copy` from the bucket
// to a local folder. The bucket is mirrored once per workload by
// astroingest itself (so it holds the annotations pull reads); every
// measured run then gets a fresh local folder, removed afterwards.
//
// Concurrency is counted in GETs in flight, the same for both tools: pull
// --workers W runs 4W small objects at once, or W large ones with 4 ranged
// GETs each; rclone gets --transfers and --checkers of 4W for small
// objects, and for large ones --transfers W with --multi-thread-streams 4
// from two parts (--multi-thread-cutoff). The limit line is the bucket
// alone: the same GETs (whole objects, or the same ranges) by
// astroingest's S3 backend into io.Discard, nothing hashed or written.

// pullWorkloads maps the read workloads to the transfer workload whose
// files they read.
var pullWorkloads = map[string]string{"pull-small": "small", "pull-large": "large", "pull-rerun": "small"}

// pullStreams is the GETs in flight for w: 4 per large object worker, or
// 4 × workers small objects.
func (e *env) pullStreams(w workload) int {
	if w.name == "large" {
		return min(e.workers, len(w.files)) * e.concurrency
	}
	return e.workers * e.concurrency
}

func (e *env) pullArgs(bucketName, dir string) []string {
	return []string{"pull", "--bucket", "s3://" + bucketName, "--to", dir, "--workers", fmt.Sprint(e.workers), "--json"}
}

func (e *env) rclonePullArgs(w workload, bucketName, dir string) []string {
	n := e.pullStreams(w)
	args := []string{"copy", "benchs3:" + bucketName + "/" + strings.TrimSuffix(w.prefix(), "/"), dir,
		"--config", e.rcloneConf, "--stats", "0", "--retries", "1"}
	if w.name == "large" {
		return append(args, "--transfers", fmt.Sprint(e.workers), "--checkers", fmt.Sprint(e.workers),
			"--multi-thread-streams", fmt.Sprint(e.concurrency), "--multi-thread-cutoff", fmt.Sprintf("%dM", 2*e.partSize/mib))
	}
	return append(args, "--transfers", fmt.Sprint(n), "--checkers", fmt.Sprint(n))
}

// pullSummary is the part of pull's --json summary the benchmark checks.
type pullSummary struct {
	Objects      int   `json:"objects"`
	Fetched      int   `json:"fetched"`
	FetchedBytes int64 `json:"fetched_bytes"`
	Present      int   `json:"present"`
	Failed       int   `json:"failed"`
}

// benchPull mirrors w once, then measures in each round the bucket alone,
// then pull and rclone into fresh folders (alternating which goes first),
// and with rerun a second run of each into the folder it just filled.
func benchPull(ctx context.Context, e *env, res *results, reg string, w workload, runs int, rerun bool, log *slog.Logger) error {
	name := "pull-" + w.name
	bn, err := e.gw.newBucket(ctx, "pull-"+w.name)
	if err != nil {
		return err
	}
	defer e.gw.dropBucket(bn)
	log.Info("mirroring the read workload's bucket once", "workload", name, "bucket", bn)
	if _, _, err := e.runAstroingest(ctx, name+"-mirror", "backfill", reg, w.family, bn); err != nil {
		return err
	}
	if err := writeIndexes(ctx, e, bn); err != nil {
		return err
	}
	// Folders of small files are removed only once the workload is over:
	// on an ext4 without a journal (this machine's), inodes deleted in the
	// last minutes are skipped when new ones are allocated, so whichever
	// tool ran right after a removal of 5,000 files paid for it.
	var folders []string
	defer func() {
		for _, d := range folders {
			os.RemoveAll(d)
		}
	}()
	res.command(name, "astroingest", e.astroingest+" "+strings.Join(e.pullArgs(bn, "DIR"), " "))
	res.command(name, "rclone", e.rclone+" "+strings.Join(e.rclonePullArgs(w, bn, "DIR"), " "))
	var awsEnv []string // the AWS CLI's environment, with its config file written once
	if e.aws != "" {
		if awsEnv, err = e.awsPullEnv(w); err != nil {
			return err
		}
		res.command(name, "aws", e.aws+" "+strings.Join(e.awsPullArgs(bn, w, "DIR"), " "))
	}
	for i := range runs {
		s, err := readBucket(ctx, e, bn, w)
		if err != nil {
			return fmt.Errorf("bucket alone: %w", err)
		}
		res.add(name, "bucket", s)
		tools := []string{"astroingest", "rclone"}
		if e.aws != "" {
			tools = append(tools, "aws")
		}
		// Who goes first rotates from round to round.
		k := i % len(tools)
		tools = slices.Concat(tools[k:], tools[:k])
		for _, tool := range tools {
			dir := filepath.Join(e.pullDir, fmt.Sprintf("%s-%s-%d", name, tool, i+1))
			err := pullOnce(ctx, e, res, tool, dir, w, bn, rerun, awsEnv)
			if w.bytes() >= gib {
				os.RemoveAll(dir)
			} else {
				folders = append(folders, dir)
			}
			if err != nil {
				return err
			}
		}
		log.Info("round", "workload", name, "round", i+1)
	}
	return nil
}

// pullOnce is one tool's run (and rerun) into dir, a fresh folder.
func pullOnce(ctx context.Context, e *env, res *results, tool, dir string, w workload, bn string, rerun bool, awsEnv []string) error {
	label := filepath.Base(dir)
	do := func(label string) (sample, error) {
		switch tool {
		case "rclone":
			s, _, err := child(ctx, filepath.Join(e.dir, label+".log"), e.rcloneEnv(), e.rclone, e.rclonePullArgs(w, bn, dir)...)
			return s, err
		case "aws":
			s, _, err := child(ctx, filepath.Join(e.dir, label+".log"), awsEnv, e.aws, e.awsPullArgs(bn, w, dir)...)
			return s, err
		}
		s, out, err := child(ctx, filepath.Join(e.dir, label+".log"), e.awsEnv(), e.astroingest, e.pullArgs(bn, dir)...)
		if err != nil {
			return s, err
		}
		var sum pullSummary
		if err := json.Unmarshal(out, &sum); err != nil || sum.Failed > 0 || sum.Objects != len(w.files) {
			return s, fmt.Errorf("%s: summary %+v (%v), want %d objects, none failed", label, sum, err, len(w.files))
		}
		return s, nil
	}
	s, err := do(label)
	if err != nil {
		return err
	}
	local := dir
	if tool == "astroingest" {
		local = filepath.Join(dir, filepath.FromSlash(w.prefix()))
	}
	if err := checkLocal(local, w); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	s.Bytes, s.Objects = w.bytes(), len(w.files)
	if !rerun {
		res.add("pull-"+w.name, tool, s)
		return nil
	}
	s2, err := do(label + "-rerun")
	s2.Objects = len(w.files) // nothing moved: judged by wall time
	res.add("pull-rerun", tool, s2)
	res.add("pull-"+w.name, tool, s)
	return err
}

// checkLocal checks that dir holds exactly w's files with their sizes.
func checkLocal(dir string, w workload) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	want := map[string]int64{}
	for _, f := range w.files {
		want[f.name] = f.size
	}
	n := 0
	for _, de := range ents {
		fi, err := de.Info()
		if err != nil || !fi.Mode().IsRegular() || want[de.Name()] != fi.Size() {
			return fmt.Errorf("%s: unexpected file %s", dir, de.Name())
		}
		n++
	}
	if n != len(w.files) {
		return fmt.Errorf("%s holds %d files, want %d", dir, n, len(w.files))
	}
	return nil
}

// readBucket is the limit line: the GETs pull makes (whole small objects,
// or part-sized ranges of large ones), pullStreams at a time, by
// astroingest's own S3 backend, into io.Discard.
func readBucket(ctx context.Context, e *env, bucketName string, w workload) (sample, error) {
	b, err := s3.New(ctx, s3.Config{
		Bucket: bucketName, Endpoint: e.gw.Endpoint, Region: versitygw.Region, PathStyle: true,
		AccessKeyID: e.gw.AccessKey, SecretAccessKey: s3.Secret(e.gw.SecretKey),
	})
	if err != nil {
		return sample{}, err
	}
	var gets []bucket.Range
	var keys []string
	for _, f := range w.files {
		if f.size < 2*e.partSize {
			gets, keys = append(gets, bucket.Range{Length: -1}), append(keys, w.prefix()+f.name)
			continue
		}
		for off := int64(0); off < f.size; off += e.partSize {
			gets, keys = append(gets, bucket.Range{Offset: off, Length: min(e.partSize, f.size-off)}), append(keys, w.prefix()+f.name)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.pullStreams(w))
	var mu sync.Mutex
	var total int64
	start := time.Now()
	for i, rng := range gets {
		g.Go(func() error {
			var r *bucket.Range
			if rng.Length >= 0 {
				r = &rng
			}
			rc, err := b.Open(gctx, keys[i], r)
			if err != nil {
				return err
			}
			defer rc.Close()
			n, err := io.Copy(io.Discard, rc)
			mu.Lock()
			total += n
			mu.Unlock()
			return err
		})
	}
	err = g.Wait()
	if err == nil && total != w.bytes() {
		err = fmt.Errorf("read %d bytes, want %d", total, w.bytes())
	}
	return sample{Wall: time.Since(start).Seconds(), Bytes: total, Objects: len(w.files)}, err
}

// writeIndexes writes the object index of every entry that has none yet,
// from its head's records, as the engine does at the end of an entry, so
// that pull reads what a current bucket holds.
func writeIndexes(ctx context.Context, e *env, bucketName string) error {
	b, err := s3.New(ctx, s3.Config{
		Bucket: bucketName, Endpoint: e.gw.Endpoint, Region: versitygw.Region, PathStyle: true,
		AccessKeyID: e.gw.AccessKey, SecretAccessKey: s3.Secret(e.gw.SecretKey),
	})
	if err != nil {
		return err
	}
	cat, _, err := annotations.ReadCatalog(ctx, b)
	if err != nil {
		return err
	}
	for _, ce := range cat.Entries {
		h, err := annotations.ReadHeadAt(ctx, b, ce.Manifest)
		if err != nil || h == nil {
			return fmt.Errorf("head of %s: %v", ce.ID, err)
		}
		if have, err := index.EntryFiles(ctx, b, h.Meta); err != nil || len(have) > 0 {
			continue
		}
		rows := func(yield func(index.Row, error) bool) {
			for rec, err := range annotations.Records(ctx, b, h) {
				if !yield(index.RowOf(h.Meta, rec), err) || err != nil {
					return
				}
			}
		}
		if _, err := index.Write(ctx, b, index.Key(h.Meta, nil), rows); err != nil {
			return err
		}
	}
	return nil
}
