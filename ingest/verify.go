package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/sources"
	"golang.org/x/sync/errgroup"
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
)

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
}

// OK reports whether the bucket matches its manifests.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// Verify audits the bucket against every manifest: each recorded object
// must exist with its recorded size (and, with deep, its recorded sha256),
// and every object under a domain prefix must be claimed by a manifest.
// The catalog must exist, decode, and index exactly the manifests. workers
// bounds concurrent stats and reads. A bucket without any of these gives
// ErrNoMirror.
func Verify(ctx context.Context, b bucket.Reader, deep bool, workers int) (*VerifyReport, error) {
	ms, err := AllManifests(ctx, b)
	if err != nil {
		return nil, err
	}
	catalogFound, catProblems, err := checkCatalog(ctx, b, ms)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Manifests: len(ms), Deep: deep, Problems: catProblems}
	type item struct {
		entry string
		rec   ObjectRecord
	}
	var items []item
	claimed := map[string]bool{}
	for _, m := range ms {
		for _, o := range m.Objects {
			items = append(items, item{m.ID, o})
			claimed[o.Key] = true
			rep.Objects++
			rep.Bytes += o.Size
		}
	}
	probs := make([]*Problem, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(workers, 1))
	for i, it := range items {
		g.Go(func() error {
			p, err := checkObject(gctx, b, it.rec, deep)
			if p != nil {
				p.Entry = it.entry
			}
			probs[i] = p
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, p := range probs {
		if p != nil {
			rep.Problems = append(rep.Problems, *p)
		}
	}
	data := 0
	for _, d := range sources.Domains() {
		for info, err := range b.List(ctx, d+"/") {
			if err != nil {
				return nil, fmt.Errorf("list %s/: %w", d, err)
			}
			data++
			if !claimed[info.Key] {
				rep.Problems = append(rep.Problems, Problem{Kind: ProblemOrphan, Key: info.Key, Got: fmt.Sprint(info.Size)})
			}
		}
	}
	if !catalogFound && len(ms) == 0 && data == 0 {
		return nil, ErrNoMirror
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
	return rep, nil
}

// checkCatalog compares annotations/catalog.json with the manifests. found
// is false only when the catalog does not exist; a catalog that cannot be
// read or decoded is a problem, not an error, so the audit goes on.
func checkCatalog(ctx context.Context, b bucket.Reader, ms []*Manifest) (found bool, probs []Problem, err error) {
	probs = []Problem{}
	var c Catalog
	ok, err := readJSON(ctx, b, CatalogKey, &c)
	switch {
	case err != nil && ctx.Err() != nil:
		return false, nil, ctx.Err()
	case err != nil:
		return true, append(probs, Problem{Kind: ProblemCatalogUnreadable, Key: CatalogKey, Got: err.Error()}), nil
	case !ok:
		return false, append(probs, Problem{Kind: ProblemCatalogMissing, Key: CatalogKey}), nil
	}
	manifests := make(map[string]string, len(ms)) // key -> entry ID
	for _, m := range ms {
		manifests[ManifestKey(m.ID)] = m.ID
	}
	listed := make(map[string]bool, len(c.Entries))
	for _, e := range c.Entries {
		key := e.Manifest
		if key == "" {
			key = ManifestKey(e.ID)
		}
		listed[key] = true
		if _, ok := manifests[key]; !ok {
			probs = append(probs, Problem{Kind: ProblemNoManifest, Key: key, Entry: e.ID})
		}
	}
	for key, id := range manifests {
		if !listed[key] {
			probs = append(probs, Problem{Kind: ProblemNotInCatalog, Key: key, Entry: id})
		}
	}
	return true, probs, nil
}

func checkObject(ctx context.Context, b bucket.Reader, rec ObjectRecord, deep bool) (*Problem, error) {
	info, err := b.Stat(ctx, rec.Key)
	if errors.Is(err, fs.ErrNotExist) {
		return &Problem{Kind: ProblemMissing, Key: rec.Key}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", rec.Key, err)
	}
	if info.Size != rec.Size {
		return &Problem{Kind: ProblemWrongSize, Key: rec.Key, Want: fmt.Sprint(rec.Size), Got: fmt.Sprint(info.Size)}, nil
	}
	if !deep {
		return nil, nil
	}
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
