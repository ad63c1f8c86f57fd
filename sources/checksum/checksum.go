// Package checksum reads publisher checksum listings (md5sum/sha256sum
// output, BSD "MD5 (name) = hex" lines) and judges hex digests. It is shared
// by the http, index and manifest kinds; the documents themselves are
// fetched by package listing.
package checksum

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/listing"
)

// Entry is one line of a checksum listing.
type Entry struct {
	// Name is the file name as listed, without a leading "./" or binary "*".
	Name     string
	Checksum sources.Checksum
	Line     int
}

// Listing is a parsed checksum file.
type Listing struct {
	Source  string // where it came from, for error messages
	Entries []Entry
	byName  map[string]int
	byBase  map[string]int // -1 when two entries share a basename
}

// AlgoForHex infers the algorithm from a hex digest's length.
func AlgoForHex(h string) (string, bool) {
	if !isHex(h) {
		return "", false
	}
	switch len(h) {
	case 32:
		return "md5", true
	case 40:
		return "sha1", true
	case 64:
		return "sha256", true
	case 128:
		return "sha512", true
	}
	return "", false
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Parse reads a checksum listing. Accepted lines:
//
//	<hex>  name        md5sum text mode (Gaia _MD5SUM.txt)
//	<hex> *name        md5sum binary mode
//	<hex>  ./name      NCBI md5checksums.txt
//	<hex> name         single space
//	MD5 (name) = <hex> BSD/openssl style (also SHA256, SHA1, SHA512)
//
// Blank lines and lines starting with '#' are skipped. The algorithm comes
// from the digest length. source names the listing in errors.
func Parse(r io.Reader, source string) (*Listing, error) {
	l := &Listing{Source: source, byName: map[string]int{}, byBase: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", source, n, err)
		}
		e.Line = n
		l.add(e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", source, err)
	}
	return l, nil
}

func parseLine(line string) (Entry, error) {
	if name, sum, ok := parseBSD(line); ok {
		algo, ok := AlgoForHex(sum)
		if !ok {
			return Entry{}, fmt.Errorf("digest %q is not a hex md5/sha1/sha256/sha512", sum)
		}
		return Entry{Name: name, Checksum: sources.Checksum{Algo: algo, Value: strings.ToLower(sum)}}, nil
	}
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return Entry{}, fmt.Errorf("want \"<hex digest>  <file name>\", got %q", trunc(line))
	}
	sum, rest := line[:i], line[i+1:]
	algo, ok := AlgoForHex(sum)
	if !ok {
		return Entry{}, fmt.Errorf("want \"<hex digest>  <file name>\", got %q", trunc(line))
	}
	// md5sum writes two separators: " " then " " (text) or "*" (binary).
	name := strings.TrimLeft(rest, " \t")
	name = strings.TrimPrefix(name, "*")
	name = normName(name)
	if name == "" {
		return Entry{}, fmt.Errorf("digest without a file name: %q", trunc(line))
	}
	return Entry{Name: name, Checksum: sources.Checksum{Algo: algo, Value: strings.ToLower(sum)}}, nil
}

// parseBSD reads "MD5 (name) = hex".
func parseBSD(line string) (name, sum string, ok bool) {
	open := strings.Index(line, " (")
	eq := strings.LastIndex(line, ") = ")
	if open <= 0 || eq < open {
		return "", "", false
	}
	switch strings.ToUpper(line[:open]) {
	case "MD5", "SHA1", "SHA256", "SHA512", "SHA2-256", "SHA2-512":
	default:
		return "", "", false
	}
	return normName(line[open+2 : eq]), strings.TrimSpace(line[eq+4:]), true
}

func normName(n string) string {
	n = strings.TrimSpace(n)
	for strings.HasPrefix(n, "./") {
		n = n[2:]
	}
	return n
}

func trunc(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}

func (l *Listing) add(e Entry) {
	l.byName[e.Name] = len(l.Entries)
	b := path.Base(e.Name)
	if _, dup := l.byBase[b]; dup {
		l.byBase[b] = -1
	} else {
		l.byBase[b] = len(l.Entries)
	}
	l.Entries = append(l.Entries, e)
}

// Lookup finds the checksum for a file: by its relative name first, then by
// basename when exactly one entry has that basename.
func (l *Listing) Lookup(name string) (sources.Checksum, bool) {
	if l == nil {
		return sources.Checksum{}, false
	}
	name = normName(name)
	if i, ok := l.byName[name]; ok {
		return l.Entries[i].Checksum, true
	}
	if i, ok := l.byBase[path.Base(name)]; ok && i >= 0 {
		return l.Entries[i].Checksum, true
	}
	return sources.Checksum{}, false
}

// Fetch GETs a checksum listing through listing.Get and parses it. It is
// safe for concurrent use.
func Fetch(ctx context.Context, c *http.Client, url string) (*Listing, error) {
	body, err := listing.Get(ctx, c, url)
	if err != nil {
		return nil, err
	}
	return Parse(bytes.NewReader(body), url)
}
