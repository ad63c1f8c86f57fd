package ingest

import (
	"errors"
)

// Discrepancy kinds reported by Verify.
const (
	ProblemMissing    = "missing"
	ProblemWrongSize  = "wrong_size"
	ProblemWrongHash  = "wrong_sha256"
	ProblemOrphan     = "orphan"
	ProblemUnreadable = "unreadable"
	// The catalog is the index the training side reads first.
	ProblemCatalogMissing    = "catalog_missing"
	ProblemCatalogUnreadable = "catalog_unreadable"
	ProblemNoManifest        = "no_manifest"    // in the catalog, no manifest
	ProblemNotInCatalog      = "not_in_catalog" // a manifest the catalog lacks
	// An entry split over shards some of which have not written yet, or
	// whose records cannot be read.
	ProblemIncomplete = "incomplete"
)

// maxProblems bounds the problems a report lists, so that auditing a
// badly damaged mirror of ten million objects still takes flat memory;
// the rest are counted.
const maxProblems = 10_000

// ErrNoMirror is Verify's answer for a bucket that holds no mirror at all:
// no catalog, no manifest and no object under a domain. That is an empty
// bucket or a wrong --bucket (a mistyped prefix), which must not pass as a
// clean mirror.
var ErrNoMirror = errors.New("no mirror found (no " + CatalogKey + ", no manifests)")

// Problem is one discrepancy between the bucket and the manifests.
type Problem struct {
	Kind  string `json:"kind"`
	Key   string `json:"key"`
	Entry string `json:"entry,omitempty"`
	Want  string `json:"want,omitempty"`
	Got   string `json:"got,omitempty"`
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	Manifests int       `json:"manifests"`
	Objects   int       `json:"objects"`
	Bytes     int64     `json:"bytes"`
	Deep      bool      `json:"deep"`
	Problems  []Problem `json:"problems"`
	// More counts the problems found beyond the first maxProblems.
	More int `json:"more_problems,omitempty"`
}

// OK reports whether the bucket matches its manifests.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

func (r *VerifyReport) add(p Problem) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, p)
		return
	}
	r.More++
}
