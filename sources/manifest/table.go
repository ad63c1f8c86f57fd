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
	body, err := listing.Get(ctx, c, x.e.URL)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff"))))
	r.Comma = x.table.delim
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	cols, err := tableHeader(r, x)
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
		o, keep, err := cols.object(x, dir, rec, line)
		if err != nil {
			return nil, err
		}
		if keep {
			objs = append(objs, o)
		}
	}
	return objs, nil
}

// tableColumns are the indexes of the columns the entry's params name, -1
// for those it leaves unset.
type tableColumns struct{ url, checksum, name, size int }

// tableHeader reads the header row and finds the named columns in it.
func tableHeader(r *csv.Reader, x *entryCtx) (tableColumns, error) {
	t := x.table
	header, err := r.Read()
	if err != nil {
		return tableColumns{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s: no header row", x.e.URL), Err: err}
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	var bad error
	need := func(param, name string) int {
		if name == "" {
			return -1
		}
		i, ok := col[name]
		if !ok && bad == nil {
			bad = fmt.Errorf("%s: params %s %q: %s has no such column (header: %s)", x.where, param, name, x.e.URL, strings.Join(header, ", "))
		}
		return i
	}
	cols := tableColumns{
		url:      need("url_column", t.urlCol),
		checksum: need("checksum_column", t.checksumCol),
		name:     need("name_column", t.nameCol),
		size:     need("size_column", t.sizeCol),
	}
	return cols, bad
}

// object is the object of one row; keep is false when the entry's
// include/exclude leave it out.
func (cols tableColumns) object(x *entryCtx, dir *url.URL, rec []string, line int) (o sources.Object, keep bool, err error) {
	field := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	bad := func(format string, a ...any) error {
		return &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("%s line %d: ", x.e.URL, line) + fmt.Sprintf(format, a...)}
	}
	raw := field(cols.url)
	if raw == "" {
		return o, false, bad("empty %s", x.table.urlCol)
	}
	ref, err := url.Parse(raw)
	if err != nil {
		return o, false, bad("bad URL %q", raw)
	}
	u := x.base.ResolveReference(ref)
	if !sources.FetchableURL(u) {
		return o, false, bad("URL %q is not http(s)", raw)
	}
	name := field(cols.name)
	if name == "" {
		name = defaultName(dir, u)
	}
	if !x.filter.Match(name) {
		return o, false, nil
	}
	o = sources.Object{Name: name, URL: u.String(), Size: -1}
	if v := field(cols.size); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return o, false, bad("size %q is not a byte count", v)
		}
		o.Size = n
	}
	if v := strings.ToLower(field(cols.checksum)); v != "" {
		algo := x.table.algo
		got, ok := checksum.AlgoForHex(v)
		if !ok || (algo != "" && got != algo) {
			want := algo
			if want == "" {
				want = "md5/sha1/sha256/sha512"
			}
			return o, false, bad("checksum %q is not a hex %s digest", v, want)
		}
		o.Checksum = &sources.Checksum{Algo: got, Value: v}
	}
	return o, true, nil
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
