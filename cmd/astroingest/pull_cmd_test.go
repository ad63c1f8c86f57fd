package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// bigSize is past two 5 MiB parts, so that --part-size 5MiB fetches it in
// three ranged GETs.
const bigSize = 2*5<<20 + 1234

// pullFiles are what the test publisher serves, by the key they are
// mirrored under.
func pullFiles() map[string][]byte {
	big := make([]byte, bigSize)
	for i := range big {
		big[i] = byte(i*7 + i>>13)
	}
	return map[string][]byte{
		"astronomy/test/a.dat":   []byte("alpha alpha alpha"),
		"astronomy/test/b.dat":   []byte("bravo"),
		"astronomy/test/big.dat": big,
	}
}

// gets counts the GETs that reach the gateway through the proxy, by the
// object key they read (the path after /<bucket>/mirror/).
type gets struct {
	mu     sync.Mutex
	n      map[string]int
	ranged map[string]int
}

func (g *gets) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n, g.ranged = map[string]int{}, map[string]int{}
}

// data is the number of GETs of data objects (not annotations/).
func (g *gets) data() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for k, v := range g.n {
		if !strings.HasPrefix(k, "annotations/") {
			n += v
		}
	}
	return n
}

// pullWorld is a mirror in versitygw of entries t-a, t-b and t-big (family
// t, domain astronomy), with the object index the engine writes, and a counting
// proxy in front of the gateway that the environment points pull at.
type pullWorld struct {
	url   string // s3://BUCKET/mirror
	gw    *versitygw.Server
	gets  *gets
	files map[string][]byte
}

func newPullWorld(t *testing.T) *pullWorld {
	t.Helper()
	gw := versitygw.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", gw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", gw.SecretKey)
	t.Setenv("AWS_REGION", versitygw.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", gw.Endpoint)
	w := &pullWorld{url: "s3://" + gw.Bucket + "/mirror", gw: gw, gets: &gets{}, files: pullFiles()}
	w.gets.reset()
	src := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, ok := w.files["astronomy/test"+r.URL.Path]
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Write(body)
	}))
	t.Cleanup(src.Close)
	reg := strings.Replace(readFile(t, testRegistry(t, src)), "values: [a, b, missing]", "values: [a, b, big]", 1)
	regPath := filepath.Join(t.TempDir(), "reg.yaml")
	os.WriteFile(regPath, []byte(reg), 0o644)
	if code, _, errOut := runCmd(t, context.Background(), "backfill", "--family", "t", "--registry", regPath, "--bucket", w.url); code != exitOK {
		t.Fatalf("backfill: exit %d\n%s", code, errOut)
	}
	gwURL, _ := url.Parse(gw.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(gwURL)
	prefix := "/" + gw.Bucket + "/mirror/"
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if key, ok := strings.CutPrefix(r.URL.Path, prefix); ok && r.Method == http.MethodGet {
			w.gets.mu.Lock()
			w.gets.n[key]++
			if r.Header.Get("Range") != "" {
				w.gets.ranged[key]++
			}
			w.gets.mu.Unlock()
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(front.Close)
	t.Setenv("AWS_ENDPOINT_URL_S3", front.URL)
	return w
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pull runs the command with --json and returns its summary.
func (w *pullWorld) pull(t *testing.T, ctx context.Context, dir string, args ...string) (int, ingest.PullSummary, string) {
	t.Helper()
	args = append([]string{"pull", "--bucket", w.url, "--to", dir, "--json", "--part-size", "5MiB"}, args...)
	code, out, errOut := runCmd(t, ctx, args...)
	var sum ingest.PullSummary
	if out != "" {
		if err := json.Unmarshal([]byte(out), &sum); err != nil {
			t.Fatalf("--json: %v\n%s", err, out)
		}
	}
	return code, sum, errOut
}

// pulledFiles lists the files under dir, pull's own folder aside, and
// fails on any that does not hold its object's bytes.
func (w *pullWorld) pulledFiles(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if err == nil && d.Name() == ingest.PullStateDir {
				return filepath.SkipDir
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		key := filepath.ToSlash(rel)
		got = append(got, key)
		if data, _ := os.ReadFile(p); !bytes.Equal(data, w.files[key]) {
			t.Errorf("%s: %d bytes that are not its object's %d", key, len(data), len(w.files[key]))
		}
		return nil
	})
	return got
}

// pull copies what each selection names, byte for byte, the large object
// in ranged GETs; a rerun reads no data object at all.
func TestPullVersitygw(t *testing.T) {
	w := newPullWorld(t)
	all := []string{"astronomy/test/a.dat", "astronomy/test/b.dat", "astronomy/test/big.dat"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"one entry", []string{"--source", "t-a"}, all[:1]},
		{"glob", []string{"--source", "t-[ab]"}, all[:2]},
		{"family", []string{"--family", "t"}, all},
		{"domain", []string{"--domain", "astronomy"}, all},
		{"no selection is the whole catalog", nil, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w.gets.reset()
			code, sum, errOut := w.pull(t, context.Background(), dir, tc.args...)
			if code != exitOK || sum.Fetched != len(tc.want) || len(sum.FromRecords) != 0 {
				t.Fatalf("exit %d, %+v\n%s", code, sum, errOut)
			}
			if got := w.pulledFiles(t, dir); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("pulled %v, want %v", got, tc.want)
			}
			if len(tc.want) == 3 && w.gets.ranged["astronomy/test/big.dat"] != 3 {
				t.Errorf("big.dat: %d ranged GETs, want 3 parts of 5 MiB", w.gets.ranged["astronomy/test/big.dat"])
			}
			w.gets.reset()
			code, sum, errOut = w.pull(t, context.Background(), dir, tc.args...)
			if code != exitOK || sum.Present != len(tc.want) || sum.Rehashed != 0 || w.gets.data() != 0 {
				t.Errorf("rerun: exit %d, %+v, %d GETs of data objects; want all present, none\n%s", code, sum, w.gets.data(), errOut)
			}
		})
	}
}

// An object whose bytes in the bucket no longer match its annotations is
// refused: exit 1, the key named, nothing under its name, no temporary.
func TestPullCorruptedObject(t *testing.T) {
	w := newPullWorld(t)
	for _, key := range []string{"astronomy/test/a.dat", "astronomy/test/big.dat"} {
		t.Run(key, func(t *testing.T) {
			backing := filepath.Join(w.gw.Dir, w.gw.Bucket, "mirror", filepath.FromSlash(key))
			data, err := os.ReadFile(backing)
			if err != nil {
				t.Fatal(err)
			}
			orig := bytes.Clone(data)
			data[len(data)-3] ^= 0x20
			if err := os.WriteFile(backing, data, 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(backing, orig, 0o644)
			dir := t.TempDir()
			code, sum, errOut := w.pull(t, context.Background(), dir)
			if code != exitFailed || sum.Failed != 1 || !strings.Contains(errOut, "pull: failed: "+key) || !strings.Contains(errOut, "sha256") {
				t.Errorf("exit %d, %+v; want %d and the key named\n%s", code, sum, exitFailed, errOut)
			}
			if _, err := os.Stat(filepath.Join(dir, key)); !os.IsNotExist(err) {
				t.Errorf("%s delivered (%v)", key, err)
			}
			if got := w.pulledFiles(t, dir); len(got) != 2 {
				t.Errorf("pulled %v, want the two intact objects", got)
			}
			assertNoPartials(t, dir)
		})
	}
}

func assertNoPartials(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".astroingest-partial-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// --max-bytes takes objects in catalog and key order while they fit, and
// the summary says what it left out.
func TestPullMaxBytes(t *testing.T) {
	w := newPullWorld(t)
	dir := t.TempDir()
	// t-a (17 bytes) fits, t-b (5) fits, t-big does not.
	code, sum, errOut := w.pull(t, context.Background(), dir, "--max-bytes", "30")
	if code != exitOK || sum.LeftOut == nil || sum.LeftOut.FirstKey != "astronomy/test/big.dat" || sum.LeftOut.Bytes != bigSize || sum.LeftOut.Objects != 1 {
		t.Fatalf("exit %d, left out %+v\n%s", code, sum.LeftOut, errOut)
	}
	if !strings.Contains(errOut, "--max-bytes left objects out") {
		t.Errorf("the log does not say what was left out:\n%s", errOut)
	}
	if got := w.pulledFiles(t, dir); len(got) != 2 {
		t.Errorf("pulled %v, want a.dat and b.dat", got)
	}
}

// An entry without an index file is verified against its head's records,
// with a warning that names it.
func TestPullNoIndexFallsBack(t *testing.T) {
	w := newPullWorld(t)
	if err := os.RemoveAll(filepath.Join(w.gw.Dir, w.gw.Bucket, "mirror", "annotations", "index", "domain=astronomy", "family=t", "t-b.parquet")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, sum, errOut := w.pull(t, context.Background(), dir, "--source", "t-[ab]")
	if code != exitOK || sum.Fetched != 2 || strings.Join(sum.FromRecords, ",") != "t-b" || !strings.Contains(errOut, "entry has no object index") {
		t.Fatalf("exit %d, %+v\n%s", code, sum, errOut)
	}
}

// Index rows whose keys would land outside --to are refused by name.
func TestPullPathEscape(t *testing.T) {
	w := newPullWorld(t)
	ctx := context.Background()
	b, err := openBucket(ctx, w.url, os.Getenv, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	meta := annotations.Meta{ID: "t-a", Domain: "astronomy", Family: "t"}
	rows := func(yield func(index.Row, error) bool) {
		yield(index.Row{Key: "../../outside.dat", Size: 5, SHA256: strings.Repeat("0", 64)}, nil)
	}
	if _, err := index.Write(ctx, b, index.Key(meta, nil), rows); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	code, _, errOut := w.pull(t, ctx, filepath.Join(parent, "a", "b"), "--source", "t-a")
	if code != exitFailed || !strings.Contains(errOut, `"../../outside.dat"`) {
		t.Errorf("exit %d; want %d naming the key\n%s", code, exitFailed, errOut)
	}
	if _, err := os.Stat(filepath.Join(parent, "outside.dat")); err == nil {
		t.Error("a key escaped --to")
	}
}

// Bad flags name the flag and create nothing, not even --to.
func TestPullUsage(t *testing.T) {
	mirror, _ := mirrored(t)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"no --to", []string{"--to", ""}, exitUsage, []string{"--to DIR is required"}},
		{"part size", []string{"--part-size", "1MiB"}, exitUsage, []string{"--part-size 1 MiB", "5 MiB to 5 GiB"}},
		{"workers", []string{"--workers", "0"}, exitUsage, []string{"--workers 0"}},
		{"max bytes", []string{"--max-bytes", "lots"}, exitUsage, []string{"-max-bytes", "lots"}},
		{"domain", []string{"--domain", "geology"}, exitUsage, []string{`--domain "geology"`}},
		{"glob", []string{"--source", "t-[a"}, exitUsage, []string{`--source "t-[a"`}},
		{"argument", []string{"t-a"}, exitUsage, []string{`unexpected argument "t-a"`}},
		{"no entry", []string{"--domain", "climate"}, exitUsage, []string{"no entry of the catalog matches the selection"}},
		{"no mirror", []string{"--bucket", "file://" + t.TempDir()}, exitUsage, []string{"no mirror found"}},
		{"help", []string{"--help"}, exitOK, []string{"Object Read only", "astroingest presign", "--to", "--max-bytes", "--bwlimit", "--verify", "Examples:", "Exit codes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "to")
			args := append([]string{"pull", "--bucket", mirror, "--to", dir}, tc.args...)
			code, out, errOut := runCmd(t, context.Background(), args...)
			if code != tc.wantCode || out != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing\n%s", code, out, tc.wantCode, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("--to %s was created (%v)", dir, err)
			}
		})
	}
}

// A file:// mirror pulls as well as an S3 one; a second pull into the
// same directory while one runs exits 4.
func TestPullFileBucket(t *testing.T) {
	mirror, _ := mirrored(t)
	dir := t.TempDir()
	code, out, errOut := runCmd(t, context.Background(), "pull", "--bucket", mirror, "--to", dir)
	if code != exitOK || out != "" {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "astronomy/test/b.dat")); string(got) != "bravo" {
		t.Errorf("b.dat holds %q", got)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ingest.PullStateDir, "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := flockNB(lock); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCmd(t, context.Background(), "pull", "--bucket", mirror, "--to", dir)
	if code != exitBusy || !strings.Contains(errOut, "pull: --to "+dir+": another pull is writing into this directory; retry") {
		t.Errorf("exit %d, want %d\n%s", code, exitBusy, errOut)
	}
}

// A pull that stops before any object (here a damaged catalog) says why,
// naming the file, rather than exiting 1 in silence.
func TestPullBrokenCatalog(t *testing.T) {
	mirror, root := mirrored(t)
	if err := os.WriteFile(filepath.Join(root, "annotations", "catalog.json"), []byte(`{"entries": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(t, context.Background(), "pull", "--bucket", mirror, "--to", t.TempDir())
	if code != exitFailed || !strings.Contains(errOut, "pull: decode annotations/catalog.json") {
		t.Errorf("exit %d; want %d naming the catalog\n%s", code, exitFailed, errOut)
	}
}

// flockNB takes the lock a running pull holds on its directory.
func flockNB(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
