package emulator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/mast"
)

type mastReply struct {
	Status string           `json:"status"`
	Msg    string           `json:"msg"`
	Data   []map[string]any `json:"data"`
	Fields []struct {
		Name, Type string
	} `json:"fields"`
	Paging struct {
		Page, PageSize, PagesFiltered, Rows, RowsFiltered, RowsTotal int
	} `json:"paging"`
}

func mastInvoke(t *testing.T, c *http.Client, base string, req map[string]any) mastReply {
	t.Helper()
	b, _ := json.Marshal(req)
	resp, err := c.PostForm(base+"/api/v0/invoke", url.Values{"request": {string(b)}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("invoke: %s", resp.Status)
	}
	var rep mastReply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestMASTProtocol(t *testing.T) {
	em := emulator.NewMAST(emulator.MASTOptions{Executing: 1})
	if err := em.LoadMASTFixture("testdata/mast/caom.json"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(em)
	defer srv.Close()
	c := srv.Client()
	q := map[string]any{
		"service":  "Mast.Caom.Filtered",
		"params":   map[string]any{"columns": "*", "filters": []any{map[string]any{"paramName": "obs_collection", "values": []string{"JWST"}}}},
		"format":   "json",
		"pagesize": 2,
		"page":     2,
	}
	if rep := mastInvoke(t, c, srv.URL, q); rep.Status != "EXECUTING" || len(rep.Data) != 0 {
		t.Fatalf("first answer = %+v, want EXECUTING without data", rep)
	}
	rep := mastInvoke(t, c, srv.URL, q)
	if rep.Status != "COMPLETE" || rep.Msg != "" {
		t.Fatalf("second answer status %q msg %q", rep.Status, rep.Msg)
	}
	p := rep.Paging
	if p.Page != 2 || p.PageSize != 2 || p.PagesFiltered != 2 || p.Rows != 1 || p.RowsFiltered != 3 || p.RowsTotal != 4 {
		t.Errorf("paging = %+v, want page 2 of 2 with 1 of 3 filtered rows out of 4", p)
	}
	if len(rep.Data) != 1 || rep.Data[0]["obs_id"] != "jw02736-o002_t001_miri_f770w" {
		t.Errorf("page 2 data = %v", rep.Data)
	}
	types := map[string]string{}
	for _, f := range rep.Fields {
		types[f.Name] = f.Type
	}
	if types["obs_id"] != "string" || types["t_exptime"] != "float" || types["calib_level"] != "int" {
		t.Errorf("fields = %v", rep.Fields)
	}

	for _, tc := range []struct {
		name string
		req  map[string]any
		msg  string
	}{
		{"unknown service", map[string]any{"service": "Mast.Nope", "params": map[string]any{}, "format": "json"}, "Unknown service"},
		{"unsupported format", map[string]any{"service": "Mast.Caom.Products", "params": map[string]any{"obsid": "1"}, "format": "votable"}, "Unsupported format"},
		{"unknown column", map[string]any{"service": "Mast.Caom.Filtered", "format": "json",
			"params": map[string]any{"filters": []any{map[string]any{"paramName": "bogus", "values": []string{"x"}}}}}, "Invalid column name 'bogus'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mastInvoke(t, c, srv.URL, tc.req) // the EXECUTING answer
			rep := mastInvoke(t, c, srv.URL, tc.req)
			if rep.Status != "ERROR" || !strings.Contains(rep.Msg, tc.msg) {
				t.Errorf("got status %q msg %q, want ERROR with %q", rep.Status, rep.Msg, tc.msg)
			}
		})
	}

	// Download/file redirects to the file; unknown URIs are 404.
	nf := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Both forms: the API documentation's, and the bulk scripts' with "/?".
	for _, path := range []string{"/api/v0.1/Download/file?uri=", "/api/v0.1/Download/file/?uri="} {
		resp, err := nf.Get(srv.URL + path + url.QueryEscape("mast:HST/product/o6au01msq_raw.fits"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != srv.URL+"/files/HST/product/o6au01msq_raw.fits" {
			t.Errorf("download %s: %s to %q", path, resp.Status, resp.Header.Get("Location"))
		}
	}
	resp, err := c.Get(srv.URL + "/api/v0.1/Download/file?uri=mast:HST/product/missing.fits")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown uri: %s, want 404", resp.Status)
	}
}

// TestMASTOnServer mounts the emulator on the shared Server, with the files
// in the Server's own tree, and runs the kind through it.
func TestMASTOnServer(t *testing.T) {
	srv := emulator.NewServer()
	defer srv.Close()
	em := emulator.NewMAST(emulator.MASTOptions{Prefix: "/mast", FileBase: srv.URL() + "/mastfiles"})
	if err := em.LoadMASTFixture("testdata/mast/caom.json"); err != nil {
		t.Fatal(err)
	}
	srv.Handle("/mast/", em)
	for p, data := range em.Files() {
		srv.AddFile("/mastfiles/"+p, data, time.Unix(1700000000, 0))
	}
	// One 503 on the first invoke: the kind has no retry of its own (the
	// caller's transport retries), so it must report http_5xx.
	srv.Fault("/mast/api/v0/invoke", emulator.Fault{Kind: emulator.Unavailable, Times: 1})
	e := sources.Entry{ID: "jwst", URL: srv.URL() + "/mast", Params: map[string]string{
		"filters":        `[{"paramName":"instrument_name","values":["MIRI/IMAGE"]}]`,
		"product_filter": `{"productSubGroupDescription":"I2D"}`,
	}}
	k := mast.New(mast.Options{})
	if _, err := k.Objects(context.Background(), srv.Client(), e); sources.ReasonOf(err) != sources.ReasonHTTP5xx {
		t.Fatalf("with a 503: err = %v, want http_5xx", err)
	}
	objs, err := k.Objects(context.Background(), srv.Client(), e)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Name != "jw02736-o002_t001_miri_f770w_i2d.fits" || objs[0].Size != 3000 {
		t.Fatalf("objects = %+v", objs)
	}
	resp, err := srv.Client().Get(objs[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != string(em.File("mast:JWST/product/jw02736-o002_t001_miri_f770w_i2d.fits")) || len(body) != 3000 {
		t.Errorf("downloaded %d bytes, not the product", len(body))
	}
	if n := srv.Requests("/mastfiles/JWST/product/jw02736-o002_t001_miri_f770w_i2d.fits"); n != 1 {
		t.Errorf("shared file tree served the product %d times, want 1", n)
	}
	// 503 + Filtered + Products.
	if n := srv.RequestsMethod(http.MethodPost, "/mast/api/v0/invoke"); n != 3 {
		t.Errorf("invoke requests = %d, want 3", n)
	}
}
