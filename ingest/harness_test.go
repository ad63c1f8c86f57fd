package ingest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/sources"
)

// srcFile is one file served by the fake source.
type srcFile struct {
	data    []byte
	pubMD5  string // what the "publisher" lists; differs from data when corrupt
	etag    string
	modTime time.Time
	noRange bool // serve without Accept-Ranges/ETag/Last-Modified
}

// fault is injected into the next requests of one path.
type fault struct {
	status     int    // answer this status ...
	retryAfter string // ... with this Retry-After
	resetAt    int    // or send this many body bytes, then drop the connection
	times      int    // for this many requests
	block      chan struct{}
}

type reqLog struct {
	Method, Path string
	Header       http.Header
	Status       int
	At           time.Time
}

// srcServer is a tiny publisher: conditional GETs, ranges with If-Range,
// and injectable faults, with every request logged.
type srcServer struct {
	t        *testing.T
	mu       sync.Mutex
	files    map[string]*srcFile
	faults   map[string]*fault
	log      []reqLog
	inflight int
	maxInfl  int
	ts       *httptest.Server
}

func newSrcServer(t *testing.T) *srcServer {
	s := &srcServer{t: t, files: map[string]*srcFile{}, faults: map[string]*fault{}}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.ts.Close)
	return s
}

func (s *srcServer) host() string { return strings.TrimPrefix(s.ts.URL, "http://") }

// put adds or replaces a file; its publisher checksum is of data.
func (s *srcServer) put(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := md5.Sum(data)
	s.files[path] = &srcFile{data: data, pubMD5: hex.EncodeToString(sum[:]), etag: fmt.Sprintf("%q", hex.EncodeToString(sum[:8])), modTime: time.Now().UTC().Truncate(time.Second)}
}

func (s *srcServer) mutate(path string, f func(*srcFile)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.files[path])
}

func (s *srcServer) fault(path string, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = &f
}

func (s *srcServer) requests() []reqLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]reqLog(nil), s.log...)
}

// count returns how many logged requests match.
func (s *srcServer) count(f func(reqLog) bool) int {
	n := 0
	for _, r := range s.requests() {
		if f(r) {
			n++
		}
	}
	return n
}

func (s *srcServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.inflight++
	s.maxInfl = max(s.maxInfl, s.inflight)
	f := s.files[r.URL.Path]
	var ft *fault
	if x := s.faults[r.URL.Path]; x != nil && x.times > 0 {
		x.times--
		ft = x
	}
	entry := reqLog{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), At: time.Now()}
	s.mu.Unlock()
	status := 0
	defer func() {
		s.mu.Lock()
		s.inflight--
		entry.Status = status
		s.log = append(s.log, entry)
		s.mu.Unlock()
	}()
	if r.URL.Path == "/echo" {
		status = 200
		fmt.Fprintf(w, "you sent key=%s header=%s query=%s path=%s", r.URL.Query().Get("api_key"), r.Header.Get("PRIVATE-TOKEN"), r.URL.RawQuery, url.PathEscape(r.URL.Query().Get("api_key")))
		return
	}
	if f == nil {
		status = 404
		http.NotFound(w, r)
		return
	}
	if ft != nil && ft.block != nil {
		select {
		case <-ft.block:
		case <-r.Context().Done():
			status = -1
			return
		}
	}
	if ft != nil && ft.status != 0 {
		status = ft.status
		if ft.retryAfter != "" {
			w.Header().Set("Retry-After", ft.retryAfter)
		}
		w.WriteHeader(ft.status)
		return
	}
	data := f.data
	if !f.noRange {
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("ETag", f.etag)
		w.Header().Set("Last-Modified", f.modTime.Format(http.TimeFormat))
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == f.etag {
			status = 304
			w.WriteHeader(304)
			return
		}
	}
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && !f.noRange && r.Header.Get("If-Range") == f.etag {
		start, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
		status = 206
	} else {
		status = 200
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)-start))
	w.WriteHeader(status)
	if ft != nil && ft.resetAt > 0 {
		w.Write(data[start : start+ft.resetAt])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		status = -2
		return
	}
	w.Write(data[start:])
}

// fakeKind lists objects from the entry's params: "files" is a
// comma-separated list of names served at <server>/<entry id>/<name>;
// "checksum: md5" adds the publisher checksum, "size: known" the size.
type fakeKind struct{ srv *srcServer }

func (k fakeKind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	if e.Params["echo"] != "" {
		resp, err := c.Get(k.srv.ts.URL + "/echo")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: "unexpected listing: " + string(b)}
	}
	var out []sources.Object
	for _, name := range strings.Split(e.Params["files"], ",") {
		p := "/" + e.ID + "/" + name
		k.srv.mu.Lock()
		f := k.srv.files[p]
		k.srv.mu.Unlock()
		o := sources.Object{Name: name, URL: k.srv.ts.URL + p, Size: -1}
		if ui := e.Params["userinfo"]; ui != "" {
			o.URL = "http://" + ui + "@" + k.srv.host() + p
		}
		if e.Params["single"] == "true" {
			o.Name = ""
		}
		if f != nil && e.Params["checksum"] == "md5" {
			o.Checksum = &sources.Checksum{Algo: "md5", Value: f.pubMD5}
		}
		if f != nil && e.Params["size"] == "known" {
			o.Size = int64(len(f.data))
		}
		out = append(out, o)
	}
	return out, nil
}

// fixture is a source server with entries over it.
type fixture struct {
	srv     *srcServer
	entries []sources.Entry
	content map[string][]byte // bucket key -> bytes
}

// payload is deterministic, distinct per name.
func payload(name string, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s:%d;", name, i)
	}
	return b.Bytes()[:n]
}

func entry(id, domain, family string, params map[string]string) sources.Entry {
	return sources.Entry{
		ID: id, Family: family, Domain: domain, Kind: "fake", Schedule: "monthly",
		Key: family + "/" + id, URL: "http://unused.invalid/" + id, Params: params,
		Meta: sources.Meta{Title: "Title " + id, Provider: "Prov", License: "CC-BY-4.0", Citation: "Cite " + id, DOI: "10.1/" + id},
	}
}

// newFixture makes n entries of files objects each, spread over domains.
func newFixture(t *testing.T, n, files, size int, params map[string]string) *fixture {
	fx := &fixture{srv: newSrcServer(t), content: map[string][]byte{}}
	doms := sources.Domains()
	for i := range n {
		id := fmt.Sprintf("e%03d", i)
		var names []string
		for j := range files {
			names = append(names, fmt.Sprintf("f%d.dat", j))
		}
		p := map[string]string{"files": strings.Join(names, ",")}
		for k, v := range params {
			p[k] = v
		}
		e := entry(id, doms[i%len(doms)], fmt.Sprintf("fam%d", i%3), p)
		e.URL = fx.srv.ts.URL + "/" + id
		for _, nm := range names {
			data := payload(id+nm, size+i*7)
			fx.srv.put("/"+id+"/"+nm, data)
			fx.content[e.KeyPrefix()+"/"+nm] = data
		}
		fx.entries = append(fx.entries, e)
	}
	return fx
}

// cfg is a fast test configuration over the fixture.
func (fx *fixture) cfg(b bucket.Bucket, mode Mode) Config {
	c := Config{
		Bucket: b, Entries: fx.entries, Kinds: map[string]sources.Kind{"fake": fakeKind{fx.srv}},
		Mode: mode, Workers: 4,
		Hosts:  sources.NewHosts([]sources.HostPolicy{{Host: fx.srv.host(), Concurrency: 8, RPS: 1000, Burst: 100}}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Retry:  RetryPolicy{WaitMin: 5 * time.Millisecond, WaitMax: 50 * time.Millisecond},
		Getenv: func(string) string { return "" },
	}
	if mode == ModeBackfill {
		c.Selection = Selection{Sources: []string{"*"}}
	}
	return c
}

func mustRun(t *testing.T, ctx context.Context, c Config) *RunRecord {
	t.Helper()
	rec, err := Run(ctx, c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rec
}

func readAll(t *testing.T, b bucket.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), key, nil)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rc.Close()
	d, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// snapshot maps every key in the bucket to its ETag and size.
func snapshot(t *testing.T, b bucket.Bucket) map[string]string {
	t.Helper()
	out := map[string]string{}
	for info, err := range b.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		out[info.Key] = fmt.Sprintf("%s/%d", info.ETag, info.Size)
	}
	return out
}

func staged(b bucket.Bucket) int {
	if m, ok := b.(*mem.Bucket); ok {
		return m.Staged()
	}
	return 0
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func bucketOpts() bucket.PutOptions { return bucket.PutOptions{} }

// written is everything a run left for someone to read: its log, its run
// record and every object under prefix. Secret and userinfo tests grep it.
func written(t *testing.T, logs []byte, rec *RunRecord, b bucket.Bucket, prefix string) *bytes.Buffer {
	t.Helper()
	var all bytes.Buffer
	all.Write(logs)
	recJSON, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	all.Write(recJSON)
	for info, err := range b.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		all.Write(readAll(t, b, info.Key))
	}
	return &all
}
