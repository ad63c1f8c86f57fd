package mast_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/mast"
)

func newEmulator(t *testing.T, opts emulator.MASTOptions) (*emulator.MAST, *httptest.Server) {
	t.Helper()
	m := emulator.NewMAST(opts)
	if err := m.LoadMASTFixture("../../internal/emulator/testdata/mast/caom.json"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv
}

func entry(base, filters, productFilter string) sources.Entry {
	return sources.Entry{
		ID: "jwst-test", Kind: "mast", URL: base, File: "astronomy.yaml", Line: 7,
		Params: map[string]string{"service": "Mast.Caom.Filtered", "filters": filters, "product_filter": productFilter},
	}
}

const jwstNircam = `[{"paramName":"obs_collection","values":["JWST"]},{"paramName":"instrument_name","values":["NIRCAM/IMAGE"]}]`

func TestObjects(t *testing.T) {
	tests := []struct {
		name          string
		filters       string
		productFilter string
		pageSize      int
		executing     int
		want          map[string]int64 // name -> size
	}{
		{
			name:          "i2d of nircam",
			filters:       jwstNircam,
			productFilter: `{"productSubGroupDescription":["I2D"]}`,
			want: map[string]int64{
				"jw02736-o001_t001_nircam_clear-f090w_i2d.fits": 4096,
				"jw02736-o001_t001_nircam_clear-f150w_i2d.fits": 5000,
			},
		},
		{
			name:          "paged one row at a time and EXECUTING first",
			filters:       `[{"paramName":"obs_collection","values":["JWST"]}]`,
			productFilter: `{"productSubGroupDescription":"I2D","calib_level":3}`,
			pageSize:      1,
			executing:     2,
			want: map[string]int64{
				"jw02736-o001_t001_nircam_clear-f090w_i2d.fits": 4096,
				"jw02736-o001_t001_nircam_clear-f150w_i2d.fits": 5000,
				"jw02736-o002_t001_miri_f770w_i2d.fits":         3000,
			},
		},
		{
			name:          "product shared by two observations is listed once",
			filters:       jwstNircam,
			productFilter: `{"productType":["INFO"]}`,
			want:          map[string]int64{"jw02736-o001_20220712t200117_image3_00001_asn.json": 300},
		},
		{
			name:          "extension and several values",
			filters:       jwstNircam,
			productFilter: `{"extension":["ecsv","fits"],"productSubGroupDescription":["CAT","UNCAL"]}`,
			want: map[string]int64{
				"jw02736-o001_t001_nircam_clear-f090w_cat.ecsv": 512,
				"jw02736001001_02101_00001_nrca1_uncal.fits":    1024,
			},
		},
		{
			name:    "continuous range, separator and no product filter",
			filters: `[{"paramName":"t_exptime","values":[{"min":1000,"max":2000}]},{"paramName":"filters","separator":";","values":["F770W"]}]`,
			want:    map[string]int64{"jw02736-o002_t001_miri_f770w_i2d.fits": 3000},
		},
		{
			name:    "freeText wildcard",
			filters: `[{"paramName":"obs_id","values":[],"freeText":"O6AU%"}]`,
			want:    map[string]int64{"o6au01msq_raw.fits": 700},
		},
		{
			name:          "nothing matches",
			filters:       `[{"paramName":"obs_collection","values":["TESS"]}]`,
			productFilter: "",
			want:          map[string]int64{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			em, srv := newEmulator(t, emulator.MASTOptions{Executing: tc.executing})
			k := mast.New(mast.Options{PageSize: tc.pageSize, PollInterval: time.Millisecond, ObsidBatch: 2})
			objs, err := k.Objects(context.Background(), srv.Client(), entry(srv.URL, tc.filters, tc.productFilter))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, o := range objs {
				got[o.Name] = o.Size
			}
			if len(got) != len(objs) || !mapsEqual(got, tc.want) {
				t.Fatalf("objects = %v, want %v", got, tc.want)
			}
			if !slices.IsSortedFunc(objs, func(a, b sources.Object) int { return strings.Compare(a.Name, b.Name) }) {
				t.Errorf("objects not sorted by name")
			}
			for _, o := range objs {
				u, err := url.Parse(o.URL)
				if err != nil || u.Path != "/api/v0.1/Download/file" {
					t.Fatalf("object URL %q is not a Download/file URL", o.URL)
				}
				body := get(t, srv.Client(), o.URL)
				want := em.File(u.Query().Get("uri"))
				if want == nil || string(body) != string(want) || int64(len(body)) != o.Size {
					t.Errorf("%s: downloaded %d bytes, want the %d bytes of %s", o.Name, len(body), o.Size, u.Query().Get("uri"))
				}
				if o.Checksum != nil {
					t.Errorf("%s: MAST gives no checksum, got %v", o.Name, o.Checksum)
				}
			}
		})
	}
}

func TestPagination(t *testing.T) {
	em, srv := newEmulator(t, emulator.MASTOptions{})
	k := mast.New(mast.Options{PageSize: 1, ObsidBatch: 10})
	objs, err := k.Objects(context.Background(), srv.Client(),
		entry(srv.URL, `[{"paramName":"obs_collection","values":["JWST"]}]`, ""))
	if err != nil {
		t.Fatal(err)
	}
	// 3 JWST observations, one per page; their 8 product rows (one
	// duplicate) in one batch, one per page.
	if got := em.Calls("Mast.Caom.Filtered"); got != 3 {
		t.Errorf("Mast.Caom.Filtered requests = %d, want 3 (one per page)", got)
	}
	if got := em.Calls("Mast.Caom.Products"); got != 8 {
		t.Errorf("Mast.Caom.Products requests = %d, want 8 (one per page)", got)
	}
	if len(objs) != 7 {
		t.Errorf("got %d objects, want 7 distinct products", len(objs))
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		handler   func(em http.Handler) http.Handler
		filters   string
		pf        string
		opts      mast.Options
		executing int
		reason    string // "" for a configuration error
		substr    string
	}{
		{name: "unknown column is a MAST ERROR", filters: `[{"paramName":"no_such_column","values":["x"]}]`,
			reason: sources.ReasonJobFailed, substr: "Invalid column name 'no_such_column'"},
		{name: "server error", filters: jwstNircam, reason: sources.ReasonHTTP5xx, substr: "HTTP 503",
			handler: func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "maintenance", http.StatusServiceUnavailable)
				})
			}},
		{name: "not JSON", filters: jwstNircam, reason: sources.ReasonBadResponse, substr: "not MAST JSON",
			handler: func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") })
			}},
		{name: "filters missing", filters: "", substr: "params filters"},
		{name: "filters not JSON", filters: `{"obs_collection":"JWST"}`, substr: "astronomy.yaml:7"},
		{name: "bad product filter", filters: jwstNircam, pf: `["I2D"]`, substr: "product_filter"},
		{name: "still executing", filters: jwstNircam, reason: sources.ReasonTimeout, substr: "EXECUTING",
			opts: mast.Options{PollInterval: time.Millisecond, MaxWait: 20 * time.Millisecond}, executing: 1 << 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			em := emulator.NewMAST(emulator.MASTOptions{Executing: tc.executing})
			if err := em.LoadMASTFixture("../../internal/emulator/testdata/mast/caom.json"); err != nil {
				t.Fatal(err)
			}
			var h http.Handler = em
			if tc.handler != nil {
				h = tc.handler(em)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			_, err := mast.New(tc.opts).Objects(context.Background(), srv.Client(), entry(srv.URL, tc.filters, tc.pf))
			if err == nil {
				t.Fatal("no error")
			}
			if got := sources.ReasonOf(err); got != tc.reason {
				t.Errorf("reason = %q, want %q (%v)", got, tc.reason, err)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q does not mention %q", err, tc.substr)
			}
		})
	}
}

func TestNameCollision(t *testing.T) {
	em := emulator.NewMAST(emulator.MASTOptions{})
	em.AddObservation(map[string]any{"obsid": "1", "obs_collection": "JWST"},
		emulator.MASTProduct{Filename: "x_i2d.fits", Size: 10})
	em.AddObservation(map[string]any{"obsid": "2", "obs_collection": "HST"},
		emulator.MASTProduct{Filename: "x_i2d.fits", Size: 10})
	srv := httptest.NewServer(em)
	defer srv.Close()
	_, err := mast.New(mast.Options{}).Objects(context.Background(), srv.Client(),
		entry(srv.URL, `[{"paramName":"obsid","values":["1","2"]}]`, ""))
	if sources.ReasonOf(err) != sources.ReasonBadResponse || !strings.Contains(err.Error(), "mast:JWST/product/x_i2d.fits") {
		t.Fatalf("err = %v, want a collision naming both URIs", err)
	}
}

func TestCancelWhileExecuting(t *testing.T) {
	_, srv := newEmulator(t, emulator.MASTOptions{Executing: 1 << 30})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	start := time.Now()
	_, err := mast.New(mast.Options{PollInterval: time.Hour}).Objects(ctx, srv.Client(), entry(srv.URL, jwstNircam, ""))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if r := sources.ReasonOf(err); r != "" {
		t.Errorf("cancellation classified as %q; it is not a failure", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancellation took %s", d)
	}
}

func get(t *testing.T, c *http.Client, u string) []byte {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Query pages through a service's answer, waiting out EXECUTING, and
// returns only the columns asked for.
func TestQuery(t *testing.T) {
	m, srv := newEmulator(t, emulator.MASTOptions{Executing: 1})
	params := map[string]any{
		"columns": "proposal_id",
		"filters": []map[string]any{{"paramName": "obs_collection", "values": []string{"JWST"}}},
	}
	rows, err := mast.Query(context.Background(), srv.Client(), srv.URL+"/", "Mast.Caom.Filtered", params, mast.Options{PageSize: 2, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want the 3 JWST observations: %v", len(rows), rows)
	}
	for _, r := range rows {
		if len(r) != 1 || r["proposal_id"] != "2736" {
			t.Errorf("row %v, want only proposal_id 2736", r)
		}
	}
	// Two pages, each answered EXECUTING once first.
	if got := m.Calls("Mast.Caom.Filtered"); got != 4 {
		t.Errorf("%d invoke requests, want 4", got)
	}
	_, err = mast.Query(context.Background(), srv.Client(), srv.URL, "Mast.Caom.Filtered", map[string]any{"filters": []map[string]any{{"paramName": "no_such", "values": []string{"x"}}}}, mast.Options{PollInterval: time.Millisecond})
	if err == nil || sources.ReasonOf(err) != sources.ReasonJobFailed || !strings.Contains(err.Error(), "Invalid column name") {
		t.Errorf("bad column: %v", err)
	}
}
