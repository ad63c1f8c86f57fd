// Package tap is the source kind for IVOA Table Access Protocol services
// (ESO's ObsCore at https://archive.eso.org/tap_obs, the NASA Exoplanet
// Archive at https://exoplanetarchive.ipac.caltech.edu/TAP, ...). The entry's
// ADQL query runs on the synchronous endpoint:
//
//	POST {url}/sync  REQUEST=doQuery LANG=ADQL FORMAT=csv QUERY=...
//
// and every result row names one file: url_column holds its URL (ObsCore's
// access_url), name_column its object name and size_column its exact size
// in bytes. Only CSV results are read; errors come back as a VOTable whose
// <INFO name="QUERY_STATUS" value="ERROR"> holds the message, with HTTP 200
// or 400 depending on the service, and are reported.
package tap

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/astroingest/astroingest/sources"
)

// Options tune the kind.
type Options struct {
	// MaxRows is sent as MAXREC when positive, so a query that would list
	// more files than expected fails instead of growing silently.
	MaxRows int
}

// Kind lists the files a TAP query names; it implements
// sources.KindValidator too. It is safe for concurrent use.
type Kind struct{ opts Options }

var _ sources.KindValidator = (*Kind)(nil)

// New returns the tap kind.
func New(opts Options) sources.Kind { return &Kind{opts: opts} }

// params are an entry's params, parsed by parseParams for both Validate and
// Objects.
type params struct {
	query, urlCol, nameCol, sizeCol string
}

func parseParams(p map[string]string) (params, error) {
	q := params{query: strings.TrimSpace(p["query"]), urlCol: p["url_column"], nameCol: p["name_column"], sizeCol: p["size_column"]}
	switch {
	case q.query == "":
		return q, errors.New("tap: params query is required (the ADQL query)")
	case q.urlCol == "":
		return q, errors.New("tap: params url_column is required (the column holding each file's URL, e.g. access_url)")
	case strings.EqualFold(q.sizeCol, "access_estsize"):
		// ObsCore's access_estsize is an estimate in kilobytes; taking it
		// as the exact byte size would fail every verification.
		return q, errors.New("tap: params size_column access_estsize is an estimate in kB, not a size in bytes; leave size_column empty")
	}
	return q, nil
}

// Validate implements sources.KindValidator: query, url_column and
// size_column.
func (k *Kind) Validate(e sources.Entry) error {
	_, err := parseParams(e.Params)
	return err
}

// Objects runs the query and returns one object per result row. The URL is
// the TAP base, checked by the loader.
func (k *Kind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	base := strings.TrimSuffix(e.URL, "/")
	p, err := parseParams(e.Params)
	if err != nil {
		return nil, sources.ParamsError(e, err)
	}
	query, urlCol, nameCol, sizeCol := p.query, p.urlCol, p.nameCol, p.sizeCol

	form := url.Values{
		"REQUEST": {"doQuery"},
		"LANG":    {"ADQL"},
		"FORMAT":  {"csv"},
		"QUERY":   {query},
	}
	if k.opts.MaxRows > 0 {
		form.Set("MAXREC", strconv.Itoa(k.opts.MaxRows+1))
	}
	syncURL := base + "/sync"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, syncURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("tap: entry %s: %w", e.ID, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/csv, application/x-votable+xml;q=0.5, text/xml;q=0.5")
	resp, err := c.Do(req)
	if err != nil {
		return nil, sources.TransportError(ctx, "tap: POST "+syncURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("tap: POST %s: read reply: %w", syncURL, err)
	}
	if msg, ok := votableError(raw); ok {
		return nil, &sources.FetchError{Reason: sources.ReasonJobFailed, Detail: fmt.Sprintf("tap: entry %s: query failed at %s (HTTP %d): %s", e.ID, syncURL, resp.StatusCode, msg)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &sources.FetchError{Reason: sources.StatusReason(resp.StatusCode), Detail: fmt.Sprintf("tap: entry %s: POST %s: HTTP %d: %s", e.ID, syncURL, resp.StatusCode, snippet(raw))}
	}
	if looksXML(raw) {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("tap: entry %s: %s answered a VOTable, not the CSV asked for", e.ID, syncURL)}
	}
	objs, err := rowsToObjects(raw, urlCol, nameCol, sizeCol, base)
	if err != nil {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("tap: entry %s: %v", e.ID, err)}
	}
	if k.opts.MaxRows > 0 && len(objs) > k.opts.MaxRows {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("tap: entry %s: query returned more than %d rows", e.ID, k.opts.MaxRows)}
	}
	return objs, nil
}

// rowsToObjects reads the CSV reply: a header naming the columns, then one
// object per row, sorted by name.
func rowsToObjects(raw []byte, urlCol, nameCol, sizeCol, base string) ([]sources.Object, error) {
	r := csv.NewReader(bytes.NewReader(raw))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("empty CSV reply (no header row)")
	}
	if err != nil {
		return nil, fmt.Errorf("CSV reply: %w", err)
	}
	cols, err := findColumns(header, urlCol, nameCol, sizeCol)
	if err != nil {
		return nil, err
	}
	baseURL, err := url.Parse(base + "/")
	if err != nil {
		return nil, fmt.Errorf("service URL: %w", err)
	}
	var objs []sources.Object
	seen := map[string]int{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("CSV reply: %w", err)
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("CSV row %d has %d fields, the header %d", line, len(rec), len(header))
		}
		o, err := cols.object(rec, line, baseURL, seen)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Name < objs[j].Name })
	return objs, nil
}

// replyCols are the reply's columns the entry names: their indexes (-1
// for an optional one not given) and, for messages, the names asked for.
type replyCols struct {
	url, name, size   int
	urlName, sizeName string
}

// findColumns finds the named columns in the header, matching case
// insensitively as ADQL does.
func findColumns(header []string, urlCol, nameCol, sizeCol string) (replyCols, error) {
	col := func(name string) (int, error) {
		if name == "" {
			return -1, nil
		}
		for i, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), name) {
				return i, nil
			}
		}
		return -1, fmt.Errorf("result has no column %q (columns: %s)", name, strings.Join(header, ", "))
	}
	c := replyCols{urlName: urlCol, sizeName: sizeCol}
	var err error
	if c.url, err = col(urlCol); err != nil {
		return c, err
	}
	if c.name, err = col(nameCol); err != nil {
		return c, err
	}
	c.size, err = col(sizeCol)
	return c, err
}

// object is the object of CSV row line: its URL (relative links resolved
// against the service), its name (the name column, else the URL's
// basename; seen holds the names of earlier rows) and its size when the
// reply gives one.
func (c replyCols) object(rec []string, line int, baseURL *url.URL, seen map[string]int) (sources.Object, error) {
	u := strings.TrimSpace(rec[c.url])
	if u == "" {
		return sources.Object{}, fmt.Errorf("CSV row %d: %s is empty", line, c.urlName)
	}
	pu, err := url.Parse(u)
	if err != nil {
		return sources.Object{}, fmt.Errorf("CSV row %d: %s %q: %v", line, c.urlName, u, err)
	}
	if pu.Scheme == "" {
		// Relative links are resolved against the service, as a
		// browser would.
		pu = baseURL.ResolveReference(pu)
	}
	if !sources.FetchableURL(pu) {
		return sources.Object{}, fmt.Errorf("CSV row %d: %s %q is not an http(s) URL", line, c.urlName, u)
	}
	name := ""
	if c.name >= 0 {
		name = strings.TrimSpace(rec[c.name])
	} else {
		name, _ = url.PathUnescape(path.Base(pu.Path))
	}
	if err := checkName(name); err != nil {
		return sources.Object{}, fmt.Errorf("CSV row %d: object name %q: %v", line, name, err)
	}
	if prev, ok := seen[name]; ok {
		return sources.Object{}, fmt.Errorf("CSV rows %d and %d give the same object name %q; set name_column", prev, line, name)
	}
	seen[name] = line
	size := int64(-1)
	if c.size >= 0 {
		if s := strings.TrimSpace(rec[c.size]); s != "" {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f < 0 || f != float64(int64(f)) {
				return sources.Object{}, fmt.Errorf("CSV row %d: %s %q is not a size in bytes", line, c.sizeName, s)
			}
			size = int64(f)
		}
	}
	return sources.Object{Name: name, URL: pu.String(), Size: size}, nil
}

// checkName refuses names that could not be a key below the entry prefix.
func checkName(name string) error {
	if name == "" || name == "/" {
		return errors.New("empty")
	}
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return errors.New("leading or trailing '/'")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("bad path segment %q", seg)
		}
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("control character or backslash %U", r)
		}
	}
	return nil
}

func looksXML(b []byte) bool {
	t := bytes.TrimSpace(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
	return bytes.HasPrefix(t, []byte("<?xml")) || bytes.HasPrefix(t, []byte("<VOTABLE")) || bytes.HasPrefix(t, []byte("<votable"))
}

// votableError finds <INFO name="QUERY_STATUS" value="ERROR"> in a VOTable
// reply (DALI error document) and returns its message.
func votableError(b []byte) (string, bool) {
	if !looksXML(b) {
		return "", false
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	for {
		tok, err := d.Token()
		if err != nil {
			return "", false
		}
		se, ok := tok.(xml.StartElement)
		if !ok || !strings.EqualFold(se.Name.Local, "INFO") {
			continue
		}
		var name, value string
		for _, a := range se.Attr {
			switch strings.ToLower(a.Name.Local) {
			case "name":
				name = a.Value
			case "value":
				value = a.Value
			}
		}
		if !strings.EqualFold(name, "QUERY_STATUS") {
			continue
		}
		if !strings.EqualFold(value, "ERROR") {
			return "", false
		}
		var text struct {
			Body string `xml:",chardata"`
		}
		_ = d.DecodeElement(&text, &se)
		msg := strings.Join(strings.Fields(text.Body), " ")
		if msg == "" {
			msg = "no message"
		}
		if len(msg) > 1000 {
			msg = msg[:1000] + "..."
		}
		return msg, true
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
