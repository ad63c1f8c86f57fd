package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// s3Op names the S3 operation an HTTP request carries.
func s3Op(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "create"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "part"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "complete"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "abort"
	case r.Method == http.MethodGet && q.Has("uploadId"):
		return "listparts"
	}
	return strings.ToLower(r.Method)
}

// trigger cancels a Put's context when the backend reaches a given request:
// when it is sent ("sent", after an optional delay while the body is on the
// wire), when its whole body has been handed to the connection ("body", the
// server is then storing it) or when its response headers are back but not
// yet read ("answered", which loses the response to the cancellation).
type trigger struct {
	op     string
	part   string // part number for op "part", "" for any
	when   string // "sent", "body" or "answered"
	delay  time.Duration
	cancel context.CancelFunc
}

func (tr *trigger) matches(op string, r *http.Request) bool {
	return tr != nil && tr.op == op && (tr.part == "" || tr.part == r.URL.Query().Get("partNumber"))
}

// cancelTransport fires the current trigger and keeps count of the
// operations in flight, so a test can tell where each cancellation landed.
type cancelTransport struct {
	next http.RoundTripper
	trig atomic.Pointer[trigger]

	mu       sync.Mutex
	inflight map[string]int
	sent     map[string]int
}

func (c *cancelTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := s3Op(r)
	c.mu.Lock()
	c.inflight[op]++
	c.sent[op]++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inflight[op]--
		c.mu.Unlock()
	}()
	tr := c.trig.Load()
	if tr.matches(op, r) {
		switch tr.when {
		case "sent":
			time.AfterFunc(tr.delay, tr.cancel)
		case "body":
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = &eofHook{ReadCloser: r.Body, left: r.ContentLength, fn: tr.cancel}
			} else {
				tr.cancel()
			}
		}
	}
	resp, err := c.next.RoundTrip(r)
	if err == nil && tr.matches(op, r) && tr.when == "answered" {
		tr.cancel()
		// net/http fails body reads once the request's context is done,
		// but a small body may already sit in its buffer; make the loss
		// certain whenever the request's own context was cancelled.
		resp.Body = &ctxBody{ReadCloser: resp.Body, ctx: r.Context()}
	}
	return resp, err
}

// ctxBody fails reads once ctx is done, as a response body does when its
// request is cancelled before the body arrives.
type ctxBody struct {
	io.ReadCloser
	ctx context.Context
}

func (b *ctxBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.ReadCloser.Read(p)
}

// eofHook calls fn once the last byte of a request body has been read.
type eofHook struct {
	io.ReadCloser
	left int64
	fn   func()
	once sync.Once
}

func (e *eofHook) Read(p []byte) (int, error) {
	n, err := e.ReadCloser.Read(p)
	e.left -= int64(n)
	if err == io.EOF || e.left <= 0 {
		e.once.Do(e.fn)
	}
	return n, err
}

// busy names the operations in flight, "" when none is.
func (c *cancelTransport) busy() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ops []string
	for op, n := range c.inflight {
		if n > 0 {
			ops = append(ops, op)
		}
	}
	slices.Sort(ops)
	return strings.Join(ops, "+")
}

// cancelAfterReader cancels its context once n bytes have been read.
type cancelAfterReader struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfterReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	} else if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	k, err := c.r.Read(p)
	c.n -= int64(k)
	return k, err
}

// TestPutCancelLeavesNothing cancels the context of Put (and of the Commit
// that follows a Put that got through) at randomised moments: after a
// random delay, after a random number of source bytes, while
// CreateMultipartUpload, a given UploadPart or CompleteMultipartUpload is
// on the wire, and just after the server answered one of them (the answer
// is then lost to the client). Whatever the moment, the server must hold
// no multipart upload afterwards, and an object only where Commit said so.
// ASTROINGEST_CANCEL_SEED replays a run's moments.
func TestPutCancelLeavesNothing(t *testing.T) {
	srv := versitygw.Start(t)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("ASTROINGEST_CANCEL_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("ASTROINGEST_CANCEL_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	ct := &cancelTransport{next: http.DefaultTransport, inflight: map[string]int{}, sent: map[string]int{}}
	b := newTestBucket(t, srv, 2, ct)
	data := buckettest.Data(3*MinPartSize, 21)
	stagingDir := filepath.Join(srv.Dir, srv.Bucket, ".sgwtmp", "multipart")
	assertStagingDir(t, srv, stagingDir)

	const iterations = 72
	landed := map[string]int{}    // what was in flight when the cancel came
	modeOf := map[string]string{} // key -> how its Put was cancelled
	committed := map[string]int{} // key -> size, for the Commits that succeeded
	start := time.Now()
	for i := range iterations {
		key := fmt.Sprintf("cancel/%02d", i)
		size := MinPartSize + 1 + rng.IntN(2*MinPartSize) // two or three parts
		ctx, cancel := context.WithCancel(context.Background())
		var where string
		var once sync.Once
		fire := func() {
			once.Do(func() {
				where = ct.busy()
				if where == "" {
					where = "no request"
				}
				cancel()
			})
		}

		var src io.Reader = struct{ io.Reader }{bytes.NewReader(data[:size])}
		var mode string
		switch rng.IntN(4) {
		case 0:
			mode = "delay"
			timer := time.AfterFunc(time.Duration(rng.IntN(60_000))*time.Microsecond, fire)
			defer timer.Stop() // at most one per iteration, all spent by the end
		case 1:
			mode = "bytes"
			src = &cancelAfterReader{r: src, n: int64(rng.IntN(size)), cancel: fire}
		default:
			tr := &trigger{cancel: fire, when: []string{"sent", "body", "answered"}[rng.IntN(3)]}
			tr.op = []string{"create", "part", "part", "complete"}[rng.IntN(4)]
			if tr.op == "part" {
				tr.part = strconv.Itoa(1 + rng.IntN((size+MinPartSize-1)/MinPartSize))
			}
			if tr.when == "sent" {
				tr.delay = time.Duration(rng.IntN(4000)) * time.Microsecond
			}
			mode = tr.op + tr.part + "-" + tr.when
			ct.trig.Store(tr)
		}
		modeOf[key] = mode

		p, err := b.Put(ctx, key, src, bucket.PutOptions{})
		if err == nil {
			if _, err = p.Commit(ctx); err == nil {
				committed[key] = size
			} else if aerr := p.Abort(context.WithoutCancel(ctx)); aerr != nil {
				t.Errorf("%s (%s): Abort after failed Commit (%v): %v", key, mode, err, aerr)
			}
		}
		ct.trig.Store(nil)
		once.Do(func() { where = "after commit" })
		cancel()
		landed[where]++
	}
	elapsed := time.Since(start)

	// A part the server was still storing when the upload was aborted
	// revives it a moment later; give it that moment before looking.
	time.Sleep(300 * time.Millisecond)
	ctx := context.Background()
	out, err := srv.Client().ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	listed := map[string]int{}
	for _, u := range out.Uploads {
		listed[modeOf[aws.ToString(u.Key)]]++
	}
	// versitygw stages an upload in a directory named after the key's
	// SHA-256. A revived upload lacks the attribute naming its key, so
	// ListMultipartUploads misses it while its parts stay on disk.
	byHash := map[string]string{}
	for k := range modeOf {
		byHash[fmt.Sprintf("%x", sha256.Sum256([]byte(k)))] = k
	}
	onDisk := map[string]int{}
	staged := 0
	dirs, err := os.ReadDir(stagingDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, d := range dirs {
		ups, err := os.ReadDir(filepath.Join(stagingDir, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(ups) > 0 {
			staged += len(ups)
			onDisk[modeOf[byHash[d.Name()]]] += len(ups)
		}
	}
	objs := map[string]int{}
	for info, err := range b.List(ctx, "cancel/") {
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		objs[info.Key] = int(info.Size)
	}
	t.Logf("%d cancelled puts in %v; %d committed; in flight when cancelled: %v; requests sent: %v", iterations, elapsed.Round(time.Millisecond), len(committed), landed, ct.sent)
	if len(out.Uploads) > 0 {
		t.Errorf("%d multipart uploads listed after %d cancelled puts; by how the put was cancelled: %v", len(out.Uploads), iterations, listed)
	}
	if staged > 0 {
		t.Errorf("%d multipart uploads staged on the gateway's disk after %d cancelled puts; by how the put was cancelled: %v", staged, iterations, onDisk)
	}
	if !maps.Equal(objs, committed) {
		for _, k := range slices.Sorted(maps.Keys(objs)) {
			if _, ok := committed[k]; !ok {
				t.Errorf("%s (%s) is visible (%d bytes) although its Put or Commit failed", k, modeOf[k], objs[k])
			}
		}
		for _, k := range slices.Sorted(maps.Keys(committed)) {
			if n, ok := objs[k]; !ok || n != committed[k] {
				t.Errorf("%s (%s): committed %d bytes, listed %d", k, modeOf[k], committed[k], n)
			}
		}
	}
	b.bufs.mu.Lock()
	defer b.bufs.mu.Unlock()
	if b.bufs.live != 0 {
		t.Errorf("%d part buffers not returned", b.bufs.live)
	}
}

// assertStagingDir checks that versitygw stages a multipart upload where
// the test looks for leftovers, so that a change of layout cannot make the
// on-disk check pass vacuously.
func assertStagingDir(t *testing.T, srv *versitygw.Server, dir string) {
	t.Helper()
	ctx := context.Background()
	c := srv.Client()
	key := "layout/probe"
	out, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	up := filepath.Join(dir, fmt.Sprintf("%x", sha256.Sum256([]byte(key))), aws.ToString(out.UploadId))
	if _, err := os.Stat(up); err != nil {
		t.Fatalf("versitygw no longer stages uploads where this test looks for leftovers: %v", err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key), UploadId: out.UploadId}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(up); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("aborted upload still staged at %s: %v", up, err)
	}
}

// swallowAborts answers the first n AbortMultipartUpload requests with a
// success without passing them on, as a server does whose upload a part in
// flight brought back after the abort.
type swallowAborts struct {
	next http.RoundTripper
	n    atomic.Int32
	sent atomic.Int32
}

func (s *swallowAborts) RoundTrip(r *http.Request) (*http.Response, error) {
	if s3Op(r) != "abort" {
		return s.next.RoundTrip(r)
	}
	s.sent.Add(1)
	if s.n.Add(-1) < 0 {
		return s.next.RoundTrip(r)
	}
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusNoContent, Status: "204 No Content", Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// TestAbortRepeatsUntilGone checks that an abort with no lasting effect is
// noticed and repeated, and that one that never takes gives up with an
// error naming the upload instead of reporting success.
func TestAbortRepeatsUntilGone(t *testing.T) {
	srv := versitygw.Start(t)
	for _, tc := range []struct {
		name       string
		swallow    int32
		wantAborts int32
		wantErr    bool
	}{
		{"takes-at-once", 0, 1, false},
		{"comes-back-twice", 2, 3, false},
		{"never-takes", 100, abortAttempts, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := &swallowAborts{next: http.DefaultTransport}
			b := newTestBucket(t, srv, 2, sw)
			key := "abort/" + tc.name
			p, err := b.Put(context.Background(), key, bytes.NewReader(buckettest.Data(2*MinPartSize+1, 7)), bucket.PutOptions{})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			sw.n.Store(tc.swallow)
			err = p.Abort(context.Background())
			if got := sw.sent.Load(); got != tc.wantAborts {
				t.Errorf("%d AbortMultipartUpload requests, want %d", got, tc.wantAborts)
			}
			if tc.wantErr {
				mp := p.(*multipartPending)
				if err == nil || !strings.Contains(err.Error(), mp.uploadID) || !strings.Contains(err.Error(), key) {
					t.Fatalf("Abort: %v, want an error naming %s and upload %s", err, key, mp.uploadID)
				}
				sw.n.Store(0)
				if err := p.Abort(context.Background()); err != nil {
					t.Fatalf("second Abort: %v", err)
				}
			} else if err != nil {
				t.Fatalf("Abort: %v", err)
			}
			out, err := srv.Client().ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket), Prefix: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Uploads) != 0 {
				t.Errorf("%d multipart uploads left", len(out.Uploads))
			}
		})
	}
}

// TestCommitOnCancelledContext checks that a Commit whose context is done
// before it starts aborts the upload instead of leaving it staged, since a
// caller that is going away will not retry; and that Abort and Commit after
// it behave as the Pending contract says.
func TestCommitOnCancelledContext(t *testing.T) {
	srv := versitygw.Start(t)
	b := newTestBucket(t, srv, 2, nil)
	for _, tc := range []struct {
		name string
		size int
	}{{"single", 1000}, {"multipart", 2*MinPartSize + 1}} {
		t.Run(tc.name, func(t *testing.T) {
			key := "commit-cancelled/" + tc.name
			p, err := b.Put(context.Background(), key, bytes.NewReader(buckettest.Data(int64(tc.size), 8)), bucket.PutOptions{})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := p.Commit(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Commit on a cancelled context: %v, want context.Canceled", err)
			}
			if err := p.Abort(context.Background()); err != nil {
				t.Fatalf("Abort after the failed Commit: %v", err)
			}
			if _, err := p.Commit(context.Background()); err == nil {
				t.Fatal("Commit after Abort succeeded")
			}
			if _, err := b.Stat(context.Background(), key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat: %v, want not exist", err)
			}
			out, err := srv.Client().ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket), Prefix: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Uploads) != 0 {
				t.Errorf("%d multipart uploads left", len(out.Uploads))
			}
		})
	}
}
