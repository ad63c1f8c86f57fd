package ingest

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/sources"
	"golang.org/x/sync/errgroup"
)

// State of an entry at plan time.
const (
	StateNew    = "new"    // never fetched
	StateDue    = "due"    // fetched before, schedule says check again
	StateFresh  = "fresh"  // fetched within its interval; run skips it
	StateForced = "forced" // --force
	StateGated  = "gated"  // host gate not enabled
	StateNoAuth = "auth_missing"
	StateNoKind = "unknown_kind"
)

// Task is one selected entry with what the plan knows about it.
type Task struct {
	Entry sources.Entry
	State string
	// Prev is the entry's head, nil when never fetched; Shards are the
	// shard heads of an entry the last run split (nil where missing).
	Prev   *annotations.Head
	Shards []*annotations.Head
	// Stale: last success older than the schedule interval at plan time.
	Stale bool
	// Candidate: another shard owns the entry, but it may be big enough
	// to split below the entry, so this shard lists it too and takes its
	// share if it is (see Config.SplitAbove). Candidates are not counted
	// in the plan.
	Candidate bool
}

// Fetch reports whether the task will touch the network.
func (t Task) Fetch() bool {
	switch t.State {
	case StateNew, StateDue, StateForced:
		return true
	}
	return false
}

// shardHead is the previous head of shard i of a split entry.
func (t Task) shardHead(i int) *annotations.Head {
	if i < len(t.Shards) {
		return t.Shards[i]
	}
	return nil
}

// prevChecked is when the entry last finished: for a split entry, when
// its last shard did (zero while one has not).
func (t Task) prevChecked() time.Time {
	if t.Prev == nil || t.Prev.Split == nil {
		if t.Prev == nil {
			return time.Time{}
		}
		return t.Prev.CheckedAt
	}
	var oldest time.Time
	for i := range t.Prev.Split.Shards {
		sh := t.shardHead(i)
		if sh == nil || sh.CheckedAt.IsZero() {
			return time.Time{}
		}
		if oldest.IsZero() || sh.CheckedAt.Before(oldest) {
			oldest = sh.CheckedAt
		}
	}
	return oldest
}

// prevBytes is what the entry held after its last run.
func (t Task) prevBytes() int64 {
	if t.Prev == nil || t.Prev.Split == nil {
		if t.Prev == nil {
			return 0
		}
		return t.Prev.Bytes
	}
	var n int64
	for _, sh := range t.Shards {
		if sh != nil {
			n += sh.Bytes
		}
	}
	return n
}

// prevObjects is how many objects the entry held after its last run.
func (t Task) prevObjects() int {
	if t.Prev == nil || t.Prev.Split == nil {
		if t.Prev == nil {
			return 0
		}
		return t.Prev.Objects
	}
	n := 0
	for _, sh := range t.Shards {
		if sh != nil {
			n += sh.Objects
		}
	}
	return n
}

// Plan is the selected work of one run and shard.
type Plan struct {
	Mode      Mode
	Selection Selection
	Shard     Shard
	Tasks     []Task
}

// listHeadsAbove is the selection size from which planning lists the
// manifest prefix first: one LIST page per 1,000 keys is cheaper than a
// GET per entry when many selected entries have none (a first run over a
// 100,000-entry registry was 100,000 GETs answered 404). Small selections
// keep the direct GETs, as the bucket may hold many more manifests.
const listHeadsAbove = 64

// readHeads returns the head of every selected entry (nil when there is
// none) and, for a split entry, its shard heads.
func readHeads(ctx context.Context, b bucket.Reader, entries []sources.Entry, sel []int) ([]*annotations.Head, [][]*annotations.Head, error) {
	var exists map[string]bool
	if len(sel) > listHeadsAbove {
		exists = map[string]bool{}
		for info, err := range b.List(ctx, annotations.ManifestPrefix) {
			if err != nil {
				return nil, nil, &bucketError{fmt.Errorf("list %s: %w", annotations.ManifestPrefix, err)}
			}
			if id, ok := annotations.IsHeadKey(info.Key); ok {
				exists[id] = true
			}
		}
	}
	// Heads are small; reading them in parallel keeps planning of a large
	// registry against a remote bucket to seconds.
	heads := make([]*annotations.Head, len(sel))
	shards := make([][]*annotations.Head, len(sel))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, ei := range sel {
		id := entries[ei].ID
		if exists != nil && !exists[id] {
			continue
		}
		g.Go(func() error {
			h, err := annotations.ReadHead(gctx, b, id)
			if err != nil {
				return &bucketError{err}
			}
			heads[i] = h
			if h == nil || h.Split == nil {
				return nil
			}
			shards[i] = make([]*annotations.Head, h.Split.Shards)
			for j := range shards[i] {
				sh, err := annotations.ReadHeadAt(gctx, b, annotations.ShardHeadKey(id, j, h.Split.Shards))
				if err != nil {
					return &bucketError{err}
				}
				shards[i][j] = sh
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return heads, shards, nil
}

// PlanCounts summarises a plan, in all and per family.
type PlanCounts struct {
	Selected       int            `json:"selected"`
	ToFetch        int            `json:"to_fetch"`
	New            int            `json:"new"`
	Due            int            `json:"due"`
	Fresh          int            `json:"fresh"`
	Gated          int            `json:"gated"`
	AuthMissing    int            `json:"auth_missing"`
	Stale          int            `json:"stale"`
	EstimatedBytes int64          `json:"estimated_bytes"`
	UnknownSize    int            `json:"unknown_size"`
	ByDomain       map[string]int `json:"by_domain"`
	ByFamily       map[string]int `json:"by_family"`
	// Families are the per-family rows, by domain then family.
	Families []FamilyCounts `json:"families"`
}

// FamilyCounts is one family's row of a plan.
type FamilyCounts struct {
	Domain   string `json:"domain"`
	Family   string `json:"family"`
	Selected int    `json:"selected"`
	ToFetch  int    `json:"to_fetch"`
	Fresh    int    `json:"fresh"`
	// Skipped are selected but neither fetched nor fresh: gated, missing
	// a credential, or of a kind this build lacks.
	Skipped        int   `json:"skipped"`
	EstimatedBytes int64 `json:"estimated_bytes"`
	UnknownSize    int   `json:"unknown_size"`
}

// Counts tallies the plan. Estimated bytes come from the last manifests;
// never-fetched entries count as unknown size.
func (p *Plan) Counts() PlanCounts {
	c := PlanCounts{ByDomain: map[string]int{}, ByFamily: map[string]int{}}
	fams := map[string]*FamilyCounts{}
	for _, t := range p.Tasks {
		if t.Candidate {
			continue
		}
		c.Selected++
		c.ByDomain[t.Entry.Domain]++
		c.ByFamily[t.Entry.Family]++
		f := fams[t.Entry.Family]
		if f == nil {
			f = &FamilyCounts{Domain: t.Entry.Domain, Family: t.Entry.Family}
			fams[t.Entry.Family] = f
		}
		f.Selected++
		if t.Stale {
			c.Stale++
		}
		switch t.State {
		case StateNew:
			c.New++
		case StateDue, StateForced:
			c.Due++
		case StateFresh:
			c.Fresh++
		case StateGated:
			c.Gated++
		case StateNoAuth:
			c.AuthMissing++
		}
		switch {
		case t.Fetch():
			c.ToFetch++
			f.ToFetch++
			if t.Prev != nil {
				n := t.prevBytes()
				c.EstimatedBytes += n
				f.EstimatedBytes += n
			} else {
				c.UnknownSize++
				f.UnknownSize++
			}
		case t.State == StateFresh:
			f.Fresh++
		default:
			f.Skipped++
		}
	}
	c.Families = make([]FamilyCounts, 0, len(fams))
	for _, f := range fams {
		c.Families = append(c.Families, *f)
	}
	slices.SortFunc(c.Families, func(a, b FamilyCounts) int {
		return cmp.Or(strings.Compare(a.Domain, b.Domain), strings.Compare(a.Family, b.Family))
	})
	return c
}

// planInput is what planning needs; both Config and the plan command fill it.
type planInput struct {
	Bucket     bucket.Reader
	Entries    []sources.Entry
	Hosts      sources.Hosts
	Kinds      map[string]sources.Kind
	Mode       Mode
	Selection  Selection
	Shard      Shard
	Force      bool
	AllowGated bool
	Getenv     func(string) string
	Now        time.Time
	SplitAbove int
}

func buildPlan(ctx context.Context, in planInput) (*Plan, error) {
	p := &Plan{Mode: in.Mode, Selection: in.Selection, Shard: in.Shard}
	getenv := in.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	// Entries are referred to by index until they become tasks: a copy of
	// a 100,000-entry selection cost tens of MB of peak memory.
	var sel []int
	for i := range in.Entries {
		e := &in.Entries[i]
		if in.Selection.Match(*e) && (in.Shard.Has(e.ID) || in.mayList(*e)) {
			sel = append(sel, i)
		}
	}
	heads, shards, err := readHeads(ctx, in.Bucket, in.Entries, sel)
	if err != nil {
		return nil, err
	}
	p.Tasks = make([]Task, 0, len(sel))
	for i, ei := range sel {
		t := Task{Entry: in.Entries[ei], Prev: heads[i], Shards: shards[i]}
		if !in.Shard.Has(t.Entry.ID) {
			// A candidate stays only if it may be split this time.
			if !in.maySplit(t) {
				continue
			}
			t.Candidate = true
		}
		in.classify(&t, getenv)
		if t.Candidate && !t.Fetch() {
			continue
		}
		p.Tasks = append(p.Tasks, t)
	}
	return p, nil
}

// mayList reports whether a sharded run lists an entry another shard owns:
// one whose kind can list many objects, which may have to be split.
func (in planInput) mayList(e sources.Entry) bool {
	if in.Shard.Count <= 1 || in.SplitAbove <= 0 {
		return false
	}
	_, many := in.Kinds[e.Kind].(sources.Lister)
	return many
}

// maySplit keeps a candidate that has never been listed, was split last
// time, or came within half the threshold of it: every shard of the job
// decides the same from the same heads.
func (in planInput) maySplit(t Task) bool {
	return t.Prev == nil || t.Prev.Split != nil || t.prevObjects() >= in.SplitAbove/2
}

// classify sets the task's state: whether, and why, it is fetched.
func (in planInput) classify(t *Task, getenv func(string) string) {
	e := t.Entry
	checked := t.prevChecked()
	iv := e.Interval()
	// A run that starts a little earlier than the last one finished must
	// still find the entry due, or a daily entry would be fetched only
	// every other day; hence the slack of an eighth of the interval.
	due := iv > 0 && t.Prev != nil && !checked.Add(iv-iv/8).After(in.Now)
	// Stale means a whole interval overdue: missed at least one run.
	if t.Prev != nil && iv > 0 && !checked.Add(2*iv).After(in.Now) {
		t.Stale = true
	}
	hp := in.Hosts.For(e.URL)
	switch {
	case in.Kinds != nil && in.Kinds[e.Kind] == nil:
		t.State = StateNoKind
	case hp.Gate != "" && getenv(hp.Gate) != "1" && !in.AllowGated:
		t.State = StateGated
	case hp.Credential != nil && hp.Credential.Required && getenv(hp.Credential.Env) == "":
		t.State = StateNoAuth
	case t.Prev == nil:
		t.State = StateNew
	case in.Force:
		t.State = StateForced
	case in.Mode == ModeBackfill:
		t.State = StateDue
	case due:
		t.State = StateDue
	default:
		t.State = StateFresh
	}
}
