package ingest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/astroingest/astroingest/sources"
)

// maxRedirects is the longest redirect chain followed, as browsers do.
const maxRedirects = 10

// redirectError is a redirect the engine does not follow: a loop or a
// chain too long (too_many_redirects), or one to a host the entry's
// family does not allow.
type redirectError struct {
	reason string
	detail string
}

func (e *redirectError) Error() string { return e.detail }

type redirectHostsKey struct{}

// withRedirectHosts lets the requests made under ctx be redirected to
// hosts (an entry's family's redirect_hosts), besides their own.
func withRedirectHosts(ctx context.Context, hosts []string) context.Context {
	if len(hosts) == 0 {
		return ctx
	}
	return context.WithValue(ctx, redirectHostsKey{}, hosts)
}

// redirectPolicy is the source client's CheckRedirect. A redirect to
// another host is followed only where the family allows it: MAST and the
// CDS hand out storage URLs, while a publisher sending a download to a
// login service means the data is not there to fetch. The credentials
// stack adds a host's secret per request, so a followed redirect never
// carries it to the other host.
func redirectPolicy(req *http.Request, via []*http.Request) error {
	for _, v := range via {
		if v.URL.String() == req.URL.String() {
			return &redirectError{sources.ReasonTooManyRedirects, fmt.Sprintf("redirect loop: %s redirects back to itself after %d hops", v.URL.Redacted(), len(via))}
		}
	}
	if len(via) >= maxRedirects {
		return &redirectError{sources.ReasonTooManyRedirects, fmt.Sprintf("stopped after %d redirects, at %s", len(via), req.URL.Redacted())}
	}
	from, to := strings.ToLower(via[0].URL.Hostname()), strings.ToLower(req.URL.Hostname())
	allowed, _ := req.Context().Value(redirectHostsKey{}).([]string)
	if to == from || slices.Contains(allowed, to) {
		return nil
	}
	return &redirectError{sources.ReasonBadResponse, fmt.Sprintf("%s redirected to another host, %s, which the family does not allow (add it to redirect_hosts if the publisher serves its data there)", from, to)}
}
