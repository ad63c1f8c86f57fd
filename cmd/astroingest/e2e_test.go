package main

// End-to-end tests of the built binary: a subprocess with --registry
// pointing at the internal/emulator emulators and --bucket at a real S3 server
// (versitygw). They check the process-level guarantees of DESIGN.md: a
// byte-exact mirror described by its manifests, reruns that transfer
// nothing, clean interruption (exit 3), recovery after kill -9, the lease,
// secrets kept out of every output, per-host politeness and survival of
// the faults real publishers produce.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/emulator"
)

func randBytes(seed uint64, n int) []byte { return buckettest.Data(int64(n), seed) }

// mirrorFixture is the emulator side of TestE2EMirrorAndRerun: the http,
// index (Apache and S3 listing) and manifest (md5sum) kinds, with the key
// each data file must land under.
type mirrorFixture struct {
	srv  *emulator.Server
	want map[string]string // bucket key -> emulator path
	ids  []string
}

func newMirrorFixture(t *testing.T) *mirrorFixture {
	srv := emulator.NewServer()
	t.Cleanup(srv.Close)
	mod := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	f := &mirrorFixture{srv: srv, want: map[string]string{}}

	// http kind, publisher md5 from a checksum file; one object is larger
	// than two 16 MiB parts, so it goes up as a multipart upload.
	srv.AddFile("/pub/sst.nc", randBytes(1, 300_000), mod)
	srv.AddGenerated("/pub/big.nc", 33<<20+12345, 7)
	srv.AddChecksumFile("/pub/MD5SUMS", emulator.MD5Sum)
	// http kind without any publisher checksum: a rerun can only ask
	// conditionally.
	srv.AddFile("/raw/table.csv", randBytes(2, 5_000), mod)
	// index kind, Apache listing, recursive.
	srv.AddFile("/apache/cat/a.fits", randBytes(3, 70_000), mod)
	srv.AddFile("/apache/cat/sub/b.fits", randBytes(4, 1_234), mod)
	// index kind, S3 ListBucket v2 listing.
	srv.SetListing("/bkt/", emulator.S3)
	srv.AddFile("/bkt/obs/p.dat", randBytes(5, 40_000), mod)
	srv.AddFile("/bkt/obs/deep/q.dat", randBytes(6, 0), mod)
	// manifest kind, md5sum listing.
	srv.AddFile("/man/r1.fa", randBytes(7, 12_000), mod)
	srv.AddFile("/man/r2.fa", randBytes(8, 9_000), mod)
	srv.AddChecksumFile("/man/MD5SUM.txt", emulator.MD5Sum)

	f.want = map[string]string{
		"climate/pub/sst.nc":          "/pub/sst.nc",
		"climate/pub/big.nc":          "/pub/big.nc",
		"climate/raw/table.csv":       "/raw/table.csv",
		"astronomy/cat/a.fits":        "/apache/cat/a.fits",
		"astronomy/cat/sub/b.fits":    "/apache/cat/sub/b.fits",
		"spectroscopy/obs/p.dat":      "/bkt/obs/p.dat",
		"spectroscopy/obs/deep/q.dat": "/bkt/obs/deep/q.dat",
		"biology/genomes/r1.fa":       "/man/r1.fa",
		"biology/genomes/r2.fa":       "/man/r2.fa",
	}
	f.ids = []string{"apache-cat", "http-pub-big", "http-pub-sst", "md5-genomes", "raw-table", "s3-obs"}
	return f
}

func (f *mirrorFixture) registry() string {
	u := f.srv.URL()
	return registryYAML([]string{hostYAML(f.srv, 4, 200, "")},
		fam{ID: "http-pub", Domain: "climate", Kind: "http", Names: []string{"sst", "big"},
			Key: "pub/{n}.nc", URL: u + "/pub/{n}.nc", Checksums: u + "/pub/MD5SUMS"},
		fam{ID: "raw-table", Domain: "climate", Kind: "http", Key: "raw/table.csv", URL: u + "/raw/table.csv"},
		fam{ID: "apache-cat", Domain: "astronomy", Kind: "index", Key: "cat", URL: u + "/apache/cat/",
			Params: map[string]string{"recursive": "true"}},
		fam{ID: "s3-obs", Domain: "spectroscopy", Kind: "index", Key: "obs", URL: u + "/bkt/?list-type=2&prefix=obs/",
			Params: map[string]string{"recursive": "true"}},
		fam{ID: "md5-genomes", Domain: "biology", Kind: "manifest", Key: "genomes", URL: u + "/man/MD5SUM.txt",
			Params: map[string]string{"format": "md5sum"}},
	)
}

var dataPrefixes = []string{"climate/", "astronomy/", "spectroscopy/", "biology/"}

func (x *e2e) dataObjects() map[string]objInfo {
	all := map[string]objInfo{}
	for _, p := range dataPrefixes {
		for k, v := range x.list(p) {
			all[k] = v
		}
	}
	return all
}

// Tests 1 and 2: every kind mirrored byte-exactly, the manifests and the
// catalog describe the bucket, verify --deep agrees; then a rerun transfers
// nothing and rewrites no object.
func TestE2EMirrorAndRerun(t *testing.T) {
	x := newE2E(t)
	f := newMirrorFixture(t)
	x.writeRegistry(f.registry())

	p := x.run(0, "backfill", "--source", "*", "--json")
	var rec ingest.RunRecord
	if err := json.Unmarshal([]byte(p.stdout.String()), &rec); err != nil {
		t.Fatalf("--json summary: %v\n%s", err, p.stdout.String())
	}
	if rec.Counts.Done != len(f.ids) || rec.Counts.ObjectsUploaded != len(f.want) || len(rec.Failures) != 0 {
		t.Fatalf("first run: counts %+v failures %+v", rec.Counts, rec.Failures)
	}

	// Byte-exact: every data object equals the publisher's file, and
	// nothing else sits under the data prefixes.
	objs := x.dataObjects()
	var got []string
	for k := range objs {
		got = append(got, k)
	}
	var wantKeys []string
	for k := range f.want {
		wantKeys = append(wantKeys, k)
	}
	slices.Sort(got)
	slices.Sort(wantKeys)
	if !slices.Equal(got, wantKeys) {
		t.Fatalf("bucket data keys\n %q\nwant\n %q", got, wantKeys)
	}
	sums := map[string]string{}
	for k, path := range f.want {
		b := x.get(k)
		sums[k] = sha256Hex(b)
		if int64(len(b)) != f.srv.Size(path) || sums[k] != f.srv.SHA256(path) {
			t.Errorf("%s: %d bytes sha256 %s; publisher %s has %d bytes sha256 %s", k, len(b), sums[k], path, f.srv.Size(path), f.srv.SHA256(path))
		}
	}

	// The manifests name exactly these objects, with the sha256 read back.
	claimed := map[string]bool{}
	for _, id := range f.ids {
		var m ingest.Manifest
		x.getJSON(ingest.ManifestKey(id), &m)
		if m.ID != id || m.License == "" || m.Citation == "" || m.CheckedAt.IsZero() {
			t.Errorf("manifest %s: id %q license %q citation %q checked_at %v", id, m.ID, m.License, m.Citation, m.CheckedAt)
		}
		for _, o := range m.Objects {
			claimed[o.Key] = true
			if sums[o.Key] == "" {
				t.Errorf("manifest %s names %s, which is not a mirrored object", id, o.Key)
				continue
			}
			if o.SHA256 != sums[o.Key] || o.Size != objs[o.Key].size {
				t.Errorf("manifest %s: %s sha256 %s size %d; bucket has sha256 %s size %d", id, o.Key, o.SHA256, o.Size, sums[o.Key], objs[o.Key].size)
			}
			if o.SourceURL != f.srv.URL()+f.want[o.Key] {
				t.Errorf("manifest %s: %s source_url %s, want %s", id, o.Key, o.SourceURL, f.srv.URL()+f.want[o.Key])
			}
		}
	}
	for k := range f.want {
		if !claimed[k] {
			t.Errorf("no manifest claims %s", k)
		}
	}
	var cat ingest.Catalog
	x.getJSON(ingest.CatalogKey, &cat)
	var catIDs []string
	objCount := 0
	for _, e := range cat.Entries {
		catIDs = append(catIDs, e.ID)
		objCount += e.Objects
		if e.Manifest != ingest.ManifestKey(e.ID) {
			t.Errorf("catalog entry %s: manifest %q", e.ID, e.Manifest)
		}
	}
	if !slices.Equal(catIDs, f.ids) || objCount != len(f.want) {
		t.Errorf("catalog entries %q with %d objects, want %q with %d", catIDs, objCount, f.ids, len(f.want))
	}
	if runs := x.list(ingest.RunPrefix); len(runs) != 1 {
		t.Errorf("run records %v, want one", runs)
	}
	x.run(0, "verify", "--deep")

	// Test 2: the rerun downloads no data file. Every request the emulator
	// sees for one must be conditional and answered 304.
	vals := map[string]validators{}
	for _, path := range f.want {
		vals[path] = headValidators(t, f.srv, path)
	}
	f.srv.ResetRequests()
	p = x.run(0, "backfill", "--source", "*", "--json")
	rec = ingest.RunRecord{}
	if err := json.Unmarshal([]byte(p.stdout.String()), &rec); err != nil {
		t.Fatalf("--json summary: %v", err)
	}
	if rec.Counts.Unchanged != len(f.ids) || rec.Counts.ObjectsUploaded != 0 || rec.Counts.ObjectsUnchanged != len(f.want) || rec.Bytes != 0 {
		t.Errorf("rerun: counts %+v bytes %d", rec.Counts, rec.Bytes)
	}
	conditional := 0
	for _, r := range f.srv.RequestLog("/") {
		v, isData := vals[r.Path]
		if !isData {
			continue // listings and checksum files are read every run
		}
		if !notModified(r, v) {
			t.Errorf("rerun: %s %s (If-None-Match %q, If-Modified-Since %q) is answered with the body", r.Method, r.Path, r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since"))
		}
		conditional++
	}
	// raw/table.csv has no checksum and an http listing gives no validator,
	// so it must have been asked conditionally; the rest may cost nothing.
	if n := f.srv.RequestsMethod(http.MethodGet, "/raw/table.csv"); n != 1 {
		t.Errorf("rerun: %d requests for /raw/table.csv, want one conditional GET", n)
	}
	t.Logf("rerun: %d conditional requests for %d data files", conditional, len(f.want))
	after := x.dataObjects()
	for k, before := range objs {
		a := after[k]
		if a.etag != before.etag || !a.lastMod.Equal(before.lastMod) || before.file == nil || a.file == nil ||
			!os.SameFile(before.file, a.file) || !a.file.ModTime().Equal(before.file.ModTime()) {
			t.Errorf("rerun rewrote %s: etag %s -> %s, last-modified %v -> %v", k, before.etag, a.etag, before.lastMod, a.lastMod)
		}
	}

	// verify --deep is able to fail: one object replaced by other bytes of
	// the same size passes the size audit and fails the deep one.
	tampered := "astronomy/cat/a.fits"
	if _, err := x.s3.PutObject(x.ctx(), &awss3.PutObjectInput{Bucket: aws.String(x.bucket), Key: aws.String(tampered),
		Body: bytes.NewReader(randBytes(99, int(objs[tampered].size)))}); err != nil {
		t.Fatal(err)
	}
	x.run(0, "verify")
	if v := x.run(1, "verify", "--deep"); !strings.Contains(v.stdout.String(), tampered) {
		t.Errorf("verify --deep does not name %s:\n%s", tampered, v.stdout.String())
	}
}

// interruptFixture serves three small entries, which finish at once, and
// two big ones, throttled so that a run is still uploading them (as
// multipart uploads of 16 MiB parts) for a few seconds.
type interruptFixture struct {
	srv        *emulator.Server
	small, big []string // bucket keys
	paths      map[string]string
}

const (
	// At bigRate the multipart upload starts once two 16 MiB parts are
	// read (~2 s) and ends at ~4 s: a 2 s window to interrupt it in.
	bigSize = 64 << 20
	bigRate = 16 << 20 // bytes/s
)

func newInterruptFixture(t *testing.T, x *e2e) *interruptFixture {
	srv := emulator.NewServer()
	t.Cleanup(srv.Close)
	f := &interruptFixture{srv: srv, paths: map[string]string{}}
	mod := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for i, n := range []string{"s1", "s2", "s3"} {
		srv.AddFile("/small/"+n+".nc", randBytes(uint64(100+i), 50_000+i), mod)
		k := "climate/small/" + n + ".nc"
		f.small = append(f.small, k)
		f.paths[k] = "/small/" + n + ".nc"
	}
	for i, n := range []string{"b1", "b2"} {
		srv.AddGenerated("/big/"+n+".nc", bigSize, int64(200+i))
		k := "climate/big/" + n + ".nc"
		f.big = append(f.big, k)
		f.paths[k] = "/big/" + n + ".nc"
	}
	srv.AddChecksumFile("/small/MD5SUMS", emulator.MD5Sum)
	srv.AddChecksumFile("/big/MD5SUMS", emulator.MD5Sum)
	srv.Fault("/big/*.nc", emulator.Fault{Kind: emulator.Slow, Method: http.MethodGet, BytesPerSecond: bigRate})
	u := srv.URL()
	x.writeRegistry(registryYAML([]string{hostYAML(srv, 4, 200, "")},
		fam{ID: "small", Domain: "climate", Kind: "http", Names: []string{"s1", "s2", "s3"},
			Key: "small/{n}.nc", URL: u + "/small/{n}.nc", Checksums: u + "/small/MD5SUMS"},
		fam{ID: "big", Domain: "climate", Kind: "http", Names: []string{"b1", "b2"},
			Key: "big/{n}.nc", URL: u + "/big/{n}.nc", Checksums: u + "/big/MD5SUMS"},
	))
	return f
}

// startMidUpload starts a backfill and returns once the small entries are
// recorded and a multipart upload of a big one is in flight.
func (f *interruptFixture) startMidUpload(t *testing.T, x *e2e, extra ...string) *proc {
	p := x.start(append([]string{"backfill", "--family", "small", "--family", "big", "--workers", "4"}, extra...)...)
	alive := func() {
		select {
		case <-p.done:
			t.Fatalf("run ended (exit %d) before it was interrupted:\n%s", p.code, tail(p.stderr.String()))
		default:
		}
	}
	waitFor(t, 20*time.Second, "the small entries' manifests", func() bool {
		alive()
		return len(x.list(ingest.ManifestPrefix)) == 3
	})
	// Poll tightly: right after the upload is created its first two parts
	// are on the wire, the moment an interruption is hardest to clean up.
	deadline := time.Now().Add(20 * time.Second)
	for len(x.uploads()) == 0 {
		alive()
		if time.Now().After(deadline) {
			t.Fatal("no multipart upload started within 20s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return p
}

// checkBytes compares each key with its publisher file.
func (f *interruptFixture) checkBytes(t *testing.T, x *e2e, keys []string) {
	t.Helper()
	for _, k := range keys {
		if got, want := sha256Hex(x.get(k)), f.srv.SHA256(f.paths[k]); got != want {
			t.Errorf("%s: sha256 %s, publisher %s", k, got, want)
		}
	}
}

// Test 3: SIGTERM mid-upload exits 3, aborts the in-flight multipart
// uploads, leaves no partial object, records the run, releases the lease;
// the rerun completes without refetching what had finished.
func TestE2ESigtermMidRun(t *testing.T) {
	x := newE2E(t)
	f := newInterruptFixture(t, x)
	p := f.startMidUpload(t, x, "--debug")
	signalled := time.Now()
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 20*time.Second); code != exitInterrupted {
		t.Fatalf("exit %d after SIGTERM, want %d\n%s", code, exitInterrupted, tail(p.stderr.String()))
	}
	t.Logf("exited %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	if u := x.uploads(); len(u) != 0 {
		t.Errorf("multipart uploads left after SIGTERM: %q\n%s", u, tail(p.stderr.String()))
	}
	for _, k := range f.big {
		if x.exists(k) {
			t.Errorf("%s is visible although its transfer was interrupted", k)
		}
	}
	f.checkBytes(t, x, f.small)
	runs := x.list(ingest.RunPrefix)
	if len(runs) != 1 {
		t.Fatalf("run records %v, want one", runs)
	}
	for k := range runs {
		var rec ingest.RunRecord
		x.getJSON(k, &rec)
		if !rec.Interrupted || rec.Counts.Done != 3 || rec.Counts.Unfinished != 2 || len(rec.Failures) != 0 {
			t.Errorf("run record %s: interrupted %v counts %+v failures %+v", k, rec.Interrupted, rec.Counts, rec.Failures)
		}
	}
	if l := x.list(ingest.LeasePrefix); len(l) != 0 {
		t.Errorf("interrupted run left its lease: %v", l)
	}

	vals := map[string]validators{}
	for _, k := range f.small {
		vals[f.paths[k]] = headValidators(t, f.srv, f.paths[k])
	}
	f.srv.ClearFaults()
	f.srv.ResetRequests()
	p = x.run(0, "backfill", "--family", "small", "--family", "big", "--json")
	var rec ingest.RunRecord
	if err := json.Unmarshal([]byte(p.stdout.String()), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Counts.Done != 2 || rec.Counts.Unchanged != 3 || rec.Counts.ObjectsUploaded != 2 {
		t.Errorf("rerun counts %+v, want the 2 big entries done and the 3 small unchanged", rec.Counts)
	}
	for _, r := range f.srv.RequestLog("/small/") {
		if v, ok := vals[r.Path]; ok && !notModified(r, v) {
			t.Errorf("rerun refetched %s, finished before the signal", r.Path)
		}
	}
	for _, k := range f.big {
		if n := f.srv.RequestsMethod(http.MethodGet, f.paths[k]); n != 1 {
			t.Errorf("rerun: %d GETs of %s, want 1", n, f.paths[k])
		}
	}
	f.checkBytes(t, x, f.big)
	if u := x.uploads(); len(u) != 0 {
		t.Errorf("multipart uploads left after the rerun: %q", u)
	}
	x.run(0, "verify", "--deep")
}

// Test 4: kill -9 leaves multipart uploads and a live lease behind. Once
// the lease has expired, the rerun takes it over, aborts those uploads,
// completes, and the bucket verifies.
func TestE2EKillMidRun(t *testing.T) {
	x := newE2E(t)
	f := newInterruptFixture(t, x)
	p := f.startMidUpload(t, x)
	p.signal(t, syscall.SIGKILL)
	if code := p.wait(t, 10*time.Second); code != -1 {
		t.Fatalf("exit %d after SIGKILL, want death by signal", code)
	}
	killed := time.Now().UTC()
	left := x.uploads()
	if len(left) == 0 {
		t.Fatal("no multipart upload left after kill -9; the test did not catch the run mid-upload")
	}
	leases := x.list(ingest.LeasePrefix)
	if len(leases) != 1 {
		t.Fatalf("leases after kill -9: %v, want the dead run's", leases)
	}
	var leaseKey string
	for k := range leases {
		leaseKey = k
	}
	var lease ingest.Lease
	x.getJSON(leaseKey, &lease)

	// While the dead run's lease is live, a rerun is refused.
	if r := x.run(exitUsage, "backfill", "--family", "small", "--family", "big"); !strings.Contains(r.stderr.String(), lease.Holder) {
		t.Errorf("refusal does not name the holder %q:\n%s", lease.Holder, r.stderr.String())
	}

	// Let the lease expire: the TTL is 10 minutes, so its expiry is moved
	// to the moment of the kill, as if that time had passed.
	lease.Expires = killed
	data, _ := json.Marshal(lease)
	if _, err := x.s3.PutObject(x.ctx(), &awss3.PutObjectInput{Bucket: aws.String(x.bucket), Key: aws.String(leaseKey), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	f.srv.ClearFaults()
	r := x.run(0, "backfill", "--family", "small", "--family", "big")
	if u := x.uploads(); len(u) != 0 {
		t.Errorf("the rerun left the dead run's multipart uploads %q (were %q)\n%s", u, left, tail(r.stderr.String()))
	}
	if !strings.Contains(r.stderr.String(), "taking over expired lease") {
		t.Errorf("the rerun did not report taking over the expired lease:\n%s", tail(r.stderr.String()))
	}
	f.checkBytes(t, x, append(slices.Clone(f.small), f.big...))
	if l := x.list(ingest.LeasePrefix); len(l) != 0 {
		t.Errorf("leases after the rerun: %v", l)
	}
	x.run(0, "verify", "--deep")
}

// Test 5: while one run holds the lease, a second with the same selection
// exits 2 naming the holder and writes nothing.
func TestE2EOverlappingRunsRefused(t *testing.T) {
	x := newE2E(t)
	srv := emulator.NewServer()
	t.Cleanup(srv.Close)
	// 10 s of download: the first run holds the lease until it is stopped.
	srv.AddFile("/slow/a.nc", randBytes(300, 1_000_000), time.Now())
	srv.Fault("/slow/a.nc", emulator.Fault{Kind: emulator.Slow, Method: http.MethodGet, BytesPerSecond: 100_000})
	x.writeRegistry(registryYAML([]string{hostYAML(srv, 4, 200, "")},
		fam{ID: "slow", Domain: "astronomy", Kind: "http", Key: "slow/a.nc", URL: srv.URL() + "/slow/a.nc"}))

	a := x.start("backfill", "--family", "slow")
	var leaseKey string
	waitFor(t, 10*time.Second, "the first run's lease", func() bool {
		for k := range x.list(ingest.LeasePrefix) {
			leaseKey = k
		}
		return leaseKey != ""
	})
	var lease ingest.Lease
	x.getJSON(leaseKey, &lease)
	if !strings.Contains(lease.Holder, fmt.Sprintf("pid-%d", a.cmd.Process.Pid)) {
		t.Errorf("lease holder %q does not name the first run's pid %d", lease.Holder, a.cmd.Process.Pid)
	}
	b := x.run(exitUsage, "backfill", "--family", "slow")
	if !strings.Contains(b.stderr.String(), lease.Holder) {
		t.Errorf("second run's error does not name the holder %q:\n%s", lease.Holder, b.stderr.String())
	}
	var still ingest.Lease
	x.getJSON(leaseKey, &still)
	if still.Holder != lease.Holder {
		t.Errorf("after the refusal the lease is held by %q, want still %q", still.Holder, lease.Holder)
	}
	a.signal(t, syscall.SIGTERM)
	if code := a.wait(t, 20*time.Second); code != exitInterrupted {
		t.Fatalf("first run: exit %d after SIGTERM\n%s", code, tail(a.stderr.String()))
	}
	if runs := x.list(ingest.RunPrefix); len(runs) != 1 {
		t.Errorf("run records %v: the refused run must write nothing", runs)
	}
	if n := srv.RequestsMethod(http.MethodGet, "/slow/a.nc"); n > 1 {
		t.Errorf("%d GETs of the data file, want at most the first run's one (the refused run fetches nothing)", n)
	}
}

// Test 6: source keys and the S3 secret reach the services that need them
// and appear nowhere else: not on stdout or stderr (debug logging on), not
// in any object of the bucket, not in a /metrics scrape taken mid-run.
func TestE2ESecretsNeverLeak(t *testing.T) {
	x := newE2E(t)
	cds := emulator.NewServer()
	t.Cleanup(cds.Close)
	ncbi := emulator.NewServer()
	t.Cleanup(ncbi.Close)
	mod := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cds.AddFile("/era/a.nc", randBytes(400, 20_000), mod)
	cds.AddFile("/era/slow.nc", randBytes(401, 150_000), mod)
	cds.Fault("/era/slow.nc", emulator.Fault{Kind: emulator.Slow, Method: http.MethodGet, BytesPerSecond: 100_000})
	ncbi.AddFile("/genomes/g1.fa", randBytes(402, 8_000), mod)
	ncbi.AddFile("/genomes/g2.fa", randBytes(403, 9_000), mod)
	ncbi.AddChecksumFile("/genomes/MD5SUM.txt", emulator.MD5Sum)

	markers := map[string]string{
		"CDS_API_KEY":           "cdsMARKER" + sha256Hex(randBytes(uint64(time.Now().UnixNano()), 8))[:16],
		"NCBI_API_KEY":          "ncbiMARKER" + sha256Hex(randBytes(uint64(time.Now().UnixNano())+1, 8))[:16],
		"AWS_SECRET_ACCESS_KEY": x.gw.SecretKey,
	}
	x.env = append(x.env, "CDS_API_KEY="+markers["CDS_API_KEY"], "NCBI_API_KEY="+markers["NCBI_API_KEY"])
	x.writeRegistry(registryYAML([]string{
		hostYAML(cds, 2, 200, "    credential: {env: CDS_API_KEY, header: PRIVATE-TOKEN, required: true}\n"),
		hostYAML(ncbi, 2, 200, "    credential: {env: NCBI_API_KEY, query: api_key}\n"),
	},
		fam{ID: "era", Domain: "climate", Kind: "http", Names: []string{"a", "slow"}, Key: "era/{n}.nc", URL: cds.URL() + "/era/{n}.nc"},
		fam{ID: "genomes", Domain: "biology", Kind: "manifest", Key: "genomes", URL: ncbi.URL() + "/genomes/MD5SUM.txt",
			Params: map[string]string{"format": "md5sum"}},
		fam{ID: "genomes-index", Domain: "biology", Kind: "index", Key: "genomes-index", URL: ncbi.URL() + "/genomes/",
			Params: map[string]string{"include": "*.fa"}},
		// A failure: its reason and detail go to the log and the run record.
		fam{ID: "missing", Domain: "biology", Kind: "http", Key: "missing.fa", URL: ncbi.URL() + "/genomes/missing.fa"},
	))

	p := x.start("backfill", "--source", "*", "--debug", "--json", "--metrics-listen", "127.0.0.1:0")
	addr := ""
	waitFor(t, 10*time.Second, "the metrics listener's address in the log", func() bool {
		for _, l := range logLines(p.stderr.String()) {
			if l["msg"] == "serving metrics" {
				addr, _ = l["addr"].(string)
			}
		}
		return addr != ""
	})
	var scrapes bytes.Buffer
	for scraped := false; ; {
		select {
		case <-p.done:
		default:
			resp, err := http.Get("http://" + addr + "/metrics")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				scrapes.Write(body)
				scraped = scraped || bytes.Contains(body, []byte("astroingest_http_requests_total{"))
			}
			if !scraped {
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		break
	}
	if !bytes.Contains(scrapes.Bytes(), []byte("astroingest_http_requests_total{")) {
		t.Fatalf("no scrape with request counts was taken while the run was live:\n%s", scrapes.String())
	}
	if code := p.wait(t, 30*time.Second); code != exitFailed {
		t.Fatalf("exit %d, want %d (the missing entry fails)\n%s", code, exitFailed, tail(p.stderr.String()))
	}

	// The keys were really sent, each to its own host only.
	sawHeader, sawQuery := false, false
	for _, r := range cds.RequestLog("/") {
		sawHeader = sawHeader || r.Header.Get("PRIVATE-TOKEN") == markers["CDS_API_KEY"]
		if strings.Contains(r.Query, markers["NCBI_API_KEY"]) {
			t.Errorf("the NCBI key was sent to the CDS host: %s?%s", r.Path, r.Query)
		}
	}
	for _, r := range ncbi.RequestLog("/") {
		sawQuery = sawQuery || strings.Contains(r.Query, "api_key="+markers["NCBI_API_KEY"])
		if r.Header.Get("PRIVATE-TOKEN") != "" {
			t.Errorf("the CDS key was sent to the NCBI host for %s", r.Path)
		}
	}
	if !sawHeader || !sawQuery {
		t.Fatalf("credentials not used: CDS header seen %v, NCBI query seen %v", sawHeader, sawQuery)
	}

	places := map[string][]byte{"stdout": []byte(p.stdout.String()), "stderr": []byte(p.stderr.String()), "/metrics": scrapes.Bytes()}
	all := x.list("")
	for k := range all {
		places["s3://"+x.bucket+"/"+k] = x.get(k)
	}
	var rec ingest.RunRecord
	if err := json.Unmarshal(places["stdout"], &rec); err != nil || len(rec.Failures) != 1 || rec.Failures[0].Entry != "missing" || rec.Counts.Done != 4 {
		t.Errorf("summary: %v, counts %+v failures %+v", err, rec.Counts, rec.Failures)
	}
	if len(all) < 10 { // 5 data objects, 5 manifests, catalog, run record
		t.Errorf("only %d objects in the bucket to search", len(all))
	}
	for where, b := range places {
		for name, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s's value appears in %s", name, where)
			}
		}
	}
}

// Test 7: the host policy's rate and concurrency hold as the publisher
// sees them, with more workers than the host allows.
func TestE2EPerHostPoliteness(t *testing.T) {
	x := newE2E(t)
	rated := emulator.NewServer()
	t.Cleanup(rated.Close)
	serial := emulator.NewServer()
	t.Cleanup(serial.Close)
	mod := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var ratedNames, serialNames []string
	for i := range 15 {
		n := fmt.Sprintf("r%02d", i)
		rated.AddFile("/d/"+n+".dat", randBytes(uint64(500+i), 2_000), mod)
		ratedNames = append(ratedNames, n)
	}
	const serialBody, serialRate = 30_000, 100_000 // 0.3 s per body
	for i := range 5 {
		n := fmt.Sprintf("s%d", i)
		serial.AddFile("/d/"+n+".dat", randBytes(uint64(600+i), serialBody), mod)
		serialNames = append(serialNames, n)
	}
	serial.Fault("/d/*", emulator.Fault{Kind: emulator.Slow, BytesPerSecond: serialRate})
	x.writeRegistry(registryYAML([]string{
		hostYAML(rated, 1, 5, "    burst: 1\n"),
		hostYAML(serial, 1, 1000, ""),
	},
		fam{ID: "rated", Domain: "astronomy", Kind: "http", Names: ratedNames, Key: "rated/{n}.dat", URL: rated.URL() + "/d/{n}.dat"},
		fam{ID: "serial", Domain: "astronomy", Kind: "http", Names: serialNames, Key: "serial/{n}.dat", URL: serial.URL() + "/d/{n}.dat"},
	))
	x.run(0, "backfill", "--source", "*", "--workers", "8")

	// Requests i < j must be at least (j-i) intervals apart. jitter allows
	// for one request being logged late by the loaded machine; it does
	// not accumulate, so the run as a whole must keep the rate.
	check := func(name string, times []time.Time, n int, interval, jitter time.Duration) {
		t.Helper()
		if len(times) != n {
			t.Fatalf("%s: %d requests, want %d", name, len(times), n)
		}
		gaps := make([]time.Duration, 0, n-1)
		for i := 1; i < n; i++ {
			gaps = append(gaps, times[i].Sub(times[i-1]).Round(time.Millisecond))
		}
		t.Logf("%s: %d requests over %v; gaps %v", name, n, times[n-1].Sub(times[0]).Round(time.Millisecond), gaps)
		for i := range n {
			for j := i + 1; j < n; j++ {
				if d, want := times[j].Sub(times[i]), time.Duration(j-i)*interval-jitter; d < want {
					t.Errorf("%s: requests %d and %d arrived %v apart, want at least %v", name, i, j, d, want)
					return
				}
			}
		}
	}
	// rps 5 with burst 1: one request per 200 ms. A loaded machine was
	// seen to log one request 100 ms late; a limiter at even 6 rps fails.
	check("rps 5", rated.RequestTimes("/"), 15, 200*time.Millisecond, 100*time.Millisecond)
	// concurrency 1: a request starts only after the previous body is
	// read. The emulator sends a 0.3 s body as six 50 ms chunks, the last
	// one 250 ms after the request arrived.
	check("concurrency 1", serial.RequestTimes("/"), 5, 250*time.Millisecond, 10*time.Millisecond)
}

// Test 8: 429 and 503 with Retry-After are waited out, a connection reset
// mid-body (also in the middle of a multipart upload) is resumed with a
// Range request, and the mirror is byte-exact.
func TestE2EFaultsSurvived(t *testing.T) {
	x := newE2E(t)
	srv := emulator.NewServer()
	t.Cleanup(srv.Close)
	mod := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	srv.AddFile("/f/a.bin", randBytes(700, 50_000), mod)
	srv.AddFile("/f/b.bin", randBytes(701, 60_000), mod)
	srv.AddFile("/f/c.bin", randBytes(702, 400_000), mod)
	srv.AddGenerated("/f/d.bin", 20<<20, 703)
	srv.AddChecksumFile("/f/MD5SUMS", emulator.MD5Sum)
	srv.Fault("/f/a.bin", emulator.Fault{Kind: emulator.TooManyRequests, RetryAfter: 2 * time.Second, Times: 1})
	srv.Fault("/f/b.bin", emulator.Fault{Kind: emulator.Unavailable, RetryAfter: time.Second, Times: 1})
	srv.Fault("/f/c.bin", emulator.Fault{Kind: emulator.Reset, After: 100_000, Times: 1})
	srv.Fault("/f/d.bin", emulator.Fault{Kind: emulator.Reset, After: 17 << 20, Times: 1})
	names := []string{"a", "b", "c", "d"}
	x.writeRegistry(registryYAML([]string{hostYAML(srv, 4, 200, "")},
		fam{ID: "f", Domain: "spectroscopy", Kind: "http", Names: names, Key: "f/{n}.bin", URL: srv.URL() + "/f/{n}.bin", Checksums: srv.URL() + "/f/MD5SUMS"}))
	x.run(0, "backfill", "--source", "*")

	for _, n := range names {
		k, path := "spectroscopy/f/"+n+".bin", "/f/"+n+".bin"
		if got := sha256Hex(x.get(k)); got != srv.SHA256(path) {
			t.Errorf("%s is not byte-exact", k)
		}
	}
	for glob, wait := range map[string]time.Duration{"/f/a.bin": 2 * time.Second, "/f/b.bin": time.Second} {
		ts := srv.RequestTimes(glob)
		if srv.FaultHits(glob) != 1 || len(ts) != 2 {
			t.Fatalf("%s: %d fault hits, %d requests; want 1 and 2", glob, srv.FaultHits(glob), len(ts))
		}
		if d := ts[1].Sub(ts[0]); d < wait-50*time.Millisecond {
			t.Errorf("%s: retried after %v, before its Retry-After of %v", glob, d, wait)
		}
	}
	rangeRE := regexp.MustCompile(`^bytes=([1-9][0-9]*)-$`)
	for _, path := range []string{"/f/c.bin", "/f/d.bin"} {
		log := srv.RequestLog(path)
		if srv.FaultHits(path) != 1 || len(log) != 2 {
			t.Fatalf("%s: %d fault hits, %d requests; want 1 and 2", path, srv.FaultHits(path), len(log))
		}
		if rg := log[1].Header.Get("Range"); !rangeRE.MatchString(rg) || log[1].Header.Get("If-Range") == "" {
			t.Errorf("%s: after the reset the engine asked Range %q If-Range %q, want a guarded resume", path, rg, log[1].Header.Get("If-Range"))
		}
	}
	if u := x.uploads(); len(u) != 0 {
		t.Errorf("multipart uploads left: %q", u)
	}
	x.run(0, "verify", "--deep")
}
