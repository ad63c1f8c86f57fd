package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// load loads an in-memory registry of the given files (name -> YAML).
func load(t *testing.T, files map[string]string) (*Registry, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return Loader{Kinds: testKinds()}.Load(fsys, ".")
}

// nameOnlyKind stands in the loader's tests for a real kind, which they
// cannot import (the kind packages import sources). It is never run.
type nameOnlyKind struct{}

func (nameOnlyKind) Objects(context.Context, *http.Client, Entry) ([]Object, error) {
	return nil, errors.New("nameOnlyKind is not run")
}

// testKinds has the names of cmd's kind table.
func testKinds() map[string]Kind {
	t := map[string]Kind{}
	for _, n := range []string{"http", "index", "manifest", "mast", "cds", "tap"} {
		t[n] = nameOnlyKind{}
	}
	return t
}

func mustLoad(t *testing.T, files map[string]string) *Registry {
	t.Helper()
	r, err := load(t, files)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return r
}

func ids(r *Registry) []string {
	var out []string
	for _, e := range r.Entries {
		out = append(out, e.ID)
	}
	return out
}

// family is a valid one-entry family; tests edit it with strings.Replace.
// Its lines, counted from "families:" as line 1:
//
//	2 id, 3 domain, 4 title, 5 provider, 6 license, 7 citation, 8 doi,
//	9 kind, 10 entry, 11 entry.id, 12 entry.key, 13 entry.url
const family = `families:
  - id: fam-a
    domain: climate
    title: "Title"
    provider: "Provider"
    license: "CC0"
    citation: "Someone (2024)"
    doi: "10.1000/xyz"
    kind: http
    entry:
      id: "a-1"
      key: "a/file.nc"
      url: "https://example.org/a.nc"
`

func edit(s string, pairs ...string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			panic(fmt.Sprintf("edit: %q not in text", pairs[i]))
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// second is a second family appended to family; lines 14 to 25.
func second(id, entryID, key, url string) string {
	return fmt.Sprintf(`  - id: %s
    domain: climate
    title: "Title"
    provider: "Provider"
    license: "CC0"
    citation: "Someone (2024)"
    homepage: "https://example.org/"
    kind: http
    entry:
      id: %q
      key: %q
      url: %q
`, id, entryID, key, url)
}

func TestValidationErrors(t *testing.T) {
	familyFieldList := strings.Join(familyFields, ", ")
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"unknown family field",
			map[string]string{"a.yaml": edit(family, `    license: "CC0"`, `    license: "CC0"
    licence: "CC0"`)},
			[]string{`a.yaml:7: families[0].licence: unknown field (allowed: ` + familyFieldList + `)`}},
		{"unknown top-level and entry fields",
			map[string]string{"a.yaml": "version: 2\n" + edit(family, `      url: "https://example.org/a.nc"`, `      url: "https://example.org/a.nc"
      sha: abc`)},
			[]string{
				`a.yaml:1: version: unknown field (allowed: hosts, families)`,
				`a.yaml:15: families[0].entry.sha: unknown field (allowed: id, key, url, checksums, params)`,
			}},
		{"missing license",
			map[string]string{"a.yaml": edit(family, "    license: \"CC0\"\n", "")},
			[]string{`a.yaml:2: families[0].license: missing required field`}},
		{"missing citation, title and provider",
			map[string]string{"a.yaml": edit(family, "    citation: \"Someone (2024)\"\n", "", "    title: \"Title\"\n", "", "    provider: \"Provider\"\n", "")},
			[]string{
				`a.yaml:2: families[0].title: missing required field`,
				`a.yaml:2: families[0].provider: missing required field`,
				`a.yaml:2: families[0].citation: missing required field`,
			}},
		{"empty license",
			map[string]string{"a.yaml": edit(family, `license: "CC0"`, `license: ""`)},
			[]string{`a.yaml:6: families[0].license: must not be empty`}},
		{"neither doi nor homepage",
			map[string]string{"a.yaml": edit(family, "    doi: \"10.1000/xyz\"\n", "")},
			[]string{`a.yaml:2: families[0].doi: a family needs a doi or a homepage (or both)`}},
		{"doi with resolver prefix",
			map[string]string{"a.yaml": edit(family, `doi: "10.1000/xyz"`, `doi: "https://doi.org/10.1000/xyz"`)},
			[]string{`a.yaml:8: families[0].doi: "https://doi.org/10.1000/xyz" is not a DOI (want 10.NNNN/suffix, without a https://doi.org/ prefix)`}},
		{"unknown domain",
			map[string]string{"a.yaml": edit(family, "domain: climate", "domain: weather")},
			[]string{`a.yaml:3: families[0].domain: unknown domain "weather" (want one of climate, biology, astronomy, spectroscopy)`}},
		{"unknown kind",
			map[string]string{"a.yaml": edit(family, "kind: http", "kind: ftp")},
			[]string{`a.yaml:9: families[0].kind: unknown kind "ftp" (want one of cds, http, index, manifest, mast, tap)`}},
		{"unknown schedule",
			map[string]string{"a.yaml": edit(family, "    kind: http\n", "    kind: http\n    schedule: hourly\n")},
			[]string{`a.yaml:10: families[0].schedule: unknown schedule "hourly" (want one of once, daily, weekly, monthly, yearly)`}},
		{"bad family id",
			map[string]string{"a.yaml": edit(family, "id: fam-a", "id: Fam_A")},
			[]string{`a.yaml:2: families[0].id: "Fam_A" is not a family ID (want lower-case letters, digits and "-", starting with a letter or digit)`}},
		{"duplicate family id across files",
			map[string]string{"a.yaml": family, "b.yaml": edit(family, `id: "a-1"`, `id: "b-1"`, `key: "a/file.nc"`, `key: "b/file.nc"`)},
			[]string{`b.yaml:2: families[0].id: duplicate family ID "fam-a" (first declared at a.yaml:2)`}},
		{"a copied family is one error, not one per entry",
			map[string]string{"a.yaml": family, "b.yaml": family},
			[]string{`b.yaml:2: families[0].id: duplicate family ID "fam-a" (first declared at a.yaml:2)`}},
		{"range too large",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - range: {var: n, from: 1, to: 2000000}\n    entry:\n", `"a-1"`, `"a-{n}"`, `"a/file.nc"`, `"a/{n}.nc"`)},
			[]string{`a.yaml:11: families[0].expand[0].range: yields more than 1000000 values`}},
		{"product too large",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - range: {var: n, from: 1, to: 2000}\n      - range: {var: m, from: 1, to: 1000}\n    entry:\n", `"a-1"`, `"a-{n}-{m}"`, `"a/file.nc"`, `"a/{n}/{m}.nc"`)},
			[]string{`a.yaml:2: families[0].expand: expands to more than 1000000 entries; split the family`}},
		{"duplicate entry id",
			map[string]string{"a.yaml": family + second("fam-b", "a-1", "b/file.nc", "https://example.org/b.nc")},
			[]string{`a.yaml:23: families[1].entry.id: duplicate entry ID "a-1" (also made by family "fam-a" at a.yaml:11)`}},
		{"two entries, one key",
			map[string]string{"a.yaml": family + second("fam-b", "b-1", "a/file.nc", "https://example.org/b.nc")},
			[]string{`a.yaml:24: families[1].entry.key: entry "b-1" maps to key "climate/a/file.nc", as does entry "a-1" (a.yaml:12)`}},
		{"one key under another",
			map[string]string{"a.yaml": family + second("fam-b", "b-1", "a/file.nc/part", "https://example.org/b.nc")},
			[]string{`a.yaml:24: families[1].entry.key: key "climate/a/file.nc/part" of entry "b-1" lies under key "climate/a/file.nc" of entry "a-1" (a.yaml:12); one entry's key may not be a path prefix of another's`}},
		{"nesting found past a sibling that sorts between",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - table: {columns: [n, p], rows: [[1, b], [2, b-x], [3, b/c], [4, b/c/d]]}\n    entry:\n", `"a-1"`, `"a-{n}"`, `"a/file.nc"`, `"a/{p}"`)},
			[]string{
				`a.yaml:14: families[0].entry.key: key "climate/a/b/c" of entry "a-3" lies under key "climate/a/b" of entry "a-1" (a.yaml:14); one entry's key may not be a path prefix of another's`,
				`a.yaml:14: families[0].entry.key: key "climate/a/b/c/d" of entry "a-4" lies under key "climate/a/b" of entry "a-1" (a.yaml:14); one entry's key may not be a path prefix of another's`,
				`a.yaml:14: families[0].entry.key: key "climate/a/b/c/d" of entry "a-4" lies under key "climate/a/b/c" of entry "a-3" (a.yaml:14); one entry's key may not be a path prefix of another's`,
			}},
		{"string prefix that is not a path prefix is fine",
			map[string]string{"a.yaml": family + second("fam-b", "b-1", "a/file.nc-2", "https://example.org/b.nc")},
			nil},
		{"url not http(s)",
			map[string]string{"a.yaml": edit(family, "https://example.org/a.nc", "ftp://example.org/a.nc")},
			[]string{`a.yaml:13: families[0].entry.url: entry "a-1": URL "ftp://example.org/a.nc" must be https:// (got scheme "ftp")`}},
		{"url without host",
			map[string]string{"a.yaml": edit(family, "https://example.org/a.nc", "https:///a.nc")},
			[]string{`a.yaml:13: families[0].entry.url: entry "a-1": URL "https:///a.nc" has no host`}},
		{"url with a password refused, without echoing it",
			map[string]string{"a.yaml": edit(family, "https://example.org/a.nc", "https://alice:hunter2pw@example.org/a.nc")},
			[]string{`a.yaml:13: families[0].entry.url: entry "a-1": URL "https://alice:xxxxx@example.org/a.nc" carries a user name or password; give the secret through hosts[].credential (read from an environment variable), never in a URL`}},
		{"url with a user name refused",
			map[string]string{"a.yaml": edit(family, "https://example.org/a.nc", "http://alice@example.org/a.nc")},
			[]string{`a.yaml:13: families[0].entry.url: entry "a-1": URL "http://alice@example.org/a.nc" carries a user name or password; give the secret through hosts[].credential (read from an environment variable), never in a URL`}},
		{"plain http refused",
			map[string]string{"a.yaml": edit(family, "https://example.org/a.nc", "http://example.org/a.nc")},
			[]string{`a.yaml:13: families[0].entry.url: entry "a-1": URL "http://example.org/a.nc" uses http://; use https://, or set allow_http: true and allow_http_reason on the family`}},
		{"plain http checksums refused",
			map[string]string{"a.yaml": edit(family, `      url: "https://example.org/a.nc"`, `      url: "https://example.org/a.nc"
      checksums: "http://example.org/MD5SUMS"`)},
			[]string{`a.yaml:14: families[0].entry.checksums: entry "a-1": URL "http://example.org/MD5SUMS" uses http://; use https://, or set allow_http: true and allow_http_reason on the family`}},
		{"allow_http without reason",
			map[string]string{"a.yaml": edit(family, "https://example.org/a.nc", "http://example.org/a.nc", "    kind: http\n", "    kind: http\n    allow_http: true\n")},
			[]string{`a.yaml:10: families[0].allow_http_reason: allow_http: true needs allow_http_reason (why this publisher cannot be fetched over https)`}},
		{"allow_http with reason",
			map[string]string{"a.yaml": edit(family, "https://example.org/a.nc", "http://example.org/a.nc", "    kind: http\n", "    kind: http\n    allow_http: true\n    allow_http_reason: \"publisher has no TLS\"\n")},
			nil},
		{"key leaves its domain",
			map[string]string{"a.yaml": edit(family, `key: "a/file.nc"`, `key: "../biology/file.nc"`)},
			[]string{`a.yaml:12: families[0].entry.key: entry "a-1": key "../biology/file.nc" leaves the climate/ prefix`}},
		{"absolute key leaves its domain",
			map[string]string{"a.yaml": edit(family, `key: "a/file.nc"`, `key: "/etc/passwd"`)},
			[]string{`a.yaml:12: families[0].entry.key: entry "a-1": key "/etc/passwd" leaves the climate/ prefix`}},
		{"key fails bucket validation",
			map[string]string{"a.yaml": edit(family, `key: "a/file.nc"`, `key: "a//file.nc"`)},
			[]string{`a.yaml:12: families[0].entry.key: entry "a-1": invalid object key "climate/a//file.nc": empty path segment ("//" or trailing '/')`}},
		{"bad entry id",
			map[string]string{"a.yaml": edit(family, `id: "a-1"`, `id: "a/1"`)},
			[]string{`a.yaml:11: families[0].entry.id: entry ID "a/1" is not valid (want letters, digits, ".", "_" and "-", starting with a letter or digit, at most 200 bytes)`}},
		{"range yields nothing",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - range: {var: n, from: 10, to: 5}\n    entry:\n", `"a-1"`, `"a-{n}"`, `"a/file.nc"`, `"a/{n}.nc"`)},
			[]string{`a.yaml:11: families[0].expand[0].range: yields nothing: from 10 > to 5`}},
		{"range with zero step",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - range: {var: n, from: 1, to: 5, step: 0}\n    entry:\n", `"a-1"`, `"a-{n}"`, `"a/file.nc"`, `"a/{n}.nc"`)},
			[]string{`a.yaml:11: families[0].expand[0].range: step 0 must be at least 1`}},
		{"range with a bad format",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - range: {var: n, from: 1, to: 5, format: \"%s-%d\"}\n    entry:\n", `"a-1"`, `"a-{n}"`, `"a/file.nc"`, `"a/{n}.nc"`)},
			[]string{`a.yaml:11: families[0].expand[0].range: format "%s-%d" must hold exactly one integer verb, such as %d or %03d`}},
		{"dates yield nothing",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - dates: {from: \"2020-02\", to: \"2020-01\", step: month}\n    entry:\n", `"a-1"`, `"a-{yyyy}{mm}"`, `"a/file.nc"`, `"a/{yyyy}{mm}.nc"`)},
			[]string{`a.yaml:11: families[0].expand[0].dates: yields nothing: from "2020-02" is after to "2020-01"`}},
		{"dates in the wrong shape",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - dates:\n          from: \"2020\"\n          to: \"2020-01\"\n          step: month\n    entry:\n", `"a-1"`, `"a-{yyyy}{mm}"`, `"a/file.nc"`, `"a/{yyyy}{mm}.nc"`)},
			[]string{`a.yaml:12: families[0].expand[0].dates.from: "2020" is not a month date (want YYYY-MM)`}},
		{"empty list",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - list: {var: v, values: []}\n    entry:\n", `"a-1"`, `"a-{v}"`, `"a/file.nc"`, `"a/{v}.nc"`)},
			[]string{`a.yaml:11: families[0].expand[0].list.values: yields nothing: the list is empty or missing`}},
		{"variable defined twice",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - list: {var: v, values: [x]}\n      - range: {var: v, from: 1, to: 2}\n    entry:\n", `"a-1"`, `"a-{v}"`, `"a/file.nc"`, `"a/{v}.nc"`)},
			[]string{`a.yaml:12: families[0].expand[1]: variable {v} is defined twice`}},
		{"two forms in one expand item",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - list: {var: v, values: [x]}\n        range: {var: n, from: 1, to: 2}\n    entry:\n", `"a-1"`, `"a-{v}"`)},
			[]string{`a.yaml:11: families[0].expand[0]: want exactly one of dates, range, list, table`}},
		{"inline table row of the wrong width",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - table:\n          columns: [a, b]\n          rows:\n            - [1, 2]\n            - [3]\n    entry:\n", `"a-1"`, `"a-{a}{b}"`, `"a/file.nc"`, `"a/{a}{b}.nc"`)},
			[]string{`a.yaml:15: families[0].expand[0].table.rows[1]: has 1 values, want 2 (columns: a, b)`}},
		{"missing table file",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - table: {file: tables/none.tsv}\n    entry:\n", `"a-1"`, `"a-{a}"`)},
			[]string{`a.yaml:11: families[0].expand[0].table.file: open tables/none.tsv: file does not exist`}},
		{"table file rows checked",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - table: {file: t.tsv}\n    entry:\n", `"a-1"`, `"a-{a}"`, `"a/file.nc"`, `"a/{a}.nc"`),
				"t.tsv": "a\tb c\n1\t2\n3\n"},
			[]string{
				`t.tsv:1: table: column name "b c" is not a variable name (want letters, digits and "_")`,
				`t.tsv:3: table: row has 1 fields, the header has 2`,
			}},
		{"unknown template variable",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - list: {var: v, values: [x]}\n    entry:\n", `"a-1"`, `"a-{v}"`, `"a/file.nc"`, `"a/{w}.nc"`)},
			[]string{`a.yaml:14: families[0].entry.key: unknown template variable {w} (defined: v)`}},
		{"template variable without expand",
			map[string]string{"a.yaml": edit(family, `"a-1"`, `"a-{n}"`)},
			[]string{`a.yaml:11: families[0].entry.id: unknown template variable {n} (this family has no expand, so it defines no variables)`}},
		{"unclosed template brace",
			map[string]string{"a.yaml": edit(family, `"https://example.org/a.nc"`, `"https://example.org/{a.nc"`)},
			[]string{`a.yaml:13: families[0].entry.url: unclosed "{" at offset 20 (write "{{" for a literal brace)`}},
		{"stray closing brace",
			map[string]string{"a.yaml": edit(family, `"a/file.nc"`, `"a/file}.nc"`)},
			[]string{`a.yaml:12: families[0].entry.key: "}" at offset 6 has no matching "{" (write "}}" for a literal brace)`}},
		{"id without variables in an expanded family",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - range: {var: n, from: 1, to: 3}\n    entry:\n", `"a/file.nc"`, `"a/{n}.nc"`)},
			[]string{`a.yaml:13: families[0].entry.id: uses no expand variable, so all 3 entries would share one ID`}},
		{"host declared twice",
			map[string]string{
				"a.yaml": "hosts:\n  - host: example.org\n    rps: 2\n",
				"b.yaml": "hosts:\n  - host: other.org\n  - host: example.org\n" + family},
			[]string{`b.yaml:3: hosts[1].host: host "example.org" is declared twice (first at a.yaml:2)`}},
		{"credential with header and query",
			map[string]string{"a.yaml": "hosts:\n  - host: example.org\n    credential: {env: KEY, header: X-Key, query: key}\n"},
			[]string{`a.yaml:3: hosts[0].credential: set exactly one of header or query (both are set)`}},
		{"credential with neither header nor query",
			map[string]string{"a.yaml": "hosts:\n  - host: example.org\n    credential:\n      env: KEY\n      required: true\n"},
			[]string{`a.yaml:4: hosts[0].credential: set exactly one of header or query (neither is set)`}},
		{"host with scheme, bad numbers and an ungated reason",
			map[string]string{"a.yaml": "hosts:\n  - host: https://example.org\n    concurrency: 0\n    rps: fast\n    gate_reason: why\n"},
			[]string{
				`a.yaml:2: hosts[0].host: "https://example.org" is not a host name (want e.g. data.example.org, lower case, without scheme or path)`,
				`a.yaml:3: hosts[0].concurrency: must be at least 1, got 0`,
				`a.yaml:4: hosts[0].rps: want a number, got "fast"`,
				`a.yaml:5: hosts[0].gate_reason: gate_reason without gate`,
			}},
		{"gate without reason",
			map[string]string{"a.yaml": "hosts:\n  - host: rest.kegg.jp\n    gate: KEGG_ACADEMIC_USE\n"},
			[]string{`a.yaml:3: hosts[0].gate_reason: a gated host must say why in gate_reason`}},
		{"wrong node types",
			map[string]string{"a.yaml": edit(family, `title: "Title"`, `title: [a, b]`, "    kind: http\n", "    kind: http\n    budget_bytes: lots\n")},
			[]string{
				`a.yaml:4: families[0].title: want a string, got a list`,
				`a.yaml:10: families[0].budget_bytes: want an integer, got "lots"`,
			}},
		{"bad content types and redirect hosts",
			map[string]string{"a.yaml": edit(family, "    kind: http\n", "    kind: http\n    content_types: [application/x-netcdf, netcdf]\n    redirect_hosts: [storage.example.org, \"https://cdn.example.org/x\"]\n")},
			[]string{
				`a.yaml:10: families[0].content_types[1]: "netcdf" is not a media type (want type/subtype, e.g. application/x-netcdf)`,
				`a.yaml:11: families[0].redirect_hosts[1]: "https://cdn.example.org/x" is not a host name (want e.g. mast.stsci.edu, without scheme, port or path)`,
			}},
		{"field given twice",
			map[string]string{"a.yaml": edit(family, "    kind: http\n", "    kind: http\n    kind: index\n")},
			[]string{`a.yaml:10: families[0].kind: field given twice`}},
		{"yaml syntax error",
			map[string]string{"a.yaml": "families:\n\t- id: x\n", "b.yaml": edit(family, "fam-a", "fam-b", `"a-1"`, `"b-1"`, "kind: http", "kind: nope")},
			[]string{
				`a.yaml:2: yaml: found character that cannot start any token`,
				`b.yaml:9: families[0].kind: unknown kind "nope" (want one of cds, http, index, manifest, mast, tap)`,
			}},
		{"two documents in one file",
			map[string]string{"a.yaml": family + "---\n" + family},
			[]string{`a.yaml:14: document: a registry file holds one YAML document; split it into files`}},
		{"every error in a family is reported",
			map[string]string{"a.yaml": edit(family, "    license: \"CC0\"\n", "", "kind: http", "kind: ftp", "https://example.org/a.nc", "http://example.org/a.nc", "domain: climate", "domain: geology")},
			[]string{
				`a.yaml:2: families[0].license: missing required field`,
				`a.yaml:3: families[0].domain: unknown domain "geology" (want one of climate, biology, astronomy, spectroscopy)`,
				`a.yaml:8: families[0].kind: unknown kind "ftp" (want one of cds, http, index, manifest, mast, tap)`,
				`a.yaml:12: families[0].entry.url: entry "a-1": URL "http://example.org/a.nc" uses http://; use https://, or set allow_http: true and allow_http_reason on the family`,
			}},
		{"keys are not judged without a valid domain",
			map[string]string{"a.yaml": edit(family, "    domain: climate\n", "", `key: "a/file.nc"`, `key: "../x"`)},
			[]string{`a.yaml:2: families[0].domain: missing required field`}},
		{"a problem shared by an expanded family is reported once with a count",
			map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - range: {var: n, from: 1, to: 4}\n    entry:\n", `"a-1"`, `"a-{n}"`, `"a/file.nc"`, `"a/{n}.nc"`, "https://example.org/a.nc", "http://example.org/{n}.nc")},
			[]string{
				`a.yaml:15: families[0].entry.url: entry "a-1": URL "http://example.org/1.nc" uses http://; use https://, or set allow_http: true and allow_http_reason on the family`,
				`a.yaml:15: families[0].entry.url: 3 more entries of family "fam-a" have the same problem`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := load(t, tt.files)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want no error, got:\n%v", err)
				}
				return
			}
			var verrs ValidationErrors
			if !errors.As(err, &verrs) {
				t.Fatalf("want ValidationErrors, got %T %v", err, err)
			}
			if r != nil {
				t.Errorf("a registry with errors was returned")
			}
			var got []string
			for _, e := range verrs {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
}

func TestValidationErrorFields(t *testing.T) {
	_, err := load(t, map[string]string{"a.yaml": edit(family, "kind: http", "kind: ftp")})
	var verrs ValidationErrors
	if !errors.As(err, &verrs) || len(verrs) != 1 {
		t.Fatalf("want one ValidationError, got %v", err)
	}
	want := ValidationError{File: "a.yaml", Line: 9, Field: "families[0].kind", Msg: `unknown kind "ftp" (want one of cds, http, index, manifest, mast, tap)`}
	if e := verrs[0]; e.File != want.File || e.Line != want.Line || e.Field != want.Field || e.Msg != want.Msg {
		t.Errorf("got %+v, want %+v", *e, want)
	}
}

func TestLoaderKinds(t *testing.T) {
	fsys := fstest.MapFS{"a.yaml": {Data: []byte(edit(family, "kind: http", "kind: custom"))}}
	if _, err := (Loader{Kinds: map[string]Kind{"custom": nameOnlyKind{}}}).Load(fsys, "."); err != nil {
		t.Errorf("custom kind refused: %v", err)
	}
	_, err := (Loader{Kinds: testKinds()}).Load(fsys, ".")
	if want := `a.yaml:9: families[0].kind: unknown kind "custom" (want one of cds, http, index, manifest, mast, tap)`; err == nil || err.Error() != want {
		t.Errorf("a table without kind custom: %v, want %s", err, want)
	}
	if _, err := Load(fsys, "."); err != nil {
		t.Errorf("a loader without a kind table checks no kind names, but: %v", err)
	}
}

func TestExpansion(t *testing.T) {
	withExpand := func(expand, id, key string) string {
		return edit(family, "    entry:\n", "    expand:\n"+expand+"    entry:\n", `"a-1"`, id, `"a/file.nc"`, key)
	}
	tests := []struct {
		name   string
		yaml   string
		ids    []string
		keyOf1 string // the key of the second entry, when there is one
	}{
		{"no expand is one entry", family, []string{"a-1"}, ""},
		{"dates by month across a year",
			withExpand("      - dates: {from: \"2019-11\", to: \"2020-02\", step: month}\n", `"m-{yyyy}{mm}"`, `"m/{yyyy}/{mm}.nc"`),
			[]string{"m-201911", "m-201912", "m-202001", "m-202002"}, "m/2019/12.nc"},
		{"dates by year",
			withExpand("      - dates: {from: \"1999\", to: \"2001\", step: year}\n", `"y-{yyyy}"`, `"y/{yyyy}.nc"`),
			[]string{"y-1999", "y-2000", "y-2001"}, "y/2000.nc"},
		{"dates by day across a leap day",
			withExpand("      - dates: {from: \"2024-02-28\", to: \"2024-03-01\", step: day}\n", `"d-{yyyy}{mm}{dd}"`, `"d/{yyyy}-{mm}-{dd}.nc"`),
			[]string{"d-20240228", "d-20240229", "d-20240301"}, "d/2024-02-29.nc"},
		{"range with step and format",
			withExpand("      - range: {var: n, from: 1, to: 10, step: 4, format: \"%03d\"}\n", `"r-{n}"`, `"r/{n}.nc"`),
			[]string{"r-001", "r-005", "r-009"}, "r/005.nc"},
		{"range of one",
			withExpand("      - range: {var: n, from: 7, to: 7}\n", `"r-{n}"`, `"r/{n}.nc"`),
			[]string{"r-7"}, ""},
		{"list",
			withExpand("      - list: {var: v, values: [t2m, tp]}\n", `"l-{v}"`, `"l/{v}.nc"`),
			[]string{"l-t2m", "l-tp"}, "l/tp.nc"},
		{"inline table",
			withExpand("      - table:\n          columns: [sector, cam]\n          rows: [[1, 1], [1, 2], [2, 1]]\n", `"t-s{sector}c{cam}"`, `"t/{sector}/{cam}"`),
			[]string{"t-s1c1", "t-s1c2", "t-s2c1"}, "t/1/2"},
		{"cartesian product, first item slowest",
			withExpand("      - list: {var: v, values: [a, b]}\n      - range: {var: n, from: 1, to: 3}\n", `"p-{v}{n}"`, `"p/{v}/{n}"`),
			[]string{"p-a1", "p-a2", "p-a3", "p-b1", "p-b2", "p-b3"}, "p/a/2"},
		{"literal braces",
			withExpand("      - list: {var: v, values: [x]}\n", `"b-{v}"`, `"b/{{v}}/{v}}}"`),
			[]string{"b-x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustLoad(t, map[string]string{"a.yaml": tt.yaml})
			if got := ids(r); !slices.Equal(got, tt.ids) {
				t.Errorf("ids = %v, want %v", got, tt.ids)
			}
			if tt.keyOf1 != "" && r.Entries[1].Key != tt.keyOf1 {
				t.Errorf("second key = %q, want %q", r.Entries[1].Key, tt.keyOf1)
			}
			if fam, _ := r.Family("fam-a"); fam.Count != len(tt.ids) {
				t.Errorf("family count = %d, want %d", fam.Count, len(tt.ids))
			}
		})
	}
	t.Run("literal braces render", func(t *testing.T) {
		r := mustLoad(t, map[string]string{"a.yaml": tests[len(tests)-1].yaml})
		if got, want := r.Entries[0].Key, "b/{v}/x}"; got != want {
			t.Errorf("key = %q, want %q", got, want)
		}
	})
}

func TestLoadPaths(t *testing.T) {
	good := filepath.Join("testdata", "good")
	// Naming a file again, inside the folder, must not load it twice.
	r, err := LoadPaths([]string{good, filepath.Join(good, "a.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{filepath.Join(good, "a.yaml"), filepath.Join(good, "sub", "b.yaml")}
	if !slices.Equal(r.Files, wantFiles) {
		t.Errorf("files = %v, want %v", r.Files, wantFiles)
	}
	wantIDs := []string{"genomes-GCF_000001.1-fna", "genomes-GCF_000001.1-gff", "genomes-GCF_000002.2-fna", "genomes-GCF_000002.2-gff", "spectra-all"}
	if got := ids(r); !slices.Equal(got, wantIDs) {
		t.Errorf("ids = %v, want %v", got, wantIDs)
	}

	e, ok := r.ByID("genomes-GCF_000002.2-gff")
	if !ok {
		t.Fatal("ByID: genomes-GCF_000002.2-gff not found")
	}
	want := Entry{
		ID: "genomes-GCF_000002.2-gff", Family: "genomes", Domain: "biology", Kind: "http", Schedule: "yearly",
		Key:    "example/genomes/GCF_000002.2/beta.gff.gz",
		URL:    "https://data.example.org/genomes/GCF_000002.2/beta.gff.gz",
		Params: map[string]string{"note": "{literal} gff"},
		Meta:   Meta{Title: "Example genomes", Provider: "Example Provider", License: "CC-BY-4.0", Citation: "Example et al. (2024)", Homepage: "https://example.org/genomes"},
		File:   filepath.Join(good, "a.yaml"), Line: 10,
	}
	if fmt.Sprint(e) != fmt.Sprint(want) {
		t.Errorf("entry:\n got %+v\nwant %+v", e, want)
	}
	if e.KeyPrefix() != "biology/example/genomes/GCF_000002.2/beta.gff.gz" {
		t.Errorf("KeyPrefix = %q", e.KeyPrefix())
	}
	if _, ok := r.ByID("nope"); ok {
		t.Error("ByID found a missing entry")
	}

	spectra, _ := r.ByID("spectra-all")
	if spectra.Schedule != "once" || spectra.Meta.DOI != "10.1234/spectra" || spectra.Params["include"] != "*.fits" {
		t.Errorf("spectra entry = %+v", spectra)
	}
	fam, ok := r.Family("genomes")
	if !ok || fam.Count != 4 || fam.File != filepath.Join(good, "a.yaml") || fam.Line != 10 {
		t.Errorf("family = %+v, %v", fam, ok)
	}
}

func TestHostPolicy(t *testing.T) {
	r, err := LoadPaths([]string{filepath.Join("testdata", "good")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		entry string
		want  HostPolicy
	}{
		{"genomes-GCF_000001.1-fna", HostPolicy{Host: "data.example.org", Concurrency: 2, RPS: 3, Burst: 3}},
		{"spectra-all", HostPolicy{Host: "api.example.org", Concurrency: DefaultConcurrency, RPS: 1, Burst: 1,
			Credential: &Credential{Env: "EXAMPLE_API_KEY", Query: "api_key", RPS: 5}}},
	}
	for _, tt := range tests {
		e, _ := r.ByID(tt.entry)
		got := r.Hosts.For(e.URL)
		got.File, got.Line = "", 0
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: policy = %+v %+v, want %+v %+v", tt.entry, got, got.Credential, tt.want, tt.want.Credential)
		}
	}
	if r.Hosts.Len() != 2 || len(r.Hosts.Policies()) != 2 || r.Hosts.Policies()[0].Host != "api.example.org" {
		t.Errorf("Policies() = %+v, want the 2 declared hosts in order", r.Hosts.Policies())
	}
}

func TestLoadPathsErrors(t *testing.T) {
	if _, err := LoadPaths(nil); err == nil {
		t.Error("no paths: want an error")
	}
	if _, err := LoadPaths([]string{filepath.Join("testdata", "missing.yaml")}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: error %v does not name it", err)
	}
	empty := t.TempDir()
	if _, err := LoadPaths([]string{empty}); err == nil || !strings.Contains(err.Error(), "no *.yaml files under "+empty) {
		t.Errorf("empty folder: got %v", err)
	}
}

func TestTableEscapesRegistryRoot(t *testing.T) {
	_, err := load(t, map[string]string{"a.yaml": edit(family, "    entry:\n", "    expand:\n      - table: {file: ../secret.tsv}\n    entry:\n", `"a-1"`, `"a-{a}"`)})
	want := `a.yaml:11: families[0].expand[0].table.file: table file "../secret.tsv" must be a relative path inside the registry`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestMergeKeys(t *testing.T) {
	yaml := `families:
  - &base
    id: fam-0
    domain: climate
    title: T
    provider: "Provider"
    license: "CC0"
    citation: "Someone (2024)"
    homepage: "https://example.org/"
    kind: http
    entry: {id: z, key: z, url: "https://example.org/z"}
  - <<: *base
    id: fam-a
    license: "CC-BY-4.0"
    entry: {id: a-1, key: a/file.nc, url: "https://example.org/a.nc"}
`
	r := mustLoad(t, map[string]string{"a.yaml": yaml})
	e, _ := r.ByID("a-1")
	if e.Family != "fam-a" || e.Meta.Provider != "Provider" || e.Meta.License != "CC-BY-4.0" {
		t.Errorf("merged entry = %+v (want provider from the anchor, family and license overridden)", e)
	}
}

func TestEmbeddedRegistry(t *testing.T) {
	r, err := Default()
	if err != nil {
		t.Fatalf("embedded registry does not validate:\n%v", err)
	}
	if len(r.Entries) == 0 || len(r.Files) == 0 {
		t.Fatalf("embedded registry is empty: %d files, %d entries", len(r.Files), len(r.Entries))
	}
	for _, e := range r.Entries {
		if !strings.HasPrefix(e.File, "sources/registry/") {
			t.Fatalf("entry %s: file %q is not named by its repository path", e.ID, e.File)
		}
	}
	st := r.Stats()
	total := 0
	for _, n := range st.ByFamily {
		total += n
	}
	if st.Total != len(r.Entries) || total != st.Total {
		t.Errorf("stats total %d, family sum %d, entries %d", st.Total, total, len(r.Entries))
	}
}

func TestStatsJSON(t *testing.T) {
	r, err := LoadPaths([]string{filepath.Join("testdata", "good")})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(r.Stats())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"total":5,"by_domain":{"astronomy":0,"biology":4,"climate":0,"spectroscopy":1},` +
		`"by_family":{"genomes":4,"spectra":1},"by_provider":{"Example Provider":4,"Other Provider":1}}`
	if string(data) != want {
		t.Errorf("stats JSON:\n got %s\nwant %s", data, want)
	}
	empty, _ := json.Marshal(CountEntries(nil))
	if string(empty) != `{"total":0,"by_domain":{"astronomy":0,"biology":0,"climate":0,"spectroscopy":0},"by_family":{},"by_provider":{}}` {
		t.Errorf("empty stats JSON = %s", empty)
	}
}
