package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/sources"
)

const sourcesFixture = `hosts:
  - host: data.example.org
    concurrency: 2
    rps: 3
    credential: {env: EXAMPLE_KEY, header: X-Key, required: true}
families:
  - id: sst
    domain: climate
    title: "Example SST"
    provider: "Example Agency"
    license: "Public domain"
    citation: "Agency (2024)"
    doi: "10.1000/sst"
    kind: http
    expand:
      - dates: {from: "2024-11", to: "2025-01", step: month}
    entry:
      id: "sst-{yyyy}{mm}"
      key: "agency/sst/{yyyy}{mm}.nc"
      url: "https://data.example.org/sst/{yyyy}{mm}.nc"
  - id: genes
    domain: biology
    title: "Example genes"
    provider: "Gene Lab"
    license: "CC-BY-4.0"
    citation: "Lab (2023)"
    homepage: "https://genes.example.org/"
    kind: index
    schedule: weekly
    entry:
      id: genes-all
      key: "lab/genes"
      url: "https://genes.example.org/files/"
      params: {include: "*.fa.gz"}
`

// writeRegistry writes name -> content into a fresh folder.
func writeRegistry(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runSourcesCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runSources(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSourcesUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, exitUsage, "astroingest sources validate [FILE|DIR ...]"},
		{[]string{"frobnicate"}, exitUsage, `sources: unknown subcommand "frobnicate"`},
		{[]string{"list", "--bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"list", "--domain", "geology"}, exitUsage, `sources list: --domain "geology": want one of climate, biology, astronomy, spectroscopy`},
		{[]string{"list", "extra"}, exitUsage, `sources list: unexpected argument "extra"`},
		{[]string{"show"}, exitUsage, "sources show: want exactly one entry or family ID, got 0 arguments"},
		{[]string{"show", "a", "b"}, exitUsage, "sources show: want exactly one entry or family ID, got 2 arguments"},
		{[]string{"stats", "extra"}, exitUsage, `sources stats: unexpected argument "extra"`},
		{[]string{"list", "--registry", "/nonexistent/registry"}, exitUsage, "sources list: sources: registry path: stat /nonexistent/registry: no such file or directory"},
		{[]string{"list", "-h"}, exitOK, "Examples:\n  astroingest sources list --domain biology"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runSourcesCmd(tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("exit %d, want %d; stderr:\n%s\nwant it to contain %q", code, tt.code, stderr, tt.inStderr)
			}
		})
	}
	code, stdout, _ := runSourcesCmd("help")
	if code != exitOK || !strings.Contains(stdout, "Examples:") {
		t.Errorf("help: exit %d, stdout %q", code, stdout)
	}
}

func TestSourcesList(t *testing.T) {
	dir := writeRegistry(t, map[string]string{"r.yaml": sourcesFixture})
	tests := []struct {
		name string
		args []string
		want []string // entry IDs, in order
	}{
		{"all", nil, []string{"sst-202411", "sst-202412", "sst-202501", "genes-all"}},
		{"domain", []string{"--domain", "biology"}, []string{"genes-all"}},
		{"family", []string{"--family", "sst"}, []string{"sst-202411", "sst-202412", "sst-202501"}},
		{"both, disjoint", []string{"--family", "sst", "--domain", "biology"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runSourcesCmd(append([]string{"list", "--registry", dir}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if f := strings.Fields(lines[0]); !reflect.DeepEqual(f, []string{"ID", "DOMAIN", "KIND", "SCHEDULE", "KEY"}) {
				t.Errorf("header = %q", lines[0])
			}
			var got []string
			for _, l := range lines[1:] {
				got = append(got, strings.Fields(l)[0])
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}
	_, stdout, _ := runSourcesCmd("list", "--registry", dir, "--family", "genes")
	if f := strings.Fields(strings.Split(stdout, "\n")[1]); !reflect.DeepEqual(f, []string{"genes-all", "biology", "index", "weekly", "biology/lab/genes"}) {
		t.Errorf("row = %q", f)
	}
	code, _, stderr := runSourcesCmd("list", "--registry", dir, "--family", "nope")
	if code != exitUsage || !strings.Contains(stderr, `--family "nope": no such family`) {
		t.Errorf("unknown family: exit %d, stderr %q", code, stderr)
	}
}

func TestSourcesListEmbedded(t *testing.T) {
	reg, err := sources.Default()
	if err != nil {
		t.Fatalf("embedded registry: %v", err)
	}
	code, stdout, stderr := runSourcesCmd("list")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := strings.Count(stdout, "\n") - 1; got != len(reg.Entries) {
		t.Errorf("listed %d entries, the registry has %d", got, len(reg.Entries))
	}
}

// showFields parses "key:   value" lines of sources show.
func showFields(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, ":")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

func TestSourcesShow(t *testing.T) {
	dir := writeRegistry(t, map[string]string{"r.yaml": sourcesFixture})
	file := filepath.Join(dir, "r.yaml")
	tests := []struct {
		name string
		args []string
		want map[string]string
	}{
		{"entry, ID before the flags", []string{"sst-202412", "--registry", dir}, map[string]string{
			"id": "sst-202412", "family": "sst", "domain": "climate", "kind": "http", "schedule": "monthly",
			"key": "climate/agency/sst/202412.nc", "url": "https://data.example.org/sst/202412.nc",
			"title": "Example SST", "provider": "Example Agency", "license": "Public domain", "citation": "Agency (2024)", "doi": "10.1000/sst",
			"host":     "data.example.org (concurrency 2, 3 req/s, burst 3; credential $EXAMPLE_KEY as header X-Key, required; " + file + ":2)",
			"declared": file + ":7",
		}},
		{"entry with params on an undeclared host", []string{"--registry", dir, "genes-all"}, map[string]string{
			"id": "genes-all", "family": "genes", "domain": "biology", "kind": "index", "schedule": "weekly",
			"key": "biology/lab/genes", "url": "https://genes.example.org/files/", "param include": "*.fa.gz",
			"title": "Example genes", "provider": "Gene Lab", "license": "CC-BY-4.0", "citation": "Lab (2023)", "homepage": "https://genes.example.org/",
			"host":     "genes.example.org (concurrency 4, 10 req/s, burst 10)",
			"declared": file + ":21",
		}},
		{"family", []string{"--registry", dir, "sst"}, map[string]string{
			"family": "sst", "domain": "climate", "kind": "http", "schedule": "monthly", "entries": "3",
			"first entry": "sst-202411", "last entry": "sst-202501",
			"title": "Example SST", "provider": "Example Agency", "license": "Public domain", "citation": "Agency (2024)", "doi": "10.1000/sst",
			"declared": file + ":7",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runSourcesCmd(append([]string{"show"}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if got := showFields(stdout); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("show:\n got %v\nwant %v", got, tt.want)
			}
		})
	}

	code, _, stderr := runSourcesCmd("show", "--registry", dir, "sst-2024")
	if want := `sources show: no entry or family "sst-2024"; did you mean sst, sst-202411, sst-202412?` + "\n"; code != exitUsage || stderr != want {
		t.Errorf("unknown id: exit %d, stderr %q, want %q", code, stderr, want)
	}
}

func TestSourcesValidate(t *testing.T) {
	good := writeRegistry(t, map[string]string{"r.yaml": sourcesFixture})
	code, stdout, stderr := runSourcesCmd("validate", filepath.Join(good, "r.yaml"))
	if want := "ok: 1 file, 2 families, 4 entries, 1 host policy\n"; code != exitOK || stdout != want {
		t.Errorf("good file: exit %d, stdout %q, want %q; stderr %s", code, stdout, want, stderr)
	}

	bad := strings.Replace(sourcesFixture, "kind: index", "kind: ftp", 1)
	bad = strings.Replace(bad, `    license: "Public domain"`+"\n", "", 1)
	dir := writeRegistry(t, map[string]string{"bad.yaml": bad})
	file := filepath.Join(dir, "bad.yaml")
	code, stdout, stderr = runSourcesCmd("validate", dir)
	want := file + ":7: families[0].license: missing required field\n" +
		file + `:27: families[1].kind: unknown kind "ftp" (want one of cds, http, index, manifest, mast, tap)` + "\n" +
		"sources validate: the registry has 2 error(s)\n"
	if code != exitUsage || stdout != "" || stderr != want {
		t.Errorf("bad file: exit %d, stdout %q\nstderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
	}

	reg, err := sources.Default()
	if err != nil {
		t.Fatalf("embedded registry: %v", err)
	}
	code, stdout, stderr = runSourcesCmd("validate")
	if code != exitOK || !strings.HasPrefix(stdout, "ok: ") || !strings.Contains(stdout, plural(len(reg.Entries), "entry")) {
		t.Errorf("embedded: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
}

func TestSourcesStats(t *testing.T) {
	dir := writeRegistry(t, map[string]string{"r.yaml": sourcesFixture})
	code, stdout, stderr := runSourcesCmd("stats", "--json", "--registry", dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not JSON: %v: %s", err, stdout)
	}
	want := map[string]any{
		"total":       4.0,
		"by_domain":   map[string]any{"climate": 3.0, "biology": 1.0, "astronomy": 0.0, "spectroscopy": 0.0},
		"by_family":   map[string]any{"sst": 3.0, "genes": 1.0},
		"by_provider": map[string]any{"Example Agency": 3.0, "Gene Lab": 1.0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats --json = %v, want %v", got, want)
	}
	if !strings.HasPrefix(stdout, `{"total":4,"by_domain":`) || !strings.HasSuffix(stdout, "}\n") {
		t.Errorf("stats --json is not one line starting with total: %q", stdout)
	}

	code, stdout, _ = runSourcesCmd("stats", "--registry", dir)
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		rows = append(rows, strings.Join(strings.Fields(line), " "))
	}
	wantRows := []string{"total 4",
		"by domain:", "astronomy 0", "biology 1", "climate 3", "spectroscopy 0",
		"by family:", "genes 1", "sst 3",
		"by provider:", "Example Agency 3", "Gene Lab 1"}
	if code != exitOK || !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("stats text: exit %d, rows %q, want %q", code, rows, wantRows)
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 families", 1: "1 family", 2: "2 families"} {
		if got := plural(n, "family"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
	if got := plural(3, "host policy"); got != "3 host policies" {
		t.Errorf("got %q", got)
	}
}
