package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// verify of a bucket holding no mirror (an empty or missing directory, a
// wrong prefix) is a configuration error, not a pass.
func TestVerifyNoMirror(t *testing.T) {
	empty := t.TempDir()
	probeOnly := t.TempDir()
	if err := os.MkdirAll(filepath.Join(probeOnly, "_probe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(probeOnly, "_probe", "left-over"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		args      []string
	}{
		{"empty dir", empty, nil},
		{"empty dir --deep --json", empty, []string{"--deep", "--json"}},
		{"missing dir", filepath.Join(t.TempDir(), "nothing"), nil},
		{"no mirror keys", probeOnly, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := "file://" + tc.dir
			code, out, errOut := runCmd(t, context.Background(), append([]string{"verify", "--bucket", url}, tc.args...)...)
			want := "no mirror found at " + url + " (no annotations/catalog.json, no manifests); check --bucket"
			if code != exitUsage || !strings.Contains(errOut, want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q\nstdout: %s", code, errOut, exitUsage, want, out)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing (no report of a bucket that holds no mirror)", out)
			}
		})
	}
}

// mirrored returns a file:// bucket URL and its directory, holding a
// complete mirror of entries t-a and t-b of testRegistry.
func mirrored(t *testing.T) (url, dir string) {
	t.Helper()
	files := map[string]string{"/a.dat": "alpha alpha alpha", "/b.dat": "bravo"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	dir = t.TempDir()
	url = "file://" + dir
	code, _, errOut := runCmd(t, context.Background(), "backfill", "--source", "t-[ab]", "--registry", testRegistry(t, srv), "--bucket", url)
	if code != exitOK {
		t.Fatalf("backfill: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := runCmd(t, context.Background(), "verify", "--deep", "--bucket", url); code != exitOK {
		t.Fatalf("verify of a fresh mirror: exit %d\n%s%s", code, out, errOut)
	}
	return url, dir
}

// verify reads the catalog the training side reads first: without it the
// mirror does not verify.
func TestVerifyCatalogMissing(t *testing.T) {
	url, dir := mirrored(t)
	if err := os.Remove(filepath.Join(dir, "annotations", "catalog.json")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, context.Background(), "verify", "--bucket", url)
	if code != exitFailed || !strings.Contains(out, "catalog_missing") || !strings.Contains(out, "annotations/catalog.json") {
		t.Fatalf("exit %d, want %d and the missing catalog named\n%s%s", code, exitFailed, out, errOut)
	}
}

// The text report says what each problem is in words, and how to repair
// entries whose objects are damaged.
func TestVerifyReportText(t *testing.T) {
	url, dir := mirrored(t)
	if err := os.MkdirAll(filepath.Join(dir, "climate"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "climate", "stray.nc"), []byte("1234567"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "astronomy", "test", "b.dat"), []byte("bra"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, context.Background(), "verify", "--bucket", url)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, out, errOut)
	}
	lines := map[string]bool{}
	for l := range strings.Lines(out) {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, want := range []string{
		"orphan climate/stray.nc (7 bytes): no manifest claims it",
		"wrong_size astronomy/test/b.dat (entry t-b): want 5 bytes, got 3",
		"astroingest backfill --source t-b --force --bucket " + url,
	} {
		if !lines[want] {
			t.Errorf("no line %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "want -") || strings.Contains(out, "--source t-a") {
		t.Errorf("report prints placeholders or repairs an intact entry:\n%s", out)
	}
}
