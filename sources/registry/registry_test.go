package registry_test

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/sources"
)

// These tests check facts of the embedded registry's content that the loader
// cannot know: each one guards a fix made against the publishers' evidence
// (see the # Evidence: comments in the YAML).

func load(t *testing.T) *sources.Registry {
	t.Helper()
	r, err := sources.Default()
	if err != nil {
		t.Fatalf("embedded registry does not load:\n%v", err)
	}
	return r
}

// Every entry's host has a declared policy: an undeclared host runs at the
// defaults (4 at a time, 10 req/s), too fast for most publishers in scope.
func TestEveryEntryHostIsDeclared(t *testing.T) {
	r := load(t)
	undeclared := map[string]string{}
	for _, e := range r.Entries {
		u, err := url.Parse(e.URL)
		if err != nil {
			t.Fatalf("entry %s: URL %q: %v", e.ID, e.URL, err)
		}
		if r.Hosts.ForURL(u).File == "" {
			undeclared[u.Host] = e.ID
		}
	}
	for host, id := range undeclared {
		t.Errorf("host %s (entry %s and maybe others) has no policy in hosts.yaml", host, id)
	}
}

// Credentials go only where the publisher documents them. NCBI's API key is
// for E-utilities and Datasets, not the file server; HAPI sends no key to
// HITRAN's /lbl/api; the CDS token must not travel to the result store.
func TestHostCredentials(t *testing.T) {
	r := load(t)
	for _, tt := range []struct{ host, env string }{
		{"cds.climate.copernicus.eu", "CDS_API_KEY"},
		{"object-store.os-api.cci2.ecmwf.int", ""},
		{"ftp.ncbi.nlm.nih.gov", ""},
		{"hitran.org", ""},
	} {
		p := r.Hosts.For("https://" + tt.host + "/")
		if p.File == "" {
			t.Errorf("%s: not declared", tt.host)
			continue
		}
		got := ""
		if p.Credential != nil {
			got = p.Credential.Env
		}
		if got != tt.env {
			t.Errorf("%s: credential %q, want %q", tt.host, got, tt.env)
		}
	}
}

// NCBI retired refseq_category "representative genome" (NCBI Insights,
// 2024-09-25): a filter on it selects nothing.
func TestNoRetiredRefSeqCategory(t *testing.T) {
	for _, e := range load(t).Entries {
		if f := e.Params["filter"]; strings.Contains(f, "representative genome") {
			t.Errorf("entry %s filters on %q, a category NCBI no longer assigns", e.ID, f)
		}
	}
}

// ExoMol splits a line list into files of equal wavenumber steps from 0
// (<stem>__<lo>-<hi>.trans.bz2). A missing or doubled row in the table would
// silently drop or repeat part of a line list.
func TestExomolTransitionsAreContiguous(t *testing.T) {
	r := load(t)
	re := regexp.MustCompile(`^(.+__[^_]+)__(\d{5})-(\d{5})\.trans\.bz2$`)
	chunks := map[string][][2]int{}
	n := 0
	for _, e := range r.Entries {
		if e.Family != "exomol-transitions" {
			continue
		}
		n++
		name := e.URL[strings.LastIndex(e.URL, "/")+1:]
		m := re.FindStringSubmatch(name)
		if m == nil {
			if !strings.HasSuffix(name, ".trans.bz2") {
				t.Errorf("entry %s: %q is not a transition file", e.ID, name)
			}
			continue
		}
		lo, _ := strconv.Atoi(m[2])
		hi, _ := strconv.Atoi(m[3])
		chunks[m[1]] = append(chunks[m[1]], [2]int{lo, hi})
	}
	if n == 0 {
		t.Fatal("no exomol-transitions entries")
	}
	for stem, cs := range chunks {
		sort.Slice(cs, func(i, j int) bool { return cs[i][0] < cs[j][0] })
		step := cs[0][1] - cs[0][0]
		for i, c := range cs {
			if want := [2]int{i * step, (i + 1) * step}; c != want {
				t.Errorf("%s: chunk %d is %05d-%05d, want %05d-%05d", stem, i, c[0], c[1], want[0], want[1])
				break
			}
		}
	}
}

// TESS sector lists have no gaps: each product runs from its first sector to
// its last without a hole.
func TestTESSSectorsAreContiguous(t *testing.T) {
	r := load(t)
	re := regexp.MustCompile(`^tess-sector-(\d+)-([a-z-]+)$`)
	sectors := map[string][]int{}
	for _, e := range r.Entries {
		if e.Family != "tess-spoc-sector-scripts" && e.Family != "tess-spoc-fast-sector-scripts" {
			continue
		}
		m := re.FindStringSubmatch(e.ID)
		if m == nil {
			t.Fatalf("entry %s: unexpected ID", e.ID)
		}
		s, _ := strconv.Atoi(m[1])
		sectors[m[2]] = append(sectors[m[2]], s)
	}
	first := map[string]int{"lc": 1, "tp": 1, "dv": 1, "cbv": 1, "fast-lc": 27, "fast-tp": 27}
	for product, start := range first {
		ss := sectors[product]
		if len(ss) == 0 {
			t.Errorf("%s: no sectors", product)
			continue
		}
		sort.Ints(ss)
		for i, s := range ss {
			if s != start+i {
				t.Errorf("%s: sector %d where %d was due (sectors run from %d with no gap)", product, s, start+i, start)
				break
			}
		}
	}
}
