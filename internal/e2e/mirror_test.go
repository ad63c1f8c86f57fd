package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/emulator"
)

// mirrorFixture is the emulator side of TestE2EMirrorAndRerun: the http,
// index (Apache and S3 listing) and manifest (md5sum) kinds, with the key
// each data file must land under.
type mirrorFixture struct {
	srv  *emulator.Server
	want map[string]string // bucket key -> emulator path
	ids  []string
}

func newMirrorFixture(t *testing.T) *mirrorFixture {
	srv := newSource(t)
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

// Every kind mirrored byte-exactly, the manifests and the
// catalog describe the bucket, verify --deep agrees; then a rerun transfers
// nothing and rewrites no object.
func TestE2EMirrorAndRerun(t *testing.T) {
	x := newE2E(t)
	f := newMirrorFixture(t)
	x.writeRegistry(f.registry())

	p := x.run(exitOK, "backfill", "--source", "*", "--json")
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
		m, objects := x.manifest(id)
		if m.ID != id || m.License == "" || m.Citation == "" || m.CheckedAt.IsZero() {
			t.Errorf("manifest %s: id %q license %q citation %q checked_at %v", id, m.ID, m.License, m.Citation, m.CheckedAt)
		}
		for _, o := range objects {
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
	x.run(exitOK, "verify", "--deep")

	// Test 2: the rerun downloads no data file. Every request the emulator
	// sees for one must be conditional and answered 304.
	vals := map[string]validators{}
	for _, path := range f.want {
		vals[path] = headValidators(t, f.srv, path)
	}
	f.srv.ResetRequests()
	p = x.run(exitOK, "backfill", "--source", "*", "--json")
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
	x.run(exitOK, "verify")
	if v := x.run(exitFailed, "verify", "--deep"); !strings.Contains(v.stdout.String(), tampered) {
		t.Errorf("verify --deep does not name %s:\n%s", tampered, v.stdout.String())
	}
}
