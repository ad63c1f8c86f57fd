package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/sources"
)

// Bucket keys of the annotations.
const (
	ManifestPrefix = "annotations/sources/"
	RunPrefix      = "annotations/runs/"
	LeasePrefix    = "annotations/leases/"
	CatalogKey     = "annotations/catalog.json"
)

// ManifestKey is where an entry's manifest lives.
func ManifestKey(id string) string { return ManifestPrefix + id + ".json" }

// ObjectRecord is one mirrored object in a manifest.
type ObjectRecord struct {
	Key               string            `json:"key"`
	SourceURL         string            `json:"source_url"`
	Size              int64             `json:"size"`
	SHA256            string            `json:"sha256"`
	PublisherChecksum *sources.Checksum `json:"publisher_checksum,omitempty"`
	SourceETag        string            `json:"source_etag,omitempty"`
	LastModified      string            `json:"last_modified,omitempty"`
	ContentType       string            `json:"content_type,omitempty"`
	RetrievedAt       time.Time         `json:"retrieved_at"`
	RunID             string            `json:"run_id"`
}

// Manifest is annotations/sources/<id>.json: the entry's metadata and the
// objects mirrored for it. It is written only after every object it lists
// is committed, so a manifest never names bytes that are not in the bucket.
type Manifest struct {
	ID       string `json:"id"`
	Family   string `json:"family"`
	Domain   string `json:"domain"`
	Kind     string `json:"kind,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	Title    string `json:"title"`
	Provider string `json:"provider"`
	License  string `json:"license"`
	Citation string `json:"citation"`
	DOI      string `json:"doi,omitempty"`
	Homepage string `json:"homepage,omitempty"`
	// CheckedAt is when the entry last finished successfully (fetched or
	// confirmed unchanged); schedules count from it. Zero when the last
	// attempt failed part-way and the manifest only records what was
	// committed.
	CheckedAt time.Time      `json:"checked_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	RunID     string         `json:"run_id"`
	Objects   []ObjectRecord `json:"objects"`
}

// Bytes is the total size of the manifest's objects.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, o := range m.Objects {
		n += o.Size
	}
	return n
}

func (m *Manifest) record(key string) *ObjectRecord {
	if m == nil {
		return nil
	}
	for i := range m.Objects {
		if m.Objects[i].Key == key {
			return &m.Objects[i]
		}
	}
	return nil
}

func newManifest(e sources.Entry) *Manifest {
	return &Manifest{
		ID: e.ID, Family: e.Family, Domain: e.Domain, Kind: e.Kind, Schedule: e.Schedule,
		Title: e.Meta.Title, Provider: e.Meta.Provider, License: e.Meta.License,
		Citation: e.Meta.Citation, DOI: e.Meta.DOI, Homepage: e.Meta.Homepage,
	}
}

// ReadManifest returns the entry's manifest, or nil when there is none.
func ReadManifest(ctx context.Context, b bucket.Reader, id string) (*Manifest, error) {
	var m Manifest
	ok, err := readJSON(ctx, b, ManifestKey(id), &m)
	if err != nil || !ok {
		return nil, err
	}
	return &m, nil
}

func readJSON(ctx context.Context, b bucket.Reader, key string, v any) (bool, error) {
	rc, err := b.Open(ctx, key, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, &bucketError{fmt.Errorf("read %s: %w", key, err)}
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return false, &bucketError{fmt.Errorf("read %s: %w", key, err)}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// writeJSON puts a small document and commits it.
func writeJSON(ctx context.Context, b bucket.Bucket, key string, v any) error {
	_, err := writeJSONInfo(ctx, b, key, v)
	return err
}

// writeJSONInfo is writeJSON that also returns the committed object's info.
func writeJSONInfo(ctx context.Context, b bucket.Bucket, key string, v any) (bucket.ObjectInfo, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("encode %s: %w", key, err)
	}
	data = append(data, '\n')
	p, err := b.Put(ctx, key, bytes.NewReader(data), bucket.PutOptions{SizeHint: int64(len(data)), ContentType: "application/json"})
	if err != nil {
		return bucket.ObjectInfo{}, &bucketError{fmt.Errorf("put %s: %w", key, err)}
	}
	info, err := p.Commit(ctx)
	if err != nil {
		_ = p.Abort(context.WithoutCancel(ctx))
		return bucket.ObjectInfo{}, &bucketError{fmt.Errorf("commit %s: %w", key, err)}
	}
	return info, nil
}

// knownManifests are manifests this process already holds, by key, with
// the ETag they had in the bucket (read at plan time from a listing, or
// returned when this run committed them). Rebuilding the catalog reuses one
// while the listing still shows that ETag, instead of reading every
// manifest again: on a rerun of 3,500 unchanged entries that was 3,500
// GETs. A manifest whose ETag changed (another run rewrote it) is read.
type knownManifests struct {
	mu sync.Mutex
	m  map[string]knownManifest
}

type knownManifest struct {
	etag string
	m    *Manifest
}

func (k *knownManifests) add(key, etag string, m *Manifest) {
	if k == nil || etag == "" || m == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]knownManifest{}
	}
	k.m[key] = knownManifest{etag: etag, m: m}
}

func (k *knownManifests) get(key, etag string) *Manifest {
	if k == nil || etag == "" {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if km, ok := k.m[key]; ok && km.etag == etag {
		return km.m
	}
	return nil
}
