package manifest

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/internal/filter"
)

var _ sources.KindValidator = Kind{}

// options are an entry's params, parsed by parseOptions for both Validate
// and Objects, so a param that would fail a run fails validation.
type options struct {
	format string
	filter filter.Filter
	table  tableOptions
	// assembly_summary: keep rows whose filterCol is filterVal.
	filterCol, filterVal string
	// curl_script: keep only the first limit files; 0 keeps all.
	limit int
}

// tableOptions are the params of format table; column names are checked
// against the table's header only when it is read.
type tableOptions struct {
	urlCol, checksumCol, nameCol, sizeCol string
	algo                                  string // "" infers it from the digest length
	delim                                 rune
}

const formats = "md5sum, metalink, table, assembly_summary or curl_script"

// Validate implements sources.KindValidator: format, include / exclude,
// and the params of the format.
func (Kind) Validate(e sources.Entry) error {
	_, err := parseOptions(e)
	return err
}

func parseOptions(e sources.Entry) (options, error) {
	p := e.Params
	o := options{format: p["format"]}
	var err error
	if o.filter, err = filter.Parse(p); err != nil {
		return o, err
	}
	switch o.format {
	case "md5sum", "metalink":
	case "table":
		o.table, err = parseTable(p, e.URL)
	case "assembly_summary":
		if !o.filter.HasInclude() {
			return o, fmt.Errorf("params include is required for format assembly_summary (e.g. \"*_genomic.fna.gz\")")
		}
		if f := p["filter"]; f != "" {
			var ok bool
			o.filterCol, o.filterVal, ok = strings.Cut(f, "=")
			o.filterCol = strings.TrimSpace(o.filterCol)
			if !ok || o.filterCol == "" {
				return o, fmt.Errorf("params filter %q: want column=value", f)
			}
		}
	case "curl_script":
		if v := strings.TrimSpace(p["limit"]); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return o, fmt.Errorf("params limit %q: want a positive whole number of files", v)
			}
			o.limit = n
		}
	case "":
		return o, fmt.Errorf("params format is required (%s)", formats)
	default:
		return o, fmt.Errorf("params format %q: want %s", o.format, formats)
	}
	return o, err
}

// parseTable reads the params of format table. The default delimiter
// follows the extension of the table's URL.
func parseTable(p map[string]string, rawURL string) (tableOptions, error) {
	t := tableOptions{urlCol: p["url_column"], checksumCol: p["checksum_column"], nameCol: p["name_column"], sizeCol: p["size_column"]}
	if t.urlCol == "" {
		t.urlCol = "url"
	}
	t.algo = strings.ToLower(p["algo"])
	switch t.algo {
	case "", "md5", "sha1", "sha256", "sha512":
	default:
		return t, fmt.Errorf("params algo %q: want md5, sha1, sha256 or sha512", p["algo"])
	}
	t.delim = ','
	switch d := p["delimiter"]; d {
	case "":
		u, err := url.Parse(rawURL)
		if err != nil {
			return t, fmt.Errorf("url: %w", err)
		}
		if ext := path.Ext(u.Path); ext == ".tsv" || ext == ".txt" || ext == ".tab" {
			t.delim = '\t'
		}
	case "tab", `\t`, "\t":
		t.delim = '\t'
	default:
		if len(d) != 1 {
			return t, fmt.Errorf("params delimiter %q: want one character or \"tab\"", d)
		}
		t.delim = rune(d[0])
	}
	return t, nil
}
