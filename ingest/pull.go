package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/astroingest/astroingest/bucket"
)

// PullConfig is one pull: a selection of the mirror copied onto local
// disk, every byte verified against the annotations. Zero tuning values
// take the defaults noted, which are those of the upload side, so that a
// pull and the run that wrote the bucket move objects the same way.
type PullConfig struct {
	Bucket    bucket.Reader // read only: pull never writes to the bucket
	Dir       string        // the destination; keys keep their layout under it
	Selection Selection     // empty: every entry of the catalog

	Workers      int   // concurrent large objects (default 4, as Config.Workers)
	SmallWorkers int   // concurrent small objects besides (default 4 × Workers)
	SmallBelow   int64 // what is small (default 1 MiB)
	// PartSize is the ranged GET's length for objects of at least twice
	// it (default 16 MiB, bucket/s3's upload part size); PartsInFlight is
	// how many of one object's parts are fetched at once (default 4, as
	// bucket/s3's upload concurrency).
	PartSize      int64
	PartsInFlight int

	MaxBytes int64 // stop adding objects once the selection passes this size (0: no limit)
	BWLimit  int64 // bytes/s read from the bucket (0: unlimited)
	// Verify re-hashes every file already present instead of trusting the
	// state journal (see pull_state.go).
	Verify bool

	Logger   *slog.Logger     // default slog.Default()
	Now      func() time.Time // default time.Now
	Progress ProgressConfig

	// namedOnly stages files under temporary names even where they could
	// be unnamed (pull_unnamed.go): the staging benchmark compares both.
	namedOnly bool
}

// Part size bounds: those of S3 upload parts, so one --part-size means the
// same on both sides.
const (
	minPullPart = 5 << 20
	maxPullPart = 5 << 30
)

// Names of the PullConfig fields a FieldError can name, besides FieldWorkers.
const (
	FieldPartSize = "PartSize"
	FieldDir      = "Dir"
)

// Validate checks the values a user chose without touching anything, so
// that a command can refuse bad input before it opens the bucket. It
// returns a *FieldError.
func (c *PullConfig) Validate() error {
	switch {
	case c.Dir == "":
		return &FieldError{Field: FieldDir, Err: errors.New("a destination directory is required")}
	case c.Workers < 0 || c.Workers > 1024:
		return &FieldError{Field: FieldWorkers, Value: fmt.Sprint(c.Workers), Err: errors.New("want 1 to 1024")}
	case c.PartSize != 0 && (c.PartSize < minPullPart || c.PartSize > maxPullPart):
		return &FieldError{Field: FieldPartSize, Value: fmt.Sprint(c.PartSize), Err: errors.New("want 5 MiB to 5 GiB, the S3 part size limits")}
	}
	return c.Selection.Validate()
}

func (c *PullConfig) defaults() error {
	if err := c.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	defInt(&c.Workers, 4)
	defInt(&c.SmallWorkers, 4*c.Workers)
	defInt(&c.PartsInFlight, 4)
	if c.SmallBelow <= 0 {
		c.SmallBelow = 1 << 20
	}
	if c.PartSize <= 0 {
		c.PartSize = 16 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Progress.Interval <= 0 {
		c.Progress.Interval = 5 * time.Second
		if c.Progress.TTY {
			c.Progress.Interval = 250 * time.Millisecond
		}
	}
	return nil
}

// PullSummary is what a pull did. Objects and Bytes are the selection as
// far as the budget let it go: Fetched, Present and Failed add up to
// Objects when the pull was not interrupted.
type PullSummary struct {
	Entries      int           `json:"entries"`
	Objects      int           `json:"objects"`
	Bytes        int64         `json:"bytes"`
	Fetched      int           `json:"fetched"`
	FetchedBytes int64         `json:"fetched_bytes"`
	Present      int           `json:"present"`  // already under Dir and verified
	Rehashed     int           `json:"rehashed"` // of Present, hashed this time (no journal line vouched for them)
	Failed       int           `json:"failed"`
	Failures     []PullFailure `json:"failures,omitempty"` // the first maxListedFailures
	LeftOut      *PullLeftOut  `json:"left_out,omitempty"`
	// FromRecords are the entries that had no object index, whose rows
	// were read from their heads' records instead.
	FromRecords  []string `json:"from_records,omitempty"`
	StaleRemoved int      `json:"stale_removed"` // temporary files of an earlier, killed pull
	Interrupted  bool     `json:"interrupted"`
	Seconds      float64  `json:"seconds"`
}

// PullLeftOut is what --max-bytes left out: the objects from FirstKey on,
// in catalog and key order, Entries of them not started at all.
type PullLeftOut struct {
	Objects  int    `json:"objects"`
	Bytes    int64  `json:"bytes"`
	Entries  int    `json:"entries_not_started"`
	FirstKey string `json:"first_key"`
}

// PullFailure is one ObjectError, as the summary shows it.
type PullFailure struct {
	Entry string `json:"entry"`
	Key   string `json:"key,omitempty"`
	Error string `json:"error"`
}

const maxListedFailures = 100

// Pull copies the objects of the catalog entries that cfg.Selection
// matches into cfg.Dir, entry by entry in catalog order and within an entry
// in key order, skipping those already present and verified. It returns
// ErrNoMirror or ErrNoEntryMatches (wrapped in nothing else) before it
// creates anything, a *UsageError for bad config, ErrDirBusy when another
// pull holds the directory, the context's error when interrupted (only
// complete files are left), and otherwise an error joining the failed
// objects' *ObjectError (the summary lists them too).
func Pull(ctx context.Context, cfg PullConfig) (PullSummary, error) {
	if err := cfg.defaults(); err != nil {
		return PullSummary{}, err
	}
	began := cfg.Now()
	entries, err := SelectCatalog(ctx, cfg.Bucket, cfg.Selection)
	if err != nil {
		return PullSummary{}, err
	}
	dir, stale, err := openLocalDir(cfg.Dir)
	if err != nil {
		return PullSummary{}, err
	}
	defer dir.Close()
	dir.unnamed = dir.unnamed && !cfg.namedOnly
	if stale > 0 {
		cfg.Logger.Info("removed temporary files of an earlier pull", "files", stale, "dir", cfg.Dir)
	}
	p := newPuller(&cfg, dir)
	p.sum.StaleRemoved = stale
	p.t.prog.total.Store(int64(len(entries)))
	stop := p.t.prog.start(cfg.Progress, cfg.Logger)
	p.startPools(ctx)
	for i, e := range entries {
		if ctx.Err() != nil {
			break
		}
		p.entry(ctx, e)
		if p.overBudget {
			for _, rest := range entries[i+1:] {
				p.sum.LeftOut.Objects += rest.Objects
				p.sum.LeftOut.Bytes += rest.Bytes
				p.sum.LeftOut.Entries++
			}
			break
		}
	}
	p.stopPools()
	p.wg.Wait()
	stop()
	p.sum.Entries = len(entries)
	p.sum.Seconds = cfg.Now().Sub(began).Seconds()
	return p.result(ctx)
}

// result is the summary and Pull's error.
func (p *puller) result(ctx context.Context) (PullSummary, error) {
	s := p.sum
	if ctx.Err() != nil {
		s.Interrupted = true
		return s, fmt.Errorf("pull: interrupted after %d objects: %w", s.Fetched+s.Present, context.Cause(ctx))
	}
	if s.Failed > 0 {
		return s, fmt.Errorf("pull: %d of %d objects failed: %w", s.Failed, s.Objects, errors.Join(p.errs...))
	}
	return s, nil
}

func newPuller(cfg *PullConfig, dir *localDir) *puller {
	t := &pullTransfer{b: cfg.Bucket, dir: dir, partSize: cfg.PartSize, inFlight: cfg.PartsInFlight, prog: newProgress(cfg.Now)}
	if cfg.BWLimit > 0 {
		t.lim = rate.NewLimiter(rate.Limit(cfg.BWLimit), copyChunk)
	}
	return &puller{
		cfg: cfg, dir: dir, t: t,
		small:   make(chan pullJob),
		large:   make(chan pullJob),
		commits: make(chan commitJob),
	}
}
