package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/internal/proctest"
)

// runBinary runs the binary to completion with the clean environment plus
// env, in a file:// world: these exit codes need no S3 server.
func runBinary(t *testing.T, env []string, args ...string) (code int, stderr string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = cleanEnv(env...)
	var errb proctest.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), errb.String()
}

// The process exits with the contract's code for each outcome: 2 for bad
// usage or configuration (naming the flag, or the file and line, and
// writing nothing), 1 when an entry fails, 0 when everything selected is
// mirrored. The bucket comes from ASTROINGEST_BUCKET when --bucket is
// absent. (3 and the refusal of a held lease are in signals_test.go.)
func TestE2EExitCodes(t *testing.T) {
	srv := newSource(t)
	mod := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	srv.AddFile("/d/a.nc", randBytes(800, 3_000), mod)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(good, registryYAML([]string{hostYAML(srv, 2, 100, "")},
		fam{ID: "d", Domain: "climate", Kind: "http", Names: []string{"a", "b"}, Key: "d/{n}.nc", URL: srv.URL() + "/d/{n}.nc"}))
	write(bad, "families:\n  - id: x\n    domain: climate\n    kindd: http\n")
	bucketDir := filepath.Join(dir, "bucket")
	envBucket := "ASTROINGEST_BUCKET=file://" + bucketDir

	tests := []struct {
		name     string
		args     []string
		before   func() // changes the publisher before the run
		wantCode int
		wantErr  string // in stderr
		written  bool   // whether the bucket may exist afterwards
	}{
		{"unknown command", []string{"frobnicate"}, nil, exitUsage, `unknown command "frobnicate"`, false},
		{"bad flag value", []string{"backfill", "--source", "*", "--workers", "0", "--registry", good}, nil, exitUsage, "--workers 0", false},
		{"invalid registry", []string{"backfill", "--source", "*", "--registry", bad}, nil, exitUsage, "bad.yaml:4: families[0].kindd: unknown field", false},
		{"an entry fails", []string{"backfill", "--source", "*", "--registry", good}, nil, exitFailed, "http_404", true},
		{"everything mirrored", []string{"backfill", "--source", "*", "--registry", good},
			func() { srv.AddFile("/d/b.nc", randBytes(801, 2_000), mod) }, exitOK, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			code, stderr := runBinary(t, []string{envBucket}, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("exit %d, want %d with %q in stderr:\n%s", code, tt.wantCode, tt.wantErr, tail(stderr))
			}
			_, err := os.Stat(bucketDir)
			if exists := err == nil; exists != tt.written {
				t.Fatalf("bucket %s exists: %v, want %v", bucketDir, exists, tt.written)
			}
		})
	}
	runs, err := os.ReadDir(filepath.Join(bucketDir, "annotations", "runs"))
	if err != nil || len(runs) != 2 {
		t.Fatalf("run records in the ASTROINGEST_BUCKET bucket: %v %v, want the two runs'", runs, err)
	}
}
