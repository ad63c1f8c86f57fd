package ingest

import (
	"context"
	"fmt"
	"sync"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
	"golang.org/x/sync/errgroup"
)

// Object index problems reported by Verify.
const (
	// A head names an index file that is not there.
	ProblemIndexMissing = "index_missing"
	// An index file's row count differs from its head's objects.
	ProblemIndexRows = "index_wrong_rows"
	// An index file no head names: a reader's glob counts its rows.
	ProblemIndexOrphan = "index_orphan"
)

// verifyIndex holds the object index to the heads, at the cost of one
// listing of the index and a footer read per file a whole entry's head
// names: that file must exist with one row per object, and no file may be
// left that no head claims. A head that names no file yet (a bucket
// written before the index) is not a problem: its next run writes one. A
// split entry's shard files are claimed when they match its shard count;
// their rows are not counted, which would take every shard head.
func verifyIndex(ctx context.Context, b bucket.Reader, heads []*annotations.Head, workers int, rep *VerifyReport) error {
	files := map[string]int64{}
	for info, err := range b.List(ctx, index.Prefix) {
		if err != nil {
			return fmt.Errorf("list %s: %w", index.Prefix, err)
		}
		files[info.Key] = info.Size
	}
	byID := make(map[string]*annotations.Head, len(heads))
	for _, h := range heads {
		byID[h.ID] = h
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(workers, 1))
	for _, h := range heads {
		if h.Index == "" || h.Split != nil {
			continue
		}
		size, ok := files[h.Index]
		if !ok {
			rep.add(Problem{Kind: ProblemIndexMissing, Key: h.Index, Entry: h.ID, Want: fmt.Sprint(h.Objects)})
			continue
		}
		g.Go(func() error {
			n, err := index.NumRows(gctx, b, h.Index, size)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && gctx.Err() != nil:
				return gctx.Err()
			case err != nil:
				rep.add(Problem{Kind: ProblemUnreadable, Key: h.Index, Entry: h.ID, Got: err.Error()})
			case n != int64(h.Objects):
				rep.add(Problem{Kind: ProblemIndexRows, Key: h.Index, Entry: h.ID, Want: fmt.Sprint(h.Objects), Got: fmt.Sprint(n)})
			}
			return nil
		})
	}
	for key, size := range files {
		if !claimed(key, byID) {
			rep.add(Problem{Kind: ProblemIndexOrphan, Key: key, Got: fmt.Sprint(size)})
		}
	}
	return g.Wait()
}

// claimed reports whether a head accounts for the index file at key.
func claimed(key string, heads map[string]*annotations.Head) bool {
	id, sh, ok := index.ParseKey(key)
	h := heads[id]
	switch {
	case !ok || h == nil:
		return false
	case h.Split != nil:
		return sh != nil && sh.Count == h.Split.Shards && key == index.Key(h.Meta, sh)
	}
	return key == h.Index
}
