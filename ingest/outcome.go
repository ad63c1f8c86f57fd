package ingest

import (
	"sync"

	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/sources"
)

// objStatus is the outcome of one object.
type objStatus int

const (
	objUploaded objStatus = iota
	objUnchanged
	objFailed
	objSkipped   // budget
	objCancelled // run interrupted
)

// entryStatus is the outcome of one entry that was due.
type entryStatus int

const (
	entryDone       entryStatus = iota // at least one object uploaded
	entryUnchanged                     // every object confirmed unchanged
	entryUnfinished                    // not reached, or cut by an interruption
)

// outcomes is the one sink for what happens to entries and objects. Each
// method moves, under one lock, the run record's counts, the live
// progress and the metrics together, so the three cannot disagree: a new
// outcome is added here and nowhere else. It does no logging; callers
// say what deserves a line. Safe for concurrent use.
type outcomes struct {
	mu   sync.Mutex
	rec  *RunRecord
	prog *progress
	m    *Metrics
	red  redact.Redactor
	// cut, when set, returns why the run stopped early in a way that fails
	// the entries it left unfinished (a lost lease), nil while it has not;
	// an interruption leaves them unfinished, due for the rerun. Set
	// before the run starts.
	cut func() error
}

func newOutcomes(rec *RunRecord, prog *progress, m *Metrics, red redact.Redactor) *outcomes {
	return &outcomes{rec: rec, prog: prog, m: m, red: red}
}

// planned records the plan: every task in the entries gauge, the ones
// that will fetch in the progress total.
func (o *outcomes) planned(tasks []Task) {
	o.mu.Lock()
	o.rec.Counts.Selected = len(tasks)
	o.mu.Unlock()
	for _, t := range tasks {
		o.m.entryState(t.Entry.Domain, "planned", 1)
		if t.Stale {
			o.m.entryState(t.Entry.Domain, "stale", 1)
		}
		if t.Fetch() {
			o.prog.total.Add(1)
		}
	}
}

// fresh counts a task that was not due.
func (o *outcomes) fresh() {
	o.mu.Lock()
	o.rec.Counts.Fresh++
	o.mu.Unlock()
}

// failed records the entry's failure, classified and redacted, and
// returns it for the caller's log line.
func (o *outcomes) failed(e sources.Entry, err error) Failure {
	f := Failure{Entry: e.ID, Reason: classify(err), Detail: o.red.String(err.Error())}
	o.mu.Lock()
	o.rec.Failures = append(o.rec.Failures, f)
	o.rec.Counts.Failed++
	o.mu.Unlock()
	o.prog.failed.Add(1)
	o.m.failure(e.Domain, f.Reason)
	o.m.entryState(e.Domain, "failed", 1)
	return f
}

// skipped records an entry left for a later run (a gate or a budget),
// which is not a failure.
func (o *outcomes) skipped(e sources.Entry, reason, detail string) {
	o.mu.Lock()
	o.rec.Skipped = append(o.rec.Skipped, Failure{Entry: e.ID, Reason: reason, Detail: o.red.String(detail)})
	o.rec.Counts.Skipped++
	o.mu.Unlock()
}

// ended records how a due entry ended, when it neither failed nor was
// skipped.
func (o *outcomes) ended(t Task, st entryStatus) {
	if st == entryUnfinished && o.cut != nil {
		if err := o.cut(); err != nil {
			o.failed(t.Entry, err)
			return
		}
	}
	o.mu.Lock()
	switch st {
	case entryDone:
		o.rec.Counts.Done++
	case entryUnchanged:
		o.rec.Counts.Unchanged++
	case entryUnfinished:
		o.rec.Counts.Unfinished++
	}
	o.mu.Unlock()
	switch st {
	case entryDone:
		o.m.entryState(t.Entry.Domain, "done", 1)
	case entryUnchanged:
		o.m.entryState(t.Entry.Domain, "unchanged", 1)
	}
	// An entry that was stale at plan time and is now up to date leaves
	// the stale gauge, so the gauge (and the alert on it) counts only
	// entries this run could not refresh.
	if t.Stale && st != entryUnfinished {
		o.m.entryState(t.Entry.Domain, "stale", -1)
	}
}

// entryOver moves the progress display past an entry the run worked on,
// whatever its outcome.
func (o *outcomes) entryOver() { o.prog.done.Add(1) }

// listed adds an entry's listing to the progress totals.
func (o *outcomes) listed(objects int, knownBytes int64, lay layout) {
	if lay.split {
		// This shard does its share only; the hash spreads objects evenly.
		objects /= lay.shard.Count
		knownBytes /= int64(lay.shard.Count)
	}
	o.prog.objListed.Add(int64(objects))
	o.prog.byteListed.Add(knownBytes)
}

// partial records an entry that was mirrored without some of its listed
// objects, which can never be (names no bucket key can hold): not a
// failure, as rerunning cannot change it, but in the run record.
func (o *outcomes) partial(e sources.Entry, reason, detail string) {
	o.mu.Lock()
	o.rec.Partial = append(o.rec.Partial, Failure{Entry: e.ID, Reason: reason, Detail: o.red.String(detail)})
	o.rec.Counts.Partial++
	o.mu.Unlock()
}

// object records one object's outcome; size is its bytes (uploaded, or
// confirmed unchanged).
func (o *outcomes) object(domain string, st objStatus, size int64) {
	if st != objCancelled {
		o.prog.objDone.Add(1)
		o.prog.byteDone.Add(size)
	}
	o.mu.Lock()
	switch st {
	case objUploaded:
		o.rec.Counts.ObjectsUploaded++
		o.rec.Bytes += size
	case objUnchanged:
		o.rec.Counts.ObjectsUnchanged++
	case objFailed:
		o.rec.Counts.ObjectsFailed++
	}
	o.mu.Unlock()
	switch st {
	case objUploaded:
		o.m.object(domain, "uploaded")
		o.m.addBytes(domain, size)
	case objUnchanged:
		o.m.object(domain, "unchanged")
	case objFailed:
		o.m.object(domain, "failed")
	}
}

// bytesRead feeds the live rate as bytes arrive, before any object is
// committed.
func (o *outcomes) bytesRead(n int) { o.prog.bytes.Add(int64(n)) }
