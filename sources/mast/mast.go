// Package mast is the source kind for the MAST Portal API of STScI
// (https://mast.stsci.edu/api/v0/). An entry names a CAOM query; the kind
// runs it, lists the data products of every matching observation and keeps
// those that pass the entry's product filter.
//
// The protocol is the one astroquery.mast speaks: POST /api/v0/invoke with the
// form field request=<json>, where the JSON names a service, its params, the
// format, pagesize and page. Replies carry status ("EXECUTING" while the
// server is still working, then "COMPLETE" or "ERROR"), msg, data, fields and
// paging. Products are downloaded from /api/v0.1/Download/file?uri=<dataURI>,
// which redirects to the file.
package mast

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/astroingest/astroingest/sources"
)

// Options tune the kind. Zero values take the defaults.
type Options struct {
	// PageSize is the pagesize of every invoke request (default 50000, as
	// astroquery).
	PageSize int
	// ObsidBatch is how many obsids one Mast.Caom.Products request names
	// (default 50). astroquery sends them all at once; batching keeps each
	// request small.
	ObsidBatch int
	// PollInterval is the wait before repeating a request that answered
	// "EXECUTING" (default 2s).
	PollInterval time.Duration
	// MaxWait bounds how long one request may stay "EXECUTING" (default 10m).
	MaxWait time.Duration
}

func (o Options) withDefaults() Options {
	if o.PageSize <= 0 {
		o.PageSize = 50000
	}
	if o.ObsidBatch <= 0 {
		o.ObsidBatch = 50
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 10 * time.Minute
	}
	return o
}

// Kind lists MAST data products; it implements sources.KindValidator too.
// It is safe for concurrent use.
type Kind struct{ opts Options }

var _ sources.KindValidator = (*Kind)(nil)

// New returns the mast kind.
func New(opts Options) sources.Kind { return &Kind{opts: opts.withDefaults()} }

// Filter is one MAST filter: {"paramName": ..., "values": [...]} with the
// optional "separator" and "freeText" astroquery also sends. Values are
// strings for discrete columns and {"min":..,"max":..} for continuous ones.
type Filter struct {
	ParamName string            `json:"paramName"`
	Values    []json.RawMessage `json:"values"`
	Separator string            `json:"separator,omitempty"`
	FreeText  string            `json:"freeText,omitempty"`
}

// query is an entry's params, parsed by parseQuery for both Validate and
// Objects.
type query struct {
	service string
	filters []Filter
	pf      productFilter
}

func parseQuery(params map[string]string) (query, error) {
	q := query{service: params["service"]}
	if q.service == "" {
		q.service = "Mast.Caom.Filtered"
	}
	if err := json.Unmarshal([]byte(params["filters"]), &q.filters); err != nil || len(q.filters) == 0 {
		return q, fmt.Errorf("mast: params filters must be a non-empty JSON list of {\"paramName\":..., \"values\":[...]}: %v", errOrEmpty(err))
	}
	for i, f := range q.filters {
		if f.ParamName == "" || (len(f.Values) == 0 && f.FreeText == "") {
			return q, fmt.Errorf("mast: params filters[%d] needs paramName and values", i)
		}
	}
	var err error
	if q.pf, err = parseProductFilter(params["product_filter"]); err != nil {
		return q, fmt.Errorf("mast: params product_filter: %w", err)
	}
	return q, nil
}

// Validate implements sources.KindValidator: service, filters and
// product_filter.
func (k *Kind) Validate(e sources.Entry) error {
	_, err := parseQuery(e.Params)
	return err
}

// Objects runs the entry's query and returns one object per product, named
// by its productFilename below the entry's key prefix. The URL is the MAST
// base, checked by the loader.
func (k *Kind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	base := strings.TrimSuffix(e.URL, "/")
	q, err := parseQuery(e.Params)
	if err != nil {
		return nil, sources.ParamsError(e, err)
	}
	service, pf := q.service, q.pf

	inv := invoker{c: c, url: base + "/api/v0/invoke", opts: k.opts}
	obsRows, err := inv.all(ctx, service, map[string]any{"columns": "*", "filters": q.filters})
	if err != nil {
		return nil, err
	}
	var obsids []string
	seenObs := map[string]bool{}
	for _, r := range obsRows {
		id := scalarString(r["obsid"])
		if id == "" {
			return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("mast: %s returned an observation without obsid", service)}
		}
		if !seenObs[id] {
			seenObs[id] = true
			obsids = append(obsids, id)
		}
	}

	var objs []sources.Object
	byName := map[string]string{} // productFilename -> dataURI
	for start := 0; start < len(obsids); start += k.opts.ObsidBatch {
		batch := obsids[start:min(start+k.opts.ObsidBatch, len(obsids))]
		rows, err := inv.all(ctx, "Mast.Caom.Products", map[string]any{"obsid": strings.Join(batch, ",")})
		if err != nil {
			return nil, err
		}
		for _, p := range rows {
			if !pf.match(p) {
				continue
			}
			o, err := productObject(base, p)
			if err != nil {
				return nil, err
			}
			uri := scalarString(p["dataURI"])
			if prev, ok := byName[o.Name]; ok {
				// Products shared by several observations come back once
				// per observation; the same file is fetched once.
				if prev == uri {
					continue
				}
				return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("mast: entry %s: two products share the file name %q (%s and %s); narrow product_filter", e.ID, o.Name, prev, uri)}
			}
			byName[o.Name] = uri
			objs = append(objs, o)
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Name < objs[j].Name })
	return objs, nil
}

func errOrEmpty(err error) error {
	if err == nil {
		return errors.New("empty list")
	}
	return err
}

func productObject(base string, p map[string]any) (sources.Object, error) {
	uri := scalarString(p["dataURI"])
	name := scalarString(p["productFilename"])
	if uri == "" || name == "" {
		return sources.Object{}, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("mast: product without dataURI or productFilename: %v", p)}
	}
	// A productFilename no key can hold (a NUL, a backslash, "..") is
	// left to the engine's one key check, which skips it and reports it:
	// one odd name must not fail the program's other products.
	size := int64(-1)
	if n, ok := p["size"].(json.Number); ok {
		if v, err := n.Int64(); err == nil && v >= 0 {
			size = v
		}
	}
	return sources.Object{
		Name: name,
		URL:  base + "/api/v0.1/Download/file?" + url.Values{"uri": {uri}}.Encode(),
		Size: size,
		// MAST's download answers without ETag or Last-Modified; a
		// product's dataURI at its listed size is the same file, as
		// astroquery's cache takes it.
		SizeValidates: size >= 0,
	}, nil
}

// scalarString renders a JSON scalar as MAST would print it; obsid comes as
// a number from some services and as a string from others.
func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		if t {
			return "true"
		}
		return "false"
	}
	return ""
}

// productFilter keeps products whose every named field has one of the listed
// values. The key "extension" matches the end of productFilename instead.
type productFilter map[string][]string

func parseProductFilter(s string) (productFilter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("want a JSON object of field: value or [values]: %w", err)
	}
	pf := productFilter{}
	for k, v := range raw {
		var list []any
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		if err := d.Decode(&list); err != nil {
			var one any
			d := json.NewDecoder(bytes.NewReader(v))
			d.UseNumber()
			if err := d.Decode(&one); err != nil {
				return nil, fmt.Errorf("field %q: %w", k, err)
			}
			list = []any{one}
		}
		for _, x := range list {
			sv := scalarString(x)
			if sv == "" {
				return nil, fmt.Errorf("field %q: values must be strings, numbers or booleans", k)
			}
			pf[k] = append(pf[k], sv)
		}
	}
	return pf, nil
}

func (pf productFilter) match(p map[string]any) bool {
	for k, want := range pf {
		if k == "extension" {
			name := scalarString(p["productFilename"])
			ok := false
			for _, ext := range want {
				if strings.HasSuffix(name, "."+strings.TrimPrefix(ext, ".")) {
					ok = true
				}
			}
			if !ok {
				return false
			}
			continue
		}
		got := scalarString(p[k])
		ok := false
		for _, w := range want {
			if got == w {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Query runs one Portal API service at base (https://mast.stsci.edu) to
// completion and returns the rows of every page, repeating a request while
// MAST answers "EXECUTING", as the kind does for its own queries. It is for
// tools that read MAST's catalogue itself (which programs exist) rather
// than mirror products.
func Query(ctx context.Context, c *http.Client, base, service string, params map[string]any, opts Options) ([]map[string]any, error) {
	inv := invoker{c: c, url: strings.TrimSuffix(base, "/") + "/api/v0/invoke", opts: opts.withDefaults()}
	return inv.all(ctx, service, params)
}

// invoker speaks the Portal API's invoke protocol.
type invoker struct {
	c    *http.Client
	url  string
	opts Options
}

type invokeReply struct {
	Status string           `json:"status"`
	Msg    string           `json:"msg"`
	Data   []map[string]any `json:"data"`
	Paging *struct {
		Page          int `json:"page"`
		PagesFiltered int `json:"pagesFiltered"`
		RowsFiltered  int `json:"rowsFiltered"`
	} `json:"paging"`
}

// all fetches every page of a service's answer.
func (inv invoker) all(ctx context.Context, service string, params map[string]any) ([]map[string]any, error) {
	var rows []map[string]any
	for page := 1; ; page++ {
		rep, err := inv.page(ctx, service, params, page)
		if err != nil {
			return nil, err
		}
		rows = append(rows, rep.Data...)
		if rep.Paging == nil || page >= rep.Paging.PagesFiltered {
			return rows, nil
		}
	}
}

// page fetches one page, repeating the request while MAST says EXECUTING.
func (inv invoker) page(ctx context.Context, service string, params map[string]any, page int) (*invokeReply, error) {
	body, err := json.Marshal(map[string]any{
		"service":  service,
		"params":   params,
		"format":   "json",
		"pagesize": inv.opts.PageSize,
		"page":     page,
	})
	if err != nil {
		return nil, fmt.Errorf("mast: encode %s request: %w", service, err)
	}
	form := url.Values{"request": {string(body)}}.Encode()
	deadline := time.Now().Add(inv.opts.MaxWait)
	for {
		rep, err := inv.post(ctx, service, form)
		if err != nil {
			return nil, err
		}
		switch rep.Status {
		case "COMPLETE":
			return rep, nil
		case "EXECUTING":
			if time.Now().After(deadline) {
				return nil, &sources.FetchError{Reason: sources.ReasonTimeout, Detail: fmt.Sprintf("mast: %s still EXECUTING after %s", service, inv.opts.MaxWait)}
			}
			t := time.NewTimer(inv.opts.PollInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("mast: waiting for %s: %w", service, ctx.Err())
			case <-t.C:
			}
		case "ERROR":
			msg := rep.Msg
			if msg == "" {
				msg = "no message"
			}
			return nil, &sources.FetchError{Reason: sources.ReasonJobFailed, Detail: fmt.Sprintf("mast: %s page %d failed: %s", service, page, msg)}
		default:
			return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("mast: %s page %d: unknown status %q", service, page, rep.Status)}
		}
	}
}

func (inv invoker) post(ctx context.Context, service, form string) (*invokeReply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inv.url, strings.NewReader(form))
	if err != nil {
		return nil, fmt.Errorf("mast: %s: %w", service, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := inv.c.Do(req)
	if err != nil {
		return nil, sources.TransportError(ctx, "mast: "+service, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &sources.FetchError{
			Reason: sources.StatusReason(resp.StatusCode),
			Detail: fmt.Sprintf("mast: %s: POST %s: HTTP %d: %s", service, inv.url, resp.StatusCode, strings.TrimSpace(string(snippet))),
		}
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	var rep invokeReply
	if err := dec.Decode(&rep); err != nil {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("mast: %s: reply is not MAST JSON", service), Err: err}
	}
	return &rep, nil
}
