package ingest

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/sources"
)

// doEntry is the life of one due entry: list its objects (sorted, in
// bounded memory), decide its layout (split over the job's shards when it
// is big), then stream it: every listed object is merged with its
// previous record and the bucket's listing, brought up to date, and its
// record written into parts in key order, before the head is committed
// and the outcome recorded. Nothing in it grows with the entry beyond a
// bounded window of objects in flight.
func (r *runner) doEntry(ctx context.Context, t Task) {
	e := t.Entry
	ctx = withRedirectHosts(ctx, e.RedirectHosts)
	if !t.Candidate {
		defer r.out.entryOver()
	}
	if err := r.down.check(e); err != nil {
		if !t.Candidate {
			r.out.failed(e, err) // reported once for the host, not per entry
		}
		return
	}
	if r.budget.blocked(e.Family) {
		if !t.Candidate {
			r.skip(e, sources.ReasonBudgetExceeded, "byte budget reached before the entry started")
		}
		return
	}
	var odd oddNames
	lst, err := listSorted(ctx, r.cfg.Kinds[e.Kind], r.client, e, os.TempDir(), odd.add)
	switch {
	case ctx.Err() != nil:
		if !t.Candidate {
			r.out.ended(t, entryUnfinished)
		}
		return
	case err != nil && t.Candidate:
		r.log.Debug("listing a split candidate failed; its owner shard reports it", "entry", e.ID, "err", err)
		return
	case err != nil:
		r.down.note(e, err)
		r.fail(e, fmt.Errorf("list objects: %w", err))
		return
	}
	defer lst.close()
	if lst.objects == 0 && t.prevObjects() > 0 && odd.n == 0 && !t.Candidate {
		// A publisher that lists nothing where it listed files before is
		// far more likely answering with a login or error page than
		// deleting everything: the records stay as they are.
		r.fail(e, &EntryError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("the listing at %s names no file, where %d were recorded (a login or error page?); nothing was changed", redact.URL(e.URL), t.prevObjects())})
		return
	}
	lay := r.layoutFor(e, lst.objects)
	if t.Candidate && !lay.split {
		return // small enough for its owner shard alone
	}
	if lay.split {
		r.log.Info("entry split over the job's shards", "entry", e.ID, "objects", lst.objects, "shard", lay.shard.Index, "shards", lay.shard.Count)
	}
	r.out.listed(lst.objects, lst.known, lay)
	r.cleanStaleEntry(ctx, e, lst)
	er := newEntryRun(r, t, lay, lst)
	tally, err := er.stream(ctx)
	if !lay.split && ctx.Err() == nil && (err != nil || tally.triedPuts()) {
		// Once more, now that the entry's own uploads are over: a store
		// whose upload creation is not atomic shows a dead run's
		// half-made upload only once this run has made one for the same
		// key. versitygw's posix backend, killed between making an
		// upload's directory and naming its key, lists it only after the
		// next CreateMultipartUpload of that key names it; the fault
		// matrix's bucket outage left one so. Hence only after this run
		// wrote or tried to (an unchanged entry costs no second listing),
		// and with the same cutoff, so this run's own uploads are never
		// touched. Not for a split entry: its siblings may still be
		// uploading under its prefix.
		r.cleanStaleEntry(ctx, e, lst)
	}
	switch {
	case err != nil && leaseLost(ctx) != nil:
		r.out.ended(t, entryUnfinished) // the loss, not the entry, stopped it
		return
	case err != nil:
		r.fail(e, err)
		return
	}
	r.finishEntry(ctx, er, tally)
	if odd.n > 0 && !t.Candidate {
		r.out.partial(e, sources.ReasonUnrepresentableName, odd.detail())
		r.log.Warn("entry mirrored without names that cannot be bucket keys", "entry", e.ID, "skipped", odd.n, "reason", sources.ReasonUnrepresentableName)
	}
}

// oddNames collects the listed names that cannot be bucket keys (a NUL,
// a control character, a backslash, more than 1,024 bytes): each is
// skipped, and the run record names the first few.
type oddNames struct {
	n     int
	first []string
}

const oddNamesShown = 5

func (o *oddNames) add(obj sources.Object, err error) {
	o.n++
	if len(o.first) < oddNamesShown {
		o.first = append(o.first, fmt.Sprintf("%q from %s (%v)", obj.Name, redact.URL(obj.URL), err))
	}
}

func (o *oddNames) detail() string {
	d := fmt.Sprintf("%d listed names cannot be bucket keys and were skipped: %s", o.n, strings.Join(o.first, "; "))
	if o.n > len(o.first) {
		d += "; ..."
	}
	return d
}

// layout is where an entry's records go in this run: the whole entry
// under its head, or, split below the entry, this shard's share under its
// shard head.
type layout struct {
	split bool
	shard annotations.Shard
}

// owns reports whether this process handles key of the entry.
func (l layout) owns(key string) bool {
	return !l.split || annotations.ShardOf(key, l.shard.Count) == l.shard.Index
}

func (l layout) headKey(id string) string {
	if l.split {
		return annotations.ShardHeadKey(id, l.shard.Index, l.shard.Count)
	}
	return annotations.HeadKey(id)
}

// partPrefix names this run's parts: the run ID keeps them apart from the
// parts the previous head still lists until the new head replaces it.
func (l layout) partPrefix(id, runID string) string {
	p := annotations.EntryPartsPrefix(id)
	if l.split {
		p += annotations.ShardTag(l.shard.Index, l.shard.Count) + "-"
	}
	return p + runID + "-"
}

// layoutFor splits an entry of a sharded run whose listing reaches the
// split threshold, so that a 200,000-object entry keeps every shard
// busy. Every shard decides from the same listing, so they agree.
func (r *runner) layoutFor(e sources.Entry, objects int) layout {
	if r.cfg.Shard.Count <= 1 || objects < r.cfg.SplitAbove {
		return layout{}
	}
	return layout{split: true, shard: annotations.Shard{Index: r.cfg.Shard.Index, Count: r.cfg.Shard.Count}}
}

// cleanStaleEntry aborts the unfinished uploads that a dead lease holder
// left under the entry's keys. The sweep is per entry, not per domain: the
// other shards of this run's job may be uploading live elsewhere in the
// same domain, and their uploads may have begun before our cutoff. A
// failure only delays the cleanup to the StaleGrace sweep.
func (r *runner) cleanStaleEntry(ctx context.Context, e sources.Entry, lst *sortedListing) {
	sc, ok := r.cfg.Bucket.(bucket.StaleCleaner)
	if !ok || r.staleBefore.IsZero() {
		return
	}
	prefix := e.KeyPrefix() + "/"
	if lst.single() {
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
	objects             int
	bytes               int64
}

// triedPuts reports whether any object of the entry was uploaded, or
// failed on the way (which may have begun an upload).
func (c entryTally) triedPuts() bool { return c.uploaded > 0 || c.firstFail != nil }

func (c entryTally) complete() bool {
	return c.firstFail == nil && c.firstSkip == nil && !c.cancelled
}
