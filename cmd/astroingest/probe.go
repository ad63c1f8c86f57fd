package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/units"
)

const probeHelp = `
Usage: astroingest probe [flags]

Validates the data flow to a bucket, as the platform plan asks for the R2
connection ("test data flow, 60 rounds validation"): each round puts,
stats, reads in full, reads a random range and deletes one object of each
size, verifies every byte read back, and times each operation. It prints
latency p50/p95/p99 per operation and size, and throughput.

Objects go under _probe/<id>/ and are deleted, also when interrupted.
Exit status 1 if any byte differs or any operation fails.

Examples:
  astroingest probe --bucket file://./mirror --rounds 5
  astroingest probe --bucket r2://astrobio-data --sizes 1KiB,1MiB,64MiB --json
`

type probeConfig struct {
	rounds int
	sizes  []int64
	json   bool
}

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("probe", probeHelp, stderr)
	bucketURL := bucketFlag(fs, defaultBucket)
	rounds := fs.Int("rounds", 60, "rounds of put, stat, get, ranged get and delete per size")
	sizes := fs.String("sizes", "1KiB,1MiB,64MiB", "comma-separated object sizes (B, KiB, MiB, GiB; K, M and G are the same binary units)")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout")
	debugOn := fs.Bool("debug", false, "log debug events")
	if code := parseNoArgs(fs, args); code >= 0 {
		return code
	}
	if *rounds < 1 {
		fmt.Fprintf(stderr, "probe: --rounds %d: must be at least 1\n", *rounds)
		return exitUsage
	}
	cfg := probeConfig{rounds: *rounds, json: *asJSON}
	for s := range strings.SplitSeq(*sizes, ",") {
		n, err := units.ParseBytes(s)
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "probe: --sizes %q: %q is not a size such as 1KiB, 1MiB or 64MiB\n", *sizes, s)
			return exitUsage
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	logger := newLogger(stderr, *debugOn)
	b, err := openBucket(ctx, *bucketURL, os.Getenv, logger, nil)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return exitUsage
	}
	return probeAndReport(ctx, b, cfg, logger, stdout, stderr)
}

// probeAndReport probes b, prints the report and maps the outcome to an
// exit code.
func probeAndReport(ctx context.Context, b bucket.Bucket, cfg probeConfig, logger *slog.Logger, stdout, stderr io.Writer) int {
	rep, err := probe(ctx, b, cfg, logger)
	if rep != nil {
		if cfg.json {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(rep)
		} else {
			rep.writeTable(stdout)
		}
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "probe: interrupted; probe objects deleted")
		return exitInterrupted
	case err != nil:
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return exitFailed
	}
	return exitOK
}

type probeReport struct {
	Bucket string      `json:"-"`
	Rounds int         `json:"rounds"`
	Ops    []probeStat `json:"operations"`
	Errors []string    `json:"errors,omitempty"`
}

type probeStat struct {
	Op      string  `json:"op"`
	Size    string  `json:"size"`
	Bytes   int64   `json:"bytes"`
	Count   int     `json:"count"`
	P50ms   float64 `json:"p50_ms"`
	P95ms   float64 `json:"p95_ms"`
	P99ms   float64 `json:"p99_ms"`
	MiBps   float64 `json:"mib_per_s,omitempty"`
	samples []time.Duration
	moved   int64
}

func (r *probeReport) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tsize\tn\tp50 ms\tp95 ms\tp99 ms\tMiB/s\t")
	for _, s := range r.Ops {
		mibs := "-"
		if s.MiBps > 0 {
			mibs = fmt.Sprintf("%.1f", s.MiBps)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%s\t\n", s.Op, s.Size, s.Count, s.P50ms, s.P95ms, s.P99ms, mibs)
	}
	tw.Flush()
	if len(r.Errors) == 0 {
		fmt.Fprintf(w, "\nOK: %d rounds, every byte read back matched what was written; probe objects deleted.\n", r.Rounds)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\n%d errors:\n", len(r.Errors))
		for _, e := range r.Errors {
			fmt.Fprintln(w, "  "+e)
		}
	}
}

// percentile uses the nearest-rank method on sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func probe(ctx context.Context, b bucket.Bucket, cfg probeConfig, logger *slog.Logger) (*probeReport, error) {
	var idb [6]byte
	rand.Read(idb[:])
	prefix := "_probe/" + hex.EncodeToString(idb[:]) + "/"
	ops := []string{"put", "stat", "get", "get-range", "delete"}
	stats := map[opSize]*probeStat{}
	for _, size := range cfg.sizes {
		for _, op := range ops {
			stats[opSize{op, size}] = &probeStat{Op: op, Size: units.FormatBytes(size), Bytes: size}
		}
	}
	record := func(op string, size int64, d time.Duration, moved int64) {
		s := stats[opSize{op, size}]
		s.samples = append(s.samples, d)
		s.moved += moved
	}

	// Whatever happens, nothing the probe wrote may stay behind.
	written := map[string]bool{}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for key := range written {
			if err := b.Delete(cctx, key); err != nil {
				logger.Warn("probe: cleanup failed", "key", key, "err", err)
			}
		}
	}()

	rep := &probeReport{Rounds: cfg.rounds}
	var errs []error
	fail := func(err error) {
		errs = append(errs, err)
		rep.Errors = append(rep.Errors, err.Error())
	}
	buf := make([]byte, slices.Max(cfg.sizes))
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	lastLog := time.Now()
	for round := range cfg.rounds {
		for _, size := range cfg.sizes {
			if ctx.Err() != nil {
				return rep.finish(stats, cfg.sizes, ops), ctx.Err()
			}
			data := buf[:size]
			fillRandom(rng, data)
			want := sha256.Sum256(data)
			key := fmt.Sprintf("%s%dB-%03d", prefix, size, round)

			start := time.Now()
			p, err := b.Put(ctx, key, onlyReader{bytes.NewReader(data)}, bucket.PutOptions{SizeHint: size, ContentType: "application/octet-stream"})
			if err == nil {
				written[key] = true
				_, err = p.Commit(ctx)
			}
			if err != nil {
				fail(fmt.Errorf("round %d put %s: %w", round, key, err))
				continue
			}
			record("put", size, time.Since(start), size)

			start = time.Now()
			info, err := b.Stat(ctx, key)
			record("stat", size, time.Since(start), 0)
			if err != nil {
				fail(fmt.Errorf("round %d stat %s: %w", round, key, err))
			} else if info.Size != size {
				fail(fmt.Errorf("round %d stat %s: size %d, want %d", round, key, info.Size, size))
			}

			start = time.Now()
			got, n, err := readHash(ctx, b, key, nil)
			if err == nil {
				record("get", size, time.Since(start), n)
				if got != want || n != size {
					err = fmt.Errorf("read back %d bytes with sha256 %x, want %d bytes with %x", n, got, size, want)
				}
			}
			if err != nil {
				fail(fmt.Errorf("round %d get %s: %w", round, key, err))
			}

			off := rng.Int64N(size)
			length := 1 + rng.Int64N(size-off)
			start = time.Now()
			got, n, err = readHash(ctx, b, key, &bucket.Range{Offset: off, Length: length})
			if err == nil {
				record("get-range", size, time.Since(start), n)
				if w := sha256.Sum256(data[off : off+length]); got != w || n != length {
					err = fmt.Errorf("range [%d,+%d): read %d bytes that differ from what was written", off, length, n)
				}
			}
			if err != nil {
				fail(fmt.Errorf("round %d get-range %s: %w", round, key, err))
			}

			start = time.Now()
			if err := b.Delete(ctx, key); err != nil {
				fail(fmt.Errorf("round %d delete %s: %w", round, key, err))
			} else {
				record("delete", size, time.Since(start), 0)
				delete(written, key)
			}
		}
		if time.Since(lastLog) > 5*time.Second {
			logger.Info("probe progress", "round", round+1, "of", cfg.rounds, "errors", len(errs))
			lastLog = time.Now()
		}
	}
	return rep.finish(stats, cfg.sizes, ops), errors.Join(errs...)
}

// opSize keys the statistics of one operation at one object size.
type opSize struct {
	op   string
	size int64
}

func (r *probeReport) finish(stats map[opSize]*probeStat, sizes []int64, ops []string) *probeReport {
	for _, size := range sizes {
		for _, op := range ops {
			s := stats[opSize{op, size}]
			if len(s.samples) == 0 {
				continue
			}
			slices.Sort(s.samples)
			s.Count = len(s.samples)
			s.P50ms, s.P95ms, s.P99ms = ms(percentile(s.samples, 50)), ms(percentile(s.samples, 95)), ms(percentile(s.samples, 99))
			var total time.Duration
			for _, d := range s.samples {
				total += d
			}
			if s.moved > 0 && total > 0 {
				s.MiBps = float64(s.moved) / (1 << 20) / total.Seconds()
			}
			r.Ops = append(r.Ops, *s)
		}
	}
	return r
}

func fillRandom(r *mrand.Rand, p []byte) {
	for i := 0; i+8 <= len(p); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(p) &^ 7; i < len(p); i++ {
		p[i] = byte(r.Uint32())
	}
}

func readHash(ctx context.Context, b bucket.Bucket, key string, rng *bucket.Range) ([32]byte, int64, error) {
	rc, err := b.Open(ctx, key, rng)
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

// onlyReader hides bytes.Reader's Seek/WriterTo so the bucket streams the
// body as it would an HTTP download.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
