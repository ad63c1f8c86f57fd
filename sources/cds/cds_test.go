package cds_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
	"github.com/astroingest/astroingest/sources/cds"
)

const token = "s3cret-0000-token"

// tokenTransport stands in for the caller's credential wrapper.
type tokenTransport struct {
	tok  string
	base http.RoundTripper
}

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if t.tok != "" {
		r.Header.Set("PRIVATE-TOKEN", t.tok)
	}
	return t.base.RoundTrip(r)
}

func client(srv *httptest.Server, tok string) *http.Client {
	return &http.Client{Transport: tokenTransport{tok: tok, base: srv.Client().Transport}}
}

const era5Request = `{"product_type":["reanalysis"],"variable":["2m_temperature"],"year":["2024"],"month":["01"],"day":["01"],"time":["00:00"],"data_format":"netcdf"}`

func entry(base, dataset, request string) sources.Entry {
	return sources.Entry{
		ID: "era5-t2m-202401", Kind: "cds", URL: base, File: "climate.yaml", Line: 12,
		Params: map[string]string{"dataset": dataset, "request": request},
	}
}

func fastKind() sources.Kind {
	return cds.New(cds.Options{PollInitial: 2 * time.Millisecond, PollMax: 5 * time.Millisecond, MaxWait: 10 * time.Second})
}

func newCDS(t *testing.T, opts emulator.CDSOptions, wrap func(http.Handler) http.Handler) (*emulator.CDS, *httptest.Server) {
	t.Helper()
	if opts.Token == "" {
		opts.Token = token
	}
	em := emulator.NewCDS(opts)
	em.AddDataset("reanalysis-era5-single-levels", emulator.CDSDataset{Licences: []string{"licence-to-use-copernicus-products"}, Size: 3000})
	em.AddDataset("satellite-methane", emulator.CDSDataset{Licences: []string{"satellite-methane-licence"}, Size: 10})
	em.AddDataset("derived-broken", emulator.CDSDataset{Fail: "Traceback (most recent call last):\n  ...\nValueError: no data for 2099-01-01"})
	em.AcceptLicences("licence-to-use-copernicus-products")
	var h http.Handler = em
	if wrap != nil {
		h = wrap(em)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return em, srv
}

func TestJobLifecycle(t *testing.T) {
	em, srv := newCDS(t, emulator.CDSOptions{Accepted: 50 * time.Millisecond, Running: 50 * time.Millisecond}, nil)
	objs, err := fastKind().Objects(context.Background(), client(srv, token), entry(srv.URL+"/api", "reanalysis-era5-single-levels", era5Request))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("got %d objects, want 1", len(objs))
	}
	o := objs[0]
	want := em.Data("reanalysis-era5-single-levels")
	if o.Name != "" || o.Size != int64(len(want)) || o.ContentType != "application/netcdf" {
		t.Errorf("object = %+v, want unnamed, size %d, application/netcdf", o, len(want))
	}
	// The asset lives on an object store that needs no token.
	resp, err := srv.Client().Get(o.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(want) {
		t.Errorf("download %s: %s, %d bytes; want the %d result bytes", o.URL, resp.Status, len(body), len(want))
	}
	jobs := em.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs submitted, want 1", len(jobs))
	}
	var wantInputs map[string]any
	_ = json.Unmarshal([]byte(era5Request), &wantInputs)
	if !reflect.DeepEqual(jobs[0].Inputs, wantInputs) {
		t.Errorf("inputs = %v, want %v", jobs[0].Inputs, wantInputs)
	}
	// 100 ms of queue at 2-5 ms intervals: the kind must have waited.
	if jobs[0].Polls < 2 {
		t.Errorf("job polled %d times; the kind did not wait for it", jobs[0].Polls)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		tok     string
		dataset string
		request string
		opts    emulator.CDSOptions
		wrap    func(http.Handler) http.Handler
		kind    sources.Kind
		reason  string
		substr  []string
	}{
		{name: "missing token", dataset: "reanalysis-era5-single-levels",
			reason: sources.ReasonAuthMissing, substr: []string{"authentication failed", "CDS_API_KEY", "Authentication required"}},
		{name: "wrong token", tok: "not-the-token", dataset: "reanalysis-era5-single-levels",
			reason: sources.ReasonAuthMissing, substr: []string{"authentication failed", "CDS_API_KEY"}},
		{name: "other credential name", dataset: "reanalysis-era5-single-levels",
			kind:   cds.New(cds.Options{CredentialEnv: "ADS_API_KEY"}),
			reason: sources.ReasonAuthMissing, substr: []string{"ADS_API_KEY"}},
		{name: "licence not accepted", tok: token, dataset: "satellite-methane",
			reason: sources.ReasonLicenceRequired,
			substr: []string{"satellite-methane", "required licences not accepted", "/datasets/satellite-methane?tab=download#manage-licences"}},
		{name: "failed job", tok: token, dataset: "derived-broken", opts: emulator.CDSOptions{Running: 5 * time.Millisecond},
			reason: sources.ReasonJobFailed, substr: []string{"derived-broken", "failed", "job results failed", "ValueError: no data for 2099-01-01"}},
		{name: "unknown dataset", tok: token, dataset: "no-such-dataset",
			reason: sources.ReasonHTTP404, substr: []string{"no-such-dataset not found"}},
		{name: "server error while polling", tok: token, dataset: "reanalysis-era5-single-levels",
			opts: emulator.CDSOptions{Accepted: time.Second},
			wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet {
						http.Error(w, "bad gateway", http.StatusBadGateway)
						return
					}
					h.ServeHTTP(w, r)
				})
			},
			reason: sources.ReasonHTTP5xx, substr: []string{"HTTP 502"}},
		{name: "dismissed job", tok: token, dataset: "reanalysis-era5-single-levels",
			opts: emulator.CDSOptions{Accepted: time.Second},
			wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet {
						// Someone dismissed the job from the portal.
						d := httptest.NewRequest(http.MethodDelete, r.URL.Path, nil)
						d.Header = r.Header
						h.ServeHTTP(httptest.NewRecorder(), d)
					}
					h.ServeHTTP(w, r)
				})
			},
			reason: sources.ReasonJobFailed, substr: []string{`"dismissed"`}},
		{name: "queued too long", tok: token, dataset: "reanalysis-era5-single-levels",
			opts:   emulator.CDSOptions{Accepted: time.Hour},
			kind:   cds.New(cds.Options{PollInitial: time.Millisecond, MaxWait: 20 * time.Millisecond}),
			reason: sources.ReasonTimeout, substr: []string{"still accepted"}},
		{name: "no dataset", tok: token, dataset: "", substr: []string{"params dataset", "climate.yaml:12"}},
		{name: "request not an object", tok: token, dataset: "reanalysis-era5-single-levels", request: `["2m_temperature"]`,
			substr: []string{"params request", "climate.yaml:12"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newCDS(t, tc.opts, tc.wrap)
			k := tc.kind
			if k == nil {
				k = fastKind()
			}
			req := tc.request
			if req == "" {
				req = era5Request
			}
			_, err := k.Objects(context.Background(), client(srv, tc.tok), entry(srv.URL+"/api", tc.dataset, req))
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
			for _, secret := range []string{token, "not-the-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error echoes a token: %q", err)
				}
			}
		})
	}
}

func TestLicenceAcceptedLater(t *testing.T) {
	em, srv := newCDS(t, emulator.CDSOptions{}, nil)
	e := entry(srv.URL+"/api", "satellite-methane", `{"variable":"xch4"}`)
	if _, err := fastKind().Objects(context.Background(), client(srv, token), e); sources.ReasonOf(err) != sources.ReasonLicenceRequired {
		t.Fatalf("before acceptance: err = %v, want licence_required", err)
	}
	em.AcceptLicences("satellite-methane-licence")
	objs, err := fastKind().Objects(context.Background(), client(srv, token), e)
	if err != nil || len(objs) != 1 || objs[0].Size != 10 {
		t.Fatalf("after acceptance: %v, %+v", err, objs)
	}
}

func TestCancelDuringPolling(t *testing.T) {
	em, srv := newCDS(t, emulator.CDSOptions{Accepted: time.Hour}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cancel once the job is being polled, i.e. in the backoff wait.
		for ctx.Err() == nil {
			if jobs := em.Jobs(); len(jobs) == 1 && jobs[0].Polls >= 2 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	k := cds.New(cds.Options{PollInitial: 5 * time.Millisecond, PollMax: time.Hour})
	start := time.Now()
	_, err := k.Objects(ctx, client(srv, token), entry(srv.URL+"/api", "reanalysis-era5-single-levels", era5Request))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if r := sources.ReasonOf(err); r != "" {
		t.Errorf("cancellation classified as %q; it is not a failure", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned %s after start; backoff ignored the context", d)
	}
}
