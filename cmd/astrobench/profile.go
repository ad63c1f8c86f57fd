package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/versitygw"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/httpkind"
	"github.com/astroingest/astroingest/sources/index"
)

// profileEngine runs the engine in-process, wired like the command's
// backfill (registry, index and http kinds, S3 bucket), once per transfer
// workload, and writes <workload>.cpu.pprof and <workload>.allocs.pprof.
// Read them with: go tool pprof -top DIR/small.cpu.pprof
func profileEngine(ctx context.Context, e *env, res *results, regPath string, ws map[string]workload, wls []string, dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	reg, err := sources.LoadPaths([]string{regPath})
	if err != nil {
		return err
	}
	hosts := reg.Hosts
	for _, name := range []string{"small", "mixed", "large", "noop"} {
		if !slices.Contains(wls, name) {
			continue
		}
		w := ws[name]
		bn, err := e.gw.newBucket(ctx, "prof")
		if err != nil {
			return err
		}
		b, err := s3.New(ctx, s3.Config{
			Bucket: bn, Endpoint: e.gw.Endpoint, Region: versitygw.Region, PathStyle: true,
			AccessKeyID: e.gw.AccessKey, SecretAccessKey: s3.Secret(e.gw.SecretKey),
		})
		if err != nil {
			return err
		}
		cfg := ingest.Config{
			Bucket: b, Entries: reg.Entries, Hosts: hosts,
			Kinds:     map[string]sources.Kind{"index": index.New(), "http": httpkind.New()},
			Mode:      ingest.ModeBackfill,
			Selection: ingest.Selection{Families: []string{w.family}},
			Workers:   e.workers, Logger: slog.New(slog.DiscardHandler),
		}
		if name == "noop" {
			// Profile the rerun, not the first mirror.
			if _, err := ingest.Run(ctx, cfg); err != nil {
				return err
			}
		}
		cpu, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return err
		}
		start := time.Now()
		rec, err := ingest.Run(ctx, cfg)
		pprof.StopCPUProfile()
		cpu.Close()
		e.gw.dropBucket(bn)
		if err != nil {
			return err
		}
		if rec.Counts.Failed > 0 {
			return fmt.Errorf("%s: %d entries failed: %+v", name, rec.Counts.Failed, rec.Failures)
		}
		af, err := os.Create(filepath.Join(dir, name+".allocs.pprof"))
		if err != nil {
			return err
		}
		err = pprof.Lookup("allocs").WriteTo(af, 0)
		af.Close()
		if err != nil {
			return err
		}
		log.Info("profiled", "workload", name, "wall_s", round2(time.Since(start).Seconds()), "bytes", rec.Bytes, "dir", dir)
	}
	return nil
}
