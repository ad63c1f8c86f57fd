package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The op label of the bucket metrics: one value per method of Bucket,
// Pending and StaleCleaner.
const (
	opPut        = "put"
	opCommit     = "commit"
	opAbort      = "abort"
	opStat       = "stat"
	opOpen       = "open"
	opList       = "list"
	opDelete     = "delete"
	opCleanStale = "clean_stale"
)

var metricOps = []string{opPut, opCommit, opAbort, opStat, opOpen, opList, opDelete, opCleanStale}

// The result label of astroingest_bucket_operations_total, a closed set.
// Only "error" is a failure: a missing object and a failed write condition are
// answers, and a cancelled context is the caller's decision, which is
// never reported as a failure (as thanos' objstore and s5cmd do). A
// deadline exceeded is a failure: the bucket was too slow.
const (
	resultSuccess      = "success"             // the operation did what was asked
	resultNotFound     = "not_found"           // an error matching fs.ErrNotExist (Stat, Open of a missing key)
	resultPrecondition = "precondition_failed" // an error matching ErrPrecondition (a conditional Commit whose condition did not hold)
	resultCanceled     = "canceled"            // context.Canceled, or any error once ctx was cancelled
	resultError        = "error"               // every other error
)

var metricResults = []string{resultSuccess, resultNotFound, resultPrecondition, resultCanceled, resultError}

// durationBuckets run from 3 ms (a Stat nearby) to 819 s (a Put of a few
// hundred GiB) by factors of 4. They are the boundaries of ingest's
// transfer_duration_seconds extended down by two, so the le label of all
// astroingest series together stays small.
var durationBuckets = prometheus.ExponentialBuckets(0.05/16, 4, 10)

// WithMetrics returns b with every operation counted and timed on reg:
//
//   - astroingest_bucket_operations_total{op,result}, a counter;
//   - astroingest_bucket_operation_duration_seconds{op}, a histogram.
//
// op is put, commit, abort (of a Pending), stat, open, list, delete or
// clean_stale (a CreateIfAbsent is a put and a commit); result is success,
// not_found, precondition_failed, canceled or error (see the result constants: only error is a failure).
// Every op and result is created at zero up front, so dashboards see zeros
// rather than gaps. A put is timed until the stream is staged, an open
// until the object's body starts (bytes read are not measured), a list
// over the time spent in the backend, not in the caller's loop. Cancelled
// operations are counted but not timed, since their duration is the
// caller's, not the bucket's.
//
// The metrics live on reg, never on a global registry. If reg already
// holds them (a second bucket on the same registry), they are shared. If b
// is a StaleCleaner, so is the result. The returned bucket is safe for
// concurrent use as b is; Unwrap returns b.
func WithMetrics(b Bucket, reg prometheus.Registerer) (Bucket, error) {
	if reg == nil {
		return nil, errors.New("bucket metrics: nil prometheus.Registerer")
	}
	m, err := newBucketMetrics(reg)
	if err != nil {
		return nil, err
	}
	mb := &metered{Bucket: b, m: m}
	if sc, ok := b.(StaleCleaner); ok {
		return meteredCleaner{mb, sc}, nil
	}
	return mb, nil
}

type bucketMetrics struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newBucketMetrics(reg prometheus.Registerer) (*bucketMetrics, error) {
	ops := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "astroingest_bucket_operations_total",
		Help: "Bucket operations by op and result (success, not_found, precondition_failed, canceled, error; only error is a failure).",
	}, []string{"op", "result"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "astroingest_bucket_operation_duration_seconds",
		Help:    "Duration of bucket operations that were not cancelled, by op.",
		Buckets: durationBuckets,
	}, []string{"op"})
	if err := register(reg, &ops); err != nil {
		return nil, err
	}
	if err := register(reg, &duration); err != nil {
		return nil, err
	}
	for _, op := range metricOps {
		for _, r := range metricResults {
			ops.WithLabelValues(op, r)
		}
		duration.WithLabelValues(op)
	}
	return &bucketMetrics{ops: ops, duration: duration}, nil
}

// register registers *c on reg, or replaces *c with the collector reg
// already holds under the same description.
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("bucket metrics: %w", err)
	}
	return nil
}

// outcome maps an operation's error to its result label.
func outcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return resultSuccess
	case errors.Is(err, fs.ErrNotExist):
		return resultNotFound
	case errors.Is(err, ErrPrecondition):
		return resultPrecondition
	case errors.Is(err, context.Canceled), errors.Is(ctx.Err(), context.Canceled):
		return resultCanceled
	}
	return resultError
}

func (m *bucketMetrics) record(ctx context.Context, op string, d time.Duration, err error) {
	r := outcome(ctx, err)
	m.ops.WithLabelValues(op, r).Inc()
	if r != resultCanceled {
		m.duration.WithLabelValues(op).Observe(d.Seconds())
	}
}

// metered embeds the inner bucket, as restic's decorators do, and times
// every method.
type metered struct {
	Bucket
	m *bucketMetrics
}

// Unwrap returns the bucket being measured.
func (b *metered) Unwrap() Bucket { return b.Bucket }

func (b *metered) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Pending, error) {
	start := time.Now()
	p, err := b.Bucket.Put(ctx, key, r, opts)
	b.m.record(ctx, opPut, time.Since(start), err)
	if err != nil {
		return nil, err
	}
	return meteredPending{p, b.m}, nil
}

func (b *metered) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	start := time.Now()
	info, err := b.Bucket.Stat(ctx, key)
	b.m.record(ctx, opStat, time.Since(start), err)
	return info, err
}

func (b *metered) Open(ctx context.Context, key string, rng *Range) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := b.Bucket.Open(ctx, key, rng)
	b.m.record(ctx, opOpen, time.Since(start), err)
	return rc, err
}

// List counts one operation per iteration, with the first error yielded,
// when the iteration ends.
func (b *metered) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		var (
			spent time.Duration
			first error
		)
		start := time.Now()
		for info, err := range b.Bucket.List(ctx, prefix) {
			spent += time.Since(start)
			if err != nil && first == nil {
				first = err
			}
			if !yield(info, err) {
				b.m.record(ctx, opList, spent, first)
				return
			}
			start = time.Now()
		}
		spent += time.Since(start)
		b.m.record(ctx, opList, spent, first)
	}
}

func (b *metered) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := b.Bucket.Delete(ctx, key)
	b.m.record(ctx, opDelete, time.Since(start), err)
	return err
}

// meteredCleaner is a metered bucket over a StaleCleaner; a separate type
// so that a type assertion for StaleCleaner answers as on the inner one.
type meteredCleaner struct {
	*metered
	sc StaleCleaner
}

func (b meteredCleaner) CleanStale(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	start := time.Now()
	n, err := b.sc.CleanStale(ctx, prefix, cutoff)
	b.m.record(ctx, opCleanStale, time.Since(start), err)
	return n, err
}

// meteredPending times Commit and Abort.
type meteredPending struct {
	Pending
	m *bucketMetrics
}

func (p meteredPending) Commit(ctx context.Context) (ObjectInfo, error) {
	start := time.Now()
	info, err := p.Pending.Commit(ctx)
	p.m.record(ctx, opCommit, time.Since(start), err)
	return info, err
}

func (p meteredPending) Abort(ctx context.Context) error {
	start := time.Now()
	err := p.Pending.Abort(ctx)
	p.m.record(ctx, opAbort, time.Since(start), err)
	return err
}
