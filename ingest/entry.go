package ingest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/sources"
)

// doEntry is the life of one due entry: list its objects, check their
// keys, sweep what a dead run left under them, bring every object up to
// date through the run's transfer slots, then write the manifest and
// record the outcome.
func (r *runner) doEntry(ctx context.Context, t Task) {
	e := t.Entry
	defer r.out.entryOver()
	if r.budget.blocked(e.Family) {
		r.skip(e, sources.ReasonBudgetExceeded, "byte budget reached before the entry started")
		return
	}
	objs, err := r.cfg.Kinds[e.Kind].Objects(ctx, r.client, e)
	if ctx.Err() != nil {
		r.out.ended(t, entryUnfinished)
		return
	}
	if err != nil {
		r.fail(e, fmt.Errorf("list objects: %w", err))
		return
	}
	keys, err := objectKeys(e, objs)
	if err != nil {
		r.fail(e, err)
		return
	}
	r.cleanStaleEntry(ctx, e, objs)
	r.finishEntry(ctx, t, r.objects(ctx, t, objs, keys))
}

// objectKeys gives each listed object its bucket key, refusing a key the
// bucket would refuse and a listing that names one key twice.
func objectKeys(e sources.Entry, objs []sources.Object) ([]string, error) {
	keys := make([]string, len(objs))
	seen := make(map[string]bool, len(objs))
	for i, o := range objs {
		k := e.KeyPrefix()
		if o.Name != "" {
			k += "/" + o.Name
		}
		if err := bucket.ValidateKey(k); err != nil {
			return nil, &EntryError{Reason: sources.ReasonOther, Detail: fmt.Sprintf("object %q from %s: %v", o.Name, redact.URL(o.URL), err), Err: err}
		}
		if seen[k] {
			return nil, &EntryError{Reason: sources.ReasonOther, Detail: fmt.Sprintf("listing names key %s twice", k)}
		}
		seen[k] = true
		keys[i] = k
	}
	return keys, nil
}

// objects runs the entry's objects on the run-wide transfer slots and
// returns their results in listing order. Once the run is cancelled, the
// objects not yet started are marked cancelled.
func (r *runner) objects(ctx context.Context, t Task, objs []sources.Object, keys []string) []objResult {
	results := make([]objResult, len(objs))
	var wg sync.WaitGroup
	for i, o := range objs {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			results[i] = objResult{status: objCancelled}
			continue
		}
		wg.Go(func() {
			defer func() { <-r.slots }()
			results[i] = r.object(ctx, t.Entry, o, keys[i], t.Prev.record(keys[i]))
		})
	}
	wg.Wait()
	return results
}

// cleanStaleEntry aborts the unfinished uploads that a dead lease holder
// left under the entry's keys. The sweep is per entry, not per domain: the
// other shards of this run's job may be uploading live elsewhere in the
// same domain, and their uploads may have begun before our cutoff. A
// failure only delays the cleanup to the StaleGrace sweep.
func (r *runner) cleanStaleEntry(ctx context.Context, e sources.Entry, objs []sources.Object) {
	sc, ok := r.cfg.Bucket.(bucket.StaleCleaner)
	if !ok || r.staleBefore.IsZero() {
		return
	}
	prefix := e.KeyPrefix() + "/"
	if len(objs) == 1 && objs[0].Name == "" {
		prefix = e.KeyPrefix() // a one-object entry: the key itself
	}
	n, err := sc.CleanStale(ctx, prefix, r.staleBefore)
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Warn("cleaning a dead run's uploads failed", "entry", e.ID, "prefix", prefix, "err", err)
	case n > 0:
		r.log.Info("cleaned uploads left by a dead run", "entry", e.ID, "prefix", prefix, "removed", n)
	}
}

// entryTally sums an entry's object results.
type entryTally struct {
	uploaded, unchanged int
	firstFail           error
	firstSkip           error
	cancelled           bool
}

func (c entryTally) complete() bool {
	return c.firstFail == nil && c.firstSkip == nil && !c.cancelled
}

// finishEntry writes the manifest and records the outcome. A complete
// entry gets a fresh CheckedAt; an incomplete one that still committed
// objects gets a manifest too (so the manifest always describes what the
// bucket holds) but with CheckedAt zero, which keeps it due.
func (r *runner) finishEntry(ctx context.Context, t Task, results []objResult) {
	e := t.Entry
	now := r.cfg.Now().UTC()
	m := newManifest(e)
	m.RunID = r.cfg.RunID
	m.Objects = []ObjectRecord{}
	var c entryTally
	for _, res := range results {
		switch res.status {
		case objUploaded:
			c.uploaded++
		case objUnchanged:
			c.unchanged++
		case objFailed:
			c.firstFail = cmp.Or(c.firstFail, res.err)
		case objSkipped:
			c.firstSkip = cmp.Or(c.firstSkip, res.err)
		case objCancelled:
			c.cancelled = true
		}
		if res.rec.Key != "" {
			m.Objects = append(m.Objects, res.rec)
		}
	}
	slices.SortFunc(m.Objects, func(a, b ObjectRecord) int { return strings.Compare(a.Key, b.Key) })
	m.UpdatedAt = now
	if c.uploaded == 0 && t.Prev != nil {
		m.UpdatedAt = t.Prev.UpdatedAt
	}
	if c.complete() {
		m.CheckedAt = now
	}
	if c.complete() || c.uploaded > 0 {
		info, err := writeJSONInfo(context.WithoutCancel(ctx), r.cfg.Bucket, ManifestKey(e.ID), m)
		if err != nil {
			r.fail(e, fmt.Errorf("write manifest: %w", err))
			return
		}
		r.known.add(ManifestKey(e.ID), info.ETag, m)
	}
	switch {
	case c.firstFail != nil:
		r.fail(e, c.firstFail)
	case c.cancelled:
		r.out.ended(t, entryUnfinished)
	case c.firstSkip != nil:
		r.skip(e, sources.ReasonBudgetExceeded, c.firstSkip.Error())
	case c.uploaded > 0:
		r.out.ended(t, entryDone)
	default:
		r.out.ended(t, entryUnchanged)
	}
}
