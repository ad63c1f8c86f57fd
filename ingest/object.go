package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

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

// object brings one object up to date: unchanged detection, budget, then
// the transfer. Its outcome goes to the sink before it returns.
func (r *runner) object(ctx context.Context, e sources.Entry, o sources.Object, key string, prev *ObjectRecord) objResult {
	res := r.decide(ctx, e, o, key, prev)
	var uploaded int64
	switch {
	case res.status == objUploaded:
		uploaded = res.rec.Size
	case prev != nil:
		res.rec = *prev
	}
	r.out.object(e.Domain, res.status, uploaded)
	return res
}

func (r *runner) decide(ctx context.Context, e sources.Entry, o sources.Object, key string, prev *ObjectRecord) objResult {
	var cond *ObjectRecord
	if prev != nil && !r.cfg.Force {
		info, err := r.present.stat(ctx, r.cfg.Bucket, key)
		switch {
		case err == nil && info.Size == prev.Size:
			switch u := unchangedByListing(o, prev); {
			case u == listingSame:
				return objResult{status: objUnchanged}
			case u == listingUnknown && (prev.SourceETag != "" || prev.LastModified != ""):
				cond = prev
			}
		case err != nil && ctx.Err() != nil:
			return objResult{status: objCancelled}
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return objResult{status: objFailed, err: &bucketError{fmt.Errorf("stat %s: %w", key, err)}}
		}
	}

	known := o.Size
	if known <= 0 && cond != nil {
		known = prev.Size // a changed object is usually about its old size
	}
	ch, err := r.budget.start(e.Family, known)
	if err != nil {
		return objResult{status: objSkipped, err: err}
	}
	rec, st, err := r.xfer.run(ctx, objectJob{domain: e.Domain, obj: o, key: key, cond: cond, charge: ch})
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
	return listingUnknown
}
