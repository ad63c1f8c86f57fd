package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/sources"
)

// Config is everything one run needs. The command fills it from flags and
// the environment; zero values of the tuning fields take the defaults
// noted. A Config is read, never modified, once Run or BuildPlan has
// applied its defaults to their own copy.
type Config struct {
	Bucket  bucket.Bucket
	Entries []sources.Entry
	Hosts   sources.Hosts // the registry's host policies (the zero value: defaults for every host)
	// Kinds maps a registry kind name to its implementation.
	Kinds map[string]sources.Kind

	Mode       Mode
	Selection  Selection
	Shard      Shard
	Force      bool
	AllowGated bool

	Workers int // concurrent transfers of large objects, or of unknown size (default 4)
	// SmallWorkers are the transfers of small objects (known size below
	// SmallBelow) that may run besides: they cost little memory, so they
	// need not wait behind large ones (default 4 × Workers).
	SmallWorkers int
	SmallBelow   int64 // default 1 MiB
	// SplitAbove is the listing size from which a sharded run splits an
	// entry below the entry, over the job's shards (default 50,000).
	SplitAbove int
	BWLimit    int64 // bytes/s for the whole run, 0 = unlimited
	MaxBytes   int64 // byte budget for the whole run, 0 = unlimited

	// UserAgent is sent to every publisher (default
	// "astroingest/dev (+https://github.com/astroingest/astroingest)").
	UserAgent string
	// Transport is the base HTTP transport (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	Getenv    func(string) string // default os.Getenv
	Now       func() time.Time    // default time.Now
	Logger    *slog.Logger        // default slog.Default()
	Metrics   *Metrics            // nil records nothing
	RunID     string              // default: time, shard and a random suffix
	// Holder names this process in its leases, for the operator who finds
	// one: the command gives host and pid, and the lease records
	// Holder/RunID (RunID alone when Holder is empty).
	Holder string
	// Job is the job token of a sharded run: the shards of one job (one
	// Kubernetes Indexed Job) share it, so they may hold the bucket's
	// write lease together while a second job of the same selection may
	// not. See BucketLeaseKey.
	Job string
	// Workload is the run's Kubernetes Job, which its leases record so
	// that the next pod of the same Job index, or the CronJob's next Job,
	// takes them over at once (see BucketLeaseKey); nil outside Kubernetes.
	Workload *Workload
	// BreakLease names a holder (Lease.Holder or its RunID, as a
	// LeaseHeldError shows it) whose live lease this run takes over, with
	// a warning: the operator's word that the holder is gone.
	BreakLease string

	Progress ProgressConfig
	Retry    RetryPolicy
	Lease    LeaseConfig
}

// ProgressConfig says where the live display goes.
type ProgressConfig struct {
	// Out receives the live display when TTY is set; otherwise, or when
	// Out is nil, progress goes to the Logger every Interval.
	Out      io.Writer
	TTY      bool
	Interval time.Duration // default 5s (250ms on a terminal)
}

// RetryPolicy is the whole retry budget of the source side, in one place.
// Retries nest three deep, and each level retries only what the level
// below could not:
//
//  1. Every HTTP request (listings, downloads, resumes) is retried by
//     go-retryablehttp up to Attempts times in all, on connection errors,
//     429 and 5xx, with exponential backoff from WaitMin to WaitMax.
//     A server's Retry-After is honoured up to MaxRetryAfter.
//  2. A download whose connection breaks after the headers is resumed
//     with Range and If-Range up to Resumes times (each resume is a
//     request with its own level-1 attempts). Without a validator it is
//     not resumed but restarted.
//  3. An object whose download broke beyond resuming, or stalled for
//     Stall, is restarted from scratch up to Restarts times in all.
//     Independently, an object that fails verification (size or
//     checksum) is fetched once more, fresh, before it fails.
//
// So one object costs at most Restarts × (1 + Resumes) × Attempts
// requests (3 × 6 × 5 = 90 with the defaults) plus the one fresh retry;
// in practice a failing host fails on its first request's attempts. The
// bucket side has its own retries, owned by the bucket backend (bucket/s3's
// Config.MaxAttempts).
type RetryPolicy struct {
	Attempts      int           // per request, including the first (default 5)
	WaitMin       time.Duration // default 1s
	WaitMax       time.Duration // default 30s
	MaxRetryAfter time.Duration // cap on a server's Retry-After (default 5m)
	Restarts      int           // clean restarts of a broken download, including the first try (default 3)
	Resumes       int           // Range resumes per download (default 5)
	Stall         time.Duration // no bytes for this long breaks a download (default 2m)
}

// LeaseConfig tunes the bucket write lease (see BucketLeaseKey).
type LeaseConfig struct {
	TTL time.Duration // default 10m; renewed every TTL/3
	// StaleGrace: staged uploads older than the run's start minus this are
	// cleaned (default 24h).
	StaleGrace time.Duration
}

// UsageError is invalid usage or configuration (exit 2); nothing was
// written. Err, when set, is the cause and is what Unwrap returns, so
// callers can still test for it; Msg, when set, says what was checked.
type UsageError struct {
	Msg string
	Err error
}

func (e *UsageError) Error() string {
	switch {
	case e.Err == nil:
		return e.Msg
	case e.Msg == "":
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *UsageError) Unwrap() error { return e.Err }

// Names of the Config fields a FieldError can name.
const (
	FieldMode      = "Mode"
	FieldSelection = "Selection" // empty where the mode needs one
	FieldSources   = "Selection.Sources"
	FieldDomains   = "Selection.Domains"
	FieldShard     = "Shard"
	FieldWorkers   = "Workers"
)

// FieldError is a Config value the engine cannot use. Field is one of the
// Field* names and Value the value as given, so that the command can word
// it as the flag the user typed; Err says what is wrong.
type FieldError struct {
	Field string
	Value string
	Err   error
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return e.Field + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s %q: %v", e.Field, e.Value, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks the values a user chose (mode, selection, shard,
// workers) without touching anything, so that a command can refuse bad
// input before it opens a bucket. It returns a *FieldError. Run and
// BuildPlan call it too.
func (c *Config) Validate() error {
	if c.Mode != "" && c.Mode != ModeRun && c.Mode != ModeBackfill {
		return &FieldError{Field: FieldMode, Value: string(c.Mode), Err: errors.New("want run or backfill")}
	}
	if err := c.Selection.Validate(); err != nil {
		return err
	}
	if c.Mode == ModeBackfill && c.Selection.Empty() {
		return &FieldError{Field: FieldSelection, Err: errors.New("a backfill must name what to fetch")}
	}
	if c.Shard.Count >= 1 && (c.Shard.Index < 0 || c.Shard.Index >= c.Shard.Count) {
		return &FieldError{Field: FieldShard, Value: c.Shard.String(), Err: errors.New("index out of range")}
	}
	if c.Workers < 1 {
		return &FieldError{Field: FieldWorkers, Value: strconv.Itoa(c.Workers), Err: errors.New("must be at least 1")}
	}
	return nil
}

func (c *Config) defaults() error {
	if c.Workers == 0 {
		c.Workers = 4
	}
	if err := c.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	if c.Mode == "" {
		c.Mode = ModeRun
	}
	if c.Shard.Count < 1 {
		c.Shard = Shard{Index: 0, Count: 1}
	}
	if c.SmallWorkers <= 0 {
		c.SmallWorkers = 4 * c.Workers
	}
	if c.SmallBelow <= 0 {
		c.SmallBelow = 1 << 20
	}
	if c.SplitAbove <= 0 {
		c.SplitAbove = 50_000
	}
	if c.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Every worker may hold a connection to the same publisher. With
		// the default of two idle connections per host the others were
		// closed after each response and dialled again: on many small
		// objects, dialling was a sixth of the engine's CPU.
		t.MaxIdleConnsPerHost = c.Workers + c.SmallWorkers + 4
		c.Transport = t
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.UserAgent == "" {
		c.UserAgent = "astroingest/dev (+https://github.com/astroingest/astroingest)"
	}
	if c.RunID == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.RunID = fmt.Sprintf("%s-s%dof%d-%s", c.Now().UTC().Format("20060102T150405Z"), c.Shard.Index, c.Shard.Count, hex.EncodeToString(b[:]))
	}
	c.Retry.defaults()
	defDuration(&c.Lease.TTL, 10*time.Minute)
	defDuration(&c.Lease.StaleGrace, 24*time.Hour)
	if c.Progress.Interval <= 0 {
		c.Progress.Interval = 5 * time.Second
		if c.Progress.TTY {
			c.Progress.Interval = 250 * time.Millisecond
		}
	}
	return nil
}

func (p *RetryPolicy) defaults() {
	defInt(&p.Attempts, 5)
	defDuration(&p.WaitMin, time.Second)
	defDuration(&p.WaitMax, 30*time.Second)
	defDuration(&p.MaxRetryAfter, 5*time.Minute)
	defInt(&p.Restarts, 3)
	defInt(&p.Resumes, 5)
	defDuration(&p.Stall, 2*time.Minute)
}

func defDuration(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

func defInt(n *int, v int) {
	if *n <= 0 {
		*n = v
	}
}

// secrets are the values of every credential variable, for redaction.
func (c *Config) secrets() redact.Redactor {
	var vs []string
	for _, h := range c.Hosts.Policies() {
		if h.Credential != nil && h.Credential.Env != "" {
			vs = append(vs, c.Getenv(h.Credential.Env))
		}
	}
	return redact.New(vs...)
}

func (c *Config) planInput() planInput {
	return planInput{
		Bucket: c.Bucket, Entries: c.Entries, Hosts: c.Hosts, Kinds: c.Kinds,
		Mode: c.Mode, Selection: c.Selection, Shard: c.Shard, Force: c.Force,
		AllowGated: c.AllowGated, Getenv: c.Getenv, Now: c.Now(), SplitAbove: c.SplitAbove,
	}
}

// leaseHolder is the holder a lease records: the process and the run.
func (c *Config) leaseHolder() string {
	if c.Holder == "" {
		return c.RunID
	}
	return c.Holder + "/" + c.RunID
}
