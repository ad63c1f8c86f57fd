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
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

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

// Objects lists the entry's directory, all at once.
func (k Kind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	return sources.CollectObjects(ctx, k, c, e)
}

var _ sources.Lister = Kind{}

// List implements sources.Lister: the entry's directory (and, when
// recursive, its subdirectories) read as streams, each file handed to emit
// as its line is parsed, so a listing of a million files is never held.
func (Kind) List(ctx context.Context, c *http.Client, e sources.Entry, emit func(sources.Object) error) error {
	opt, err := parseOptions(e.Params)
	if err != nil {
		return sources.ParamsError(e, err)
	}
	base, err := url.Parse(e.URL) // checked by the loader (SCHEMA.md, "URLs")
	if err != nil {
		return fmt.Errorf("%s:%d: entry %s: url: %w", e.File, e.Line, e.ID, err)
	}
	out := emit
	if e.Checksums != "" {
		l, err := checksum.Fetch(ctx, c, e.Checksums)
		if err != nil {
			return fmt.Errorf("entry %s: checksums: %w", e.ID, err)
		}
		out = func(o sources.Object) error {
			if cs, ok := l.Lookup(o.Name); ok {
				o.Checksum = &cs
			} else {
				o.ChecksumMissing = e.Checksums
			}
			return emit(o)
		}
	}
	rc, err := listing.Open(ctx, c, base.String())
	if err != nil {
		return fmt.Errorf("entry %s: list %w", e.ID, err)
	}
	br := bufio.NewReaderSize(rc, 64<<10)
	head, _ := br.Peek(1024)
	if isS3(head) {
		rc.Close()
		err = listS3(ctx, c, base, opt, out)
	} else {
		err = listHTML(ctx, c, base, readCloser{br, rc}, opt, out)
	}
	if err != nil {
		return fmt.Errorf("entry %s: %w", e.ID, err)
	}
	return nil
}

// readCloser reads through a buffer and closes what it buffers.
type readCloser struct {
	io.Reader
	io.Closer
}

func isS3(head []byte) bool {
	return bytes.Contains(head, []byte("<ListBucketResult"))
}
