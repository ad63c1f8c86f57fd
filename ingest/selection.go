package ingest

import (
	"fmt"
	"hash/fnv"
	"path"
	"slices"
	"strings"

	"github.com/astroingest/astroingest/sources"
)

// Mode is what a run does with schedules.
type Mode string

const (
	// ModeRun honours each entry's schedule: the CronJob's incremental sync.
	ModeRun Mode = "run"
	// ModeBackfill ignores schedules and needs an explicit selection.
	ModeBackfill Mode = "backfill"
)

// Selection filters entries. Empty fields select everything. Within a field
// the values are alternatives; across fields they must all match.
type Selection struct {
	Domains  []string `json:"domains,omitempty"`
	Families []string `json:"families,omitempty"`
	// Sources are path.Match globs on the entry ID.
	Sources []string `json:"sources,omitempty"`
}

// Empty reports whether nothing was named.
func (s Selection) Empty() bool {
	return len(s.Domains) == 0 && len(s.Families) == 0 && len(s.Sources) == 0
}

// Validate checks the globs and domains so a typo fails before anything
// runs. The error is a *FieldError naming Selection.Sources or
// Selection.Domains.
func (s Selection) Validate() error {
	for _, g := range s.Sources {
		if _, err := path.Match(g, ""); err != nil {
			return &FieldError{Field: FieldSources, Value: g, Err: err}
		}
	}
	for _, d := range s.Domains {
		if !slices.Contains(sources.Domains(), d) {
			return &FieldError{Field: FieldDomains, Value: d, Err: fmt.Errorf("not one of %s", strings.Join(sources.Domains(), ", "))}
		}
	}
	return nil
}

// Match reports whether e is selected.
func (s Selection) Match(e sources.Entry) bool {
	if len(s.Domains) > 0 && !slices.Contains(s.Domains, e.Domain) {
		return false
	}
	if len(s.Families) > 0 && !slices.Contains(s.Families, e.Family) {
		return false
	}
	if len(s.Sources) > 0 {
		ok := false
		for _, g := range s.Sources {
			if m, _ := path.Match(g, e.ID); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// String is a stable rendering, used in lease scopes and run records.
func (s Selection) String() string {
	norm := func(v []string) string {
		c := slices.Clone(v)
		slices.Sort(c)
		return strings.Join(c, ",")
	}
	return "domain=" + norm(s.Domains) + ";family=" + norm(s.Families) + ";source=" + norm(s.Sources)
}

// Shard is this process's slice of the entries: entry IDs are hashed with
// FNV-1a 64 and taken modulo Count, so every entry lands in exactly one shard
// and keeps it as the registry grows.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Has reports whether the entry belongs to this shard.
func (s Shard) Has(id string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64()%uint64(s.Count)) == s.Index
}

func (s Shard) String() string {
	if s.Count <= 1 {
		return "0/1"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}
