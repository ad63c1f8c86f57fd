package main

import (
	"bytes"
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

// testRegistry writes a registry whose family "t" has entries t-a, t-b and
// t-missing served by srv, and returns its path.
func testRegistry(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	host := strings.TrimPrefix(srv.URL, "http://")
	yaml := fmt.Sprintf(`hosts:
  - host: %q
    concurrency: 2
    rps: 100
families:
  - id: t
    domain: astronomy
    title: "Test family"
    provider: "Test"
    license: "CC0"
    citation: "Test (2025)"
    homepage: "https://example.org"
    kind: http
    schedule: monthly
    allow_http: true
    allow_http_reason: "loopback test server"
    expand:
      - list: {var: n, values: [a, b, missing]}
    entry:
      id: "t-{n}"
      key: "test/{n}.dat"
      url: "%s/{n}.dat"
`, host, srv.URL)
	p := filepath.Join(t.TempDir(), "reg.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIngestCommands(t *testing.T) {
	files := map[string]string{"/a.dat": strings.Repeat("alpha ", 1000), "/b.dat": "bravo"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", fmt.Sprintf("%q", fmt.Sprint(len(body))))
		if r.Header.Get("If-None-Match") == w.Header().Get("ETag") {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	reg := testRegistry(t, srv)
	dir := t.TempDir()
	bkt := "file://" + dir
	ctx := context.Background()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := dispatch(ctx, args, &out, &errb)
		return code, out.String(), errb.String()
	}

	if code, _, stderr := run("backfill", "--registry", reg, "--bucket", bkt); code != exitUsage || !strings.Contains(stderr, "--domain, --family or --source") {
		t.Fatalf("backfill without selection: exit %d, %s", code, stderr)
	}
	if code, _, stderr := run("run", "--registry", reg, "--bucket", bkt, "--source", "nothing-*"); code != exitUsage || !strings.Contains(stderr, "matches no registry entry") {
		t.Fatalf("empty selection: exit %d, %s", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("usage errors wrote %d entries into the bucket", len(entries))
	}

	// plan before anything: 3 new, writes nothing.
	code, out, stderr := run("plan", "--registry", reg, "--bucket", bkt, "--json")
	var ps planSummary
	if code != exitOK || json.Unmarshal([]byte(out), &ps) != nil || ps.Counts.New != 3 {
		t.Fatalf("plan: exit %d %s %s", code, out, stderr)
	}

	// One entry 404s: exit 1, the others mirrored, the summary says why.
	code, out, stderr = run("backfill", "--family", "t", "--registry", reg, "--bucket", bkt, "--json")
	var rec ingest.RunRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil || code != exitFailed {
		t.Fatalf("backfill: exit %d, %v\n%s", code, err, stderr)
	}
	if rec.Counts.Done != 2 || len(rec.Failures) != 1 || rec.Failures[0].Entry != "t-missing" || rec.Failures[0].Reason != "http_404" {
		t.Fatalf("record %+v", rec)
	}
	got, err := os.ReadFile(filepath.Join(dir, "astronomy/test/a.dat"))
	if err != nil || string(got) != files["/a.dat"] {
		t.Fatalf("mirrored a.dat: %v", err)
	}

	// Without the failing entry everything is unchanged: exit 0.
	if code, out, stderr = run("backfill", "--source", "t-[ab]", "--registry", reg, "--bucket", bkt, "--json"); code != exitOK {
		t.Fatalf("rerun: exit %d\n%s", code, stderr)
	}
	json.Unmarshal([]byte(out), &rec)
	if rec.Counts.Unchanged != 2 || rec.Bytes != 0 {
		t.Fatalf("rerun record %+v", rec.Counts)
	}

	if code, out, _ = run("verify", "--bucket", bkt, "--deep"); code != exitOK || !strings.Contains(out, "0 problem(s)") {
		t.Fatalf("verify clean: exit %d %s", code, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "astronomy/test/b.dat"), []byte("BRAVO"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = run("verify", "--bucket", bkt); code != exitOK {
		t.Fatalf("shallow verify sees only sizes: exit %d %s", code, out)
	}
	code, out, _ = run("verify", "--bucket", bkt, "--deep", "--json")
	var vr ingest.VerifyReport
	if err := json.Unmarshal([]byte(out), &vr); err != nil || code != exitFailed || len(vr.Problems) != 1 || vr.Problems[0].Kind != ingest.ProblemWrongHash {
		t.Fatalf("verify --deep: exit %d %s", code, out)
	}

	// A live lease held by another run refuses with exit 2, naming it.
	lease := `{"holder":"elsewhere/pid-1/x","run_id":"x","expires":"2999-01-01T00:00:00Z"}`
	lp := filepath.Join(dir, filepath.FromSlash(ingest.BucketLeaseKey))
	os.MkdirAll(filepath.Dir(lp), 0o755)
	if err := os.WriteFile(lp, []byte(lease), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr = run("backfill", "--family", "t", "--registry", reg, "--bucket", bkt); code != exitUsage || !strings.Contains(stderr, "elsewhere/pid-1/x") {
		t.Fatalf("held lease: exit %d %s", code, stderr)
	}
}

func TestRunExitCode(t *testing.T) {
	tests := []struct {
		rec  ingest.RunRecord
		want int
	}{
		{ingest.RunRecord{}, exitOK},
		{ingest.RunRecord{Skipped: []ingest.Failure{{Reason: "budget_exceeded"}}}, exitOK},
		{ingest.RunRecord{Failures: []ingest.Failure{{Reason: "http_404"}}}, exitFailed},
		{ingest.RunRecord{Interrupted: true, Failures: []ingest.Failure{{}}}, exitInterrupted},
	}
	for _, tt := range tests {
		if got := runExitCode(&tt.rec); got != tt.want {
			t.Errorf("runExitCode(%+v) = %d, want %d", tt.rec, got, tt.want)
		}
	}
}

// TestStrayArgument: the commands that take flags only refuse a positional
// argument before doing anything, naming the command and the argument.
func TestStrayArgument(t *testing.T) {
	for _, cmd := range []string{"run", "backfill", "plan", "verify", "probe", "demo"} {
		t.Run(cmd, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(context.Background(), []string{cmd, "--bucket", "file://" + t.TempDir(), "extra"}, &out, &errb)
			want := cmd + `: unexpected argument "extra"`
			if code != exitUsage || !strings.Contains(errb.String(), want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errb.String(), exitUsage, want)
			}
		})
	}
}

// --shard-count shows 0 as its default, yet an explicit 0 is refused while
// leaving it out means one shard (or SHARD_COUNT).
func TestShardCountFlag(t *testing.T) {
	for _, tc := range []struct {
		index string
		args  []string
		code  int
		want  string
	}{
		{"", []string{"plan", "--source", "noaa-ersst-v5-2024*"}, exitOK, ""},
		{"", []string{"plan", "--source", "noaa-ersst-v5-2024*", "--shard-count", "0"}, exitUsage, "--shard-count 0"},
		{"1", []string{"plan", "--source", "noaa-ersst-v5-2024*", "--shard-count", "2"}, exitOK, ""},
		{"1", []string{"plan", "--source", "noaa-ersst-v5-2024*"}, exitUsage, "SHARD_COUNT"},
	} {
		t.Setenv("JOB_COMPLETION_INDEX", tc.index)
		t.Setenv("SHARD_COUNT", "")
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), append(tc.args, "--bucket", "file://"+t.TempDir()), &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("index %q %v: exit %d, stderr %q; want %d and %q", tc.index, tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}

// The engine's field errors reach the user as the flags they typed, and
// nothing is created for a refused command.
func TestSelectionFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backfill", "--source", "e[0"}, `backfill: --source "e[0": syntax error in pattern`},
		{[]string{"run", "--domain", "geology"}, `run: --domain "geology": not one of climate, biology, astronomy, spectroscopy`},
		{[]string{"plan", "--workers", "0"}, `plan: --workers 0: must be at least 1`},
		{[]string{"backfill"}, `backfill: name what to backfill with --domain, --family or --source GLOB`},
	} {
		dir := t.TempDir() + "/mirror"
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), append(tc.args, "--bucket", "file://"+dir), &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), exitUsage, tc.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%v: the refused command created %s", tc.args, dir)
		}
	}
}
