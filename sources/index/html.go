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
	"strconv"
	"strings"
	"time"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/listing"
)

// maxChunk bounds the text held while an anchor is open across lines; a
// listing whose lines run longer is parsed in pieces of this size.
const maxChunk = 1 << 20

type link struct {
	rel  string // unescaped relative name, "/" suffix for directories
	url  *url.URL
	size int64
	// mod is the row's date, to the minute, read as UTC (nginx prints
	// GMT by default); zero when the row has none.
	mod time.Time
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

// parseLinks extracts the immediate children of dir from a piece of an
// HTML listing: every <a ... href=...>...</a>, as browsers read them.
func parseLinks(dir *url.URL, body []byte) []link {
	var out []link
	seen := map[string]int{}
	scanAnchors(body, func(href string, after []byte) {
		l, ok := childLink(dir, href)
		if !ok {
			return
		}
		l.size, l.mod = rowAfter(after)
		// Apache links a file twice on its row, icon then name; the
		// columns follow the second.
		if i, dup := seen[l.rel]; dup {
			if out[i].mod.IsZero() && out[i].size < 0 {
				out[i].size, out[i].mod = l.size, l.mod
			}
			return
		}
		seen[l.rel] = len(out)
		out = append(out, l)
	})
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

// sizeAfter is rowAfter's size.
func sizeAfter(rest []byte) int64 {
	n, _ := rowAfter(rest)
	return n
}

// rowAfter reads the date and size columns that follow a link on its
// row. The size is exact when it is plain digits, -1 when rounded
// ("1.2M") or absent ("-"). The row is "date time size ...": Apache
// "2024-05-01 12:00  1.2M", nginx "01-May-2024 12:00   12345", in cells
// or not.
func rowAfter(rest []byte) (int64, time.Time) {
	end := len(rest)
	for _, stop := range [][]byte{[]byte("\n"), []byte("</tr>"), []byte("<a ")} {
		if i := bytes.Index(rest[:end], stop); i >= 0 {
			end = i
		}
	}
	row := stripTags(rest[:end])
	if strings.ContainsRune(row, '&') {
		row = html.UnescapeString(row)
	}
	row = strings.ReplaceAll(row, "\u00a0", " ")
	f := strings.Fields(row)
	if len(f) < 3 || !isClock(f[1]) {
		return -1, time.Time{}
	}
	mod := rowDate(f[0], f[1])
	n, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || n < 0 {
		return -1, mod
	}
	return n, mod
}

// rowDate parses a listing's date and clock, as nginx ("01-May-2024") or
// Apache ("2024-05-01") prints them; zero when it is neither.
func rowDate(date, clock string) time.Time {
	if len(clock) > 5 {
		clock = clock[:5] // the minute is the precision both share
	}
	for _, layout := range []string{"02-Jan-2006 15:04", "2006-01-02 15:04"} {
		if t, err := time.Parse(layout, date+" "+clock); err == nil {
			return t
		}
	}
	return time.Time{}
}

// stripTags turns every <...> into a space.
func stripTags(b []byte) string {
	if bytes.IndexByte(b, '<') < 0 {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		lt := bytes.IndexByte(b, '<')
		if lt < 0 {
			sb.Write(b)
			break
		}
		sb.Write(b[:lt])
		gt := bytes.IndexByte(b[lt:], '>')
		if gt < 0 {
			break
		}
		sb.WriteByte(' ')
		b = b[lt+gt+1:]
	}
	return sb.String()
}

// isClock matches H:MM, HH:MM and HH:MM:SS.
func isClock(s string) bool {
	h, rest, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || !digits(h) {
		return false
	}
	m, sec, hasSec := strings.Cut(rest, ":")
	return len(m) == 2 && digits(m) && (!hasSec || len(sec) == 2 && digits(sec))
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
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
			return emit(sources.Object{Name: rel, URL: l.url.String(), Size: l.size, ListedModTime: l.mod})
		})
		body.Close()
		if err != nil {
			return fmt.Errorf("list %s: %w", d.u.String(), err)
		}
	}
	return nil
}
