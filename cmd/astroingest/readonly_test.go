package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// plan, --dry-run, verify and pull only read: on a bucket directory that does not
// exist they must leave it not existing (no .astroingest/ staging folders).
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	reg := testRegistry(t, srv)
	tests := []struct {
		name string
		args []string
	}{
		{"plan", []string{"plan", "--registry", reg}},
		{"plan --backfill", []string{"plan", "--backfill", "--family", "t", "--registry", reg}},
		{"run --dry-run", []string{"run", "--dry-run", "--registry", reg}},
		{"backfill --dry-run", []string{"backfill", "--dry-run", "--family", "t", "--registry", reg}},
		{"verify", []string{"verify"}},
		{"verify --deep", []string{"verify", "--deep"}},
		{"pull", []string{"pull", "--to", filepath.Join(t.TempDir(), "to")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mirror")
			code, out, errOut := runCmd(t, context.Background(), append(tt.args, "--bucket", "file://"+dir)...)
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s created %s (exit %d, stat %v)\n%s%s", tt.name, dir, code, err, out, errOut)
			}
		})
	}
}
