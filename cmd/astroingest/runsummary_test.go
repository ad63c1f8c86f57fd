package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/ingest"
)

// servePaths serves fixed bodies by path and 404s anything else.
func servePaths(t *testing.T, files map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// When the run finishes but its record cannot be stored, --json still
// prints the record the engine returned: it is the only account left.
func TestJSONSummaryWhenRunRecordFails(t *testing.T) {
	srv := servePaths(t, map[string]string{"/a.dat": "alpha", "/b.dat": "bravo"})
	dir := t.TempDir()
	// A file where the runs folder belongs makes the record's write fail.
	if err := os.MkdirAll(filepath.Join(dir, "annotations"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(ingest.RunPrefix, "/"))), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, context.Background(), "backfill", "--source", "t-[ab]", "--registry", testRegistry(t, srv), "--bucket", "file://"+dir, "--json")
	if code != exitFailed || !strings.Contains(errOut, "run record") {
		t.Fatalf("exit %d, want %d and the failed record write on stderr\n%s", code, exitFailed, errOut)
	}
	var rec ingest.RunRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("--json printed no run record: %v\nstdout %q\nstderr %s", err, out, errOut)
	}
	if rec.Counts.Done != 2 || rec.RunID == "" {
		t.Fatalf("record %+v, want the two entries done", rec)
	}
}
