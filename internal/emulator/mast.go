package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MASTOptions configure the MAST emulator; NewMAST copies them.
type MASTOptions struct {
	// Prefix is where the handler is mounted, e.g. "/mast" (the entry URL is
	// then server URL + "/mast"); "" for the root.
	Prefix string
	// FileBase, when set, is where Download/file redirects to: FileBase +
	// "/" + the URI's path (e.g. ".../JWST/product/x.fits"). The test puts
	// the files there itself (see Files). When empty the emulator serves
	// them under Prefix + "/files/".
	FileBase string
	// NoValidators serves the files without Last-Modified (and no ETag),
	// as MAST's download answers.
	NoValidators bool
	// Executing makes each distinct request (service, params, page) answer
	// status "EXECUTING" this many times before it completes, as MAST does
	// for queries it is still running.
	Executing int
}

// MASTProduct is one data product of an observation, as a row of
// Mast.Caom.Products; AddObservation copies it.
type MASTProduct struct {
	Filename string         // productFilename
	URI      string         // dataURI; default "mast:<obs_collection>/product/<Filename>"
	Fields   map[string]any // other columns: productSubGroupDescription, productType, calib_level, ...
	// Data is the file's content. When nil, Size bytes of a deterministic
	// pattern are served.
	Data []byte
	Size int64
}

// MAST emulates the MAST Portal API of https://mast.stsci.edu/api/v0/:
// POST (or GET) /api/v0/invoke with a JSON "request" form field, for the
// services Mast.Caom.Filtered (CAOM filters: exact values, min/max ranges,
// freeText LIKE) and Mast.Caom.Products, answering with its paging,
// "EXECUTING" and "ERROR" statuses; and GET /api/v0.1/Download/file?uri=...,
// which redirects to the file. It is an http.Handler; all methods are safe
// for concurrent use, also while requests are served.
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
			data = patternBytes(uri, p.Size)
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

// ServeHTTP answers the API below Prefix; anything else is 404.
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
		loc = mountURL(r, m.opts.Prefix) + "/files/" + rel
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
	mod := apiModTime
	if m.opts.NoValidators {
		mod = time.Time{} // ServeContent then sends no Last-Modified
	}
	http.ServeContent(w, r, uri, mod, bytes.NewReader(data))
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

// SetProductData replaces a product's content, and the size its
// Products row lists: MAST reprocessing a product.
func (m *MAST) SetProductData(uri string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[uri] = bytes.Clone(data)
	for _, rows := range m.products {
		for _, pr := range rows {
			if pr["dataURI"] == uri {
				pr["size"] = len(data)
			}
		}
	}
}
