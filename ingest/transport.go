package ingest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/astroingest/astroingest/sources"
	"golang.org/x/time/rate"
)

// Defaults for hosts the registry does not declare (the schema's defaults).
const (
	defaultHostConcurrency = 4
	defaultHostRPS         = 10
)

// hostPolicyFor finds the policy for a URL: first by host:port, then by
// host name, so tests on loopback ports and real hosts both match.
func hostPolicyFor(hosts map[string]sources.HostPolicy, raw string) sources.HostPolicy {
	u, err := url.Parse(raw)
	if err != nil {
		return sources.HostPolicy{}
	}
	if hp, ok := hosts[strings.ToLower(u.Host)]; ok {
		return hp
	}
	if hp, ok := hosts[strings.ToLower(u.Hostname())]; ok {
		return hp
	}
	return sources.HostPolicy{Host: u.Hostname()}
}

// hostLimit is the politeness state of one host for one run.
type hostLimit struct {
	label  string // metric label: the declared host, or the URL's host name
	sem    chan struct{}
	lim    *rate.Limiter
	cred   *sources.Credential
	secret string
}

// politeTransport is the RoundTripper every source request goes through:
// per-host concurrency and rate, the user agent, the host's credential (and
// only that host's), and http_requests_total. A request holds its host's
// concurrency slot until its response body is closed, because the
// connection is busy until then.
type politeTransport struct {
	base    http.RoundTripper
	ua      string
	getenv  func(string) string
	metrics *Metrics

	mu       sync.Mutex
	policies map[string]sources.HostPolicy
	limits   map[string]*hostLimit // by policy host, or URL host name when undeclared
}

func newPoliteTransport(base http.RoundTripper, ua string, policies map[string]sources.HostPolicy, getenv func(string) string, m *Metrics) *politeTransport {
	return &politeTransport{base: base, ua: ua, getenv: getenv, metrics: m, policies: policies, limits: map[string]*hostLimit{}}
}

func (t *politeTransport) limitFor(u *url.URL) *hostLimit {
	hp, ok := t.policies[strings.ToLower(u.Host)]
	if !ok {
		hp, ok = t.policies[strings.ToLower(u.Hostname())]
	}
	key := u.Hostname()
	if ok {
		key = hp.Host
		if key == "" {
			key = u.Host
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if hl := t.limits[key]; hl != nil {
		return hl
	}
	conc := hp.Concurrency
	if conc <= 0 {
		conc = defaultHostConcurrency
	}
	rps := hp.RPS
	if rps <= 0 {
		rps = defaultHostRPS
	}
	hl := &hostLimit{label: key, sem: make(chan struct{}, conc), cred: hp.Credential}
	if c := hp.Credential; c != nil && c.Env != "" {
		hl.secret = t.getenv(c.Env)
		if hl.secret != "" && c.RPS > 0 {
			rps = c.RPS
		}
	}
	burst := hp.Burst
	if burst <= 0 {
		burst = max(1, int(rps))
	}
	hl.lim = rate.NewLimiter(rate.Limit(rps), burst)
	t.limits[key] = hl
	return hl
}

func (t *politeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	hl := t.limitFor(req.URL)
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
		return nil, fmt.Errorf("rate limit for %s: %w", hl.label, err)
	}
	out := req.Clone(ctx)
	out.Header.Set("User-Agent", t.ua)
	if c := hl.cred; c != nil && hl.secret != "" {
		switch {
		case c.Header != "":
			out.Header.Set(c.Header, hl.secret)
		case c.Query != "":
			q := out.URL.Query()
			q.Set(c.Query, hl.secret)
			u := *out.URL
			u.RawQuery = q.Encode()
			out.URL = &u
		}
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		release()
		t.metrics.httpRequest(hl.label, "error")
		return nil, err
	}
	t.metrics.httpRequest(hl.label, strconv.Itoa(resp.StatusCode))
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
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
