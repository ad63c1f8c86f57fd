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

// entrySource says where an entry's rows came from.
type entrySource int

const (
	fromIndex   entrySource = iota // the entry's Parquet index file(s)
	fromRecords                    // its head's records: no (complete) index yet
)

// entryRows streams the objects of one catalog entry with the size and
// sha256 each must have. They come from the entry's object index
// (annotations/index/…), which is what the training side reads. An entry
// with no index file, or with fewer files than its shards (a bucket
// written before the index existed, or a run that failed before writing
// it), falls back to its head's records: the same fields, written by the
// same run, from which the index rows are derived. The caller logs the
// fallback; `astroingest run` (or a backfill of the entry) writes the index.
func entryRows(ctx context.Context, r bucket.Reader, e annotations.CatalogEntry) (iter.Seq2[pullRow, error], entrySource, error) {
	files, err := index.EntryFiles(ctx, r, annotations.Meta{ID: e.ID, Domain: e.Domain, Family: e.Family})
	if err != nil {
		return nil, 0, err
	}
	if len(files) > 0 && (e.Split == 0 || len(files) == e.Split) {
		return indexRows(ctx, r, e.ID, files), fromIndex, nil
	}
	h, err := annotations.ReadHeadAt(ctx, r, e.Manifest)
	if err != nil {
		return nil, 0, err
	}
	if h == nil {
		return nil, 0, fmt.Errorf("its head %s is in the catalog but missing", e.Manifest)
	}
	return recordRows(ctx, r, e.ID, h), fromRecords, nil
}

func indexRows(ctx context.Context, r bucket.Reader, entry string, files []bucket.ObjectInfo) iter.Seq2[pullRow, error] {
	return func(yield func(pullRow, error) bool) {
		for _, f := range files {
			for row, err := range index.Read(ctx, r, f.Key) {
				if err != nil {
					yield(pullRow{}, err)
					return
				}
				if !yield(newPullRow(entry, row.Key, row.Size, row.SHA256)) {
					return
				}
			}
		}
	}
}

func recordRows(ctx context.Context, r bucket.Reader, entry string, h *annotations.Head) iter.Seq2[pullRow, error] {
	return func(yield func(pullRow, error) bool) {
		for rec, err := range annotations.Records(ctx, r, h) {
			if err != nil {
				yield(pullRow{}, err)
				return
			}
			if !yield(newPullRow(entry, rec.Key, rec.Size, rec.SHA256)) {
				return
			}
		}
	}
}

// newPullRow is the row of one object. A row that cannot be verified is
// an error of that object alone: the row comes back with its key, and the
// stream goes on (an error with no key ends it).
func newPullRow(entry, key string, size int64, sum string) (pullRow, error) {
	b, err := hex.DecodeString(sum)
	if err != nil || len(b) != sha256.Size || size < 0 {
		return pullRow{entry: entry, key: key}, fmt.Errorf("no usable sha256 and size in its annotations (%q, %d)", sum, size)
	}
	return pullRow{entry: entry, key: key, size: size, sha256: [sha256.Size]byte(b)}, nil
}
