package annotations

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/astroingest/astroingest/bucket"
)

// PartRecords is the most records a part holds: about 4 MB of JSON, well
// under 1 MB gzip'd, so a writer or reader holds little and a crash loses
// at most one part's worth of records.
const PartRecords = 10_000

// PartWriter turns an entry's records, given in key order, into parts.
// It follows the previous head's part boundaries, so that a part whose
// records are all unchanged is kept as it is, not rewritten: an unchanged
// entry's rerun writes no records at all. Not safe for concurrent use.
type PartWriter struct {
	b      bucket.Bucket
	prefix string // part keys are prefix + NNNNN + ".jsonl.gz"
	max    int
	old    []Part
	oi     int // the old part whose key range the next record falls in
	// OnPart, when set, is called after each new part is committed (not
	// for a part kept as it was) with the parts a head may list now: the
	// new ones, then the old ones not yet passed, whose records still
	// hold.
	OnPart func(ctx context.Context, parts []Part) error

	out     []Part
	written int // new parts committed
	seq     int
	cur     partBuf
	last    string
}

// partBuf is the part being assembled: its records gzip'd as they come,
// or held while they are all the previous ones.
type partBuf struct {
	open    bool
	held    []Record
	buf     bytes.Buffer
	zw      *gzip.Writer
	objects int
	bytes   int64
	first   string
	last    string
	allSame bool
}

// NewPartWriter writes parts named prefix+NNNNN.jsonl.gz, following the
// boundaries of old (the previous head's parts; nil for none).
func NewPartWriter(b bucket.Bucket, prefix string, old []Part) *PartWriter {
	return &PartWriter{b: b, prefix: prefix, max: PartRecords, old: old}
}

// Add appends the next record. same says it is identical to the
// previous head's record of that key, which lets an untouched part be
// kept.
func (w *PartWriter) Add(ctx context.Context, rec Record, same bool) error {
	if rec.Key <= w.last && w.last != "" {
		return fmt.Errorf("record %s after %s: records must come in strictly increasing key order", rec.Key, w.last)
	}
	w.last = rec.Key
	// Passing an old part's range closes the part of that range.
	for w.oi < len(w.old) && rec.Key > w.old[w.oi].Last {
		if err := w.flush(ctx, true); err != nil {
			return err
		}
		w.oi++
	}
	if !w.cur.open {
		w.cur = partBuf{open: true, allSame: true, first: rec.Key}
	}
	// While every record is the previous one, the part may be kept as it
	// is: records are only held, and encoded the moment one differs (or
	// the part must be written after all), so an unchanged entry's rerun
	// spends nothing on JSON and gzip.
	if w.cur.allSame && same && w.oi < len(w.old) {
		w.cur.held = append(w.cur.held, rec)
	} else {
		if err := w.cur.encodeHeld(); err != nil {
			return err
		}
		if err := w.cur.encode(rec); err != nil {
			return err
		}
	}
	var err error
	w.cur.objects++
	w.cur.bytes += rec.Size
	w.cur.last = rec.Key
	w.cur.allSame = w.cur.allSame && same
	switch {
	case w.oi < len(w.old) && rec.Key == w.old[w.oi].Last:
		// The end of an old part's range: close here, so it may be kept.
		err = w.flush(ctx, true)
		w.oi++
		return err
	case w.cur.objects >= w.max:
		return w.flush(ctx, false)
	}
	return nil
}

func (c *partBuf) encode(rec Record) error {
	if c.zw == nil {
		c.zw = gzip.NewWriter(&c.buf)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = c.zw.Write(append(line, '\n'))
	return err
}

// encodeHeld encodes the records held so far, in order.
func (c *partBuf) encodeHeld() error {
	for _, r := range c.held {
		if err := c.encode(r); err != nil {
			return err
		}
	}
	c.held = nil
	return nil
}

// Close commits what is left and returns the parts, in key order.
func (w *PartWriter) Close(ctx context.Context) ([]Part, error) {
	if err := w.flush(ctx, true); err != nil {
		return nil, err
	}
	if w.out == nil {
		w.out = []Part{}
	}
	return w.out, nil
}

// flush ends the current part. At the end of an old part's range
// (boundary), a part identical to the old one is kept instead of
// written.
func (w *PartWriter) flush(ctx context.Context, boundary bool) error {
	c := &w.cur
	if !c.open {
		return nil
	}
	defer func() { w.cur = partBuf{} }()
	if boundary && w.oi < len(w.old) && c.allSame {
		if o := w.old[w.oi]; o.Objects == c.objects && o.First == c.first && o.Last == c.last && o.Bytes == c.bytes {
			w.out = append(w.out, o)
			return nil
		}
	}
	if err := c.encodeHeld(); err != nil {
		return err
	}
	if err := c.zw.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(c.buf.Bytes())
	p := Part{
		Key: fmt.Sprintf("%s%05d.jsonl.gz", w.prefix, w.seq), Objects: c.objects, Bytes: c.bytes,
		First: c.first, Last: c.last, SHA256: hex.EncodeToString(sum[:]),
	}
	w.seq++
	pend, err := w.b.Put(ctx, p.Key, bytes.NewReader(c.buf.Bytes()), bucket.PutOptions{SizeHint: int64(c.buf.Len()), ContentType: "application/gzip"})
	if err != nil {
		return fmt.Errorf("put %s: %w", p.Key, err)
	}
	if _, err := pend.Commit(ctx); err != nil {
		_ = pend.Abort(context.WithoutCancel(ctx))
		return fmt.Errorf("commit %s: %w", p.Key, err)
	}
	w.out = append(w.out, p)
	w.written++
	return w.notify(ctx)
}

// Written is the number of new parts committed so far.
func (w *PartWriter) Written() int { return w.written }

func (w *PartWriter) notify(ctx context.Context) error {
	if w.OnPart == nil {
		return nil
	}
	next := w.oi + 1
	if next > len(w.old) {
		next = len(w.old)
	}
	parts := append(append([]Part(nil), w.out...), w.old[next:]...)
	return w.OnPart(ctx, parts)
}
