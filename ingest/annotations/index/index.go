// Package index owns the object index under annotations/index/: Parquet
// files, one per entry (or per shard of a split entry), partitioned by
// domain and family the way Hive, DuckDB, PyArrow and pandas read a
// dataset, so that one family is read alone and the whole mirror is one
// glob:
//
//	annotations/index/domain=<d>/family=<f>/<entry>.parquet
//	annotations/index/domain=<d>/family=<f>/<entry>.sIofN.parquet
//
// One file per entry is what keeps the index current without rereading
// the mirror: an entry that finishes rewrites its own file from its own
// records, and nothing else. A file per family would have to be rewritten
// whole (every entry of the family read back) whenever one of its entries
// changed.
package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/ingest/annotations"
)

// Prefix is where the index lives.
const Prefix = annotations.IndexPrefix

// ContentType is the media type of the index files (registered by the
// Parquet project with IANA in 2024).
const ContentType = "application/vnd.apache.parquet"

// rowGroupRows bounds the rows a writer holds before it flushes a row
// group: about 400 bytes a row in memory, so some 8 MiB however big the
// entry, and row groups small enough for readers to skip by key range.
const rowGroupRows = 20_000

// Row is one object of the mirror, as the training side reads it. The
// columns are the record's fields and the entry's description, repeated
// on every row so that a row read alone says how to cite its object;
// dictionary encoding stores each entry-level string once per row group.
type Row struct {
	Key    string `parquet:"key"`
	Size   int64  `parquet:"size"`
	SHA256 string `parquet:"sha256"`
	// PublisherChecksumAlgo and PublisherChecksum are null when the
	// publisher gives no checksum.
	PublisherChecksumAlgo *string   `parquet:"publisher_checksum_algo,optional,dict"`
	PublisherChecksum     *string   `parquet:"publisher_checksum,optional"`
	SourceURL             string    `parquet:"source_url"`
	ContentType           string    `parquet:"content_type,dict"`
	Entry                 string    `parquet:"entry,dict"`
	Family                string    `parquet:"family,dict"`
	Domain                string    `parquet:"domain,dict"`
	License               string    `parquet:"license,dict"`
	Citation              string    `parquet:"citation,dict"`
	DOI                   string    `parquet:"doi,dict"`
	RetrievedAt           time.Time `parquet:"retrieved_at,timestamp(millisecond)"`
	RunID                 string    `parquet:"run_id,dict"`
}

// RowOf is the row of one record of the entry m describes.
func RowOf(m annotations.Meta, rec annotations.Record) Row {
	r := Row{
		Key: rec.Key, Size: rec.Size, SHA256: rec.SHA256, SourceURL: rec.SourceURL,
		ContentType: rec.ContentType, Entry: m.ID, Family: m.Family, Domain: m.Domain,
		License: m.License, Citation: m.Citation, DOI: m.DOI,
		RetrievedAt: rec.RetrievedAt.UTC(), RunID: rec.RunID,
	}
	if c := rec.PublisherChecksum; c != nil {
		algo, value := c.Algo, c.Value
		r.PublisherChecksumAlgo, r.PublisherChecksum = &algo, &value
	}
	return r
}

// FamilyPrefix holds the index files of one family.
func FamilyPrefix(domain, family string) string {
	return Prefix + "domain=" + domain + "/family=" + family + "/"
}

// Key is the index file of an entry, or of one shard of an entry split
// over the shards of a job (shard not nil).
func Key(m annotations.Meta, shard *annotations.Shard) string {
	name := m.ID
	if shard != nil {
		name += "." + annotations.ShardTag(shard.Index, shard.Count)
	}
	return FamilyPrefix(m.Domain, m.Family) + name + ".parquet"
}

// ParseKey splits an index file's key into its entry ID and, for a shard
// of a split entry, the shard (nil for a whole entry's file); ok is false
// for a key that is no index file.
func ParseKey(key string) (id string, shard *annotations.Shard, ok bool) {
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return "", nil, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "domain=") || !strings.HasPrefix(parts[1], "family=") {
		return "", nil, false
	}
	name, ok := strings.CutSuffix(parts[2], ".parquet")
	if !ok || name == "" {
		return "", nil, false
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if sh, ok := parseShardTag(name[i+1:]); ok {
			return name[:i], sh, true
		}
	}
	return name, nil, true
}

// parseShardTag reads ShardTag's form, sIofN.
func parseShardTag(s string) (*annotations.Shard, bool) {
	var i, n int
	if _, err := fmt.Sscanf(s, "s%dof%d", &i, &n); err != nil || s != annotations.ShardTag(i, n) {
		return nil, false
	}
	return &annotations.Shard{Index: i, Count: n}, true
}

// EntryFiles lists the index files of one entry: one, or one per shard.
func EntryFiles(ctx context.Context, b bucket.Reader, m annotations.Meta) ([]bucket.ObjectInfo, error) {
	prefix := FamilyPrefix(m.Domain, m.Family) + m.ID + "."
	var out []bucket.ObjectInfo
	for info, err := range b.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("index: list %s: %w", prefix, err)
		}
		if id, _, ok := ParseKey(info.Key); ok && id == m.ID {
			out = append(out, info)
		}
	}
	return out, nil
}

// Write streams rows into a new index file at key and commits it. The
// rows are written as they come, in row groups of rowGroupRows, so the
// memory held does not grow with the entry; the file is visible only
// once complete. It returns the rows written.
func Write(ctx context.Context, b bucket.Bucket, key string, rows iter.Seq2[Row, error]) (int, error) {
	pr, pw := io.Pipe()
	n := 0
	go func() {
		w := parquet.NewGenericWriter[Row](pw, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(rowGroupRows))
		err := func() error {
			batch := make([]Row, 0, 256)
			for row, err := range rows {
				if err != nil {
					return err
				}
				if batch = append(batch, row); len(batch) == cap(batch) {
					if _, err := w.Write(batch); err != nil {
						return err
					}
					n += len(batch)
					batch = batch[:0]
				}
			}
			if _, err := w.Write(batch); err != nil {
				return err
			}
			n += len(batch)
			return w.Close()
		}()
		pw.CloseWithError(err)
	}()
	p, err := b.Put(ctx, key, pr, bucket.PutOptions{ContentType: ContentType})
	// Put has read to the end or failed: either way the writer must not
	// block on a pipe nobody reads.
	pr.CloseWithError(errors.New("index: upload ended"))
	if err != nil {
		return 0, fmt.Errorf("index: write %s: %w", key, err)
	}
	if _, err := p.Commit(ctx); err != nil {
		if aerr := p.Abort(context.WithoutCancel(ctx)); aerr != nil {
			err = errors.Join(err, aerr)
		}
		return 0, fmt.Errorf("index: write %s: %w", key, err)
	}
	return n, nil
}

// Read yields the rows of one index file in the order written (key
// order). The file is copied to a temporary file first, since Parquet is
// read from its footer; it is removed when the iteration ends.
func Read(ctx context.Context, b bucket.Reader, key string) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		f, size, err := download(ctx, b, key)
		if err != nil {
			yield(Row{}, err)
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		r := parquet.NewGenericReader[Row](io.NewSectionReader(f, 0, size))
		defer r.Close()
		buf := make([]Row, 256)
		for {
			// The reader may decode into what buf already points to;
			// cleared, every yielded row owns its values.
			clear(buf)
			n, err := r.Read(buf)
			for _, row := range buf[:n] {
				if !yield(row, nil) {
					return
				}
			}
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(Row{}, fmt.Errorf("index: read %s: %w", key, err))
				return
			}
		}
	}
}

func download(ctx context.Context, b bucket.Reader, key string) (*os.File, int64, error) {
	rc, err := b.Open(ctx, key, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("index: open %s: %w", key, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "astroingest-index-*.parquet")
	if err != nil {
		return nil, 0, fmt.Errorf("index: %w", err)
	}
	size, err := io.Copy(f, rc)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, fmt.Errorf("index: read %s: %w", key, err)
	}
	return f, size, nil
}

// NumRows is the number of rows an index file of size bytes holds, read
// from its footer alone (a ranged read or two, never the rows).
func NumRows(ctx context.Context, b bucket.Reader, key string, size int64) (int64, error) {
	f, err := parquet.OpenFile(rangeReader{ctx, b, key}, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return 0, fmt.Errorf("index: read the footer of %s: %w", key, err)
	}
	return f.NumRows(), nil
}

// rangeReader reads an object by ranges, for Parquet's footer.
type rangeReader struct {
	ctx context.Context
	b   bucket.Reader
	key string
}

func (r rangeReader) ReadAt(p []byte, off int64) (int, error) {
	rc, err := r.b.Open(r.ctx, r.key, &bucket.Range{Offset: off, Length: int64(len(p))})
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.ReadFull(rc, p)
}
