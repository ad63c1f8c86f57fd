package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/internal/emulator/demo"
	"github.com/astroingest/astroingest/internal/proctest"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// demoMirror is what a complete mirror of a demo holds.
type demoMirror struct {
	Entries, Objects int
	Bytes            int64
}

// expectedDemo is what a complete mirror of an n-entry demo holds, from an
// independent instance of the same deterministic world.
func expectedDemo(t *testing.T, n int) (demoMirror, []string) {
	t.Helper()
	w, err := demo.Start(demo.Options{Entries: n})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	var ids []string
	for _, e := range w.Registry.Entries {
		ids = append(ids, e.ID)
	}
	return demoMirror{Entries: len(ids), Objects: w.Objects, Bytes: w.Bytes}, ids
}

func decodeRecord(t *testing.T, out string) ingest.RunRecord {
	t.Helper()
	var rec ingest.RunRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("--json output is not a run record: %v\n%s", err, out)
	}
	return rec
}

// dataFiles maps every file of a file:// bucket outside annotations/ (data
// objects, their sidecar metadata, staging leftovers) to its modification
// time and size.
func dataFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		// Annotations (and the fs backend's metadata of them) are rewritten
		// by every run; data objects and their metadata must not be.
		if d.IsDir() && (rel == "annotations" || rel == filepath.Join(".astroingest", "meta", "annotations")) {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%s %d", fi.ModTime().Format(time.RFC3339Nano), fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func verifyDeep(t *testing.T, bucketURL string, wantObjects int, wantBytes int64) {
	t.Helper()
	code, out, errOut := runCmd(t, context.Background(), "verify", "--deep", "--json", "--bucket", bucketURL)
	if code != exitOK {
		t.Fatalf("verify --deep: exit %d\n%s\n%s", code, out, errOut)
	}
	var rep ingest.VerifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	if rep.Objects != wantObjects || rep.Bytes != wantBytes || len(rep.Problems) != 0 {
		t.Fatalf("verify --deep: %d objects, %d bytes, problems %v; want %d objects, %d bytes", rep.Objects, rep.Bytes, rep.Problems, wantObjects, wantBytes)
	}
}

// The default demo into a file:// bucket mirrors every entry, verifies, and
// a second and third demo (by schedule, then --recheck) rewrite nothing.
func TestDemoFileBucket(t *testing.T) {
	ctx := context.Background()
	want, ids := expectedDemo(t, demo.DefaultEntries)
	dir := t.TempDir()
	bucketURL := "file://" + dir

	code, out, errOut := runCmd(t, ctx, "demo", "--bucket", bucketURL, "--json")
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s", code, errOut)
	}
	rec := decodeRecord(t, out)
	if rec.Mode != ingest.ModeRun || rec.Counts.Selected != want.Entries || rec.Counts.Done != want.Entries ||
		rec.Counts.ObjectsUploaded != want.Objects || rec.Bytes != want.Bytes || len(rec.Failures) != 0 {
		t.Fatalf("first demo: mode %s counts %+v bytes %d failures %v; want %d entries, %d objects, %d bytes",
			rec.Mode, rec.Counts, rec.Bytes, rec.Failures, want.Entries, want.Objects, want.Bytes)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "annotations", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cat ingest.Catalog
	if err := json.Unmarshal(raw, &cat); err != nil {
		t.Fatal(err)
	}
	inCatalog := map[string]ingest.CatalogEntry{}
	for _, e := range cat.Entries {
		inCatalog[e.ID] = e
	}
	if len(cat.Entries) != len(ids) {
		t.Errorf("catalog has %d entries, registry %d", len(cat.Entries), len(ids))
	}
	for _, id := range ids {
		if e, ok := inCatalog[id]; !ok || e.Objects == 0 || !strings.HasPrefix(e.Title, "DEMO") {
			t.Errorf("entry %s: catalog has %+v (present %v)", id, e, ok)
		}
	}
	var m annotations.Head
	raw, err = os.ReadFile(filepath.Join(dir, filepath.FromSlash(ingest.ManifestKey("demo-phoenix-hires-wave"))))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.License, "demo") || !strings.Contains(m.Citation, "Husser") || len(m.Records) != 1 ||
		m.Records[0].PublisherChecksum == nil || m.Records[0].PublisherChecksum.Algo != "sha256" {
		t.Errorf("manifest of demo-phoenix-hires-wave: %+v", m)
	}
	verifyDeep(t, bucketURL, want.Objects, want.Bytes)
	before := dataFiles(t, dir)
	if len(before) < want.Objects {
		t.Fatalf("bucket holds %d data files, want at least %d", len(before), want.Objects)
	}

	tests := []struct {
		name  string
		args  []string
		check func(ingest.RunRecord) bool
	}{
		{"by schedule", nil, func(r ingest.RunRecord) bool {
			return r.Counts.Fresh == want.Entries && r.Counts.Done == 0
		}},
		{"recheck", []string{"--recheck"}, func(r ingest.RunRecord) bool {
			return r.Mode == ingest.ModeBackfill && r.Counts.Unchanged == want.Entries && r.Counts.ObjectsUnchanged == want.Objects
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, ctx, append([]string{"demo", "--bucket", bucketURL, "--json"}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			rec := decodeRecord(t, out)
			if !tt.check(rec) || rec.Counts.ObjectsUploaded != 0 || rec.Bytes != 0 || len(rec.Failures) != 0 {
				t.Fatalf("counts %+v bytes %d failures %v", rec.Counts, rec.Bytes, rec.Failures)
			}
			// The run record in the bucket says the same.
			raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rec.RecordKey)))
			if err != nil {
				t.Fatal(err)
			}
			if stored := decodeRecord(t, string(raw)); stored.Counts.ObjectsUploaded != 0 {
				t.Fatalf("stored record uploaded %d objects", stored.Counts.ObjectsUploaded)
			}
			after := dataFiles(t, dir)
			for k, v := range before {
				if after[k] != v {
					t.Errorf("%s was rewritten (%s -> %s)", k, v, after[k])
				}
			}
			if len(after) != len(before) {
				t.Errorf("bucket had %d data files, now %d", len(before), len(after))
			}
			verifyDeep(t, bucketURL, want.Objects, want.Bytes)
		})
	}
}

// The same against a real S3 server.
func TestDemoVersitygw(t *testing.T) {
	gw := versitygw.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", gw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", gw.SecretKey)
	t.Setenv("AWS_REGION", versitygw.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", gw.Endpoint)
	const n = 120
	want, _ := expectedDemo(t, n)
	bucketURL := "s3://" + gw.Bucket + "/mirror"
	code, out, errOut := runCmd(t, context.Background(), "demo", "--bucket", bucketURL, "--entries", "120", "--workers", "6", "--json")
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s", code, errOut)
	}
	rec := decodeRecord(t, out)
	if rec.Counts.Done != n || rec.Counts.ObjectsUploaded != want.Objects || rec.Bytes != want.Bytes {
		t.Fatalf("counts %+v bytes %d; want %d entries, %d objects, %d bytes", rec.Counts, rec.Bytes, n, want.Objects, want.Bytes)
	}
	verifyDeep(t, bucketURL, want.Objects, want.Bytes)
	code, out, errOut = runCmd(t, context.Background(), "demo", "--bucket", bucketURL, "--entries", "120", "--recheck", "--json")
	if code != exitOK {
		t.Fatalf("demo --recheck: exit %d\n%s", code, errOut)
	}
	if rec := decodeRecord(t, out); rec.Counts.ObjectsUploaded != 0 || rec.Counts.ObjectsUnchanged != want.Objects {
		t.Fatalf("demo --recheck: counts %+v", rec.Counts)
	}
}

func TestDemoUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string // in stderr (help and errors both go there)
	}{
		{"help", []string{"--help"}, exitOK, []string{"127.0.0.1", "--entries", "--recheck", "--keep-serving", "verify --deep", "file://./demo-mirror", "ASTROINGEST_BUCKET", "exit codes", "demo data"}},
		{"too few entries", []string{"--entries", "3"}, exitUsage, []string{"--entries 3", "every kind and domain"}},
		{"too many entries", []string{"--entries", "99999999"}, exitUsage, []string{"--entries 99999999"}},
		{"workers", []string{"--workers", "0"}, exitUsage, []string{"--workers 0"}},
		{"argument", []string{"now"}, exitUsage, []string{`unexpected argument "now"`}},
		{"bucket", []string{"--bucket", "ftp://x"}, exitUsage, []string{`unknown scheme "ftp"`}},
		{"flag", []string{"--seed", "1"}, exitUsage, []string{"-seed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, context.Background(), append([]string{"demo"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, errOut)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	code, out, _ := runCmd(t, context.Background(), "--help")
	if code != exitOK || !strings.Contains(out, "demo ") {
		t.Errorf("the command list lacks demo:\n%s", out)
	}
}

// Demo data never goes to the configured bucket by default.
func TestDemoIgnoresConfiguredBucket(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("ASTROINGEST_BUCKET", "file://"+filepath.Join(dir, "production"))
	code, _, errOut := runCmd(t, context.Background(), "demo", "--entries", fmt.Sprint(demo.MinEntries()))
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "production")); !os.IsNotExist(err) {
		t.Errorf("demo wrote into ASTROINGEST_BUCKET (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "demo-mirror", "annotations", "catalog.json")); err != nil {
		t.Errorf("demo did not write ./demo-mirror: %v", err)
	}
}

// Metrics are pushed as run pushes them, grouped under command "demo".
func TestDemoPushgateway(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var body bytes.Buffer
	pg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.Path)
		_, _ = io.Copy(&body, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer pg.Close()
	code, _, errOut := runCmd(t, context.Background(), "demo", "--entries", fmt.Sprint(demo.MinEntries()), "--bucket", "file://"+t.TempDir(), "--pushgateway", pg.URL)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	// The push client orders grouping labels as it likes.
	if len(paths) != 1 || !strings.Contains(paths[0], "/job/astroingest/") || !strings.Contains(paths[0], "/command/demo") || !strings.Contains(paths[0], "/shard/0") {
		t.Fatalf("pushes: %v", paths)
	}
	for _, m := range []string{"astroingest_objects_total", "astroingest_bytes_total", "astroingest_last_success_timestamp_seconds", "astroingest_bucket_operations_total"} {
		if !bytes.Contains(body.Bytes(), []byte(m)) {
			t.Errorf("push lacks %s", m)
		}
	}
}

// --keep-serving leaves the emulators and their registry up until the
// context ends, usable by the other commands; the run's exit code stays.
func TestDemoKeepServing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr proctest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"demo", "--entries", fmt.Sprint(demo.MinEntries()), "--bucket", "file://" + t.TempDir(), "--keep-serving"}, io.Discard, &stderr)
	}()
	re := regexp.MustCompile(`keep serving at (http://127\.0\.0\.1:\d+) until.*\nTheir registry is in (\S+) `)
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no keep-serving notice:\n%s", stderr.String())
		}
		m = re.FindStringSubmatch(stderr.String())
	}
	resp, err := http.Get(m[1] + "/Gaia/gdr3/gaia_source/_MD5SUM.txt")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("emulator not serving: %v %v", resp, err)
	}
	resp.Body.Close()
	code, out, errOut := runCmd(t, context.Background(), "sources", "list", "--registry", m[2])
	if code != exitOK || !strings.Contains(out, "demo-jwst-program-1345") {
		t.Fatalf("sources list --registry %s: exit %d\n%s%s", m[2], code, out, errOut)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo --keep-serving did not stop on cancel")
	}
	if _, err := os.Stat(m[2]); !os.IsNotExist(err) {
		t.Errorf("registry folder %s left behind (%v)", m[2], err)
	}
}
