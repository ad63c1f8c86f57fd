package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	fsbucket "github.com/astroingest/astroingest/bucket/fs"
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
}

// A live lease held by another run makes the run busy: exit 4, naming
// the holder and the way to take its lease over, with nothing written;
// --break-lease takes it over only when it names that holder.
func TestBusyAndBreakLease(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("data")) }))
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
	fb, err := fsbucket.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	held := ingest.Lease{Holder: "elsewhere/pid-1/x", RunID: "x", Expires: time.Now().Add(time.Hour)}
	data, _ := json.Marshal(held)
	if err := bucket.CreateIfAbsent(ctx, fb, ingest.BucketLeaseKey, data, bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	runs, _ := os.ReadDir(filepath.Join(dir, "annotations", "runs"))
	if code, _, stderr := run("backfill", "--family", "t", "--registry", reg, "--bucket", bkt); code != exitBusy ||
		!strings.Contains(stderr, "busy") || !strings.Contains(stderr, `--break-lease "elsewhere/pid-1/x"`) {
		t.Fatalf("held lease: exit %d, want %d naming the holder and --break-lease:\n%s", code, exitBusy, stderr)
	}
	if again, _ := os.ReadDir(filepath.Join(dir, "annotations", "runs")); len(again) != len(runs) {
		t.Fatalf("the busy run wrote a run record")
	}
	// --break-lease naming someone else changes nothing; naming the holder
	// takes the lease over, with a warning.
	if code, _, stderr := run("backfill", "--family", "t", "--registry", reg, "--bucket", bkt, "--break-lease", "elsewhere/pid-2/y"); code != exitBusy {
		t.Fatalf("--break-lease of another holder: exit %d, want %d\n%s", code, exitBusy, stderr)
	}
	code, _, stderr := run("backfill", "--source", "t-[ab]", "--registry", reg, "--bucket", bkt, "--break-lease", "elsewhere/pid-1/x")
	if code != exitOK || !strings.Contains(stderr, "taking over the lease") || !strings.Contains(stderr, "elsewhere/pid-1/x") {
		t.Fatalf("--break-lease of the holder: exit %d, want 0 with a warning naming it\n%s", code, stderr)
	}
}

// A busy run pushes only when it was skipped, so that the Pushgateway
// keeps the last real run's numbers; it exits 4.
func TestBusyRunPushesOnlyItsSkip(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	pg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer pg.Close()
	dir := t.TempDir()
	fb, err := fsbucket.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(ingest.Lease{Holder: "elsewhere/pid-1/x", RunID: "x", Expires: time.Now().Add(time.Hour)})
	if err := bucket.CreateIfAbsent(context.Background(), fb, ingest.BucketLeaseKey, data, bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"run", "--source", "noaa-ersst-v5-2024*", "--bucket", "file://" + dir, "--pushgateway", pg.URL}, &out, &errb)
	if code != exitBusy {
		t.Fatalf("exit %d, want %d\n%s", code, exitBusy, errb.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("%d pushes, want 1", len(bodies))
	}
	// The push is protobuf; the family names are in it as plain strings.
	if !strings.Contains(bodies[0], "astroingest_last_busy_timestamp_seconds") {
		t.Errorf("the busy run's push lacks astroingest_last_busy_timestamp_seconds")
	}
	for _, name := range []string{"astroingest_objects_total", "astroingest_last_success_timestamp_seconds", "astroingest_run_duration_seconds", "astroingest_bucket_operations_total"} {
		if strings.Contains(bodies[0], name) {
			t.Errorf("the busy run pushed %s, which would overwrite the last real run's", name)
		}
	}
}

// The Job identity comes from the environment the deploy manifests set;
// without JOB_NAME there is none.
func TestWorkloadFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		getenv  func(string) string
		want    *ingest.Workload
		wantErr string
	}{
		{"outside Kubernetes", env(), nil, ""},
		{"an index without a Job", env("JOB_COMPLETION_INDEX", "3"), nil, ""},
		{"a shard of an Indexed Job", env("JOB_NAME", "astroingest-backfill", "JOB_UID", "u-1", "JOB_COMPLETION_INDEX", "3"),
			&ingest.Workload{Job: "astroingest-backfill", JobUID: "u-1", Index: 3}, ""},
		{"the CronJob's Job", env("JOB_NAME", "astroingest-29000000", "JOB_UID", "u-2", "JOB_COMPLETION_INDEX", "0", "CRONJOB_NAME", "astroingest"),
			&ingest.Workload{CronJob: "astroingest", Job: "astroingest-29000000", JobUID: "u-2", Index: 0}, ""},
		{"a Job that is not indexed", env("JOB_NAME", "j"), &ingest.Workload{Job: "j", Index: -1}, ""},
		{"a bad index", env("JOB_NAME", "j", "JOB_COMPLETION_INDEX", "x"), nil, `JOB_COMPLETION_INDEX "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := workloadFromEnv(tt.getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Fatalf("workloadFromEnv = %+v, %v; want %+v", got, err, tt.want)
			}
		})
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

// --help of the commands that take the lease says what busy and a lost
// lease mean and how to break a lease; the top-level help lists exit 4.
func TestHelpNamesLeaseAndExitCodes(t *testing.T) {
	for _, args := range [][]string{{"run", "--help"}, {"backfill", "--help"}, {"--help"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != exitOK {
			t.Fatalf("%v: exit %d", args, code)
		}
		help := out.String() + errb.String()
		want := []string{"4 busy", "lost its lease"}
		if args[0] != "--help" {
			want = []string{"exits 4 (busy:", "--break-lease", "lease_lost", "JOB_COMPLETION_INDEX", "CRONJOB_NAME", "-lease-ttl", "4 busy"}
		}
		for _, w := range want {
			if !strings.Contains(help, w) {
				t.Errorf("%v: help lacks %q", args, w)
			}
		}
	}
}
