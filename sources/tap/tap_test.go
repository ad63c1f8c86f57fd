package tap_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/tap"
)

func newTAP(t *testing.T, opts emulator.TAPOptions, wrap func(http.Handler) http.Handler) (*emulator.TAP, *httptest.Server) {
	t.Helper()
	em := emulator.NewTAP(opts)
	if err := em.LoadTAPTable("ivoa.ObsCore", "../../internal/emulator/testdata/tap/obscore.csv"); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"ADP.2017-03-01T10:00:00.001", "ADP.2017-03-01T10:00:00.002", "ADP.2018-05-02T11:00:00.003", "ADP.2019-07-03T12:00:00.004", "ADP.2019-07-03T12:00:00.005"} {
		em.AddFile(id, []byte(strings.Repeat(id, i+1)))
	}
	var h http.Handler = em
	if wrap != nil {
		h = wrap(em)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return em, srv
}

func entry(base, query, urlCol, nameCol, sizeCol string) sources.Entry {
	return sources.Entry{
		ID: "eso-muse", Kind: "tap", URL: base, File: "astronomy.yaml", Line: 40,
		Params: map[string]string{"query": query, "url_column": urlCol, "name_column": nameCol, "size_column": sizeCol},
	}
}

func TestObjects(t *testing.T) {
	tests := []struct {
		name                     string
		query                    string
		urlCol, nameCol, sizeCol string
		want                     map[string]int64
	}{
		{
			name:   "MUSE cubes with names and sizes",
			query:  "SELECT access_url, dp_id, content_length FROM ivoa.ObsCore WHERE obs_collection = 'MUSE' AND dataproduct_type = 'cube'",
			urlCol: "access_url", nameCol: "dp_id", sizeCol: "content_length",
			want: map[string]int64{"ADP.2017-03-01T10:00:00.001": 12000, "ADP.2017-03-01T10:00:00.002": 9000},
		},
		{
			name:   "name from the URL, size unknown",
			query:  "SELECT * FROM ivoa.ObsCore WHERE obs_collection = 'HARPS'",
			urlCol: "ACCESS_URL",
			want:   map[string]int64{"ADP.2019-07-03T12:00:00.004": -1, "ADP.2019-07-03T12:00:00.005": -1},
		},
		{
			name:   "empty size cell is unknown",
			query:  "SELECT access_url, content_length FROM ivoa.ObsCore WHERE t_min >= 58600",
			urlCol: "access_url", sizeCol: "content_length",
			want: map[string]int64{"ADP.2019-07-03T12:00:00.004": 1500, "ADP.2019-07-03T12:00:00.005": -1},
		},
		{
			name:   "quoted CSV value as name",
			query:  "SELECT access_url, target_name FROM ivoa.ObsCore WHERE dataproduct_type = 'image'",
			urlCol: "access_url", nameCol: "target_name",
			want: map[string]int64{"Fornax, A": -1},
		},
		{
			name:   "no rows",
			query:  "SELECT access_url FROM ivoa.ObsCore WHERE obs_collection = 'UVES'",
			urlCol: "access_url",
			want:   map[string]int64{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			em, srv := newTAP(t, emulator.TAPOptions{}, nil)
			objs, err := tap.New(tap.Options{}).Objects(context.Background(), srv.Client(), entry(srv.URL, tc.query, tc.urlCol, tc.nameCol, tc.sizeCol))
			if err != nil {
				t.Fatal(err)
			}
			if q := em.Queries(); len(q) != 1 || q[0] != tc.query {
				t.Errorf("service saw queries %q, want exactly the entry's", q)
			}
			got := map[string]int64{}
			for _, o := range objs {
				got[o.Name] = o.Size
				if !strings.HasPrefix(o.URL, srv.URL+"/files/ADP.") {
					t.Errorf("%s: URL %q is not the row's access_url", o.Name, o.URL)
				}
				resp, err := srv.Client().Get(o.URL)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				id := o.URL[strings.LastIndex(o.URL, "/")+1:]
				if resp.StatusCode != 200 || !strings.HasPrefix(string(body), id) {
					t.Errorf("%s: GET %s: %s %q", o.Name, o.URL, resp.Status, body)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("objects = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || g != v {
					t.Fatalf("objects = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestRelativeURLs(t *testing.T) {
	em := emulator.NewTAP(emulator.TAPOptions{Prefix: "/tap_obs"})
	em.AddTable("files", []string{"url", "bytes"}, [][]string{{"files/a.fits", "3"}, {"/tap_obs/files/b.fits", "4"}})
	em.AddFile("a.fits", []byte("aaa"))
	em.AddFile("b.fits", []byte("bbbb"))
	srv := httptest.NewServer(em)
	defer srv.Close()
	objs, err := tap.New(tap.Options{}).Objects(context.Background(), srv.Client(),
		entry(srv.URL+"/tap_obs", "SELECT url, bytes FROM files", "url", "", "bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].URL != srv.URL+"/tap_obs/files/a.fits" || objs[1].URL != srv.URL+"/tap_obs/files/b.fits" || objs[1].Size != 4 {
		t.Fatalf("objects = %+v", objs)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name                     string
		opts                     emulator.TAPOptions
		wrap                     func(http.Handler) http.Handler
		kind                     tap.Options
		query                    string
		urlCol, nameCol, sizeCol string
		reason                   string
		substr                   []string
	}{
		{name: "ADQL syntax error, HTTP 400", query: "SELECT access_url FORM ivoa.ObsCore", urlCol: "access_url",
			reason: sources.ReasonJobFailed, substr: []string{"HTTP 400", "Incorrect ADQL query", `"FORM"`}},
		{name: "ADQL syntax error, HTTP 200", opts: emulator.TAPOptions{ErrorStatus: 200},
			query: "SELECT access_url FROM ivoa.ObsCore WHERE", urlCol: "access_url",
			reason: sources.ReasonJobFailed, substr: []string{"HTTP 200", "Incorrect ADQL query", "end of query"}},
		{name: "unknown column", query: "SELECT nope FROM ivoa.ObsCore", urlCol: "nope",
			reason: sources.ReasonJobFailed, substr: []string{`Cannot resolve column "nope"`}},
		{name: "url column not selected", query: "SELECT dp_id FROM ivoa.ObsCore", urlCol: "access_url",
			reason: sources.ReasonBadResponse, substr: []string{`no column "access_url"`, "dp_id"}},
		{name: "names collide", query: "SELECT access_url, obs_collection FROM ivoa.ObsCore", urlCol: "access_url", nameCol: "obs_collection",
			reason: sources.ReasonBadResponse, substr: []string{"same object name", "name_column"}},
		{name: "size not a number", query: "SELECT access_url, target_name FROM ivoa.ObsCore", urlCol: "access_url", sizeCol: "target_name",
			reason: sources.ReasonBadResponse, substr: []string{"not a size in bytes"}},
		{name: "too many rows", kind: tap.Options{MaxRows: 3}, query: "SELECT access_url FROM ivoa.ObsCore", urlCol: "access_url",
			reason: sources.ReasonBadResponse, substr: []string{"more than 3 rows"}},
		{name: "server error page", query: "SELECT access_url FROM ivoa.ObsCore", urlCol: "access_url",
			wrap: func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "<html>Proxy Error</html>", http.StatusBadGateway)
				})
			},
			reason: sources.ReasonHTTP5xx, substr: []string{"HTTP 502", "Proxy Error"}},
		{name: "estimated size refused", query: "SELECT access_url, access_estsize FROM ivoa.ObsCore", urlCol: "access_url", sizeCol: "access_estsize",
			substr: []string{"access_estsize", "astronomy.yaml:40"}},
		{name: "no url column", query: "SELECT access_url FROM ivoa.ObsCore", substr: []string{"params url_column"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newTAP(t, tc.opts, tc.wrap)
			_, err := tap.New(tc.kind).Objects(context.Background(), srv.Client(), entry(srv.URL, tc.query, tc.urlCol, tc.nameCol, tc.sizeCol))
			if err == nil {
				t.Fatal("no error")
			}
			if got := sources.ReasonOf(err); got != tc.reason {
				t.Errorf("reason = %q, want %q (%v)", got, tc.reason, err)
			}
			for _, s := range tc.substr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}
