package ingest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/astroingest/astroingest/sources"
	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"
)

// newSourceClient builds the one HTTP stack every source request goes
// through, kinds' listings and downloads alike. Each layer is a small
// RoundTripper that does one thing; read from the outside in:
//
//	retryablehttp   retries a request as RetryPolicy says (Attempts, backoff, Retry-After)
//	userAgent       names astroingest to the publisher
//	credentials     adds the host's secret, and only that host's
//	hostLimits      waits for the host's concurrency slot and rate, held until the body is closed
//	requestMetrics  counts http_requests_total{host,code} for what is actually sent
//	base            the shared connection pool
//
// Retries sit outside the limits, so every attempt waits its turn like a
// new request.
func newSourceClient(base http.RoundTripper, ua string, policies sources.Hosts, getenv func(string) string, m *Metrics, p RetryPolicy) *retryablehttp.Client {
	hosts := newHostTable(policies, getenv)
	var rt http.RoundTripper = base
	rt = &requestMetrics{next: rt, hosts: hosts, metrics: m}
	rt = &hostLimits{next: rt, hosts: hosts, limits: map[string]*hostLimit{}}
	rt = &credentials{next: rt, hosts: hosts}
	rt = &userAgent{next: rt, ua: ua}
	return newRetryClient(rt, p)
}

// hostInfo is one host as the stack sees it: its policy (defaults
// applied by sources.Hosts; Host is its metric label) and its secret when
// the credential is set, with the rate the credential buys.
type hostInfo struct {
	policy sources.HostPolicy
	secret string
}

// hostTable resolves a request URL to its host, reading each host's
// secret once. Safe for concurrent use.
type hostTable struct {
	hosts  sources.Hosts
	getenv func(string) string
	mu     sync.Mutex
	byHost map[string]*hostInfo
}

func newHostTable(hosts sources.Hosts, getenv func(string) string) *hostTable {
	return &hostTable{hosts: hosts, getenv: getenv, byHost: map[string]*hostInfo{}}
}

func (t *hostTable) lookup(u *url.URL) *hostInfo {
	hp := t.hosts.ForURL(u)
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.byHost[hp.Host]; h != nil {
		return h
	}
	h := &hostInfo{policy: hp}
	if c := hp.Credential; c != nil && c.Env != "" {
		h.secret = t.getenv(c.Env)
		if h.secret != "" && c.RPS > 0 {
			h.policy.RPS = c.RPS // a key buys a higher rate (NCBI: 3 -> 10)
		}
	}
	t.byHost[hp.Host] = h
	return h
}

// userAgent sets the User-Agent of every request.
type userAgent struct {
	next http.RoundTripper
	ua   string
}

func (t *userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.Header.Set("User-Agent", t.ua)
	return t.next.RoundTrip(out)
}

// credentials adds the host's secret, as a header or a query parameter,
// to requests for that host only.
type credentials struct {
	next  http.RoundTripper
	hosts *hostTable
}

func (t *credentials) RoundTrip(req *http.Request) (*http.Response, error) {
	h := t.hosts.lookup(req.URL)
	c := h.policy.Credential
	if c == nil || h.secret == "" || c.Header == "" && c.Query == "" {
		return t.next.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	if c.Header != "" {
		out.Header.Set(c.Header, h.secret)
	} else {
		q := out.URL.Query()
		q.Set(c.Query, h.secret)
		u := *out.URL
		u.RawQuery = q.Encode()
		out.URL = &u
	}
	return t.next.RoundTrip(out)
}

// hostLimit is the politeness state of one host for one run.
type hostLimit struct {
	sem chan struct{}
	lim *rate.Limiter
}

// hostLimits enforces each host's concurrency and rate. A request holds
// its host's slot until its response body is closed, because the
// connection is busy until then.
type hostLimits struct {
	next   http.RoundTripper
	hosts  *hostTable
	mu     sync.Mutex
	limits map[string]*hostLimit // by policy host
}

func (t *hostLimits) limitFor(h *hostInfo) *hostLimit {
	t.mu.Lock()
	defer t.mu.Unlock()
	hl := t.limits[h.policy.Host]
	if hl == nil {
		hl = &hostLimit{sem: make(chan struct{}, h.policy.Concurrency), lim: rate.NewLimiter(rate.Limit(h.policy.RPS), h.policy.Burst)}
		t.limits[h.policy.Host] = hl
	}
	return hl
}

func (t *hostLimits) RoundTrip(req *http.Request) (*http.Response, error) {
	h := t.hosts.lookup(req.URL)
	hl := t.limitFor(h)
	ctx := req.Context()
	select {
	case hl.sem <- struct{}{}:
	case <-ctx.Done():
		closeReqBody(req)
		return nil, ctx.Err()
	}
	release := sync.OnceFunc(func() { <-hl.sem })
	if err := hl.lim.Wait(ctx); err != nil {
		release()
		closeReqBody(req)
		return nil, fmt.Errorf("rate limit for %s: %w", h.policy.Host, err)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// requestMetrics counts every request sent, by host label and status
// ("error" when no response came).
type requestMetrics struct {
	next    http.RoundTripper
	hosts   *hostTable
	metrics *Metrics
}

func (t *requestMetrics) RoundTrip(req *http.Request) (*http.Response, error) {
	label := t.hosts.lookup(req.URL).policy.Host
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.metrics.httpRequest(label, "error")
		return nil, err
	}
	t.metrics.httpRequest(label, strconv.Itoa(resp.StatusCode))
	return resp, nil
}

func closeReqBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// releasingBody frees the host slot when the body is done with.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
