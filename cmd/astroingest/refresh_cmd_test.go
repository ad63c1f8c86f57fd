package main

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources/refresh"
	"github.com/astroingest/astroingest/sources/registry"
)

// refreshFixture is a copy of the built-in registry in a temp folder and
// the emulated publishers, with the refresher table pointed at them.
type refreshFixture struct {
	dir string
	srv *emulator.Server
	cmd refreshCommand
	env map[string]string
}

func newRefreshFixture(t *testing.T) *refreshFixture {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(registry.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(registry.FS, p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	s := emulator.NewServer()
	t.Cleanup(s.Close)
	s.ServeIndexSamples()
	f := &refreshFixture{dir: dir, srv: s, env: map[string]string{}}
	f.cmd = refreshCommand{
		specs: refresh.Specs(refresh.Bases{
			MASTArchive: s.URL(), MAST: s.URL(), GTDB: s.URL() + emulator.GTDBReleasesPath,
			KEGG: s.URL(), HAPI: s.URL() + emulator.HAPIPath,
		}),
		getenv:    func(k string) string { return f.env[k] },
		transport: http.DefaultTransport,
	}
	return f
}

func (f *refreshFixture) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = f.cmd.run(context.Background(), append([]string{"--registry", f.dir}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func (f *refreshFixture) table(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "tables", name+".tsv"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old by new in a table of the copy, so that a refresh has
// something to bring back.
func (f *refreshFixture) edit(t *testing.T, name, old, new string) {
	t.Helper()
	s := f.table(t, name)
	if !strings.Contains(s, old) {
		t.Fatalf("%s has no %q", name, old)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "tables", name+".tsv"), []byte(strings.Replace(s, old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshDiffWriteUnchanged(t *testing.T) {
	f := newRefreshFixture(t)
	f.edit(t, "tess-spoc-sectors", "tp\t95\n", "")
	f.edit(t, "jwst-programs", "2736\n", "")
	f.edit(t, "kegg-organisms", "\nmmu\n", "\n")
	tessBefore, jwstBefore, keggBefore := f.table(t, "tess-spoc-sectors"), f.table(t, "jwst-programs"), f.table(t, "kegg-organisms")

	// Without --write: the diff on stdout, a summary per table, nothing written.
	code, out, errs := f.run("tess-spoc-sectors", "jwst-programs")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	file := func(n string) string { return filepath.ToSlash(filepath.Join(f.dir, "tables", n+".tsv")) }
	for _, want := range []string{
		"--- a/" + file("tess-spoc-sectors") + "\n+++ b/" + file("tess-spoc-sectors") + "\n",
		" tp\t94\n+tp\t95\n tp\t96\n",
		"--- a/" + file("jwst-programs") + "\n",
		"+2736\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		"tess-spoc-sectors: 1 added, 0 changed, from " + f.srv.URL() + emulator.TESSBulkIndexPath,
		// The sample lists few sectors: the rest stay, and are named.
		"rows no longer listed (kept; --prune drops them):\n  lc\t2\n",
		"jwst-programs: 1 added, 0 changed",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if f.table(t, "tess-spoc-sectors") != tessBefore || f.table(t, "jwst-programs") != jwstBefore {
		t.Fatal("a table changed without --write")
	}

	// --write rewrites just the tables that changed.
	code, _, errs = f.run("--write", "tess-spoc-sector-scripts", "jwst-programs", "kegg-organisms", "--allow-gated")
	if code != exitOK {
		t.Fatalf("--write: exit %d\n%s", code, errs)
	}
	tess := f.table(t, "tess-spoc-sectors")
	if !strings.Contains(tess, "tp\t94\ntp\t95\ntp\t96\n") || !strings.Contains(tess, "lc\t2\n") || !strings.HasPrefix(tess, "# TESS SPOC 2-minute") {
		t.Errorf("tess table after --write:\n%s", tess)
	}
	// 2736 comes back in number order, among the programs kept.
	if j := f.table(t, "jwst-programs"); !strings.Contains(j, "\n2734\n2736\n") {
		t.Errorf("jwst table after --write:\n%s", j)
	}
	if strings.Count(errs, "wrote ") != 3 {
		t.Errorf("want 3 tables written (tess, jwst, kegg):\n%s", errs)
	}
	if kegg := f.table(t, "kegg-organisms"); kegg == keggBefore || !strings.Contains(kegg, "\nmmu\n") {
		t.Errorf("kegg table gained no mmu:\n%s", kegg)
	}

	// Again: nothing to do.
	code, out, errs = f.run("--write", "tess-spoc-sectors", "jwst-programs")
	if code != exitOK || out != "" || !strings.Contains(errs, "tess-spoc-sectors: unchanged") || !strings.Contains(errs, "nothing written") {
		t.Errorf("second refresh: exit %d, stdout %q\n%s", code, out, errs)
	}

	// --prune drops what the publisher no longer lists.
	code, out, errs = f.run("--prune", "jwst-programs")
	if code != exitOK || !strings.Contains(out, "\n-1181\n") || strings.Contains(out, "\n-2736\n") || !strings.Contains(errs, "(dropped)") {
		t.Errorf("--prune: exit %d\n%s\n%s", code, out, errs)
	}
}

// A publisher failing (503) fails its table, names the URL and the
// reason, and nothing is written, not even the tables that succeeded.
func TestRefreshFailureWritesNothing(t *testing.T) {
	f := newRefreshFixture(t)
	f.edit(t, "jwst-programs", "2736\n", "")
	jwstBefore := f.table(t, "jwst-programs")
	f.srv.Fault(emulator.TESSBulkIndexPath, emulator.Fault{Kind: emulator.Unavailable})
	code, _, errs := f.run("--write", "jwst-programs", "tess-spoc-sectors")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailed, errs)
	}
	for _, want := range []string{
		"sources refresh: tess-spoc-sectors: GET " + f.srv.URL() + emulator.TESSBulkIndexPath + ": 503 Service Unavailable (http_5xx)",
		"nothing written: 1 table failed",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if f.table(t, "jwst-programs") != jwstBefore {
		t.Error("jwst-programs was written although a refresher failed")
	}

	// A refreshed table that would not validate fails too: an isotopologue
	// whose molecule name cannot be in an entry ID.
	f.srv.AddFile(emulator.HAPIPath, emulator.RenderHAPI("1.3.0.0", []emulator.HAPIIsotopologue{{Mol: 1, Local: 1, ID: 1, Name: "H2(16O)", Abundance: 0.99, Mass: 18, MolName: "H 2O"}}), time.Now())
	hitranBefore := f.table(t, "hitran-isotopologues")
	code, _, errs = f.run("--write", "hitran-isotopologues")
	if code != exitFailed || !strings.Contains(errs, "would not validate") || f.table(t, "hitran-isotopologues") != hitranBefore {
		t.Errorf("invalid refresh: exit %d\n%s", code, errs)
	}
}

func TestRefreshUsage(t *testing.T) {
	f := newRefreshFixture(t)
	code, _, errs := f.run("kegg-database-lists")
	if code != exitUsage || !strings.Contains(errs, `"kegg-database-lists" is not a refreshable table`) || !strings.Contains(errs, "jwst-programs") {
		t.Errorf("unknown name: exit %d\n%s", code, errs)
	}
	var errb bytes.Buffer
	// The tests run in cmd/astroingest, which has no sources/registry.
	if code := f.cmd.run(context.Background(), []string{"--write"}, &bytes.Buffer{}, &errb); code != exitUsage || !strings.Contains(errb.String(), "--write needs --registry DIR") {
		t.Errorf("--write on the built-in registry: exit %d\n%s", code, errb.String())
	}
	if code, _, errs := f.run("--registry", filepath.Join(f.dir, "nope")); code != exitUsage || !strings.Contains(errs, "nope") {
		t.Errorf("missing folder: exit %d\n%s", code, errs)
	}
	if code := runSources(context.Background(), []string{"refresh", "--help"}, &bytes.Buffer{}, &errb); code != exitOK || !strings.Contains(errb.String(), "Refreshable tables") {
		t.Errorf("--help: exit %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errb.Reset()
	if code := f.cmd.run(ctx, []string{"--registry", f.dir, "--write"}, &bytes.Buffer{}, &errb); code != exitInterrupted || !strings.Contains(errb.String(), "interrupted; nothing written") {
		t.Errorf("interrupted: exit %d\n%s", code, errb.String())
	}
}

// The registry's host policies apply: a gated host is refused until its
// variable is 1, and requests go one at a time at the host's rate.
func TestRefreshHostPolicies(t *testing.T) {
	f := newRefreshFixture(t)
	hosts := filepath.Join(f.dir, "hosts.yaml")
	b, err := os.ReadFile(hosts)
	if err != nil {
		t.Fatal(err)
	}
	policy := "hosts:\n  - host: " + f.srv.Host() + "\n    concurrency: 1\n    rps: 20\n    burst: 1\n    gate: KEGG_ACADEMIC_USE\n    gate_reason: \"academic use only\"\n"
	if err := os.WriteFile(hosts, []byte(strings.Replace(string(b), "hosts:\n", policy, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := f.run("kegg-organisms")
	if code != exitFailed || !strings.Contains(errs, "sources refresh: kegg-organisms: host "+f.srv.Host()+" is gated: set KEGG_ACADEMIC_USE=1 to allow it, or pass --allow-gated (academic use only)") {
		t.Fatalf("gated: exit %d\n%s", code, errs)
	}
	if f.srv.TotalRequests() != 0 {
		t.Fatalf("%d requests reached a gated host", f.srv.TotalRequests())
	}
	f.env["KEGG_ACADEMIC_USE"] = "1"
	if code, _, errs := f.run("gtdb-release-files", "kegg-organisms"); code != exitOK {
		t.Fatalf("allowed: exit %d\n%s", code, errs)
	}
	log := f.srv.RequestLog("/")
	if len(log) < 10 {
		t.Fatalf("%d requests", len(log))
	}
	for i, r := range log {
		if !strings.HasPrefix(r.Header.Get("User-Agent"), "astroingest/") {
			t.Fatalf("request %d: User-Agent %q", i, r.Header.Get("User-Agent"))
		}
	}
	// 20 requests per second with a burst of 1: n requests take at least
	// (n-1) * 50 ms (one can arrive early after a late one).
	span, min := log[len(log)-1].At.Sub(log[0].At), time.Duration(len(log)-1)*50*time.Millisecond
	if span < min*9/10 {
		t.Errorf("%d requests in %v, want at least %v at 20/s", len(log), span, min)
	}
	if n := f.srv.MaxInflight(); n != 1 {
		t.Errorf("%d requests at once, want 1", n)
	}
}
