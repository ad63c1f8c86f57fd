// Package index is the "index" source kind: every file of a published
// directory, read from its listing. It understands Apache mod_autoindex
// (the <pre> and <table> forms), nginx autoindex, and S3 ListBucket XML (v1
// markers and v2 continuation tokens).
//
// Params (see sources/SCHEMA.md): include / exclude (comma-separated globs
// on the file name, or on the relative path when the glob has a "/"),
// recursive ("true"), max_depth (directory levels below url; default 16 when
// recursive).
//
// Links never escape the entry's URL: parent links, sort links (?C=N;O=D),
// absolute links to other hosts or paths and anything with a query are
// ignored. HTML listings give an exact Size only when they print bytes (nginx,
// or small Apache sizes); rounded sizes like "1.2M" give -1. Their dates are
// in the server's unknown local time at minute precision, so LastModified is
// left zero for them; S3 listings give exact Size, ETag and LastModified.
package index

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/checksum"
	"github.com/astroingest/astroingest/sources/internal/filter"
	"github.com/astroingest/astroingest/sources/listing"
)

// DefaultMaxDepth bounds recursion when max_depth is not given.
const DefaultMaxDepth = 16

// maxPages bounds S3 pagination, against a server whose markers never end.
const maxPages = 1_000_000

// Kind implements sources.Kind and sources.KindValidator for "index". The
// zero value is ready and safe for concurrent use.
type Kind struct{}

// New returns the index kind.
func New() sources.Kind { return Kind{} }

var _ sources.KindValidator = Kind{}

// options are an entry's params, parsed by parseOptions for both Validate
// and Objects.
type options struct {
	filter   filter.Filter
	maxDepth int
}

func parseOptions(params map[string]string) (options, error) {
	var o options
	var err error
	if o.filter, err = filter.Parse(params); err != nil {
		return o, err
	}
	recursive := false
	if v := params["recursive"]; v != "" {
		if recursive, err = strconv.ParseBool(v); err != nil {
			return o, fmt.Errorf("params recursive %q: want true or false", v)
		}
	}
	if recursive {
		o.maxDepth = DefaultMaxDepth
	}
	if v := params["max_depth"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, fmt.Errorf("params max_depth %q: want a non-negative integer", v)
		}
		if !recursive && n > 0 {
			return o, fmt.Errorf("params max_depth %d needs recursive: \"true\"", n)
		}
		o.maxDepth = n
	}
	return o, nil
}

// Validate implements sources.KindValidator: include / exclude globs,
// recursive and max_depth.
func (Kind) Validate(e sources.Entry) error {
	_, err := parseOptions(e.Params)
	return err
}

// Objects lists the entry's directory.
func (Kind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	opt, err := parseOptions(e.Params)
	if err != nil {
		return nil, sources.ParamsError(e, err)
	}
	base, err := url.Parse(e.URL) // checked by the loader (SCHEMA.md, "URLs")
	if err != nil {
		return nil, fmt.Errorf("%s:%d: entry %s: url: %w", e.File, e.Line, e.ID, err)
	}
	body, err := listing.Get(ctx, c, base.String())
	if err != nil {
		return nil, fmt.Errorf("entry %s: list %w", e.ID, err)
	}
	var objs []sources.Object
	if isS3(body) {
		objs, err = listS3(ctx, c, base, opt)
	} else {
		objs, err = listHTML(ctx, c, base, body, opt)
	}
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", e.ID, err)
	}
	if e.Checksums != "" {
		l, err := checksum.Fetch(ctx, c, e.Checksums)
		if err != nil {
			return nil, fmt.Errorf("entry %s: checksums: %w", e.ID, err)
		}
		for i := range objs {
			if cs, ok := l.Lookup(objs[i].Name); ok {
				objs[i].Checksum = &cs
			}
		}
	}
	return objs, nil
}

func isS3(body []byte) bool {
	head := body[:min(len(body), 1024)]
	return bytes.Contains(head, []byte("<ListBucketResult"))
}

// ---- HTML autoindex ----

var linkRE = regexp.MustCompile(`(?is)<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>.*?</a>`)

// sizeRE finds "date time size" after a link: Apache "2024-05-01 12:00  1.2M",
// nginx "01-May-2024 12:00   12345".
var sizeRE = regexp.MustCompile(`^\s*\S+\s+\d{1,2}:\d{2}(?::\d{2})?\s+(\S+)`)

var tagRE = regexp.MustCompile(`<[^>]*>`)

type link struct {
	rel  string // unescaped relative name, "/" suffix for directories
	url  *url.URL
	size int64
}

// Link is one child of a directory in an HTML listing: its name, with a
// trailing "/" for a subdirectory, its absolute URL, and its size when the
// listing prints it in bytes (-1 otherwise).
type Link struct {
	Name string
	URL  string
	Size int64
}

// Links returns the immediate children of the directory dir (its URL, with
// the trailing "/") that an HTML listing links to, in document order: the
// rules of the index kind, so parent, sort, query and off-tree links are
// left out. It is for tools that read a listing's structure (which
// subdirectories exist) rather than mirror its files.
func Links(dir *url.URL, body []byte) []Link {
	ls := parseLinks(dir, body)
	out := make([]Link, len(ls))
	for i, l := range ls {
		out[i] = Link{Name: l.rel, URL: l.url.String(), Size: l.size}
	}
	return out
}

// parseLinks extracts the immediate children of dir from an HTML listing.
func parseLinks(dir *url.URL, body []byte) []link {
	var out []link
	seen := map[string]bool{}
	for _, m := range linkRE.FindAllSubmatchIndex(body, -1) {
		raw := ""
		for g := 1; g <= 3; g++ {
			if m[2*g] >= 0 {
				raw = string(body[m[2*g]:m[2*g+1]])
				break
			}
		}
		raw = strings.TrimSpace(html.UnescapeString(raw))
		if raw == "" || strings.HasPrefix(raw, "?") || strings.HasPrefix(raw, "#") {
			continue
		}
		ref, err := url.Parse(raw)
		if err != nil || ref.RawQuery != "" || ref.Fragment != "" {
			continue
		}
		u := dir.ResolveReference(ref)
		if u.Scheme != dir.Scheme || u.Host != dir.Host || !strings.HasPrefix(u.Path, dir.Path) {
			continue
		}
		rel := strings.TrimPrefix(u.Path, dir.Path)
		name := strings.TrimSuffix(rel, "/")
		if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			continue
		}
		if seen[rel] {
			continue
		}
		seen[rel] = true
		out = append(out, link{rel: rel, url: u, size: sizeAfter(body[m[1]:])})
	}
	return out
}

// sizeAfter reads the size column that follows a link on its row: exact
// when it is plain digits, -1 when rounded ("1.2M") or absent ("-").
func sizeAfter(rest []byte) int64 {
	end := len(rest)
	for _, stop := range [][]byte{[]byte("\n"), []byte("</tr>"), []byte("<a ")} {
		if i := bytes.Index(rest[:end], stop); i >= 0 {
			end = i
		}
	}
	line := html.UnescapeString(tagRE.ReplaceAllString(string(rest[:end]), " "))
	line = strings.ReplaceAll(line, "\u00a0", " ")
	m := sizeRE.FindStringSubmatch(line)
	if m == nil {
		return -1
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func listHTML(ctx context.Context, c *http.Client, base *url.URL, body []byte, opt options) ([]sources.Object, error) {
	root := *base
	root.RawQuery, root.Fragment = "", ""
	if !strings.HasSuffix(root.Path, "/") {
		// Relative links in a listing resolve against the directory, which
		// only works with its trailing slash.
		root.Path += "/"
		root.RawPath = ""
	}
	type dir struct {
		u      *url.URL
		prefix string
		depth  int
		body   []byte
	}
	queue := []dir{{u: &root, depth: 0, body: body}}
	visited := map[string]bool{root.Path: true}
	var objs []sources.Object
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if d.body == nil {
			b, err := listing.Get(ctx, c, d.u.String())
			if err != nil {
				return nil, fmt.Errorf("list %w", err)
			}
			d.body = b
		}
		for _, l := range parseLinks(d.u, d.body) {
			rel := d.prefix + l.rel
			if strings.HasSuffix(l.rel, "/") {
				if d.depth < opt.maxDepth && !visited[l.url.Path] {
					visited[l.url.Path] = true
					queue = append(queue, dir{u: l.url, prefix: rel, depth: d.depth + 1})
				}
				continue
			}
			if !opt.filter.Match(rel) {
				continue
			}
			objs = append(objs, sources.Object{Name: rel, URL: l.url.String(), Size: l.size})
		}
	}
	return objs, nil
}

// ---- S3 ListBucket ----

type listBucketResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	IsTruncated           bool
	NextMarker            string
	NextContinuationToken string
	Contents              []struct {
		Key          string
		LastModified string
		ETag         string
		Size         int64
	}
	CommonPrefixes []struct {
		Prefix string
	}
}

func listS3(ctx context.Context, c *http.Client, base *url.URL, opt options) ([]sources.Object, error) {
	root := *base
	q := root.Query()
	root.RawQuery, root.Fragment = "", ""
	if !strings.HasSuffix(root.Path, "/") {
		root.Path += "/"
		root.RawPath = ""
	}
	prefix := q.Get("prefix")
	// Names are relative to the "directory" part of the prefix.
	dirPrefix := prefix[:strings.LastIndex(prefix, "/")+1]
	v2 := q.Get("list-type") == "2"
	q.Del("marker")
	q.Del("continuation-token")
	q.Del("delimiter")
	if opt.maxDepth == 0 {
		q.Set("delimiter", "/")
	}

	var objs []sources.Object
	marker := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("list %s: more than %d pages", root.String(), maxPages)
		}
		if marker != "" {
			if v2 {
				q.Set("continuation-token", marker)
			} else {
				q.Set("marker", marker)
			}
		}
		u := root
		u.RawQuery = q.Encode()
		body, err := listing.Get(ctx, c, u.String())
		if err != nil {
			return nil, fmt.Errorf("list %w", err)
		}
		var res listBucketResult
		if err := xml.Unmarshal(body, &res); err != nil {
			return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("list %s: not ListBucketResult XML", u.String()), Err: err}
		}
		last := ""
		for _, ct := range res.Contents {
			last = max(last, ct.Key)
			if !strings.HasPrefix(ct.Key, dirPrefix) || strings.HasSuffix(ct.Key, "/") {
				continue // outside the prefix, or a folder placeholder
			}
			rel := ct.Key[len(dirPrefix):]
			if strings.Count(rel, "/") > opt.maxDepth || !validRel(rel) || !opt.filter.Match(rel) {
				continue
			}
			o := sources.Object{Name: rel, URL: root.String() + escapeKey(ct.Key), Size: ct.Size, ETag: ct.ETag}
			if t, err := time.Parse(time.RFC3339Nano, ct.LastModified); err == nil {
				o.LastModified = t
			}
			objs = append(objs, o)
		}
		for _, cp := range res.CommonPrefixes {
			last = max(last, cp.Prefix)
		}
		if !res.IsTruncated {
			return objs, nil
		}
		next := res.NextContinuationToken
		if !v2 {
			// S3 sends NextMarker only with a delimiter; otherwise the last
			// key is the marker.
			next = res.NextMarker
			if next == "" {
				next = last
			}
		}
		if next == "" || next == marker {
			return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("list %s: truncated listing without a way to continue", u.String())}
		}
		marker = next
	}
}

func validRel(rel string) bool {
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
