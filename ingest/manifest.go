package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest/annotations"
)

// Bucket keys of the annotations; ingest/annotations owns them.
const (
	ManifestPrefix = annotations.ManifestPrefix
	RunPrefix      = annotations.RunPrefix
	LeasePrefix    = annotations.LeasePrefix
	CatalogKey     = annotations.CatalogKey
)

// ManifestKey is where an entry's manifest (its head) lives.
func ManifestKey(id string) string { return annotations.HeadKey(id) }

// ObjectRecord is one mirrored object's record (see ingest/annotations).
type ObjectRecord = annotations.Record

// readJSON decodes the small document at key; false when it is missing.
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
	if _, err := annotations.WriteJSON(ctx, b, key, v); err != nil {
		return &bucketError{err}
	}
	return nil
}
