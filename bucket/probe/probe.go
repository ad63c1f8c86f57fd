// Package probe validates the data flow to a bucket, as the platform plan
// asks of the R2 connection ("test data flow, 60 rounds validation"): each
// round puts, stats, reads in full, reads a random range of and deletes one
// object of each size, checks every byte read back and times each
// operation. The report holds latency p50/p95/p99 per operation and size,
// and throughput. It is a plain function over bucket.Bucket; the command
// (cmd/astroingest probe) owns the flags and the printing.
package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/units"
)

// KeyPrefix is where the probe writes: KeyPrefix<random id>/.
const KeyPrefix = "_probe/"

// The operations of a round, in order: the Op of OpStats.
const (
	OpPut      = "put"
	OpStat     = "stat"
	OpGet      = "get"
	OpGetRange = "get-range"
	OpDelete   = "delete"
)

var ops = []string{OpPut, OpStat, OpGet, OpGetRange, OpDelete}

// Options configure Run. The caller owns them; Run does not keep them.
type Options struct {
	// Rounds is the number of rounds, at least 1.
	Rounds int
	// Sizes are the object sizes in bytes, each at least 1; every round
	// probes each once, in this order.
	Sizes []int64
	// Logger receives progress every 5 s and cleanup failures. Nil
	// discards them.
	Logger *slog.Logger
}

// Report is what Run found. Its JSON form is probe --json's output. It is
// a plain value that belongs to Run's caller once Run returns.
type Report struct {
	Rounds int `json:"rounds"`
	// Ops has one row per size and operation that succeeded at least once,
	// sizes in the order of Options.Sizes and operations in round order.
	Ops []OpStats `json:"operations"`
	// Errors lists every failed operation and every mismatch, in order.
	Errors []string `json:"errors,omitempty"`
}

// OpStats are one operation's latencies at one object size, part of a
// Report.
type OpStats struct {
	Op    string  `json:"op"`
	Size  string  `json:"size"` // Bytes as units.FormatBytes prints it
	Bytes int64   `json:"bytes"`
	Count int     `json:"count"`
	P50ms float64 `json:"p50_ms"`
	P95ms float64 `json:"p95_ms"`
	P99ms float64 `json:"p99_ms"`
	// MiBps is the bytes moved over the time taken, for put, get and
	// get-range; 0 (omitted) for the others.
	MiBps float64 `json:"mib_per_s,omitempty"`

	samples []time.Duration
	moved   int64
}

// Run probes b and returns the report, also when it returns an error: the
// joined errors of every failed operation and mismatch, or ctx's error when
// interrupted. Everything the probe wrote is deleted before Run returns,
// also when interrupted. Run is safe to call concurrently (each call writes
// under its own random prefix), though the timings then disturb each other.
func Run(ctx context.Context, b bucket.Bucket, opts Options) (*Report, error) {
	if opts.Rounds < 1 || len(opts.Sizes) == 0 || slices.Min(opts.Sizes) < 1 {
		return nil, fmt.Errorf("probe: want at least 1 round and sizes of at least 1 byte, got %d rounds and sizes %v", opts.Rounds, opts.Sizes)
	}
	p := newProber(b, opts)
	defer p.cleanup(ctx)
	lastLog := time.Now()
	for round := range opts.Rounds {
		for _, size := range opts.Sizes {
			if ctx.Err() != nil {
				return p.report(), ctx.Err()
			}
			p.probeOnce(ctx, round, size)
		}
		if time.Since(lastLog) > 5*time.Second {
			p.log.Info("probe progress", "round", round+1, "of", opts.Rounds, "errors", len(p.errs))
			lastLog = time.Now()
		}
	}
	return p.report(), errors.Join(p.errs...)
}

// opSize keys the statistics of one operation at one object size.
type opSize struct {
	op   string
	size int64
}

// prober is one Run's state; it is used by one goroutine.
type prober struct {
	b       bucket.Bucket
	opts    Options
	log     *slog.Logger
	prefix  string
	stats   map[opSize]*OpStats
	written map[string]bool // keys put and not yet deleted
	errs    []error
	buf     []byte
	rng     *mrand.Rand
}

func newProber(b bucket.Bucket, opts Options) *prober {
	var id [6]byte
	rand.Read(id[:])
	p := &prober{
		b: b, opts: opts, log: opts.Logger,
		prefix:  KeyPrefix + hex.EncodeToString(id[:]) + "/",
		stats:   map[opSize]*OpStats{},
		written: map[string]bool{},
		buf:     make([]byte, slices.Max(opts.Sizes)),
		rng:     mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1)),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, size := range opts.Sizes {
		for _, op := range ops {
			p.stats[opSize{op, size}] = &OpStats{Op: op, Size: units.FormatBytes(size), Bytes: size}
		}
	}
	return p
}

func (p *prober) record(op string, size int64, d time.Duration, moved int64) {
	s := p.stats[opSize{op, size}]
	s.samples = append(s.samples, d)
	s.moved += moved
}

func (p *prober) fail(round int, op, key string, err error) {
	p.errs = append(p.errs, fmt.Errorf("round %d %s %s: %w", round, op, key, err))
}

// cleanup deletes whatever the probe wrote and did not delete, with a
// context that outlives an interruption.
func (p *prober) cleanup(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for key := range p.written {
		if err := p.b.Delete(cctx, key); err != nil {
			p.log.Warn("probe: cleanup failed", "key", key, "err", err)
		}
	}
}

// probeOnce is one round at one size: put, stat, get, get-range, delete.
func (p *prober) probeOnce(ctx context.Context, round int, size int64) {
	data := p.buf[:size]
	fillRandom(p.rng, data)
	key := fmt.Sprintf("%s%dB-%03d", p.prefix, size, round)

	start := time.Now()
	pend, err := p.b.Put(ctx, key, onlyReader{bytes.NewReader(data)}, bucket.PutOptions{SizeHint: size, ContentType: "application/octet-stream"})
	if err == nil {
		p.written[key] = true
		if _, err = pend.Commit(ctx); err != nil {
			// A Pending neither committed nor aborted would leave an
			// unfinished multipart upload behind.
			_ = pend.Abort(context.WithoutCancel(ctx))
		}
	}
	if err != nil {
		p.fail(round, OpPut, key, err)
		return
	}
	p.record(OpPut, size, time.Since(start), size)

	start = time.Now()
	info, err := p.b.Stat(ctx, key)
	p.record(OpStat, size, time.Since(start), 0)
	if err == nil && info.Size != size {
		err = fmt.Errorf("size %d, want %d", info.Size, size)
	}
	if err != nil {
		p.fail(round, OpStat, key, err)
	}

	if err := p.get(ctx, size, key, data, nil); err != nil {
		p.fail(round, OpGet, key, err)
	}
	off := p.rng.Int64N(size)
	rng := &bucket.Range{Offset: off, Length: 1 + p.rng.Int64N(size-off)}
	if err := p.get(ctx, size, key, data, rng); err != nil {
		p.fail(round, OpGetRange, key, err)
	}

	start = time.Now()
	if err := p.b.Delete(ctx, key); err != nil {
		p.fail(round, OpDelete, key, err)
		return
	}
	p.record(OpDelete, size, time.Since(start), 0)
	delete(p.written, key)
}

// get reads key in full (rng nil) or the range, times it and checks the
// bytes against data.
func (p *prober) get(ctx context.Context, size int64, key string, data []byte, rng *bucket.Range) error {
	op, want := OpGet, data
	if rng != nil {
		op, want = OpGetRange, data[rng.Offset:rng.Offset+rng.Length]
	}
	start := time.Now()
	got, n, err := readHash(ctx, p.b, key, rng)
	if err != nil {
		return err
	}
	p.record(op, size, time.Since(start), n)
	if w := sha256.Sum256(want); got != w || n != int64(len(want)) {
		if rng != nil {
			return fmt.Errorf("range [%d,+%d): read %d bytes that differ from what was written", rng.Offset, rng.Length, n)
		}
		return fmt.Errorf("read back %d bytes with sha256 %x, want %d bytes with %x", n, got, len(want), w)
	}
	return nil
}

func (p *prober) report() *Report {
	r := &Report{Rounds: p.opts.Rounds}
	for _, err := range p.errs {
		r.Errors = append(r.Errors, err.Error())
	}
	for _, size := range p.opts.Sizes {
		for _, op := range ops {
			s := p.stats[opSize{op, size}]
			if len(s.samples) == 0 || slices.ContainsFunc(r.Ops, func(o OpStats) bool { return o.Op == op && o.Bytes == size }) {
				continue
			}
			r.Ops = append(r.Ops, s.summarize())
		}
	}
	return r
}

// summarize fills in the counts, percentiles and throughput.
func (s OpStats) summarize() OpStats {
	sorted := slices.Sorted(slices.Values(s.samples))
	s.Count = len(sorted)
	s.P50ms, s.P95ms, s.P99ms = ms(percentile(sorted, 50)), ms(percentile(sorted, 95)), ms(percentile(sorted, 99))
	var total time.Duration
	for _, d := range sorted {
		total += d
	}
	if s.moved > 0 && total > 0 {
		s.MiBps = float64(s.moved) / (1 << 20) / total.Seconds()
	}
	return s
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

func readHash(ctx context.Context, b bucket.Reader, key string, rng *bucket.Range) ([32]byte, int64, error) {
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
