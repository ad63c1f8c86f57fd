package ingest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/sources"
)

// objResult is what became of one object. rec is the new record when the
// object was uploaded, else the previous one (still valid, as nothing was
// committed), zero when there was none.
type objResult struct {
	status objStatus
	rec    ObjectRecord
	err    error
}

// object brings one object up to date that needs a transfer: budget,
// then the transfer. Its outcome goes to the sink before it returns.
func (r *runner) object(ctx context.Context, e sources.Entry, job *objectTask) objResult {
	res := r.transferObject(ctx, e, job)
	var size int64
	switch {
	case res.status == objUploaded:
		size = res.rec.Size
	case job.prev != nil:
		res.rec = *job.prev
		size = res.rec.Size
	}
	r.out.object(e.Domain, res.status, size)
	return res
}

func (r *runner) transferObject(ctx context.Context, e sources.Entry, job *objectTask) objResult {
	o := job.k.Obj
	if o.ChecksumMissing != "" {
		return objResult{status: objFailed, err: &EntryError{Reason: sources.ReasonChecksumMissing,
			Detail: fmt.Sprintf("%s: the checksum listing %s has no line for %s; not mirrored unverified", job.k.Key, redact.URL(o.ChecksumMissing), o.Name)}}
	}
	known := o.Size
	if known <= 0 && job.cond != nil {
		known = job.cond.Size // a changed object is usually about its old size
	}
	ch, err := r.budget.start(e.Family, known)
	if err != nil {
		return objResult{status: objSkipped, err: err}
	}
	rec, st, err := r.xfer.run(ctx, objectJob{domain: e.Domain, obj: o, key: job.k.Key, cond: job.cond, charge: ch, types: e.ContentTypes})
	if st == objUploaded {
		ch.settle(rec.Size)
		return objResult{status: objUploaded, rec: rec}
	}
	ch.settle(0)
	if st == objCancelled {
		err = nil // cancellation is never a failure
	}
	return objResult{status: st, err: err}
}

type listingVerdict int

const (
	listingUnknown listingVerdict = iota
	listingSame
	listingChanged
)

// unchangedByListing compares what the listing says with the recorded
// object, so unchanged objects cost no request at all when the publisher
// gives a checksum, an ETag or a Last-Modified.
func unchangedByListing(o sources.Object, prev *ObjectRecord) listingVerdict {
	if o.Size >= 0 && o.Size != prev.Size {
		return listingChanged
	}
	if o.Checksum != nil {
		if pc := prev.PublisherChecksum; pc != nil && pc.Algo == o.Checksum.Algo && strings.EqualFold(pc.Value, o.Checksum.Value) {
			return listingSame
		}
		return listingChanged
	}
	if o.ETag != "" && prev.SourceETag != "" {
		if o.ETag == prev.SourceETag {
			return listingSame
		}
		return listingChanged
	}
	if !o.LastModified.IsZero() && prev.LastModified != "" {
		if t, err := http.ParseTime(prev.LastModified); err == nil && t.Equal(o.LastModified.Truncate(time.Second)) {
			return listingSame
		}
		return listingChanged
	}
	if o.SizeValidates && o.Size >= 0 && prev.SourceURL == redact.URLWithQuery(o.URL) {
		return listingSame
	}
	// A listing's minute, in an unsaid time zone: the same minute as the
	// recorded Last-Modified, at the listed size, is the same file (a
	// rerun of a 100,000-file directory then asks nothing); another
	// minute may only be another zone, so the publisher is asked.
	if !o.ListedModTime.IsZero() && o.Size >= 0 && prev.LastModified != "" {
		if t, err := http.ParseTime(prev.LastModified); err == nil && t.UTC().Truncate(time.Minute).Equal(o.ListedModTime) {
			return listingSame
		}
	}
	return listingUnknown
}
