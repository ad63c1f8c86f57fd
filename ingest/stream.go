package ingest

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/sources"
)

// reorderWindow bounds the objects between the one being listed and the
// oldest whose record is not yet written: records are written in key
// order while transfers finish in any order. A few MB of results; large
// enough that one slow big object does not hold up thousands of small
// ones behind it.
const reorderWindow = 16_384

// entryRun streams one entry: the sorted listing, the previous records
// and the bucket's listing merged by key, each object decided (unchanged
// at once, or handed to a transfer slot), and the results put back in key
// order into the record writer. Its own goroutines end before stream
// returns.
type entryRun struct {
	r    *runner
	t    Task
	lay  layout
	lst  *sortedListing
	recs recordSink
}

func newEntryRun(r *runner, t Task, lay layout, lst *sortedListing) *entryRun {
	return &entryRun{r: r, t: t, lay: lay, lst: lst}
}

// seqResult is one object's result and its place in key order.
type seqResult struct {
	seq int
	res objResult
}

// stream processes every object of the entry and returns their tally. An
// error means the entry's records could not be read or written; the
// objects already committed stay (their records are in the parts written
// so far, which a head may already list).
func (er *entryRun) stream(ctx context.Context) (entryTally, error) {
	e := er.t.Entry
	sink, err := er.newSink(ctx)
	if err != nil {
		return entryTally{}, err
	}
	er.recs = sink
	prevNext, prevStop := iter.Pull2(er.prevRecords(ctx))
	defer prevStop()
	present, err := er.presence(ctx)
	if err != nil {
		return entryTally{}, err
	}
	defer present.close()

	window := make(chan struct{}, reorderWindow)
	results := make(chan seqResult, reorderWindow)
	collected := make(chan collectResult, 1)
	go func() { collected <- er.collect(ctx, results, window) }()

	var wg sync.WaitGroup
	prev := &prevCursor{next: prevNext}
	listErr := er.feed(ctx, &wg, prev, present, window, results)
	wg.Wait()
	close(results)
	c := <-collected
	switch {
	case listErr != nil:
		return c.tally, fmt.Errorf("list objects: %w", listErr)
	case prev.err != nil:
		return c.tally, fmt.Errorf("read the previous records: %w", prev.err)
	case present.err() != nil && ctx.Err() == nil:
		return c.tally, &bucketError{fmt.Errorf("list %s: %w", e.KeyPrefix(), present.err())}
	case c.err != nil:
		return c.tally, fmt.Errorf("write records: %w", c.err)
	}
	return c.tally, nil
}

// feed walks the sorted listing, pairs each object this process owns
// with its previous record, and hands it on: decided at once, or to a
// transfer slot. It returns the listing's error, if any.
func (er *entryRun) feed(ctx context.Context, wg *sync.WaitGroup, prev *prevCursor, present presenceCursor, window chan<- struct{}, results chan<- seqResult) error {
	seq, lastKey := 0, ""
	for k, err := range er.lst.each() {
		if err != nil {
			return err
		}
		if !er.lay.owns(k.Key) {
			continue
		}
		if k.Key == lastKey {
			return &EntryError{Reason: sources.ReasonOther, Detail: fmt.Sprintf("listing names key %s twice", k.Key)}
		}
		lastKey = k.Key
		p := prev.at(k.Key)
		window <- struct{}{}
		job, st := er.decide(ctx, k, p, present)
		if job == nil { // decided without a transfer
			results <- seqResult{seq, er.inline(p, st)}
		} else if !er.dispatch(ctx, wg, results, seq, job) {
			results <- seqResult{seq, objResult{status: objCancelled, rec: derefOr(p)}}
		}
		seq++
	}
	return nil
}

// prevCursor walks the previous records alongside the listing: records
// of keys no longer listed are passed over (their objects are gone from
// the publisher), and the first error ends it.
type prevCursor struct {
	next    func() (annotations.Record, error, bool)
	pending annotations.Record
	have    bool
	done    bool
	err     error
}

// at returns the previous record of key, nil when there is none. Keys
// must come in increasing order.
func (p *prevCursor) at(key string) *annotations.Record {
	for !p.done {
		if !p.have {
			rec, err, ok := p.next()
			if !ok || err != nil {
				p.done, p.err = true, err
				return nil
			}
			p.pending, p.have = rec, true
		}
		switch {
		case p.pending.Key < key:
			p.have = false
		case p.pending.Key == key:
			p.have = false
			rec := p.pending
			return &rec
		default:
			return nil
		}
	}
	return nil
}

func derefOr(p *annotations.Record) annotations.Record {
	if p == nil {
		return annotations.Record{}
	}
	return *p
}

// objectTask is an object that needs a transfer.
type objectTask struct {
	k    keyed
	prev *annotations.Record
	cond *annotations.Record
}

// decide says whether the object needs a transfer. It does not when the
// run is cancelled (objCancelled: the object is left for the next run),
// or when its copy in the bucket has the recorded size and the listing
// says it is unchanged (objUnchanged). A listing that cannot tell makes
// the request conditional on the recorded validators.
func (er *entryRun) decide(ctx context.Context, k keyed, prev *annotations.Record, present presenceCursor) (*objectTask, objStatus) {
	if ctx.Err() != nil {
		return nil, objCancelled
	}
	task := &objectTask{k: k, prev: prev}
	if k.Obj.ChecksumMissing != "" {
		return task, 0 // the transfer refuses it; see transferObject
	}
	if prev == nil || er.r.cfg.Force {
		return task, 0
	}
	size, ok := present.at(k.Key)
	if !ok || size != prev.Size {
		return task, 0
	}
	switch unchangedByListing(k.Obj, prev) {
	case listingSame:
		return nil, objUnchanged
	case listingUnknown:
		if prev.SourceETag != "" || prev.LastModified != "" {
			task.cond = prev
		}
	}
	return task, 0
}

// inline is the result of an object decided without a transfer: its
// previous record, which still holds.
func (er *entryRun) inline(prev *annotations.Record, st objStatus) objResult {
	res := objResult{status: st, rec: derefOr(prev)}
	er.r.out.object(er.t.Entry.Domain, st, res.rec.Size)
	return res
}

// dispatch runs the transfer on a run-wide slot; false when the run was
// cancelled before a slot came free.
func (er *entryRun) dispatch(ctx context.Context, wg *sync.WaitGroup, results chan<- seqResult, seq int, job *objectTask) bool {
	r := er.r
	release, ok := r.slots.acquire(ctx, job.k.Obj.Size)
	if !ok {
		return false
	}
	wg.Go(func() {
		defer release()
		results <- seqResult{seq, r.object(ctx, er.t.Entry, job)}
	})
	return true
}

// collectResult is what the collector made of the results.
type collectResult struct {
	tally entryTally
	err   error
}

// collect puts results back in key order and writes their records. After
// a write error it only drains, so that no producer blocks.
func (er *entryRun) collect(ctx context.Context, results <-chan seqResult, window <-chan struct{}) collectResult {
	var c collectResult
	held := map[int]objResult{}
	next := 0
	for sr := range results {
		held[sr.seq] = sr.res
		for {
			res, ok := held[next]
			if !ok {
				break
			}
			delete(held, next)
			next++
			<-window
			er.tallyOne(&c.tally, res)
			if c.err == nil && res.rec.Key != "" {
				c.err = er.recs.add(ctx, res.rec, res.status != objUploaded)
			}
		}
	}
	return c
}

func (er *entryRun) tallyOne(c *entryTally, res objResult) {
	switch res.status {
	case objUploaded:
		c.uploaded++
	case objUnchanged:
		c.unchanged++
	case objFailed:
		if c.firstFail == nil {
			c.firstFail = res.err
		}
	case objSkipped:
		if c.firstSkip == nil {
			c.firstSkip = res.err
		}
	case objCancelled:
		c.cancelled = true
	}
	if res.rec.Key != "" {
		c.objects++
		c.bytes += res.rec.Size
	}
}

// prevRecords streams the previous records this run compares with, in
// key order: the whole entry's, or this shard's share of them.
func (er *entryRun) prevRecords(ctx context.Context) iter.Seq2[annotations.Record, error] {
	t, b := er.t, er.r.cfg.Bucket
	if t.Prev == nil || !er.lay.split {
		return annotations.Records(ctx, b, t.Prev)
	}
	// This shard's share: its own shard head when the previous run split
	// the entry the same way, else everything, filtered.
	if t.Prev.Split != nil && t.Prev.Split.Shards == er.lay.shard.Count {
		if sh := t.shardHead(er.lay.shard.Index); sh != nil {
			return annotations.Records(ctx, b, sh)
		}
	}
	all := annotations.Records(ctx, b, t.Prev)
	return func(yield func(annotations.Record, error) bool) {
		for rec, err := range all {
			if err != nil || er.lay.owns(rec.Key) {
				if !yield(rec, err) {
					return
				}
			}
		}
	}
}

// newSink opens where the entry's records go: inline in the head for a
// small entry, else parts that follow the previous head's boundaries
// when the layout is the same.
func (er *entryRun) newSink(ctx context.Context) (recordSink, error) {
	r, t := er.r, er.t
	if !er.lay.split && er.lst.objects <= annotations.InlineRecords {
		return &inlineSink{}, nil
	}
	var old []annotations.Part
	if prev := er.layoutPrev(); prev != nil && !r.cfg.Force {
		old = prev.Parts
	}
	w := annotations.NewPartWriter(r.cfg.Bucket, er.lay.partPrefix(t.Entry.ID, r.cfg.RunID), old)
	s := &partSink{w: w}
	// Each committed part is listed by a head at once, with the old parts
	// not yet passed, so that a crash loses at most the part in flight.
	w.OnPart = func(ctx context.Context, parts []annotations.Part) error {
		h := er.headFor(parts, nil, entryTally{}, false)
		_, err := annotations.WriteHead(context.WithoutCancel(ctx), r.cfg.Bucket, er.lay.headKey(t.Entry.ID), h)
		return err
	}
	return s, nil
}

// layoutPrev is the previous head of this run's layout: the entry's head,
// or this shard's head of an entry split the same way.
func (er *entryRun) layoutPrev() *annotations.Head {
	p := er.t.Prev
	switch {
	case p == nil || p.SchemaVersion != annotations.SchemaVersion:
		return nil
	case !er.lay.split && p.Split == nil:
		return p
	case er.lay.split && p.Split != nil && p.Split.Shards == er.lay.shard.Count:
		return er.t.shardHead(er.lay.shard.Index)
	}
	return nil
}

// presence is where the entry learns which of its previous objects the
// bucket holds, and at what size, from listings: the run's snapshot of
// small entries' keys, or a listing of the entry's own prefix merged as
// a stream.
func (er *entryRun) presence(ctx context.Context) (presenceCursor, error) {
	r, t := er.r, er.t
	if t.Prev == nil || r.cfg.Force {
		return noPresence{}, nil
	}
	if er.lst.objects <= annotations.InlineRecords && !er.lay.split {
		if p, ok := r.present.cursorFor(t); ok {
			return p, nil
		}
	}
	prefix := t.Entry.KeyPrefix() + "/"
	if er.lst.single() {
		prefix = t.Entry.KeyPrefix()
	}
	return newStreamPresence(r.cfg.Bucket.List(ctx, prefix)), nil
}
