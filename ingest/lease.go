package ingest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/astroingest/astroingest/sources"
)

// BucketLeaseKey is the bucket's write lease. Every run takes it before it
// writes anything, so runs whose entries may overlap (a nightly `run` and a
// `backfill --domain climate`, or runs with different shard counts, which
// split the entries differently) never write at once.
//
// An unsharded run holds it alone. The shards of one sharded job (the
// pods of a Kubernetes Indexed Job) hold it together: the first to start
// creates it naming the job (JobID), the others find their job in it and
// join, and each shard also takes its own shard lease (ShardLeaseKey), so
// that two pods of the same index are refused while different indexes,
// which own disjoint entries, run in parallel.
//
// Every write of a lease object is a compare-and-swap (bucket.PutOptions'
// IfMatch and IfNoneMatch): creating one, renewing it every TTL/3, taking
// one over and releasing one each name the version they replace, so of
// two runs making a move on the same lease at once exactly one succeeds
// and the other reads what the winner wrote. That closes the two races of
// a bucket that can only create conditionally: two runs taking over the
// same dead lease, and a shard joining its job's bucket lease at the
// instant the job's last other shard releases it. For the second, the
// bucket lease is released by marking it Released (a compare-and-swap),
// never deleted: a delete cannot name a version, and would remove a lease
// just written by a joining shard or another run. The released object
// stays, recording its last holder. A shard lease, which only its holder
// writes while it lives, is deleted on release.
//
// A live lease of another run makes this one busy (LeaseHeldError, exit 4:
// nothing written, retry later), except where its holder is known to be
// gone (see takeoverReason): the lease has expired (no live holder fails
// to renew it), it is the lease of the previous pod of this Kubernetes Job
// index or of this CronJob's previous Job, or the operator named its
// holder with --break-lease. Such a lease is taken over at once, with a
// warning naming the holder, and the uploads the holder left unfinished
// under this run's entries are aborted (see runLease.staleBefore). Nothing
// takes a live lease silently.
//
// A run that finds its lease taken, or cannot renew it before it expires,
// has lost it (LeaseLostError): it stops starting work, aborts its
// uploads and writes nothing more (see Run).
const BucketLeaseKey = LeasePrefix + "bucket.json"

// ShardLeaseKey is the lease of shard index of the sharded job.
func ShardLeaseKey(job string, index int) string {
	return fmt.Sprintf("%s%s/shard-%d.json", LeasePrefix, job, index)
}

// JobID names a sharded job. Runs agreeing on it are shards of one job:
// same mode, selection and shard count (so the shards partition the same
// entries), and the same job token (Config.Job), which keeps a second job
// of the same selection from joining a running one.
func JobID(mode Mode, sel Selection, shards int, token string) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s", mode, sel.String(), shards, token)
	return fmt.Sprintf("job-%016x", h.Sum64())
}

// Workload is where a run runs in Kubernetes, as the deploy manifests pass
// it through the downward API: the command reads it from the environment
// (the engine never does) and the lease records it, so that the next pod
// of the same Job index, or the next Job of the same CronJob, knows the
// lease for its predecessor's.
type Workload struct {
	// CronJob is the name of the CronJob whose Job this is, "" for none.
	CronJob string `json:"cronjob,omitempty"`
	// Job and JobUID are the Job's name and uid (the pod labels
	// batch.kubernetes.io/job-name and batch.kubernetes.io/controller-uid).
	Job    string `json:"job,omitempty"`
	JobUID string `json:"job_uid,omitempty"`
	// Index is the pod's completion index in an Indexed Job
	// (JOB_COMPLETION_INDEX), -1 when it has none.
	Index int `json:"index"`
}

// sameJob reports whether w and o name the same Job: by uid when both
// know it (a Job deleted and created again under its name is another
// Job), else by name.
func (w *Workload) sameJob(o *Workload) bool {
	if w.JobUID != "" && o.JobUID != "" {
		return w.JobUID == o.JobUID
	}
	return w.Job != "" && w.Job == o.Job
}

// Lease is the content of a lease object.
type Lease struct {
	Holder    string `json:"holder"`
	RunID     string `json:"run_id"`
	Mode      Mode   `json:"mode,omitempty"`
	Selection string `json:"selection,omitempty"`
	// Job is set when the holder is a shard of a sharded job: the other
	// shards of that job (and only they) may join the bucket lease.
	Job    string `json:"job,omitempty"`
	Shards int    `json:"shards,omitempty"`
	// Workload is the holder's Kubernetes Job, nil outside Kubernetes.
	Workload *Workload `json:"workload,omitempty"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
	// Released marks a lease its holder gave up (Expires is then the time
	// it did): it is free, and what its holder staged was aborted.
	Released bool `json:"released,omitempty"`
	// StaleBefore, when set, is when this lease replaced a holder that was
	// gone: uploads under the entries of the holder's job begun before it
	// are the dead holder's leftovers. The job's shards that join the
	// lease later sweep theirs by it.
	StaleBefore time.Time `json:"stale_before,omitempty"`
}

// takeoverReason says why a run that would hold want may take over cur, a
// live lease of another run, or "" when it may not and is busy.
// breakHolder is Config.BreakLease.
func takeoverReason(cur, want Lease, breakHolder string) string {
	me, them := want.Workload, cur.Workload
	switch {
	case breakHolder != "" && (cur.Holder == breakHolder || cur.RunID == breakHolder):
		return "--break-lease names its holder"
	case me == nil || them == nil:
		return ""
	case me.Index >= 0 && them.Index == me.Index && me.sameJob(them):
		// The Job (podReplacementPolicy: Failed) starts a pod of an index
		// only once the index's previous pod is terminal.
		return fmt.Sprintf("it is the lease of the previous pod of index %d of Job %s, which has ended", me.Index, me.Job)
	case me.CronJob != "" && them.CronJob == me.CronJob && !me.sameJob(them):
		// concurrencyPolicy: Forbid starts a Job only once the previous
		// one is over.
		return fmt.Sprintf("it is the lease of Job %s, the previous run of CronJob %s, which has ended", them.Job, me.CronJob)
	}
	return ""
}

// LeaseHeldError is returned when a live lease belongs to another run: the
// run is busy (exit 4) and wrote nothing.
type LeaseHeldError struct {
	Key     string
	Holder  string
	Expires time.Time
	// What the holder runs, when its lease says.
	Mode      Mode
	Selection string
	Shards    int
}

func (e *LeaseHeldError) Error() string {
	what := ""
	if e.Mode != "" {
		what = fmt.Sprintf(" (%s of %s", e.Mode, e.Selection)
		if e.Shards > 1 {
			what += fmt.Sprintf(" in %d shards", e.Shards)
		}
		what += ")"
	}
	return fmt.Sprintf("busy: another run holds the lease %s: holder %s%s, expires %s; nothing was written, retry later (if that run is gone, --break-lease %q takes its lease over)",
		e.Key, e.Holder, what, e.Expires.UTC().Format(time.RFC3339), e.Holder)
}

func heldError(key string, l Lease) *LeaseHeldError {
	return &LeaseHeldError{Key: key, Holder: l.Holder, Expires: l.Expires, Mode: l.Mode, Selection: l.Selection, Shards: l.Shards}
}

// LeaseLostError is why a run stopped early: it lost its lease (another
// run took it, or it could not be renewed before it expired). Run returns
// it once the run has aborted its uploads and written nothing more; the
// exit code is 1, the failure reason lease_lost.
type LeaseLostError struct {
	Key string
	// Holder is who holds the lease now, "" when nobody or unknown.
	Holder string
	Err    error
}

func (e *LeaseLostError) Error() string {
	s := "lease " + e.Key + " lost"
	if e.Holder != "" {
		s += " to " + e.Holder
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s + "; the run stopped and wrote nothing more"
}

func (e *LeaseLostError) Unwrap() error { return e.Err }

// entryError is the failure of an entry that the loss cut short.
func (e *LeaseLostError) entryError() *EntryError {
	return &EntryError{Reason: sources.ReasonLeaseLost, Detail: e.Error(), Err: e}
}

// lostError returns the LeaseLostError in err's chain, or nil.
func lostError(err error) *LeaseLostError {
	var l *LeaseLostError
	if errors.As(err, &l) {
		return l
	}
	return nil
}
