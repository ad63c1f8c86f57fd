package e2e

// Registries for the tests, written as YAML the way a user writes them, and
// what the emulator answers a rerun with.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
)

// newSource starts an emulated publisher that closes with the test.
func newSource(t *testing.T) *emulator.Server {
	srv := emulator.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

// hostYAML is one host policy; extra is appended verbatim (indented lines).
func hostYAML(srv *emulator.Server, conc int, rps float64, extra string) string {
	return fmt.Sprintf("  - host: %q\n    concurrency: %d\n    rps: %g\n%s", strings.TrimPrefix(srv.URL(), "http://"), conc, rps, extra)
}

// fam is one family of a test registry. With Names the family expands over
// {n}; ID, Key, URL and Checksums may then use {n}.
type fam struct {
	ID, Domain, Kind, Key, URL, Checksums string
	Names                                 []string
	Params                                map[string]string
}

func (f fam) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - id: %s\n    domain: %s\n    title: \"E2E %s\"\n    provider: \"Emulator\"\n", f.ID, f.Domain, f.ID)
	fmt.Fprintf(&b, "    license: \"CC0\"\n    citation: \"Emulator (2025)\"\n    homepage: \"https://example.org/%s\"\n", f.ID)
	fmt.Fprintf(&b, "    kind: %s\n    schedule: monthly\n    allow_http: true\n    allow_http_reason: \"loopback emulator\"\n", f.Kind)
	id := f.ID
	if len(f.Names) > 0 {
		quoted := make([]string, len(f.Names))
		for i, n := range f.Names {
			quoted[i] = fmt.Sprintf("%q", n)
		}
		fmt.Fprintf(&b, "    expand:\n      - list: {var: n, values: [%s]}\n", strings.Join(quoted, ", "))
		id += "-{n}"
	}
	fmt.Fprintf(&b, "    entry:\n      id: %q\n      key: %q\n      url: %q\n", id, f.Key, f.URL)
	if f.Checksums != "" {
		fmt.Fprintf(&b, "      checksums: %q\n", f.Checksums)
	}
	if len(f.Params) > 0 {
		b.WriteString("      params:\n")
		keys := make([]string, 0, len(f.Params))
		for k := range f.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "        %s: %q\n", k, f.Params[k])
		}
	}
	return b.String()
}

func registryYAML(hosts []string, fams ...fam) string {
	var b strings.Builder
	if len(hosts) > 0 {
		b.WriteString("hosts:\n")
		for _, h := range hosts {
			b.WriteString(h)
		}
	}
	b.WriteString("families:\n")
	for _, f := range fams {
		b.WriteString(f.yaml())
	}
	return b.String()
}

// validators is what the emulator serves a data file with, read with one
// HEAD before the requests under test.
type validators struct {
	etag    string
	lastMod time.Time
}

func headValidators(t *testing.T, srv *emulator.Server, path string) validators {
	t.Helper()
	resp, err := srv.Client().Head(srv.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s: %d", path, resp.StatusCode)
	}
	lm, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil {
		t.Fatalf("HEAD %s: Last-Modified: %v", path, err)
	}
	return validators{etag: resp.Header.Get("ETag"), lastMod: lm}
}

// notModified reports whether the emulator (net/http.ServeContent) answers
// r with 304: If-None-Match takes precedence, else If-Modified-Since.
func notModified(r emulator.Request, v validators) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for tag := range strings.SplitSeq(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(v.etag, "W/") {
				return true
			}
		}
		return false
	}
	ims, err := http.ParseTime(r.Header.Get("If-Modified-Since"))
	return err == nil && !v.lastMod.After(ims)
}
