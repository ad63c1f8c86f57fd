package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/proctest"
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

// An interrupted run says so on stderr, with what is left and that a rerun
// resumes; it does not read like a finished one.
func TestInterruptedRunSummary(t *testing.T) {
	for _, cmd := range []string{"run", "backfill"} {
		t.Run(cmd, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The signal arrives while b.dat is being fetched.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/b.dat" {
					http.NotFound(w, r)
					return
				}
				cancel()
				<-r.Context().Done()
			}))
			defer srv.Close()
			args := []string{cmd, "--registry", testRegistry(t, srv), "--bucket", "file://" + t.TempDir(), "--workers", "1", "--json"}
			if cmd == "backfill" {
				args = append(args, "--family", "t")
			}
			code, out, errOut := runCmd(t, ctx, args...)
			if code != exitInterrupted {
				t.Fatalf("exit %d, want %d\n%s", code, exitInterrupted, errOut)
			}
			var rec ingest.RunRecord
			if err := json.Unmarshal([]byte(out), &rec); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
			if !rec.Interrupted || rec.Counts.Unfinished < 1 {
				t.Fatalf("record: interrupted %v, counts %+v", rec.Interrupted, rec.Counts)
			}
			want := fmt.Sprintf("%s: interrupted: %s unfinished; rerun to resume", cmd, plural(rec.Counts.Unfinished, "entry"))
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		})
	}
}

// An interrupted demo's summary says it was interrupted and does not send
// the newcomer on to verify a half-made mirror.
func TestDemoInterruptedSummary(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	var stderr proctest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"demo", "--bucket", "file://" + dir, "--workers", "1"}, io.Discard, &stderr)
	}()
	// Interrupt once the first entry is recorded, long before the last.
	manifests := filepath.Join(dir, filepath.FromSlash(ingest.ManifestPrefix))
	proctest.WaitFor(t, 30*time.Second, "the first manifest", func() bool {
		ents, _ := os.ReadDir(manifests)
		return len(ents) > 0
	})
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after the interruption")
	}
	out := stderr.String()
	if code != exitInterrupted {
		t.Fatalf("exit %d, want %d\n%s", code, exitInterrupted, out)
	}
	if !regexp.MustCompile(`demo: interrupted: \d+ entr(y|ies) unfinished; rerun to resume`).MatchString(out) {
		t.Errorf("stderr does not say the demo was interrupted:\n%s", out)
	}
	if strings.Contains(out, "astroingest verify") {
		t.Errorf("an interrupted demo suggests verify:\n%s", out)
	}
}
