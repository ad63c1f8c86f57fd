package e2e

import (
	"encoding/json"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/astroingest/astroingest/ingest"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/internal/proctest"
)

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
	srv := newSource(t)
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
	return f.startMidUploadWith(t, x, nil, extra...)
}

// startMidUploadWith is startMidUpload with env added (a Job's identity).
func (f *interruptFixture) startMidUploadWith(t *testing.T, x *e2e, env []string, extra ...string) *proc {
	p := x.startWith(env, append([]string{"backfill", "--family", "small", "--family", "big", "--workers", "4"}, extra...)...)
	alive := func() {
		select {
		case <-p.done:
			t.Fatalf("run ended (exit %d) before it was interrupted:\n%s", p.code, tail(p.stderr.String()))
		default:
		}
	}
	proctest.WaitFor(t, 20*time.Second, "the small entries' manifests", func() bool {
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

// SIGTERM mid-upload exits 3, aborts the in-flight multipart
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
	if l := x.liveLeases(); len(l) != 0 {
		t.Errorf("interrupted run left its lease: %v", l)
	}

	vals := map[string]validators{}
	for _, k := range f.small {
		vals[f.paths[k]] = headValidators(t, f.srv, f.paths[k])
	}
	f.srv.ClearFaults()
	f.srv.ResetRequests()
	p = x.run(exitOK, "backfill", "--family", "small", "--family", "big", "--json")
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
	x.run(exitOK, "verify", "--deep")
}
