package ingest

import (
	"bufio"
	"fmt"
	"io"
	"mime"
	"path"
	"slices"
	"strings"
)

// Data that is not data is not stored. Publishers answer 200 with a login
// or licence page when a session is missing (Earthdata-style redirects,
// expired CDS links, ESO portals); with no publisher checksum to catch
// it, that page would be mirrored as the file. So a response's Content-
// Type must be one the family expects (sources.Entry.ContentTypes) or,
// when the family says nothing, must not be an HTML page for a name that
// is not one.

// htmlTypes are what a login page is served as.
var htmlTypes = []string{"text/html", "application/xhtml+xml"}

// typeError is a response whose Content-Type says it is not the object.
type typeError struct{ detail string }

func (e *typeError) Error() string { return e.detail }

// checkContentType refuses a response whose type is not what the object
// should be. body is read for the first line of an answer refused, which
// the run record quotes; the caller closes it either way.
func checkContentType(expect []string, name, ctype string, body io.Reader) error {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil || mt == "" {
		return nil // no type given: nothing to hold against it
	}
	mt = strings.ToLower(mt)
	switch {
	case len(expect) > 0 && slices.Contains(expect, mt):
		return nil
	case len(expect) == 0 && !slices.Contains(htmlTypes, mt):
		return nil
	case len(expect) == 0 && isHTMLName(name):
		return nil
	}
	want := "a file, not an HTML page"
	if len(expect) > 0 {
		want = strings.Join(expect, " or ")
	}
	return &typeError{fmt.Sprintf("the publisher answered %s for %s (want %s): %q", mt, path.Base(name), want, firstLine(body))}
}

func isHTMLName(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".html", ".htm", ".xhtml":
		return true
	}
	return false
}

// firstLine is the first non-empty line of what a refused answer says,
// at most 120 bytes, tags stripped.
func firstLine(r io.Reader) string {
	sc := bufio.NewScanner(io.LimitReader(r, 16<<10))
	for sc.Scan() {
		line := strings.TrimSpace(stripMarkup(sc.Text()))
		if line != "" {
			if len(line) > 120 {
				line = line[:120] + "..."
			}
			return line
		}
	}
	return ""
}

func stripMarkup(s string) string {
	var b strings.Builder
	in := false
	for _, c := range s {
		switch {
		case c == '<':
			in = true
		case c == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(c)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
