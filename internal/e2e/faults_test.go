package e2e

import (
	"regexp"
	"testing"

	"github.com/astroingest/astroingest/internal/emulator"
)

// A connection reset in the middle of a multipart upload to a real S3
// server is resumed with a guarded Range request into the same upload, and
// the object is byte-exact. (429, 503 and resets of small objects are
// engine behaviours that ingest's tests cover; this one needs the S3
// backend's multipart path, which only this test runs.)
func TestE2EResetMidMultipartUpload(t *testing.T) {
	x := newE2E(t)
	srv := newSource(t)
	// 20 MiB goes up in two 16 MiB parts; the reset comes inside the
	// second one.
	srv.AddGenerated("/f/d.bin", 20<<20, 703)
	srv.AddChecksumFile("/f/MD5SUMS", emulator.MD5Sum)
	srv.Fault("/f/d.bin", emulator.Fault{Kind: emulator.Reset, After: 17 << 20, Times: 1})
	x.writeRegistry(registryYAML([]string{hostYAML(srv, 4, 200, "")},
		fam{ID: "f", Domain: "spectroscopy", Kind: "http", Key: "f/d.bin", URL: srv.URL() + "/f/d.bin", Checksums: srv.URL() + "/f/MD5SUMS"}))
	x.run(exitOK, "backfill", "--source", "*")

	if got := sha256Hex(x.get("spectroscopy/f/d.bin")); got != srv.SHA256("/f/d.bin") {
		t.Error("spectroscopy/f/d.bin is not byte-exact")
	}
	log := srv.RequestLog("/f/d.bin")
	if srv.FaultHits("/f/d.bin") != 1 || len(log) != 2 {
		t.Fatalf("%d fault hits, %d requests; want 1 and 2", srv.FaultHits("/f/d.bin"), len(log))
	}
	rangeRE := regexp.MustCompile(`^bytes=([1-9][0-9]*)-$`)
	if rg := log[1].Header.Get("Range"); !rangeRE.MatchString(rg) || log[1].Header.Get("If-Range") == "" {
		t.Errorf("after the reset the engine asked Range %q If-Range %q, want a guarded resume", rg, log[1].Header.Get("If-Range"))
	}
	if u := x.uploads(); len(u) != 0 {
		t.Errorf("multipart uploads left: %q", u)
	}
	x.run(exitOK, "verify", "--deep")
}
