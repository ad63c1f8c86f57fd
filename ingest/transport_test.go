package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/sources"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recordingRT answers every request with 200 and a body, or with err, and
// keeps what it was sent.
type recordingRT struct {
	mu   sync.Mutex
	reqs []*http.Request
	err  error
}

func (r *recordingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

func (r *recordingRT) sent() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

func mustGet(t *testing.T, rt http.RoundTripper, raw string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", raw, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return req
}

// Each host gets its own secret, as a header or a query parameter, and no
// other host sees it; the caller's request is never modified.
func TestCredentialsOnlyForTheirHost(t *testing.T) {
	policies := sources.NewHosts([]sources.HostPolicy{
		{Host: "cds.example", Credential: &sources.Credential{Env: "CDS_KEY", Header: "PRIVATE-TOKEN"}},
		{Host: "ncbi.example", Credential: &sources.Credential{Env: "NCBI_KEY", Query: "api_key"}},
	})
	env := map[string]string{"CDS_KEY": "cds-secret", "NCBI_KEY": "ncbi-secret"}
	base := &recordingRT{}
	hosts := newHostTable(policies, func(k string) string { return env[k] })
	rt := &userAgent{next: &credentials{next: base, hosts: hosts}, ua: "astroingest/test"}

	orig := []*http.Request{
		mustGet(t, rt, "https://cds.example/a"),
		mustGet(t, rt, "https://ncbi.example/b?x=1"),
		mustGet(t, rt, "https://other.example/c"),
	}
	sent := base.sent()
	tests := []struct {
		header, query string
	}{
		{"cds-secret", ""},
		{"", "api_key=ncbi-secret&x=1"},
		{"", ""},
	}
	for i, tt := range tests {
		s := sent[i]
		if got := s.Header.Get("PRIVATE-TOKEN"); got != tt.header {
			t.Errorf("%s: PRIVATE-TOKEN %q, want %q", s.URL, got, tt.header)
		}
		if s.URL.RawQuery != tt.query {
			t.Errorf("%s: query %q, want %q", s.URL, s.URL.RawQuery, tt.query)
		}
		if got := s.Header.Get("User-Agent"); got != "astroingest/test" {
			t.Errorf("%s: User-Agent %q", s.URL, got)
		}
		if o := orig[i]; o.Header.Get("PRIVATE-TOKEN") != "" || o.Header.Get("User-Agent") != "" || strings.Contains(o.URL.RawQuery, "api_key") {
			t.Errorf("the caller's request was modified: %v %v", o.URL, o.Header)
		}
	}
}

// A host's concurrency slot is held until the response body is closed,
// since the connection is busy until then.
func TestHostLimitsHoldSlotUntilBodyClosed(t *testing.T) {
	policies := sources.NewHosts([]sources.HostPolicy{{Host: "one.example", Concurrency: 1, RPS: 1000, Burst: 100}})
	hosts := newHostTable(policies, func(string) string { return "" })
	rt := &hostLimits{next: &recordingRT{}, hosts: hosts, limits: map[string]*hostLimit{}}
	req, _ := http.NewRequest(http.MethodGet, "https://one.example/a", nil)
	first, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "https://one.example/b", nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("a second request ran while the first body was open (err %v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	first.Body.Close()
	select {
	case err := <-second:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second request never got the slot after the first body closed")
	}
	// Another host is not held up by this one's slot.
	mustGet(t, rt, "https://two.example/c")
}

// A cancelled request waiting for a slot gives up with the context's error.
func TestHostLimitsHonourCancellation(t *testing.T) {
	policies := sources.NewHosts([]sources.HostPolicy{{Host: "one.example", Concurrency: 1, RPS: 1000, Burst: 100}})
	rt := &hostLimits{next: &recordingRT{}, hosts: newHostTable(policies, func(string) string { return "" }), limits: map[string]*hostLimit{}}
	req, _ := http.NewRequest(http.MethodGet, "https://one.example/a", nil)
	held, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req2, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://one.example/b", nil)
	if _, err := rt.RoundTrip(req2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

// The rate is the host's, raised by its credential when the secret is set
// (the burst stays the host's own); an undeclared host gets the defaults.
func TestHostTableDefaultsAndCredentialRate(t *testing.T) {
	policies := sources.NewHosts([]sources.HostPolicy{
		{Host: "ncbi.example", RPS: 3, Credential: &sources.Credential{Env: "K", Query: "api_key", RPS: 10}},
		{Host: "127.0.0.1:8080", Concurrency: 2, RPS: 50, Burst: 5},
	})
	tests := []struct {
		url, secret, label string
		conc               int
		rps                float64
		burst              int
	}{
		{"https://ncbi.example/x", "", "ncbi.example", sources.DefaultConcurrency, 3, 3},
		{"https://ncbi.example/x", "s3cret", "ncbi.example", sources.DefaultConcurrency, 10, 3},
		{"http://127.0.0.1:8080/x", "", "127.0.0.1:8080", 2, 50, 5},
		{"https://undeclared.example:444/x", "", "undeclared.example", sources.DefaultConcurrency, sources.DefaultRPS, sources.DefaultRPS},
	}
	for _, tt := range tests {
		h := newHostTable(policies, func(string) string { return tt.secret })
		req, _ := http.NewRequest(http.MethodGet, tt.url, nil)
		got := h.lookup(req.URL)
		if got.policy.Host != tt.label || got.policy.Concurrency != tt.conc || got.policy.RPS != tt.rps || got.policy.Burst != tt.burst {
			t.Errorf("%s (secret %q): %s conc %d rps %v burst %d; want %s %d %v %d", tt.url, tt.secret,
				got.policy.Host, got.policy.Concurrency, got.policy.RPS, got.policy.Burst, tt.label, tt.conc, tt.rps, tt.burst)
		}
	}
}

// Requests are counted by host label and status, or "error" when no
// response came.
func TestRequestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	hosts := newHostTable(sources.NewHosts([]sources.HostPolicy{{Host: "a.example"}}), func(string) string { return "" })
	ok := &requestMetrics{next: &recordingRT{}, hosts: hosts, metrics: m}
	broken := &requestMetrics{next: &recordingRT{err: errors.New("connection refused")}, hosts: hosts, metrics: m}
	mustGet(t, ok, "https://a.example/1")
	mustGet(t, ok, "https://a.example/2")
	req, _ := http.NewRequest(http.MethodGet, "https://a.example/3", nil)
	if _, err := broken.RoundTrip(req); err == nil {
		t.Fatal("want the transport's error")
	}
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("a.example", "200")); got != 2 {
		t.Errorf("200s counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("a.example", "error")); got != 1 {
		t.Errorf("errors counted %v, want 1", got)
	}
}
