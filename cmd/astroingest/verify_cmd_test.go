package main

import (
	"context"
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
