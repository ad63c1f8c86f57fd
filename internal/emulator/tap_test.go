package emulator_test

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/tap"
)

func TestTAPQueries(t *testing.T) {
	em := emulator.NewTAP(emulator.TAPOptions{})
	if err := em.LoadTAPTable("ivoa.ObsCore", "testdata/tap/obscore.csv"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(em)
	defer srv.Close()
	run := func(params url.Values) (int, string, string) {
		t.Helper()
		// GET with lower-case names: TAP parameter names are case-insensitive.
		resp, err := srv.Client().Get(srv.URL + "/sync?" + params.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	csvRows := func(body string) [][]string {
		t.Helper()
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("%v in %q", err, body)
		}
		return recs
	}
	for _, tc := range []struct {
		name, query string
		want        [][]string
	}{
		{"top and order desc", "SELECT TOP 2 dp_id, t_min FROM ivoa.ObsCore ORDER BY t_min DESC",
			[][]string{{"dp_id", "t_min"}, {"ADP.2019-07-03T12:00:00.005", "58600.1"}, {"ADP.2019-07-03T12:00:00.004", "58600.0"}}},
		{"like and numeric compare", "select dp_id from ivoa.obscore where target_name like 'NGC%' and t_min < 57000.15;",
			[][]string{{"dp_id"}, {"ADP.2017-03-01T10:00:00.001"}}},
		{"not equal, quoted value kept", "SELECT target_name FROM ivoa.ObsCore WHERE obs_collection <> 'HARPS' AND dataproduct_type != 'cube'",
			[][]string{{"target_name"}, {"Fornax, A"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ctype, body := run(url.Values{"request": {"doQuery"}, "lang": {"ADQL"}, "format": {"csv"}, "query": {tc.query}})
			if code != 200 || !strings.HasPrefix(ctype, "text/csv") {
				t.Fatalf("%d %s: %s", code, ctype, body)
			}
			if got := csvRows(body); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows = %q, want %q", got, tc.want)
			}
		})
	}

	// VOTable is the default format; MAXREC truncates and says OVERFLOW.
	code, ctype, body := run(url.Values{"LANG": {"ADQL"}, "MAXREC": {"2"}, "QUERY": {"SELECT dp_id FROM ivoa.ObsCore"}})
	if code != 200 || ctype != "application/x-votable+xml" || strings.Count(body, "<TR>") != 2 ||
		!strings.Contains(body, `<INFO name="QUERY_STATUS" value="OVERFLOW"/>`) {
		t.Errorf("votable with MAXREC: %d %s %s", code, ctype, body)
	}

	for _, tc := range []struct {
		name   string
		params url.Values
		msg    string
	}{
		{"syntax", url.Values{"LANG": {"ADQL"}, "QUERY": {"SELECT dp_id FORM ivoa.ObsCore"}}, `Incorrect ADQL query: Encountered "FORM"`},
		{"unknown table", url.Values{"LANG": {"ADQL"}, "QUERY": {"SELECT * FROM ivoa.Nope"}}, `Cannot resolve table "ivoa.Nope"`},
		{"lang", url.Values{"LANG": {"PQL"}, "QUERY": {"SELECT * FROM ivoa.ObsCore"}}, `Unsupported LANG "PQL"`},
		{"format", url.Values{"LANG": {"ADQL"}, "FORMAT": {"fits"}, "QUERY": {"SELECT * FROM ivoa.ObsCore"}}, `Unsupported FORMAT "fits"`},
		{"no query", url.Values{"LANG": {"ADQL"}}, "Missing QUERY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := run(tc.params)
			want := `<INFO name="QUERY_STATUS" value="ERROR">` + strings.ReplaceAll(tc.msg, `"`, "&#34;")
			if code != 400 || !strings.Contains(body, want) {
				t.Errorf("got %d %s, want 400 with %s", code, body, want)
			}
		})
	}
}

// TestTAPOnServer mounts the emulator on the shared Server, with the files
// in the Server's tree, and runs the kind through it.
func TestTAPOnServer(t *testing.T) {
	srv := emulator.NewServer()
	defer srv.Close()
	em := emulator.NewTAP(emulator.TAPOptions{Prefix: "/tap_obs", FileBase: srv.URL() + "/dataportal/file"})
	if err := em.LoadTAPTable("ivoa.ObsCore", "testdata/tap/obscore.csv"); err != nil {
		t.Fatal(err)
	}
	srv.Handle("/tap_obs/", em)
	srv.AddFile("/dataportal/file/ADP.2019-07-03T12:00:00.004", []byte(strings.Repeat("h", 1500)), time.Unix(1700000000, 0))
	objs, err := tap.New(tap.Options{}).Objects(context.Background(), srv.Client(), sources.Entry{
		ID: "harps", URL: srv.URL() + "/tap_obs", Params: map[string]string{
			"query":       "SELECT access_url, content_length FROM ivoa.ObsCore WHERE dp_id = 'ADP.2019-07-03T12:00:00.004'",
			"url_column":  "access_url",
			"size_column": "content_length",
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].URL != srv.URL()+"/dataportal/file/ADP.2019-07-03T12:00:00.004" || objs[0].Size != 1500 {
		t.Fatalf("objects = %+v", objs)
	}
	if srv.Size("/dataportal/file/ADP.2019-07-03T12:00:00.004") != objs[0].Size {
		t.Errorf("listed size differs from the served file")
	}
	if n := srv.RequestsMethod(http.MethodPost, "/tap_obs/sync"); n != 1 {
		t.Errorf("%d sync requests, want 1", n)
	}
}
