package ingest

import (
	"context"
	"iter"
	"strings"

	"github.com/astroingest/astroingest/bucket"
)

// Presence comes from listings, never from a request per object: an
// unchanged object must be present with its recorded size, and a HEAD per
// object was 100,000 requests on every rerun of a 100,000-file entry. A
// big entry merges a listing of its own prefix, as a stream, with its
// sorted objects; the small entries of a run share one listing of their
// keys' common prefix per domain, taken once.

// presenceCursor answers, for keys asked in increasing order, whether the
// bucket holds the key and at what size.
type presenceCursor interface {
	at(key string) (size int64, ok bool)
	err() error
	close()
}

// noPresence holds nothing: for entries with nothing recorded to compare.
type noPresence struct{}

func (noPresence) at(string) (int64, bool) { return 0, false }
func (noPresence) err() error              { return nil }
func (noPresence) close()                  {}

// streamPresence walks a bucket listing alongside the entry's keys.
type streamPresence struct {
	next   func() (bucket.ObjectInfo, error, bool)
	stop   func()
	cur    bucket.ObjectInfo
	have   bool
	done   bool
	failed error
}

func newStreamPresence(seq iter.Seq2[bucket.ObjectInfo, error]) *streamPresence {
	next, stop := iter.Pull2(seq)
	return &streamPresence{next: next, stop: stop}
}

func (p *streamPresence) at(key string) (int64, bool) {
	for !p.done {
		if !p.have {
			info, err, ok := p.next()
			if !ok || err != nil {
				p.done, p.failed = true, err
				return 0, false
			}
			p.cur, p.have = info, true
		}
		switch {
		case p.cur.Key < key:
			p.have = false
		case p.cur.Key == key:
			p.have = false
			return p.cur.Size, true
		default:
			return 0, false
		}
	}
	return 0, false
}

func (p *streamPresence) err() error { return p.failed }
func (p *streamPresence) close()     { p.stop() }

// mapPresence answers from a snapshot.
type mapPresence map[string]int64

func (m mapPresence) at(key string) (int64, bool) {
	s, ok := m[key]
	return s, ok
}
func (mapPresence) err() error { return nil }
func (mapPresence) close()     {}

// presence is the run's snapshot of the sizes of the small entries' keys
// (those whose records sit in their heads), listed once per domain from
// the longest common prefix of those keys. A domain whose listing would
// cost much more than the keys it answers for is not listed; its entries
// list their own prefixes instead.
type presence struct {
	size    map[string]int64
	covered map[string]bool // domains listed completely
}

// buildPresence takes the snapshot for the small tasks that will compare
// with their bucket copy. A listing that yields more than twice those
// keys plus a page is abandoned for that domain. Errors are not fatal:
// the entries then list their own prefixes.
func buildPresence(ctx context.Context, b bucket.Reader, p *Plan, force bool) *presence {
	pr := &presence{size: map[string]int64{}, covered: map[string]bool{}}
	if force {
		return pr
	}
	type group struct {
		prefix string
		keys   int
	}
	groups := map[string]*group{}
	for _, t := range p.Tasks {
		if !t.Fetch() || t.Prev == nil || len(t.Prev.Parts) > 0 || t.Prev.Split != nil {
			continue
		}
		for _, o := range t.Prev.Records {
			d, _, _ := strings.Cut(o.Key, "/")
			g := groups[d]
			if g == nil {
				g = &group{prefix: o.Key}
				groups[d] = g
			}
			g.prefix = commonPrefix(g.prefix, o.Key)
			g.keys++
		}
	}
	for d, g := range groups {
		if g.keys < 2 {
			continue // one key: the entry's own listing is as cheap
		}
		limit, n, complete := 2*g.keys+1000, 0, true
		for info, err := range b.List(ctx, g.prefix) {
			if err != nil || n >= limit {
				complete = false
				break
			}
			pr.size[info.Key] = info.Size
			n++
		}
		pr.covered[d] = complete
	}
	return pr
}

// cursorFor answers for a small task's keys when its domain was listed
// completely.
func (pr *presence) cursorFor(t Task) (presenceCursor, bool) {
	if pr == nil || !pr.covered[t.Entry.Domain] {
		return nil, false
	}
	m := mapPresence{}
	for _, o := range t.Prev.Records {
		if s, ok := pr.size[o.Key]; ok {
			m[o.Key] = s
		}
	}
	return m, true
}

func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return a[:i]
		}
	}
	return a[:n]
}
