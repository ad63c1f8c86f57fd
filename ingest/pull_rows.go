package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest/annotations"
	"github.com/astroingest/astroingest/ingest/annotations/index"
)

// EntryObject is one object of a catalog entry as the read side (pull,
// presign) names it: its key and the size and sha256 (hex) it must have.
type EntryObject struct {
	Key    string
	Size   int64
	SHA256 string
}

// EntryObjects streams the objects of one catalog entry, in key order.
// They come from the entry's object index (annotations/index/…), which is
// what the training side reads, so that pull, presign and the training
// side all name the same objects and sha256. An entry with no index file,
// or with fewer files than its shards (a bucket written before the index
// existed, or a run that failed before writing it), falls back to its
// head's records, reported as fromRecords: the same fields, written by
// the same run, from which the index rows are derived. The caller warns of
// the fallback; `astroingest run` (or a backfill of the entry) writes the
// index.
func EntryObjects(ctx context.Context, r bucket.Reader, e annotations.CatalogEntry) (objs iter.Seq2[EntryObject, error], fromRecords bool, err error) {
	files, err := index.EntryFiles(ctx, r, annotations.Meta{ID: e.ID, Domain: e.Domain, Family: e.Family})
	if err != nil {
		return nil, false, err
	}
	if len(files) > 0 && (e.Split == 0 || len(files) == e.Split) {
		return indexObjects(ctx, r, files), false, nil
	}
	h, err := annotations.ReadHeadAt(ctx, r, e.Manifest)
	if err != nil {
		return nil, false, err
	}
	if h == nil {
		return nil, false, fmt.Errorf("its head %s is in the catalog but missing", e.Manifest)
	}
	return recordObjects(ctx, r, h), true, nil
}

func indexObjects(ctx context.Context, r bucket.Reader, files []bucket.ObjectInfo) iter.Seq2[EntryObject, error] {
	return func(yield func(EntryObject, error) bool) {
		for _, f := range files {
			for row, err := range index.Read(ctx, r, f.Key) {
				if err != nil {
					yield(EntryObject{}, err)
					return
				}
				if !yield(EntryObject{Key: row.Key, Size: row.Size, SHA256: row.SHA256}, nil) {
					return
				}
			}
		}
	}
}

func recordObjects(ctx context.Context, r bucket.Reader, h *annotations.Head) iter.Seq2[EntryObject, error] {
	return func(yield func(EntryObject, error) bool) {
		for rec, err := range annotations.Records(ctx, r, h) {
			if err != nil {
				yield(EntryObject{}, err)
				return
			}
			if !yield(EntryObject{Key: rec.Key, Size: rec.Size, SHA256: rec.SHA256}, nil) {
				return
			}
		}
	}
}

// newPullRow is what pull verifies o against. An object that cannot be
// verified is an error of that object alone: the row comes back with its
// key, and the entry goes on.
func newPullRow(entry string, o EntryObject) (pullRow, error) {
	b, err := hex.DecodeString(o.SHA256)
	if err != nil || len(b) != sha256.Size || o.Size < 0 {
		return pullRow{entry: entry, key: o.Key}, fmt.Errorf("no usable sha256 and size in its annotations (%q, %d)", o.SHA256, o.Size)
	}
	return pullRow{entry: entry, key: o.Key, size: o.Size, sha256: [sha256.Size]byte(b)}, nil
}
