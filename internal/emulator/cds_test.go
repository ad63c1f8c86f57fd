package emulator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/cds"
)

func cdsDo(t *testing.T, c *http.Client, method, u, tok, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, rd)
	if tok != "" {
		req.Header.Set("PRIVATE-TOKEN", tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, u, raw)
	}
	return resp.StatusCode, resp.Header, m
}

func TestCDSProtocol(t *testing.T) {
	const tok = "tok-123"
	em := emulator.NewCDS(emulator.CDSOptions{Token: tok, Accepted: 100 * time.Millisecond, Running: 100 * time.Millisecond})
	em.AddDataset("reanalysis-era5-land", emulator.CDSDataset{Licences: []string{"cc-by"}, Size: 100})
	em.AddDataset("broken", emulator.CDSDataset{Fail: "ValueError: bad area"})
	srv := httptest.NewServer(em)
	defer srv.Close()
	c := srv.Client()
	api := srv.URL + "/api/retrieve/v1"
	exec := api + "/processes/reanalysis-era5-land/execution"
	body := `{"inputs":{"variable":["2m_temperature"]}}`

	for _, tc := range []struct {
		name, tok, body string
		code            int
		title, detail   string
	}{
		{"no token", "", body, 401, "permission denied", "Authentication required"},
		{"wrong token", "nope", body, 401, "permission denied", "Authentication failed"},
		{"licence", tok, body, 403, "required licences not accepted",
			"please visit " + srv.URL + "/datasets/reanalysis-era5-land?tab=download#manage-licences to accept"},
		{"no inputs", tok, `{"variable":"x"}`, 422, "invalid parameter", "inputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, m := cdsDo(t, c, http.MethodPost, exec, tc.tok, tc.body)
			if code != tc.code || m["title"] != tc.title || !strings.Contains(m["detail"].(string), tc.detail) || m["status"] != float64(tc.code) {
				t.Errorf("got %d %v, want %d title %q detail containing %q", code, m, tc.code, tc.title, tc.detail)
			}
			if strings.Contains(tc.tok, "nope") && strings.Contains(m["detail"].(string), "nope") {
				t.Errorf("reply echoes the token")
			}
		})
	}

	em.AcceptLicences("cc-by")
	code, h, m := cdsDo(t, c, http.MethodPost, exec, tok, body)
	id, _ := m["jobID"].(string)
	if code != 201 || m["status"] != "accepted" || id == "" || h.Get("Location") != api+"/jobs/"+id {
		t.Fatalf("submit: %d %v Location %q", code, m, h.Get("Location"))
	}
	var monitor string
	for _, l := range m["links"].([]any) {
		if lm := l.(map[string]any); lm["rel"] == "monitor" {
			monitor = lm["href"].(string)
		}
	}
	if monitor != api+"/jobs/"+id {
		t.Fatalf("monitor link %q", monitor)
	}
	if code, _, m := cdsDo(t, c, http.MethodGet, monitor+"/results", tok, ""); code != 404 || m["type"] != "results not ready" {
		t.Errorf("results while accepted: %d %v", code, m)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for !seen["successful"] && time.Now().Before(deadline) {
		_, _, m := cdsDo(t, c, http.MethodGet, monitor, tok, "")
		seen[m["status"].(string)] = true
		time.Sleep(5 * time.Millisecond)
	}
	if !seen["accepted"] || !seen["running"] || !seen["successful"] {
		t.Fatalf("states seen %v, want accepted, running, successful", seen)
	}
	code, _, m = cdsDo(t, c, http.MethodGet, monitor+"/results", tok, "")
	asset, _ := m["asset"].(map[string]any)["value"].(map[string]any)
	if code != 200 || asset["file:size"] != float64(100) || asset["type"] != "application/netcdf" {
		t.Fatalf("results: %d %v", code, m)
	}
	resp, err := c.Get(asset["href"].(string))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(data) != string(em.Data("reanalysis-era5-land")) || len(data) != 100 {
		t.Errorf("asset download: %d bytes", len(data))
	}

	// A failing dataset: results answer 400 with the traceback.
	_, _, m = cdsDo(t, c, http.MethodPost, api+"/processes/broken/execution", tok, body)
	fid := m["jobID"].(string)
	var st any
	for deadline := time.Now().Add(5 * time.Second); st != "failed" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		_, _, m := cdsDo(t, c, http.MethodGet, api+"/jobs/"+fid, tok, "")
		st = m["status"]
	}
	if st != "failed" {
		t.Fatalf("failing job status %v", st)
	}
	if code, _, m := cdsDo(t, c, http.MethodGet, api+"/jobs/"+fid+"/results", tok, ""); code != 400 || m["title"] != "job results failed" || m["detail"] != "ValueError: bad area" {
		t.Errorf("failed results: %d %v", code, m)
	}
	if code, _, _ := cdsDo(t, c, http.MethodGet, api+"/jobs/"+fid, "", ""); code != 401 {
		t.Errorf("status without token: %d, want 401", code)
	}
}

// TestCDSOnServer mounts the emulator on the shared Server with results in
// the Server's file tree, and runs the kind through it.
func TestCDSOnServer(t *testing.T) {
	srv := emulator.NewServer()
	defer srv.Close()
	em := emulator.NewCDS(emulator.CDSOptions{Prefix: "/cds", Token: "t0k", Running: 10 * time.Millisecond, FileBase: srv.URL() + "/cache"})
	em.AddDataset("satellite-sea-level-global", emulator.CDSDataset{Size: 2048, Filename: "dataset-satellite-sea-level-global.zip", ContentType: "application/zip"})
	srv.Handle("/cds/", em)
	for p, data := range em.Files() {
		srv.AddFile("/cache/"+p, data, time.Unix(1700000000, 0))
	}
	c := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasPrefix(r.URL.Path, "/cds/") {
			r = r.Clone(r.Context())
			r.Header.Set("PRIVATE-TOKEN", "t0k")
		}
		return srv.Client().Transport.RoundTrip(r)
	})}
	k := cds.New(cds.Options{PollInitial: time.Millisecond, PollMax: 2 * time.Millisecond})
	objs, err := k.Objects(context.Background(), c, sources.Entry{ID: "sla", URL: srv.URL() + "/cds/api",
		Params: map[string]string{"dataset": "satellite-sea-level-global", "request": `{"variable":["daily"],"year":["2020"]}`}})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].URL != srv.URL()+"/cache/satellite-sea-level-global/dataset-satellite-sea-level-global.zip" || objs[0].Size != 2048 || objs[0].ContentType != "application/zip" {
		t.Fatalf("objects = %+v", objs)
	}
	if n := srv.RequestsMethod(http.MethodPost, "/cds/api/retrieve/v1/processes/satellite-sea-level-global/execution"); n != 1 {
		t.Errorf("%d submissions, want 1", n)
	}
	for _, r := range srv.RequestLog("/cds/") {
		if r.Header.Get("PRIVATE-TOKEN") != "t0k" {
			t.Errorf("%s %s went without the token", r.Method, r.Path)
		}
	}
	if srv.Size("/cache/satellite-sea-level-global/dataset-satellite-sea-level-global.zip") != 2048 {
		t.Errorf("result file missing from the shared tree")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
