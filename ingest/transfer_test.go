package ingest

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/sources"
)

// flakyBody serves body, corrupting it (one byte flipped) for the first
// corrupt responses, and counts the requests.
type flakyBody struct {
	body     []byte
	corrupt  atomic.Int32
	requests atomic.Int32
	etag     string
}

func (s *flakyBody) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.etag != "" {
		if r.Header.Get("If-None-Match") == s.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", s.etag)
	}
	b := s.body
	if s.corrupt.Add(-1) >= 0 {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 0xff
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func newTestTransfer(b bucket.Bucket) (*transfer, *[]string) {
	var retries []string
	p := testRetryPolicy()
	x := &transfer{
		bucket: b, client: newRetryClient(http.DefaultTransport, p), retry: p,
		now: time.Now, runID: "r1", log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		onRead:  func(int) {},
		onRetry: func(key string, attempt int, err error) { retries = append(retries, classify(err)) },
	}
	return x, &retries
}

// One transfer: commit what verifies, refetch once after a failed
// verification, and never make a corrupt object visible.
func TestTransferVerifiesBeforeCommit(t *testing.T) {
	body := []byte("the quick brown fox jumps over the lazy dog, many times over")
	md := md5.Sum(body)
	sum := sha256.Sum256(body)
	tests := []struct {
		name     string
		corrupt  int32
		checksum *sources.Checksum
		size     int64
		status   objStatus
		reason   string // of the error, when failed
		requests int32
		retried  []string
	}{
		{"verified md5", 0, &sources.Checksum{Algo: "md5", Value: hex.EncodeToString(md[:])}, int64(len(body)), objUploaded, "", 1, nil},
		{"verified sha256", 0, &sources.Checksum{Algo: "sha256", Value: hex.EncodeToString(sum[:])}, -1, objUploaded, "", 1, nil},
		{"corrupt once, then good", 1, &sources.Checksum{Algo: "md5", Value: hex.EncodeToString(md[:])}, -1, objUploaded, "", 2, []string{sources.ReasonChecksumMismatch}},
		{"corrupt twice", 2, &sources.Checksum{Algo: "md5", Value: hex.EncodeToString(md[:])}, -1, objFailed, sources.ReasonChecksumMismatch, 2, []string{sources.ReasonChecksumMismatch}},
		{"wrong size listed", 0, nil, int64(len(body)) + 1, objFailed, sources.ReasonSizeMismatch, 2, []string{sources.ReasonSizeMismatch}},
		{"no publisher checksum", 0, nil, -1, objUploaded, "", 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &flakyBody{body: body}
			srv.corrupt.Store(tt.corrupt)
			ts := httptest.NewServer(srv)
			defer ts.Close()
			b := mem.New()
			x, retries := newTestTransfer(b)
			o := sources.Object{URL: ts.URL + "/f.nc", Size: tt.size, Checksum: tt.checksum}
			rec, st, err := x.run(context.Background(), objectJob{domain: "climate", obj: o, key: "climate/f.nc", charge: &charge{b: newBudget(0, nil)}})
			if st != tt.status {
				t.Fatalf("status %v (err %v), want %v", st, err, tt.status)
			}
			if n := srv.requests.Load(); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if len(*retries) != len(tt.retried) || len(tt.retried) > 0 && (*retries)[0] != tt.retried[0] {
				t.Errorf("retries reported %v, want %v", *retries, tt.retried)
			}
			info, serr := b.Stat(context.Background(), "climate/f.nc")
			switch {
			case st == objUploaded && (serr != nil || rec.SHA256 != hex.EncodeToString(sum[:]) || rec.Size != int64(len(body)) || info.Size != rec.Size):
				t.Errorf("uploaded: record %+v, stat %v %v", rec, info, serr)
			case st == objFailed && (classify(err) != tt.reason || !errors.Is(serr, fs.ErrNotExist)):
				t.Errorf("failed with %v (%s), stat err %v: want %s and nothing visible", err, classify(err), serr, tt.reason)
			}
			if n := b.Staged(); n != 0 {
				t.Errorf("%d staged objects left behind", n)
			}
		})
	}
}

// A conditional request answered 304 is unchanged, without a Put.
func TestTransferNotModified(t *testing.T) {
	srv := &flakyBody{body: []byte("same"), etag: `"e1"`}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	b := mem.New()
	x, _ := newTestTransfer(b)
	_, st, err := x.run(context.Background(), objectJob{domain: "climate", obj: sources.Object{URL: ts.URL, Size: -1},
		key: "climate/x", cond: &ObjectRecord{SourceETag: `"e1"`}, charge: &charge{b: newBudget(0, nil)}})
	if err != nil || st != objUnchanged {
		t.Fatalf("status %v, err %v; want unchanged", st, err)
	}
	if _, err := b.Stat(context.Background(), "climate/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a 304 wrote the object: %v", err)
	}
}
