package annotations

import (
	"bufio"
	"compress/gzip"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"

	"github.com/astroingest/astroingest/bucket"
)

// errStop ends a push-style decode when the consumer stops early.
var errStop = errors.New("stop")

// Records streams a head's records in key order, whatever its version and
// whether it is split: version 1 from its one document, version 2 part by
// part (each checked against its recorded size and SHA-256), a split
// entry by merging its shards' streams. A nil head yields nothing.
func Records(ctx context.Context, b bucket.Reader, h *Head) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		switch {
		case h == nil:
		case h.SchemaVersion == 1:
			recordsV1(ctx, b, h.key, yield)
		case h.Split != nil:
			shards, err := ShardHeads(ctx, b, h)
			if err != nil {
				yield(Record{}, err)
				return
			}
			seqs := make([]iter.Seq2[Record, error], len(shards))
			for i, s := range shards {
				seqs[i] = Records(ctx, b, s)
			}
			for rec, err := range Merge(seqs...) {
				if !yield(rec, err) || err != nil {
					return
				}
			}
		case len(h.Parts) == 0:
			for _, r := range h.Records {
				if !yield(r, nil) {
					return
				}
			}
		default:
			for _, p := range h.Parts {
				if !partRecords(ctx, b, p, yield) {
					return
				}
			}
		}
	}
}

// ShardHeads reads the shard heads of a split entry. A shard head that is
// missing is an error: the entry is incomplete until every shard has
// written its records.
func ShardHeads(ctx context.Context, b bucket.Reader, h *Head) ([]*Head, error) {
	out := make([]*Head, h.Split.Shards)
	for i := range out {
		key := ShardHeadKey(h.ID, i, h.Split.Shards)
		s, err := ReadHeadAt(ctx, b, key)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, fmt.Errorf("%w: entry %s is split over %d shards and %s is missing", ErrIncomplete, h.ID, h.Split.Shards, key)
		}
		out[i] = s
	}
	return out, nil
}

// ErrIncomplete marks a split entry some of whose shards have not written
// their records yet.
var ErrIncomplete = errors.New("incomplete split entry")

func recordsV1(ctx context.Context, b bucket.Reader, key string, yield func(Record, error) bool) {
	rc, err := b.Open(ctx, key, nil)
	if err != nil {
		yield(Record{}, fmt.Errorf("read %s: %w", key, err))
		return
	}
	defer rc.Close()
	_, err = decodeHead(rc, func(r Record) error {
		if !yield(r, nil) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		yield(Record{}, fmt.Errorf("decode %s: %w", key, err))
	}
}

// partRecords yields one part's records; false means stop.
func partRecords(ctx context.Context, b bucket.Reader, p Part, yield func(Record, error) bool) bool {
	fail := func(err error) bool {
		yield(Record{}, fmt.Errorf("part %s: %w", p.Key, err))
		return false
	}
	rc, err := b.Open(ctx, p.Key, nil)
	if err != nil {
		return fail(err)
	}
	defer rc.Close()
	sum := sha256.New()
	zr, err := gzip.NewReader(io.TeeReader(rc, sum))
	if err != nil {
		return fail(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // a record is a line; URLs can be long
	n := 0
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fail(fmt.Errorf("line %d: %w", n+1, err))
		}
		n++
		if !yield(rec, nil) {
			return false
		}
	}
	if err := sc.Err(); err != nil {
		return fail(err)
	}
	if err := checkPart(p, n, rc, sum); err != nil {
		return fail(err)
	}
	return true
}

// checkPart holds a fully read part to what its head recorded.
func checkPart(p Part, n int, rest io.Reader, sum hash.Hash) error {
	if _, err := io.Copy(sum, rest); err != nil { // gzip may stop short of trailing bytes
		return err
	}
	if n != p.Objects {
		return fmt.Errorf("holds %d records, its head says %d", n, p.Objects)
	}
	if p.SHA256 != "" && hex.EncodeToString(sum.Sum(nil)) != p.SHA256 {
		return fmt.Errorf("sha256 %s, its head says %s", hex.EncodeToString(sum.Sum(nil)), p.SHA256)
	}
	return nil
}

// Merge merges streams that are each sorted by key into one sorted
// stream, holding one record per stream. Equal keys come out in the
// order of the streams. The first error ends the merge.
func Merge(seqs ...iter.Seq2[Record, error]) iter.Seq2[Record, error] {
	if len(seqs) == 1 {
		return seqs[0]
	}
	return func(yield func(Record, error) bool) {
		h := &recHeap{}
		var stops []func()
		defer func() {
			for _, s := range stops {
				s()
			}
		}()
		for i, s := range seqs {
			next, stop := iter.Pull2(s)
			stops = append(stops, stop)
			if rec, err, ok := next(); ok {
				if err != nil {
					yield(Record{}, err)
					return
				}
				heap.Push(h, headItem{rec, i, next})
			}
		}
		for h.Len() > 0 {
			it := heap.Pop(h).(headItem)
			if !yield(it.rec, nil) {
				return
			}
			if rec, err, ok := it.next(); ok {
				if err != nil {
					yield(Record{}, err)
					return
				}
				heap.Push(h, headItem{rec, it.src, it.next})
			}
		}
	}
}

type headItem struct {
	rec  Record
	src  int
	next func() (Record, error, bool)
}

type recHeap []headItem

func (h recHeap) Len() int { return len(h) }
func (h recHeap) Less(i, j int) bool {
	if h[i].rec.Key != h[j].rec.Key {
		return h[i].rec.Key < h[j].rec.Key
	}
	return h[i].src < h[j].src
}
func (h recHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *recHeap) Push(x any)   { *h = append(*h, x.(headItem)) }
func (h *recHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
