// Package httpkind is the "http" source kind: one URL, one object.
//
// It does not HEAD the URL: the engine GETs it anyway and records size,
// ETag and Last-Modified from that response, so a HEAD would only double the
// requests per object (and count against the host's rate limit). Size is
// therefore -1 (unknown) here.
package httpkind

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/checksum"
)

// Kind implements sources.Kind and sources.KindValidator for "http". The
// zero value is ready to use and safe for concurrent use.
type Kind struct{}

// New returns the http kind.
func New() sources.Kind { return Kind{} }

var _ sources.KindValidator = Kind{}

// Objects yields the entry's URL as its one object. The checksum comes from
// params md5 / sha256, or else from the entry's checksums listing matched by
// the URL's basename; a listing that does not name the file is an error,
// since the registry promised a checksum for it.
func (Kind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	obj := sources.Object{URL: e.URL, Size: -1}
	sum, err := paramChecksum(e.Params)
	if err != nil {
		return nil, sources.ParamsError(e, err)
	}
	if sum == nil && e.Checksums != "" {
		// The loader has checked the URL (SCHEMA.md, "URLs").
		u, err := url.Parse(e.URL)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: entry %s: url: %w", e.File, e.Line, e.ID, err)
		}
		l, err := checksum.Fetch(ctx, c, e.Checksums)
		if err != nil {
			return nil, fmt.Errorf("entry %s: checksums: %w", e.ID, err)
		}
		name := path.Base(u.Path)
		cs, ok := l.Lookup(name)
		if !ok {
			return nil, &sources.FetchError{
				Reason: sources.ReasonChecksumMissing,
				Detail: fmt.Sprintf("entry %s: checksum listing %s has no line for %q", e.ID, e.Checksums, name),
			}
		}
		sum = &cs
	}
	obj.Checksum = sum
	return []sources.Object{obj}, nil
}

// Validate implements sources.KindValidator: at most one literal checksum
// param, a hex digest of its algorithm.
func (Kind) Validate(e sources.Entry) error {
	_, err := paramChecksum(e.Params)
	return err
}

// paramChecksum reads a literal checksum from params md5, sha256, sha1 or
// sha512 (at most one), nil when none is given.
func paramChecksum(params map[string]string) (*sources.Checksum, error) {
	var out *sources.Checksum
	for _, algo := range []string{"md5", "sha1", "sha256", "sha512"} {
		v, ok := params[algo]
		if !ok || v == "" {
			continue
		}
		if out != nil {
			return nil, fmt.Errorf("params %s and %s both set; give one checksum", out.Algo, algo)
		}
		got, ok := checksum.AlgoForHex(v)
		if !ok || got != algo {
			return nil, fmt.Errorf("params %s %q is not a hex %s digest", algo, v, algo)
		}
		out = &sources.Checksum{Algo: algo, Value: strings.ToLower(v)}
	}
	return out, nil
}
