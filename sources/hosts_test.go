package sources

import (
	"net/url"
	"reflect"
	"testing"
)

// TestHostsFor covers the lookup order (name:port, then name, then the
// defaults) and that every policy handed out has its defaults applied.
func TestHostsFor(t *testing.T) {
	cred := &Credential{Env: "K", Query: "key", RPS: 10}
	h := NewHosts([]HostPolicy{
		{Host: "data.example.org", Concurrency: 2, RPS: 3},
		{Host: "127.0.0.1:8080", Concurrency: 9, RPS: 0.5, Burst: 4},
		{Host: "127.0.0.1", Concurrency: 1},
		{Host: "Eutils.NCBI.nlm.nih.gov", RPS: 3, Credential: cred},
	})
	def := HostPolicy{Concurrency: DefaultConcurrency, RPS: DefaultRPS, Burst: DefaultRPS}
	with := func(p HostPolicy, host string) HostPolicy { p.Host = host; return p }
	for _, tc := range []struct {
		url  string
		want HostPolicy
	}{
		{"https://data.example.org/a", HostPolicy{Host: "data.example.org", Concurrency: 2, RPS: 3, Burst: 3}},
		{"https://DATA.example.org:443/a", HostPolicy{Host: "data.example.org", Concurrency: 2, RPS: 3, Burst: 3}},
		{"http://127.0.0.1:8080/x", HostPolicy{Host: "127.0.0.1:8080", Concurrency: 9, RPS: 0.5, Burst: 4}},
		{"http://127.0.0.1:9090/x", HostPolicy{Host: "127.0.0.1", Concurrency: 1, RPS: DefaultRPS, Burst: DefaultRPS}},
		{"https://eutils.ncbi.nlm.nih.gov/entrez", HostPolicy{Host: "eutils.ncbi.nlm.nih.gov", Concurrency: DefaultConcurrency, RPS: 3, Burst: 3, Credential: cred}},
		{"https://Undeclared.org:8443/x", with(def, "undeclared.org")},
		{"://bad", def},
	} {
		if got := h.For(tc.url); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("For(%q) = %+v, want %+v", tc.url, got, tc.want)
		}
		if u, err := url.Parse(tc.url); err == nil {
			if got := h.ForURL(u); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ForURL(%q) = %+v, want %+v", tc.url, got, tc.want)
			}
		}
	}
	if got := (Hosts{}).For("https://x.org/"); got != with(def, "x.org") {
		t.Errorf("zero Hosts: For = %+v", got)
	}
	ps := h.Policies()
	if len(ps) != 4 || h.Len() != 4 {
		t.Fatalf("Policies() = %+v", ps)
	}
	for i, p := range ps {
		if p.Concurrency < 1 || p.RPS <= 0 || p.Burst < 1 || (i > 0 && ps[i-1].Host >= p.Host) {
			t.Errorf("Policies()[%d] = %+v: defaults missing or out of order", i, p)
		}
	}
}
