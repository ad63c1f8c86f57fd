package index

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/listing"
)

var linkRE = regexp.MustCompile(`(?is)<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>.*?</a>`)

// sizeRE finds "date time size" after a link: Apache "2024-05-01 12:00  1.2M",
// nginx "01-May-2024 12:00   12345".
var sizeRE = regexp.MustCompile(`^\s*\S+\s+\d{1,2}:\d{2}(?::\d{2})?\s+(\S+)`)

var tagRE = regexp.MustCompile(`<[^>]*>`)

// maxChunk bounds the text held while an anchor is open across lines; a
// listing whose lines run longer is parsed in pieces of this size.
const maxChunk = 1 << 20

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
// subdirectories exist) rather than mirror its files. A pure function.
func Links(dir *url.URL, body []byte) []Link {
	var out []Link
	_ = eachLink(dir, bytes.NewReader(body), func(l link) error {
		out = append(out, Link{Name: l.rel, URL: l.url.String(), Size: l.size})
		return nil
	})
	return out
}

// eachLink hands fn the immediate children of dir from an HTML listing
// read from r, a row at a time: autoindex pages print one file per line
// (nginx, Apache's <pre> and <table> forms), so memory stays bounded by a
// line, not the page. A link repeated on one row (Apache's icon and name
// links) or on consecutive rows is handed over once.
func eachLink(dir *url.URL, r io.Reader, fn func(link) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var chunk []byte
	last := ""
	for {
		line, err := br.ReadSlice('\n')
		chunk = append(chunk, line...)
		if err == bufio.ErrBufferFull {
			if len(chunk) < maxChunk {
				continue
			}
			err = nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		// An anchor opened and not yet closed waits for the next line.
		if err == nil && openAnchor(chunk) && len(chunk) < maxChunk {
			continue
		}
		for _, l := range parseLinks(dir, chunk) {
			if l.rel == last {
				continue
			}
			last = l.rel
			if ferr := fn(l); ferr != nil {
				return ferr
			}
		}
		chunk = chunk[:0]
		if err == io.EOF {
			return nil
		}
	}
}

var anchorOpenRE = regexp.MustCompile(`(?i)<a\s`)

// openAnchor reports whether b ends inside an anchor: its last "<a" has
// no "</a>" after it.
func openAnchor(b []byte) bool {
	opens := anchorOpenRE.FindAllIndex(b, -1)
	if len(opens) == 0 {
		return false
	}
	return !bytes.Contains(bytes.ToLower(b[opens[len(opens)-1][0]:]), []byte("</a>"))
}

// parseLinks extracts the immediate children of dir from a piece of an
// HTML listing.
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
		l, ok := childLink(dir, raw)
		if !ok || seen[l.rel] {
			continue
		}
		seen[l.rel] = true
		l.size = sizeAfter(body[m[1]:])
		out = append(out, l)
	}
	return out
}

// childLink resolves an href against dir and keeps it only when it names
// a child of dir: no parent or sort links, queries, fragments, other hosts
// or paths outside dir.
func childLink(dir *url.URL, raw string) (link, bool) {
	raw = strings.TrimSpace(html.UnescapeString(raw))
	if raw == "" || strings.HasPrefix(raw, "?") || strings.HasPrefix(raw, "#") {
		return link{}, false
	}
	ref, err := url.Parse(raw)
	if err != nil || ref.RawQuery != "" || ref.Fragment != "" {
		return link{}, false
	}
	u := dir.ResolveReference(ref)
	if u.Scheme != dir.Scheme || u.Host != dir.Host || !strings.HasPrefix(u.Path, dir.Path) {
		return link{}, false
	}
	rel := strings.TrimPrefix(u.Path, dir.Path)
	name := strings.TrimSuffix(rel, "/")
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return link{}, false
	}
	return link{rel: rel, url: u}, true
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

// listHTML walks the listing tree breadth first from base, whose page is
// already open as first, handing each file to emit.
func listHTML(ctx context.Context, c *http.Client, base *url.URL, first io.ReadCloser, opt options, emit func(sources.Object) error) error {
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
	}
	queue := []dir{{u: &root}}
	visited := map[string]bool{root.Path: true}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		body := first
		first = nil
		if body == nil {
			var err error
			if body, err = listing.Open(ctx, c, d.u.String()); err != nil {
				return fmt.Errorf("list %w", err)
			}
		}
		err := eachLink(d.u, body, func(l link) error {
			rel := d.prefix + l.rel
			if strings.HasSuffix(l.rel, "/") {
				if d.depth < opt.maxDepth && !visited[l.url.Path] {
					visited[l.url.Path] = true
					queue = append(queue, dir{u: l.url, prefix: rel, depth: d.depth + 1})
				}
				return nil
			}
			if !opt.filter.Match(rel) {
				return nil
			}
			return emit(sources.Object{Name: rel, URL: l.url.String(), Size: l.size})
		})
		body.Close()
		if err != nil {
			return fmt.Errorf("list %s: %w", d.u.String(), err)
		}
	}
	return nil
}
