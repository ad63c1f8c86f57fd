// Package manifest is the "manifest" source kind: the objects are named by a
// listing file the publisher keeps. Formats (params format):
//
//   - md5sum: "<md5>  name" lines (also "*name", "./name", sha256 digests);
//     names resolve against the listing's URL.
//   - metalink: metalink 3.0 as UniProt publishes RELEASE.metalink (and
//     metalink 4 / RFC 5854). The first http(s) <url> is used; UniProt lists
//     only ftp:// mirrors, so then the name resolves against the metalink's URL.
//   - table: CSV/TSV with a header row; params url_column (default "url"),
//     checksum_column, algo (default from the digest length), delimiter
//     ("," or "tab"; default tab for .tsv/.txt URLs), name_column,
//     size_column.
//   - assembly_summary: NCBI assembly_summary.txt; for each row (optionally
//     filtered by filter "column=value"; rows whose ftp_path is "na" are
//     skipped) md5checksums.txt is read from ftp_path and the files matching
//     include become objects named "<assembly directory>/<file>" with their md5.
//   - curl_script: a bulk-download shell script of curl/wget lines (MAST's
//     TESS and Kepler scripts); optional limit caps the number of files.
//     See curlscript.go.
//
// include / exclude (comma-separated globs on the file name) filter every
// format; for assembly_summary include is required.
package manifest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/checksum"
)

// Kind implements sources.Kind and sources.KindValidator for "manifest".
// The zero value is ready and safe for concurrent use.
type Kind struct {
	// Concurrency bounds the md5checksums.txt fetches of assembly_summary;
	// 0 means 4. The caller's transport still enforces the host's rate.
	Concurrency int
}

// New returns the manifest kind.
func New() sources.Kind { return Kind{} }

type entryCtx struct {
	e     sources.Entry
	where string // "file:line: entry id" for configuration errors
	base  *url.URL
	options
}

// Objects reads the entry's listing file.
func (k Kind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	opts, err := parseOptions(e)
	if err != nil {
		return nil, sources.ParamsError(e, err)
	}
	u, err := url.Parse(e.URL) // checked by the loader (SCHEMA.md, "URLs")
	if err != nil {
		return nil, sources.ParamsError(e, fmt.Errorf("url: %w", err))
	}
	x := &entryCtx{e: e, where: fmt.Sprintf("%s:%d: entry %s", e.File, e.Line, e.ID), base: u, options: opts}
	var objs []sources.Object
	switch opts.format { // parseOptions admits only these
	case "md5sum":
		objs, err = k.md5sum(ctx, c, x)
	case "metalink":
		objs, err = k.metalink(ctx, c, x)
	case "table":
		objs, err = k.table(ctx, c, x)
	case "assembly_summary":
		objs, err = k.assemblySummary(ctx, c, x)
	case "curl_script":
		objs, err = k.curlScript(ctx, c, x)
	}
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", e.ID, err)
	}
	if err := checkNames(objs); err != nil {
		return nil, fmt.Errorf("entry %s: %s: %w", e.ID, e.URL, err)
	}
	return objs, nil
}

// checkNames refuses names that would escape the entry's prefix or collide.
func checkNames(objs []sources.Object) error {
	seen := make(map[string]string, len(objs))
	for _, o := range objs {
		if !validName(o.Name) {
			return fmt.Errorf("file name %q is not a clean relative path", o.Name)
		}
		if prev, dup := seen[o.Name]; dup {
			return fmt.Errorf("two files map to the name %q: %s and %s", o.Name, prev, o.URL)
		}
		seen[o.Name] = o.URL
	}
	return nil
}

func validName(n string) bool {
	if n == "" || strings.HasPrefix(n, "/") {
		return false
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// resolve turns a relative file name into a URL below the listing's directory.
func resolve(base *url.URL, name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return base.ResolveReference(&url.URL{Path: strings.Join(segs, "/")}).String()
}

func (k Kind) md5sum(ctx context.Context, c *http.Client, x *entryCtx) ([]sources.Object, error) {
	l, err := checksum.Fetch(ctx, c, x.e.URL)
	if err != nil {
		return nil, err
	}
	var objs []sources.Object
	for _, en := range l.Entries {
		if !x.filter.Match(en.Name) {
			continue
		}
		if !validName(en.Name) {
			return nil, fmt.Errorf("%s line %d: file name %q is not a clean relative path", x.e.URL, en.Line, en.Name)
		}
		cs := en.Checksum
		objs = append(objs, sources.Object{Name: en.Name, URL: resolve(x.base, en.Name), Size: -1, Checksum: &cs})
	}
	return objs, nil
}
