package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MASTOptions configure the MAST emulator.
type MASTOptions struct {
	// Prefix is where the handler is mounted, e.g. "/mast" (the entry URL is
	// then server URL + "/mast"); "" for the root.
	Prefix string
	// FileBase, when set, is where Download/file redirects to: FileBase +
	// "/" + the URI's path (e.g. ".../JWST/product/x.fits"). The test puts
	// the files there itself (see Files). When empty the emulator serves
	// them under Prefix + "/files/".
	FileBase string
	// Executing makes each distinct request (service, params, page) answer
	// status "EXECUTING" this many times before it completes, as MAST does
	// for queries it is still running.
	Executing int
}

// MASTProduct is one data product of an observation.
type MASTProduct struct {
	Filename string         // productFilename
	URI      string         // dataURI; default "mast:<obs_collection>/product/<Filename>"
	Fields   map[string]any // other columns: productSubGroupDescription, productType, calib_level, ...
	// Data is the file's content. When nil, Size bytes of a deterministic
	// pattern are served.
	Data []byte
	Size int64
}

// MAST emulates the MAST Portal API: POST /api/v0/invoke with the services
// Mast.Caom.Filtered and Mast.Caom.Products (paging, EXECUTING, ERROR), and
// GET /api/v0.1/Download/file?uri=... which redirects to the file. It is an
// http.Handler; all methods are safe for concurrent use.
type MAST struct {
	opts MASTOptions

	mu       sync.Mutex
	obs      []map[string]any
	products map[string][]map[string]any // obsid -> product rows
	files    map[string][]byte           // dataURI -> content
	polls    map[string]int              // request key -> times answered
	calls    map[string]int              // service -> invoke requests
}

// NewMAST returns an empty MAST emulator.
func NewMAST(opts MASTOptions) *MAST {
	return &MAST{
		opts:     opts,
		products: map[string][]map[string]any{},
		files:    map[string][]byte{},
		polls:    map[string]int{},
		calls:    map[string]int{},
	}
}

// AddObservation adds a CAOM observation row (it must have "obsid") with
// its products.
func (m *MAST) AddObservation(obs map[string]any, products ...MASTProduct) {
	m.mu.Lock()
	defer m.mu.Unlock()
	row := mastCloneRow(obs)
	obsid := mastScalar(row["obsid"])
	m.obs = append(m.obs, row)
	coll := mastScalar(row["obs_collection"])
	for _, p := range products {
		uri := p.URI
		if uri == "" {
			uri = "mast:" + coll + "/product/" + p.Filename
		}
		data := p.Data
		if data == nil {
			data = mastPattern(uri, p.Size)
		}
		pr := mastCloneRow(p.Fields)
		pr["obsID"] = obsid
		pr["obs_collection"] = coll
		pr["obs_id"] = row["obs_id"]
		pr["dataURI"] = uri
		pr["productFilename"] = p.Filename
		pr["size"] = len(data)
		m.products[obsid] = append(m.products[obsid], pr)
		m.files[uri] = data
	}
}

// LoadMASTFixture adds the observations of a JSON file of the form
// {"observations":[{"obs":{...},"products":[{"productFilename":..,"size":N,...}]}]}.
func (m *MAST) LoadMASTFixture(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var fx struct {
		Observations []struct {
			Obs      map[string]any   `json:"obs"`
			Products []map[string]any `json:"products"`
		} `json:"observations"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&fx); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i, o := range fx.Observations {
		if mastScalar(o.Obs["obsid"]) == "" {
			return fmt.Errorf("%s: observations[%d] has no obsid", path, i)
		}
		var ps []MASTProduct
		for _, p := range o.Products {
			p = mastCloneRow(p)
			mp := MASTProduct{Filename: mastScalar(p["productFilename"]), URI: mastScalar(p["dataURI"])}
			if n, ok := p["size"].(json.Number); ok {
				mp.Size, _ = n.Int64()
			}
			delete(p, "productFilename")
			delete(p, "dataURI")
			delete(p, "size")
			mp.Fields = p
			ps = append(ps, mp)
		}
		m.AddObservation(o.Obs, ps...)
	}
	return nil
}

// Files maps each file's path below FileBase (the dataURI without "mast:")
// to its content, for tests that serve the files from a shared server.
func (m *MAST) Files() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.files))
	for uri, d := range m.files {
		out[strings.TrimPrefix(uri, "mast:")] = d
	}
	return out
}

// File is the content behind a dataURI, nil if unknown.
func (m *MAST) File(uri string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.files[uri]
}

// Calls counts invoke requests for a service, EXECUTING answers included.
func (m *MAST) Calls(service string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[service]
}

func (m *MAST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, m.opts.Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case p == "/api/v0/invoke":
		m.invoke(w, r)
	// Real MAST bulk scripts use the form with a trailing slash before "?".
	case p == "/api/v0.1/Download/file" || p == "/api/v0.1/Download/file/":
		m.download(w, r)
	case strings.HasPrefix(p, "/files/") && m.opts.FileBase == "":
		m.serveFile(w, r, "mast:"+strings.TrimPrefix(p, "/files/"))
	default:
		http.NotFound(w, r)
	}
}

type mastRequest struct {
	Service  string          `json:"service"`
	Params   json.RawMessage `json:"params"`
	Format   string          `json:"format"`
	PageSize int             `json:"pagesize"`
	Page     int             `json:"page"`
}

func (m *MAST) invoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	raw := r.FormValue("request")
	if raw == "" {
		http.Error(w, "missing request parameter", http.StatusBadRequest)
		return
	}
	var req mastRequest
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		http.Error(w, "request is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[req.Service]++
	key := req.Service + "\x00" + string(req.Params) + "\x00" + strconv.Itoa(req.Page)
	m.polls[key]++
	if m.polls[key] <= m.opts.Executing {
		mastWrite(w, map[string]any{"status": "EXECUTING", "msg": "", "data": []any{}, "fields": []any{}})
		return
	}
	if req.Format != "json" {
		mastError(w, fmt.Sprintf("Unsupported format %q for this endpoint", req.Format))
		return
	}
	dec := json.NewDecoder(bytes.NewReader(req.Params))
	dec.UseNumber()
	var params map[string]any
	if err := dec.Decode(&params); err != nil {
		mastError(w, "params must be a JSON object")
		return
	}
	var rows []map[string]any
	var total int
	switch req.Service {
	case "Mast.Caom.Filtered":
		var err error
		rows, err = m.filtered(params)
		if err != nil {
			mastError(w, err.Error())
			return
		}
		total = len(m.obs)
	case "Mast.Caom.Products":
		ids := strings.Split(mastScalar(params["obsid"]), ",")
		for _, id := range ids {
			rows = append(rows, m.products[strings.TrimSpace(id)]...)
		}
		total = len(rows)
	default:
		mastError(w, fmt.Sprintf("Unknown service: %s", req.Service))
		return
	}
	page, size := req.Page, req.PageSize
	if page < 1 {
		page = 1
	}
	if size < 1 {
		size = 50000
	}
	pages := max(1, int(math.Ceil(float64(len(rows))/float64(size))))
	lo := min((page-1)*size, len(rows))
	hi := min(lo+size, len(rows))
	data := rows[lo:hi]
	mastWrite(w, map[string]any{
		"status": "COMPLETE",
		"msg":    "",
		"data":   data,
		"fields": mastFields(rows),
		"paging": map[string]any{
			"page": page, "pageSize": size, "pagesFiltered": pages,
			"rows": len(data), "rowsFiltered": len(rows), "rowsTotal": total,
		},
	})
}

// filtered applies CAOM filters the way the Portal does: every filter must
// hold; discrete values match exactly (or any part split by separator),
// continuous values are {"min","max"} ranges, freeText is a LIKE pattern.
func (m *MAST) filtered(params map[string]any) ([]map[string]any, error) {
	fl, ok := params["filters"].([]any)
	if !ok {
		return nil, fmt.Errorf("Mast.Caom.Filtered needs params.filters")
	}
	known := map[string]bool{}
	for _, o := range m.obs {
		for k := range o {
			known[k] = true
		}
	}
	type filter struct {
		col, sep, free string
		values         []any
	}
	var fs []filter
	for _, f := range fl {
		fm, ok := f.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("each filter must be an object")
		}
		col := mastScalar(fm["paramName"])
		if !known[col] {
			return nil, fmt.Errorf("Invalid column name '%s'.", col)
		}
		vals, _ := fm["values"].([]any)
		fs = append(fs, filter{col: col, sep: mastScalar(fm["separator"]), free: mastScalar(fm["freeText"]), values: vals})
	}
	var out []map[string]any
	for _, o := range m.obs {
		keep := true
		for _, f := range fs {
			if !mastMatch(o[f.col], f.values, f.sep, f.free) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, mastProject(o, mastScalar(params["columns"])))
		}
	}
	return out, nil
}

func mastMatch(v any, values []any, sep, free string) bool {
	got := mastScalar(v)
	parts := []string{got}
	if sep != "" {
		parts = strings.Split(got, sep)
	}
	if free != "" && mastLike(got, free) {
		return true
	}
	for _, want := range values {
		if rng, ok := want.(map[string]any); ok {
			x, err1 := strconv.ParseFloat(got, 64)
			lo, err2 := strconv.ParseFloat(mastScalar(rng["min"]), 64)
			hi, err3 := strconv.ParseFloat(mastScalar(rng["max"]), 64)
			if err1 == nil && err2 == nil && err3 == nil && x >= lo && x <= hi {
				return true
			}
			continue
		}
		for _, p := range parts {
			if p == mastScalar(want) {
				return true
			}
		}
	}
	return false
}

// mastLike matches an SQL LIKE pattern with % wildcards.
func mastLike(s, pat string) bool {
	segs := strings.Split(pat, "%")
	if !strings.HasPrefix(s, segs[0]) {
		return false
	}
	s = s[len(segs[0]):]
	for i, seg := range segs[1:] {
		if i == len(segs)-2 {
			return strings.HasSuffix(s, seg)
		}
		j := strings.Index(s, seg)
		if j < 0 {
			return false
		}
		s = s[j+len(seg):]
	}
	return s == ""
}

func mastProject(row map[string]any, columns string) map[string]any {
	if columns == "" || columns == "*" {
		return row
	}
	out := map[string]any{}
	for _, c := range strings.Split(columns, ",") {
		c = strings.TrimSpace(c)
		if v, ok := row[c]; ok {
			out[c] = v
		}
	}
	return out
}

func mastFields(rows []map[string]any) []map[string]string {
	types := map[string]string{}
	for _, r := range rows {
		for k, v := range r {
			if _, ok := types[k]; ok && v == nil {
				continue
			}
			switch t := v.(type) {
			case json.Number:
				if _, err := t.Int64(); err == nil {
					types[k] = "int"
				} else {
					types[k] = "float"
				}
			case int, int64:
				types[k] = "int"
			case float64:
				types[k] = "float"
			case bool:
				types[k] = "boolean"
			default:
				types[k] = "string"
			}
		}
	}
	names := make([]string, 0, len(types))
	for k := range types {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]map[string]string, 0, len(names))
	for _, n := range names {
		out = append(out, map[string]string{"name": n, "type": types[n]})
	}
	return out
}

func (m *MAST) download(w http.ResponseWriter, r *http.Request) {
	uri := r.URL.Query().Get("uri")
	m.mu.Lock()
	_, ok := m.files[uri]
	m.mu.Unlock()
	if !ok {
		http.Error(w, "file not found: "+uri, http.StatusNotFound)
		return
	}
	rel := strings.TrimPrefix(uri, "mast:")
	loc := m.opts.FileBase + "/" + rel
	if m.opts.FileBase == "" {
		loc = emuBase(r, m.opts.Prefix) + "/files/" + rel
	}
	http.Redirect(w, r, loc, http.StatusFound)
}

func (m *MAST) serveFile(w http.ResponseWriter, r *http.Request, uri string) {
	m.mu.Lock()
	data, ok := m.files[uri]
	m.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, uri, mastModTime, bytes.NewReader(data))
}

var mastModTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func mastWrite(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func mastError(w http.ResponseWriter, msg string) {
	mastWrite(w, map[string]any{"status": "ERROR", "msg": msg, "data": []any{}, "fields": []any{}})
}

func mastScalar(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

func mastCloneRow(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// mastPattern is n deterministic bytes derived from seed, so fixtures need
// not carry file contents and tests can recompute them.
func mastPattern(seed string, n int64) []byte {
	out := make([]byte, 0, n)
	block := sha256.Sum256([]byte(seed))
	for int64(len(out)) < n {
		out = append(out, block[:min(int64(len(block)), n-int64(len(out)))]...)
		block = sha256.Sum256(block[:])
	}
	return out
}

// emuBase is the URL of the emulator mounted at prefix, as the client
// reached it, so that links stay valid wherever the handler is mounted.
func emuBase(r *http.Request, prefix string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host}).String() + prefix
}
