package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/internal/emulator"
	"github.com/astroingest/astroingest/sources"
)

// newSource starts an emulated publisher for one test: its file tree,
// request log and faults come from internal/emulator. /echo answers with
// the credentials the request carried, as a careless server's error page
// does, for the redaction tests.
func newSource(t *testing.T) *emulator.Server {
	t.Helper()
	srv := emulator.NewServer()
	t.Cleanup(srv.Close)
	srv.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "you sent key=%s header=%s query=%s path=%s", r.URL.Query().Get("api_key"), r.Header.Get("PRIVATE-TOKEN"), r.URL.RawQuery, url.PathEscape(r.URL.Query().Get("api_key")))
	})
	return srv
}

// fakeKind lists objects from the entry's params: "files" is a
// comma-separated list of names served at <server>/<entry id>/<name>;
// "checksum: md5" adds the publisher checksum, "size: known" the size.
type fakeKind struct{ srv *emulator.Server }

func (k fakeKind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	if e.Params["echo"] != "" {
		resp, err := c.Get(k.srv.URL() + "/echo")
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
		o := sources.Object{Name: name, URL: k.srv.URL() + p, Size: -1}
		if ui := e.Params["userinfo"]; ui != "" {
			o.URL = "http://" + ui + "@" + k.srv.Host() + p
		}
		if e.Params["single"] == "true" {
			o.Name = ""
		}
		if size := k.srv.Size(p); size >= 0 {
			if e.Params["checksum"] == "md5" {
				o.Checksum = &sources.Checksum{Algo: "md5", Value: k.srv.MD5(p)}
			}
			if e.Params["size"] == "known" {
				o.Size = size
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// fixture is a source server with entries over it.
type fixture struct {
	srv     *emulator.Server
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
	fx := &fixture{srv: newSource(t), content: map[string][]byte{}}
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
		e.URL = fx.srv.URL() + "/" + id
		for _, nm := range names {
			data := payload(id+nm, size+i*7)
			fx.srv.AddFile("/"+id+"/"+nm, data, time.Now())
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
		Hosts:  sources.NewHosts([]sources.HostPolicy{{Host: fx.srv.Host(), Concurrency: 8, RPS: 1000, Burst: 100}}),
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

func (m multiKind) Objects(ctx context.Context, c *http.Client, e sources.Entry) ([]sources.Object, error) {
	for prefix, k := range m {
		if strings.HasPrefix(e.URL, prefix) {
			return k.Objects(ctx, c, e)
		}
	}
	return nil, fmt.Errorf("no server for %s", e.URL)
}

// multiKind routes entries to the fake kind of their server.
type multiKind map[string]fakeKind

// testManifest is an entry's head with its records read whole, for
// assertions on small test entries.
type testManifest struct {
	*annotations.Head
	Objects []ObjectRecord
}

// ReadManifest reads an entry's head and all its records; nil when the
// entry has no head.
func ReadManifest(ctx context.Context, b bucket.Reader, id string) (*testManifest, error) {
	h, err := annotations.ReadHead(ctx, b, id)
	if err != nil || h == nil {
		return nil, err
	}
	m := &testManifest{Head: h}
	for rec, err := range annotations.Records(ctx, b, h) {
		if err != nil {
			return nil, err
		}
		m.Objects = append(m.Objects, rec)
	}
	return m, nil
}

func (m *testManifest) record(key string) *ObjectRecord {
	for i := range m.Objects {
		if m.Objects[i].Key == key {
			return &m.Objects[i]
		}
	}
	return nil
}
