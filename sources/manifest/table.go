package manifest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/checksum"
	"github.com/astroingest/astroingest/sources/listing"
)

func (k Kind) table(ctx context.Context, c *http.Client, x *entryCtx) ([]sources.Object, error) {
	t := x.table
	urlCol, algo := t.urlCol, t.algo
	body, err := listing.Get(ctx, c, x.e.URL)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff"))))
	r.Comma = t.delim
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	header, err := r.Read()
	if err != nil {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s: no header row", x.e.URL), Err: err}
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	need := func(param, name string) (int, error) {
		if name == "" {
			return -1, nil
		}
		i, ok := col[name]
		if !ok {
			return 0, fmt.Errorf("%s: params %s %q: %s has no such column (header: %s)", x.where, param, name, x.e.URL, strings.Join(header, ", "))
		}
		return i, nil
	}
	ui, err := need("url_column", urlCol)
	if err != nil {
		return nil, err
	}
	ci, err := need("checksum_column", t.checksumCol)
	if err != nil {
		return nil, err
	}
	ni, err := need("name_column", t.nameCol)
	if err != nil {
		return nil, err
	}
	si, err := need("size_column", t.sizeCol)
	if err != nil {
		return nil, err
	}
	dir := x.base.ResolveReference(&url.URL{Path: "."})

	var objs []sources.Object
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s line %d", x.e.URL, line), Err: err}
		}
		field := func(i int) string {
			if i < 0 || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		bad := func(format string, a ...any) error {
			return &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s line %d: ", x.e.URL, line) + fmt.Sprintf(format, a...)}
		}
		raw := field(ui)
		if raw == "" {
			return nil, bad("empty %s", urlCol)
		}
		ref, err := url.Parse(raw)
		if err != nil {
			return nil, bad("bad URL %q", raw)
		}
		u := x.base.ResolveReference(ref)
		if !sources.FetchableURL(u) {
			return nil, bad("URL %q is not http(s)", raw)
		}
		name := field(ni)
		if name == "" {
			name = defaultName(dir, u)
		}
		if !x.filter.Match(name) {
			continue
		}
		o := sources.Object{Name: name, URL: u.String(), Size: -1}
		if si >= 0 && field(si) != "" {
			n, err := strconv.ParseInt(field(si), 10, 64)
			if err != nil || n < 0 {
				return nil, bad("size %q is not a byte count", field(si))
			}
			o.Size = n
		}
		if v := strings.ToLower(field(ci)); v != "" {
			got, ok := checksum.AlgoForHex(v)
			if !ok || (algo != "" && got != algo) {
				want := algo
				if want == "" {
					want = "md5/sha1/sha256/sha512"
				}
				return nil, bad("checksum %q is not a hex %s digest", v, want)
			}
			o.Checksum = &sources.Checksum{Algo: got, Value: v}
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// defaultName keeps the path below the table's directory when the URL is
// there, else the URL's basename.
func defaultName(dir, u *url.URL) string {
	if u.Scheme == dir.Scheme && u.Host == dir.Host && strings.HasPrefix(u.Path, dir.Path) && u.RawQuery == "" {
		if rel := strings.TrimPrefix(u.Path, dir.Path); rel != "" {
			return rel
		}
	}
	return path.Base(u.Path)
}
