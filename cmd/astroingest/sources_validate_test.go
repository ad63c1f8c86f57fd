package main

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/sources"
)

// paramsFamily is a one-entry family of the given kind and params; its
// params: line is line 12 of the file.
func paramsFamily(kind, url, params string) string {
	return `families:
  - id: t
    domain: astronomy
    title: "T"
    provider: "P"
    license: "CC0"
    citation: "C (2025)"
    homepage: "https://example.org/"
    kind: ` + kind + `
    entry:
      id: t-1
      params: ` + params + `
      key: "t/one"
      url: "` + url + `"
`
}

// yamlParams renders params as a YAML flow mapping of templates: quoted,
// with braces doubled so they stay literal.
func yamlParams(params map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := strings.NewReplacer("{", "{{", "}", "}}").Replace(params[k])
		parts = append(parts, k+": "+strconv.Quote(v))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestValidateKindParams holds every kind with params to refusing a bad one
// at validate time, as FILE:LINE at the entry's params, with the message the
// kind gives when it fetches. It goes through the real kind table.
func TestValidateKindParams(t *testing.T) {
	for _, tc := range []struct {
		kind, url string
		params    map[string]string
		msg       string
	}{
		{"http", "https://example.org/a.fits", map[string]string{"md5": "abc123"},
			`params md5 "abc123" is not a hex md5 digest`},
		{"index", "https://example.org/d/", map[string]string{"recursive": "true", "max_depth": "-1"},
			`params max_depth "-1": want a non-negative integer`},
		{"index", "https://example.org/d/", map[string]string{"include": "*.fits,[a"},
			`params include: bad glob "[a": syntax error in pattern`},
		{"manifest", "https://example.org/list.txt", map[string]string{"format": "csv"},
			`params format "csv": want md5sum, metalink, table, assembly_summary or curl_script`},
		{"manifest", "https://example.org/list.csv", map[string]string{"format": "table", "delimiter": ";;"},
			`params delimiter ";;": want one character or "tab"`},
		{"manifest", "https://example.org/assembly_summary.txt", map[string]string{"format": "assembly_summary"},
			`params include is required for format assembly_summary (e.g. "*_genomic.fna.gz")`},
		{"manifest", "https://example.org/get.sh", map[string]string{"format": "curl_script", "limit": "0"},
			`params limit "0": want a positive whole number of files`},
		{"mast", "https://mast.stsci.edu", map[string]string{"filters": "[]"},
			`mast: params filters must be a non-empty JSON list of {"paramName":..., "values":[...]}: empty list`},
		{"cds", "https://cds.climate.copernicus.eu/api", map[string]string{"dataset": "../x", "request": "{}"},
			`cds: params dataset "../x": want a dataset name, e.g. reanalysis-era5-single-levels`},
		{"tap", "https://archive.eso.org/tap_obs", map[string]string{"query": "SELECT access_url FROM ivoa.ObsCore", "url_column": "access_url", "size_column": "access_estsize"},
			`tap: params size_column access_estsize is an estimate in kB, not a size in bytes; leave size_column empty`},
	} {
		t.Run(tc.kind+" "+tc.msg, func(t *testing.T) {
			dir := writeRegistry(t, map[string]string{"r.yaml": paramsFamily(tc.kind, tc.url, yamlParams(tc.params))})
			file := filepath.Join(dir, "r.yaml")
			code, stdout, stderr := runSourcesCmd("validate", file)
			want := file + `:12: families[0].entry.params: entry "t-1": ` + tc.msg + "\n" +
				"sources validate: the registry has 1 error(s)\n"
			if code != exitUsage || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q\nstderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
			}

			// The kind refuses the same params with the same message when
			// it fetches, before any request.
			noNet := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				t.Errorf("%s kind sent %s %s before checking its params", tc.kind, r.Method, r.URL)
				return nil, errors.New("no network in this test")
			})}
			e := sources.Entry{ID: "t-1", Kind: tc.kind, URL: tc.url, Params: tc.params, File: file, Line: 12}
			_, err := kindTable()[tc.kind].Objects(context.Background(), noNet, e)
			if want := file + ":12: entry t-1: " + tc.msg; err == nil || err.Error() != want {
				t.Errorf("Objects: %v\nwant %s", err, want)
			}
		})
	}
}

// A bad param stops a run before it writes anything, like any other
// registry error.
func TestBadParamsStopRun(t *testing.T) {
	dir := writeRegistry(t, map[string]string{"r.yaml": paramsFamily("manifest", "https://example.org/list.txt", yamlParams(map[string]string{"format": "csv"}))})
	mirror := filepath.Join(t.TempDir(), "mirror")
	code, _, stderr := runCmd(t, context.Background(), "backfill", "--family", "t", "--registry", dir, "--bucket", "file://"+mirror)
	if code != exitUsage || !strings.Contains(stderr, `r.yaml:12: families[0].entry.params: entry "t-1": params format "csv"`) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(mirror); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a registry error wrote %s (%v)", mirror, err)
	}
}
