package ingest

import (
	"context"
	"strings"

	"github.com/astroingest/astroingest/bucket"
)

// Listing the bucket instead of a Stat per object: an unchanged object must
// be present with its recorded size, which cost one HEAD per object on
// every rerun (5,000 HEADs for one 5,000-file index entry, one per entry
// for a registry of one-file entries). One listing of the keys the run will
// check gives the same answer at one request per 1,000 keys.
const (
	// presenceMinObjects is the number of recorded objects to check from
	// which the run lists instead of stating each one.
	presenceMinObjects = 64
	// presenceMaxObjects bounds the index's memory (about 100 bytes a key).
	presenceMaxObjects = 500_000
)

// presence is a snapshot of the sizes of the objects under the prefixes a
// run will check. Only hits are trusted: a key missing from the snapshot
// (written since, or under a prefix not listed) is stated as before.
type presence struct {
	size map[string]int64
}

// buildPresence lists, per domain, the longest common prefix of the keys
// recorded in the manifests of the tasks that will compare with their
// bucket copy. A listing that yields more than twice those keys plus a
// page (the prefix covers much more than this run's keys) is abandoned for
// that domain, so a listing never costs much more than the Stats it saves.
// Errors are not fatal: the objects are then stated one by one.
func buildPresence(ctx context.Context, b bucket.Bucket, p *Plan, force bool) *presence {
	if force {
		return nil
	}
	type group struct {
		prefix string
		keys   int
		set    bool
	}
	groups := map[string]*group{}
	total := 0
	for _, t := range p.Tasks {
		if !t.Fetch() || t.Prev == nil {
			continue
		}
		for _, o := range t.Prev.Objects {
			d, _, _ := strings.Cut(o.Key, "/")
			g := groups[d]
			if g == nil {
				g = &group{}
				groups[d] = g
			}
			if !g.set {
				g.prefix, g.set = o.Key, true
			} else {
				g.prefix = commonPrefix(g.prefix, o.Key)
			}
			g.keys++
			total++
		}
	}
	if total < presenceMinObjects || total > presenceMaxObjects {
		return nil
	}
	pr := &presence{size: make(map[string]int64, total)}
	for _, g := range groups {
		limit := 2*g.keys + 1000
		n := 0
		for info, err := range b.List(ctx, g.prefix) {
			if err != nil || n >= limit {
				break
			}
			pr.size[info.Key] = info.Size
			n++
		}
	}
	return pr
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

// stat answers from the snapshot when it holds key, else asks the bucket.
func (pr *presence) stat(ctx context.Context, b bucket.Bucket, key string) (bucket.ObjectInfo, error) {
	if pr != nil {
		if size, ok := pr.size[key]; ok {
			return bucket.ObjectInfo{Key: key, Size: size}, nil
		}
	}
	return b.Stat(ctx, key)
}
