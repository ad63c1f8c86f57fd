package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
)

// pullEntry is one entry of a test mirror: its objects by key.
type pullEntry struct {
	id, domain, family string
	files              map[string][]byte
	noIndex            bool // a bucket written before the index existed
}

// putMirror writes entries into b as a run would leave them: the objects,
// each entry's head with its records inline, its index file and the
// catalog.
func putMirror(t testing.TB, b bucket.Bucket, entries ...pullEntry) {
	t.Helper()
	ctx := context.Background()
	var rows []annotations.CatalogEntry
	for _, e := range entries {
		meta := annotations.Meta{ID: e.id, Domain: e.domain, Family: e.family, License: "CC0"}
		h := &annotations.Head{SchemaVersion: 2, Meta: meta, CheckedAt: time.Now()}
		for _, key := range sortedKeys(e.files) {
			data := e.files[key]
			putPullObject(t, b, key, data)
			sum := sha256.Sum256(data)
			h.Records = append(h.Records, annotations.Record{Key: key, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
			h.Objects++
			h.Bytes += int64(len(data))
		}
		if _, err := annotations.WriteHead(ctx, b, annotations.HeadKey(e.id), h); err != nil {
			t.Fatal(err)
		}
		if !e.noIndex {
			writeIndex(t, b, index.Key(meta, nil), rowsOf(meta, h.Records))
		}
		rows = append(rows, annotations.CatalogEntry{ID: e.id, Domain: e.domain, Family: e.family, Manifest: annotations.HeadKey(e.id), Objects: h.Objects, Bytes: h.Bytes})
	}
	if _, err := annotations.UpdateCatalog(ctx, b, time.Now(), rows); err != nil {
		t.Fatal(err)
	}
}

func rowsOf(meta annotations.Meta, recs []annotations.Record) iter.Seq2[index.Row, error] {
	return func(yield func(index.Row, error) bool) {
		for _, r := range recs {
			if !yield(index.RowOf(meta, r), nil) {
				return
			}
		}
	}
}

func writeIndex(t testing.TB, b bucket.Bucket, key string, rows iter.Seq2[index.Row, error]) {
	t.Helper()
	if _, err := index.Write(context.Background(), b, key, rows); err != nil {
		t.Fatal(err)
	}
}

func putPullObject(t testing.TB, b bucket.Bucket, key string, data []byte) {
	t.Helper()
	p, err := b.Put(context.Background(), key, bytes.NewReader(data), bucket.PutOptions{})
	if err == nil {
		_, err = p.Commit(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
}

func sortedKeys(m map[string][]byte) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// countingReader counts the GETs of data objects (not annotations/), and
// the ranged ones among them.
type countingReader struct {
	bucket.Reader
	mu     sync.Mutex
	gets   map[string]int
	ranged int
}

func (c *countingReader) Open(ctx context.Context, key string, rng *bucket.Range) (io.ReadCloser, error) {
	if !strings.HasPrefix(key, "annotations/") {
		c.mu.Lock()
		c.gets[key]++
		if rng != nil {
			c.ranged++
		}
		c.mu.Unlock()
	}
	return c.Reader.Open(ctx, key, rng)
}

func (c *countingReader) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.gets {
		n += v
	}
	return n
}

func pullCfg(r bucket.Reader, dir string) PullConfig {
	return PullConfig{Bucket: r, Dir: dir, Logger: discardLog(), PartSize: minPullPart}
}

// noTemps fails when a temporary file of pull is left anywhere under dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && isPartial(d.Name()) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestPullThenRerunSkips(t *testing.T) {
	b := mem.New()
	big := bytes.Repeat([]byte("0123456789abcdef"), (2*minPullPart+12345)/16)
	files := map[string][]byte{"astronomy/t/a.dat": []byte("alpha"), "astronomy/t/sub/b.dat": []byte("bravo"), "astronomy/t/big.bin": big}
	putMirror(t, b, pullEntry{id: "t-a", domain: "astronomy", family: "t", files: files})
	dir := t.TempDir()
	cr := &countingReader{Reader: b, gets: map[string]int{}}
	sum, err := Pull(context.Background(), pullCfg(cr, dir))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fetched != 3 || sum.Objects != 3 || sum.Present != 0 {
		t.Errorf("summary %+v, want 3 fetched", sum)
	}
	for key, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, key))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (%v), want %d", key, len(got), err, len(want))
		}
	}
	if want := int((int64(len(big)) + minPullPart - 1) / minPullPart); cr.ranged != want {
		t.Errorf("%d ranged GETs, want %d (one per part of the large object)", cr.ranged, want)
	}
	noTemps(t, dir)

	cr = &countingReader{Reader: b, gets: map[string]int{}}
	sum, err = Pull(context.Background(), pullCfg(cr, dir))
	if err != nil || sum.Present != 3 || sum.Rehashed != 0 || cr.total() != 0 {
		t.Errorf("rerun: %+v, %v, %d GETs of data; want 3 present, none re-hashed, no GET", sum, err, cr.total())
	}

	// A file changed on disk is fetched again; --verify re-hashes the rest.
	if err := os.WriteFile(filepath.Join(dir, "astronomy/t/a.dat"), []byte("ALPHA"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := pullCfg(cr, dir)
	cfg.Verify = true
	sum, err = Pull(context.Background(), cfg)
	if err != nil || sum.Fetched != 1 || sum.Rehashed != 2 || cr.gets["astronomy/t/a.dat"] != 1 {
		t.Errorf("after a change, --verify: %+v, %v, gets %v; want a.dat fetched, 2 re-hashed", sum, err, cr.gets)
	}
}

// A corrupted object is fetched twice, then fails naming its key, and
// leaves neither the file nor a temporary one.
func TestPullCorrupted(t *testing.T) {
	for _, size := range []int{5, 2*minPullPart + 7} {
		b := mem.New()
		data := bytes.Repeat([]byte{'x'}, size)
		putMirror(t, b, pullEntry{id: "t-a", domain: "astronomy", family: "t", files: map[string][]byte{"astronomy/t/a.dat": data}})
		data[size/2] ^= 1
		putPullObject(t, b, "astronomy/t/a.dat", data)
		dir := t.TempDir()
		cr := &countingReader{Reader: b, gets: map[string]int{}}
		sum, err := Pull(context.Background(), pullCfg(cr, dir))
		if !errors.Is(err, ErrPullMismatch) || !strings.Contains(err.Error(), "astronomy/t/a.dat") || sum.Failed != 1 {
			t.Errorf("size %d: %v (%+v), want a mismatch naming the key", size, err, sum)
		}
		if _, err := os.Stat(filepath.Join(dir, "astronomy/t/a.dat")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("size %d: the corrupted file was delivered (%v)", size, err)
		}
		if parts := (size + minPullPart - 1) / minPullPart; cr.total() != 2*parts {
			t.Errorf("size %d: %d GETs, want %d (fetched twice)", size, cr.total(), 2*parts)
		}
		noTemps(t, dir)
	}
}

func TestPullSelectionAndBudget(t *testing.T) {
	b := mem.New()
	putMirror(t, b,
		pullEntry{id: "t-a", domain: "astronomy", family: "t", files: map[string][]byte{"astronomy/t/a1": []byte("1111"), "astronomy/t/a2": []byte("2222")}},
		pullEntry{id: "t-b", domain: "astronomy", family: "t", files: map[string][]byte{"astronomy/t/b1": []byte("3333")}},
		pullEntry{id: "c-x", domain: "climate", family: "c", files: map[string][]byte{"climate/c/x": []byte("55")}, noIndex: true},
	)
	for _, tc := range []struct {
		name     string
		sel      Selection
		maxBytes int64
		want     []string
		left     *PullLeftOut
	}{
		{"all", Selection{}, 0, []string{"astronomy/t/a1", "astronomy/t/a2", "astronomy/t/b1", "climate/c/x"}, nil},
		{"domain, from records", Selection{Domains: []string{"climate"}}, 0, []string{"climate/c/x"}, nil},
		{"glob", Selection{Sources: []string{"t-b"}}, 0, []string{"astronomy/t/b1"}, nil},
		{"budget", Selection{}, 6, []string{"astronomy/t/a1", "climate/c/x"}, &PullLeftOut{Objects: 2, Bytes: 8, Entries: 1, FirstKey: "astronomy/t/a2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := pullCfg(b, dir)
			cfg.Selection, cfg.MaxBytes = tc.sel, tc.maxBytes
			sum, err := Pull(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if d.IsDir() && d.Name() == PullStateDir {
					return filepath.SkipDir
				}
				if !d.IsDir() {
					rel, _ := filepath.Rel(dir, p)
					got = append(got, filepath.ToSlash(rel))
				}
				return nil
			})
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("pulled %v, want %v", got, tc.want)
			}
			if tc.left != nil && (sum.LeftOut == nil || *sum.LeftOut != *tc.left) {
				t.Errorf("left out %+v, want %+v", sum.LeftOut, tc.left)
			}
		})
	}
}

// Keys that would land outside --to, or over pull's own state, are
// refused by name and nothing is written for them.
func TestPullPathGuard(t *testing.T) {
	b := mem.New()
	putMirror(t, b, pullEntry{id: "t-a", domain: "astronomy", family: "t", files: map[string][]byte{"astronomy/t/ok": []byte("ok")}})
	meta := annotations.Meta{ID: "t-a", Domain: "astronomy", Family: "t"}
	sum := sha256.Sum256([]byte("ok"))
	var recs []annotations.Record
	for _, k := range []string{"../escape", "/abs", "astronomy/../../up", ".astroingest/state/t-a.jsonl", "astronomy/t/ok"} {
		recs = append(recs, annotations.Record{Key: k, Size: 2, SHA256: hex.EncodeToString(sum[:])})
	}
	writeIndex(t, b, index.Key(meta, nil), rowsOf(meta, recs))
	parent := t.TempDir()
	dir := filepath.Join(parent, "to")
	s, err := Pull(context.Background(), pullCfg(b, dir))
	if s.Failed != 4 || s.Fetched != 1 {
		t.Errorf("summary %+v, want 4 refused, 1 fetched", s)
	}
	for _, k := range []string{"../escape", "/abs", "astronomy/../../up", ".astroingest/state/t-a.jsonl"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("error does not name %q: %v", k, err)
		}
	}
	if _, err := os.Stat(filepath.Join(parent, "escape")); err == nil {
		t.Error("a key escaped the destination")
	}
}

// A stale temporary file of a killed pull is removed at the start; a
// second pull into a directory in use is refused.
func TestPullStaleAndBusy(t *testing.T) {
	b := mem.New()
	putMirror(t, b, pullEntry{id: "t-a", domain: "astronomy", family: "t", files: map[string][]byte{"astronomy/t/a": []byte("a")}})
	dir := t.TempDir()
	stale := filepath.Join(dir, "astronomy", "old", ".x.dat"+partialMark+"abc")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte("half"), 0o644)
	sum, err := Pull(context.Background(), pullCfg(b, dir))
	if err != nil || sum.StaleRemoved != 1 {
		t.Errorf("%v, %+v: want the stale file removed", err, sum)
	}
	noTemps(t, dir)
	d, _, err := openLocalDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := Pull(context.Background(), pullCfg(b, dir)); !errors.Is(err, ErrDirBusy) {
		t.Errorf("pull into a locked directory: %v, want ErrDirBusy", err)
	}
}

func TestFrontier(t *testing.T) {
	fr := newFrontier(25, 10)
	fr.advance(1, 10)
	fr.advance(0, 4)
	if hi, _ := fr.wait(0); hi != 4 {
		t.Errorf("frontier %d, want 4 (part 0 partly landed)", hi)
	}
	fr.advance(0, 6)
	if hi, _ := fr.wait(4); hi != 20 {
		t.Errorf("frontier %d, want 20 (parts 0 and 1 complete)", hi)
	}
	fr.advance(2, 5)
	if hi, _ := fr.wait(20); hi != 25 {
		t.Errorf("frontier %d, want 25", hi)
	}
	fr.fail(errors.New("boom"))
	if _, err := fr.wait(25); err == nil {
		t.Error("no error after fail")
	}
}
