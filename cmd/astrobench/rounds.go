package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
)

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
