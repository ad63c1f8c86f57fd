package ingest

import (
	"cmp"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/sources"
	"golang.org/x/sync/errgroup"
)

// Verify audits the bucket against every manifest: each recorded object
// must exist with its recorded size (and, with deep, its recorded
// sha256), and every object under a domain prefix must be claimed by a
// record. The object index must match the heads (see verifyIndex). The catalog must exist, decode, and index exactly the
// manifests. It streams: per domain, the records of all entries, merged in
// key order, against the bucket's listing, so its memory does not grow
// with the mirror (the heads are held, a few KB each). workers bounds the
// concurrent re-hashing of deep. A bucket without any of these gives
// ErrNoMirror.
func Verify(ctx context.Context, b bucket.Reader, deep bool, workers int) (*VerifyReport, error) {
	heads, err := readAllHeads(ctx, b)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Manifests: len(heads), Deep: deep, Problems: []Problem{}}
	catalogFound, err := checkCatalog(ctx, b, heads, rep)
	if err != nil {
		return nil, err
	}
	if err := verifyIndex(ctx, b, heads, workers, rep); err != nil {
		return nil, err
	}
	data := 0
	for _, d := range sources.Domains() {
		n, err := verifyDomain(ctx, b, d, heads, deep, workers, rep)
		if err != nil {
			return nil, err
		}
		data += n
	}
	if !catalogFound && len(heads) == 0 && data == 0 {
		return nil, ErrNoMirror
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
	return rep, nil
}

// readAllHeads reads every entry's head (not its records), with the
// shard heads of split entries.
func readAllHeads(ctx context.Context, b bucket.Reader) ([]*annotations.Head, error) {
	var ids []string
	for info, err := range b.List(ctx, ManifestPrefix) {
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", ManifestPrefix, err)
		}
		if id, ok := annotations.IsHeadKey(info.Key); ok {
			ids = append(ids, id)
		}
	}
	heads := make([]*annotations.Head, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, id := range ids {
		g.Go(func() error {
			h, err := annotations.ReadHead(gctx, b, id)
			heads[i] = h
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(heads, func(h *annotations.Head) bool { return h == nil }), nil
}

// checkCatalog compares annotations/catalog.json with the heads. found is
// false only when the catalog does not exist; a catalog that cannot be
// read or decoded is a problem, not an error, so the audit goes on.
func checkCatalog(ctx context.Context, b bucket.Reader, heads []*annotations.Head, rep *VerifyReport) (found bool, err error) {
	var c Catalog
	ok, err := readJSON(ctx, b, CatalogKey, &c)
	switch {
	case err != nil && ctx.Err() != nil:
		return false, ctx.Err()
	case err != nil:
		rep.add(Problem{Kind: ProblemCatalogUnreadable, Key: CatalogKey, Got: err.Error()})
		return true, nil
	case !ok:
		rep.add(Problem{Kind: ProblemCatalogMissing, Key: CatalogKey})
		return false, nil
	}
	manifests := make(map[string]string, len(heads)) // key -> entry ID
	for _, h := range heads {
		manifests[ManifestKey(h.ID)] = h.ID
	}
	listed := make(map[string]bool, len(c.Entries))
	for _, e := range c.Entries {
		key := cmp.Or(e.Manifest, ManifestKey(e.ID))
		listed[key] = true
		if _, ok := manifests[key]; !ok {
			rep.add(Problem{Kind: ProblemNoManifest, Key: key, Entry: e.ID})
		}
	}
	for _, h := range heads {
		if key := ManifestKey(h.ID); !listed[key] {
			rep.add(Problem{Kind: ProblemNotInCatalog, Key: key, Entry: h.ID})
		}
	}
	return true, nil
}

// verifyDomain merges the domain's records with its listing and returns
// how many objects the listing held.
func verifyDomain(ctx context.Context, b bucket.Reader, domain string, heads []*annotations.Head, deep bool, workers int, rep *VerifyReport) (int, error) {
	var mu sync.Mutex
	add := func(p Problem) {
		mu.Lock()
		rep.add(p)
		mu.Unlock()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(workers, 1) + 1)
	recNext, recStop := iter.Pull2(domainRecords(gctx, b, domain, heads, add))
	defer recStop()
	var cur entryRecord
	have, done := false, false
	advance := func() error {
		r, err, ok := recNext()
		if !ok {
			done, have = true, false
			return nil
		}
		if err != nil {
			return err
		}
		cur, have = r, true
		mu.Lock()
		rep.Objects++
		rep.Bytes += r.rec.Size
		mu.Unlock()
		return nil
	}
	if err := advance(); err != nil {
		return 0, err
	}
	n := 0
	for info, err := range b.List(gctx, domain+"/") {
		if err != nil {
			return n, fmt.Errorf("list %s/: %w", domain, err)
		}
		n++
		for have && cur.rec.Key < info.Key {
			add(Problem{Kind: ProblemMissing, Key: cur.rec.Key, Entry: cur.entry})
			if err := advance(); err != nil {
				return n, err
			}
		}
		if !have || cur.rec.Key != info.Key {
			add(Problem{Kind: ProblemOrphan, Key: info.Key, Got: fmt.Sprint(info.Size)})
			continue
		}
		switch er := cur; {
		case info.Size != er.rec.Size:
			add(Problem{Kind: ProblemWrongSize, Key: er.rec.Key, Entry: er.entry, Want: fmt.Sprint(er.rec.Size), Got: fmt.Sprint(info.Size)})
		case deep:
			g.Go(func() error {
				p, err := rehash(gctx, b, er.rec)
				if p != nil {
					p.Entry = er.entry
					add(*p)
				}
				return err
			})
		}
		if err := advance(); err != nil {
			return n, err
		}
	}
	for have && !done {
		add(Problem{Kind: ProblemMissing, Key: cur.rec.Key, Entry: cur.entry})
		if err := advance(); err != nil {
			return n, err
		}
	}
	return n, g.Wait()
}

// entryRecord is a record with the entry that claims it.
type entryRecord struct {
	entry string
	rec   annotations.Record
}

// domainRecords streams the records of the domain's entries in key
// order. Entries are opened in the order of their first key, when the
// merge reaches it, so with disjoint entries only one or two streams are
// open at a time. An entry whose records cannot be read (a split entry
// still missing a shard) is reported and skipped.
func domainRecords(ctx context.Context, b bucket.Reader, domain string, heads []*annotations.Head, report func(Problem)) iter.Seq2[entryRecord, error] {
	type start struct {
		h     *annotations.Head
		first string
	}
	var starts []start
	for _, h := range heads {
		if h.Domain != domain {
			continue
		}
		first, _ := h.KeyRange()
		if h.Split != nil || h.SchemaVersion == 1 {
			first = h.Domain + "/" // unknown without reading: open it first
		}
		starts = append(starts, start{h, first})
	}
	slices.SortStableFunc(starts, func(a, b start) int { return cmp.Compare(a.first, b.first) })
	return func(yield func(entryRecord, error) bool) {
		h := &streamHeap{}
		defer func() {
			for _, s := range *h {
				s.stop()
			}
		}()
		i := 0
		for {
			for i < len(starts) && (h.Len() == 0 || starts[i].first <= (*h)[0].cur.rec.Key) {
				s := openEntryStream(ctx, b, starts[i].h)
				i++
				if ok, err := s.advance(); err != nil {
					report(Problem{Kind: ProblemIncomplete, Key: ManifestKey(s.id), Entry: s.id, Got: err.Error()})
					s.stop()
				} else if ok {
					heap.Push(h, s)
				} else {
					s.stop()
				}
			}
			if h.Len() == 0 {
				return
			}
			s := (*h)[0]
			if !yield(s.cur, nil) {
				return
			}
			ok, err := s.advance()
			switch {
			case err != nil:
				report(Problem{Kind: ProblemIncomplete, Key: ManifestKey(s.id), Entry: s.id, Got: err.Error()})
				fallthrough
			case !ok:
				heap.Pop(h)
				s.stop()
			default:
				heap.Fix(h, 0)
			}
		}
	}
}

type entryStream struct {
	id   string
	next func() (annotations.Record, error, bool)
	stop func()
	cur  entryRecord
}

func openEntryStream(ctx context.Context, b bucket.Reader, h *annotations.Head) *entryStream {
	next, stop := iter.Pull2(annotations.Records(ctx, b, h))
	return &entryStream{id: h.ID, next: next, stop: stop}
}

func (s *entryStream) advance() (bool, error) {
	rec, err, ok := s.next()
	if !ok {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.cur = entryRecord{s.id, rec}
	return true, nil
}

type streamHeap []*entryStream

func (h streamHeap) Len() int           { return len(h) }
func (h streamHeap) Less(i, j int) bool { return h[i].cur.rec.Key < h[j].cur.rec.Key }
func (h streamHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)        { *h = append(*h, x.(*entryStream)) }
func (h *streamHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}

// rehash reads an object and compares its sha256 with its record.
func rehash(ctx context.Context, b bucket.Reader, rec annotations.Record) (*Problem, error) {
	rc, err := b.Open(ctx, rec.Key, nil)
	if err != nil {
		return &Problem{Kind: ProblemUnreadable, Key: rec.Key, Got: err.Error()}, nil
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return &Problem{Kind: ProblemUnreadable, Key: rec.Key, Got: err.Error()}, nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != rec.SHA256 {
		return &Problem{Kind: ProblemWrongHash, Key: rec.Key, Want: rec.SHA256, Got: got}, nil
	}
	return nil, nil
}
