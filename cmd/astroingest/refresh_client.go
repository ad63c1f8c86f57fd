package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/astroingest/astroingest/sources"
)

// politeTransport is how "sources refresh" reaches publishers: the engine's
// transport lives in ingest, so this is the command's own, small one. It
// sends our user agent, holds one request at a time (until its body is
// closed), keeps each host to the requests per second of its policy in the
// registry, and refuses a gated host (sources.ReasonGated) unless the
// gate's variable is 1 or --allow-gated is given, as run does. No
// refreshed host takes a credential, so none is sent.
type politeTransport struct {
	next       http.RoundTripper
	hosts      sources.Hosts
	userAgent  string
	allowGated bool
	getenv     func(string) string

	one chan struct{} // the one request in flight

	mu     sync.Mutex
	limits map[string]*rate.Limiter
}

// newPoliteClient returns the client the refreshers use.
func newPoliteClient(next http.RoundTripper, hosts sources.Hosts, allowGated bool, getenv func(string) string) *http.Client {
	t := &politeTransport{
		next: next, hosts: hosts, userAgent: userAgent(), allowGated: allowGated, getenv: getenv,
		one: make(chan struct{}, 1), limits: map[string]*rate.Limiter{},
	}
	return &http.Client{Transport: t, Timeout: 5 * time.Minute}
}

func (t *politeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.hosts.ForURL(req.URL)
	if p.Gate != "" && t.getenv(p.Gate) != "1" && !t.allowGated {
		return nil, &sources.FetchError{Reason: sources.ReasonGated, Detail: fmt.Sprintf("host %s is gated: set %s=1 to allow it, or pass --allow-gated (%s)", p.Host, p.Gate, p.GateReason)}
	}
	ctx := req.Context()
	select {
	case t.one <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := t.limiter(p).Wait(ctx); err != nil {
		<-t.one
		return nil, err
	}
	r := req.Clone(ctx)
	r.Header.Set("User-Agent", t.userAgent)
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		<-t.one
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { <-t.one }}
	return resp, nil
}

// limiter is the host's rate limiter, made on its first request.
func (t *politeTransport) limiter(p sources.HostPolicy) *rate.Limiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.limits[p.Host]
	if !ok {
		l = rate.NewLimiter(rate.Limit(p.RPS), max(1, p.Burst))
		t.limits[p.Host] = l
	}
	return l
}

// releaseBody ends the request's turn when its body is closed, once.
type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
