package sources

import (
	"cmp"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Host policy defaults, for hosts the registry does not declare and for the
// fields a declaration leaves out (SCHEMA.md, "hosts"). Hosts applies them;
// nothing else should.
const (
	DefaultConcurrency = 4
	DefaultRPS         = 10
)

// HostPolicy is the politeness and credential policy for one host. Values
// handed out by Hosts have their defaults applied and are read-only: the
// Credential pointer is shared.
type HostPolicy struct {
	Host        string
	Concurrency int
	RPS         float64
	// Burst is the token-bucket burst; its default is max(1, RPS) of the
	// host's own RPS, also when a credential's RPS replaces RPS.
	Burst      int
	Gate       string
	GateReason string
	Credential *Credential
	File       string
	Line       int
}

// Credential names where a host's secret comes from. The secret itself is
// read from the environment at run time and never stored here.
type Credential struct {
	Env      string
	Header   string
	Query    string
	Required bool
	// RPS replaces the host's RPS when the credential is present (NCBI: 3 ->
	// 10). Only the caller that reads the secret (the engine's transport)
	// knows whether it is, so Hosts leaves this rule to it.
	RPS float64
}

// Hosts is the host policy table of a registry: the one owner of host
// defaults and of the lookup of a URL's policy. The loader builds it once;
// it is read-only afterwards and safe for concurrent use. The zero value
// declares no host, so every URL gets the defaults.
type Hosts struct {
	byHost map[string]HostPolicy // lower-case "name" or "name:port"
}

// NewHosts builds a table from declared policies, applying the defaults to
// the fields left zero. Hosts are matched case-insensitively; of two
// policies for one host the later wins (the loader reports such duplicates
// before it gets here).
func NewHosts(policies []HostPolicy) Hosts {
	h := Hosts{byHost: make(map[string]HostPolicy, len(policies))}
	for _, p := range policies {
		p.Host = strings.ToLower(p.Host)
		h.byHost[p.Host] = withDefaults(p)
	}
	return h
}

func withDefaults(p HostPolicy) HostPolicy {
	if p.Concurrency <= 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.RPS <= 0 {
		p.RPS = DefaultRPS
	}
	if p.Burst <= 0 {
		p.Burst = max(1, int(p.RPS))
	}
	return p
}

// For returns the policy of rawURL's host: the one declared for its
// "name:port", else for its name (so a declared name also covers an
// explicit :443, and loopback tests can declare a port), else the defaults
// under the URL's host name. Host is the key the policy is declared under,
// or the URL's lower-case host name when undeclared, so it can key per-host
// limits and metric labels. A URL that does not parse gets the defaults
// with an empty Host.
func (h Hosts) For(rawURL string) HostPolicy {
	u, err := url.Parse(rawURL)
	if err != nil {
		return withDefaults(HostPolicy{})
	}
	return h.ForURL(u)
}

// ForURL is For on a parsed URL, for a RoundTripper that has the request's
// URL already.
func (h Hosts) ForURL(u *url.URL) HostPolicy {
	if p, ok := h.byHost[strings.ToLower(u.Host)]; ok {
		return p
	}
	name := strings.ToLower(u.Hostname())
	if p, ok := h.byHost[name]; ok {
		return p
	}
	return withDefaults(HostPolicy{Host: name})
}

// Policies returns the declared policies, defaults applied, sorted by
// host, in a fresh slice: for callers that walk every host, such as one
// collecting the credential variables to redact.
func (h Hosts) Policies() []HostPolicy {
	return slices.SortedFunc(maps.Values(h.byHost), func(a, b HostPolicy) int { return cmp.Compare(a.Host, b.Host) })
}

// Len is the number of declared hosts.
func (h Hosts) Len() int { return len(h.byHost) }
