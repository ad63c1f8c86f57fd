package annotations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/astroingest/astroingest/bucket"
)

// SchemaVersion is the manifest format this package writes.
const SchemaVersion = 2

// InlineRecords is the most records a head carries itself.
const InlineRecords = 100

// Head is an entry's manifest in version 2: what the entry is, how many
// objects and bytes it holds, and the parts that hold its records, in key
// order. A Head read from a version 1 manifest has SchemaVersion 1, no
// parts, and its records are streamed from the version 1 document.
//
// An entry split below the entry over the shards of a job has Split set
// and no parts of its own: each shard's records are under its shard head
// (ShardHeadKey), itself a Head with Shard set.
type Head struct {
	SchemaVersion int `json:"schema_version"`
	Meta
	// CheckedAt is when the entry last finished successfully (fetched or
	// confirmed unchanged); schedules count from it. Zero while a run is
	// writing the entry or after a run that failed part-way, which keeps
	// the entry due.
	CheckedAt time.Time `json:"checked_at"`
	// UpdatedAt is when the entry's objects last changed.
	UpdatedAt time.Time `json:"updated_at"`
	RunID     string    `json:"run_id"`
	Objects   int       `json:"objects"`
	Bytes     int64     `json:"bytes"`
	Parts     []Part    `json:"parts"`
	// Records holds the records of an entry of at most InlineRecords
	// objects, instead of parts: most entries are one file, and a part of
	// their own would double the objects and requests they cost.
	Records []Record `json:"records,omitempty"`
	Split   *Split   `json:"split,omitempty"`
	Shard   *Shard   `json:"shard,omitempty"`
	// Index is the object index file (package index) written from
	// exactly the records this head lists: the entry's, or this shard's.
	// Empty when there is none that matches them (a head written before
	// the index existed, one written while the entry was still being
	// written, or after the index write failed), which tells the next
	// run that touches the entry to write it, without a request to find
	// out. A split entry's own head has none; its shard heads do.
	Index string `json:"index,omitempty"`

	// key is where the head was read from; v1 heads stream their records
	// from it.
	key string
}

// Part is one file of records: gzip'd JSON Lines, one Record a line,
// sorted by key. Parts of a head cover disjoint key ranges, in order.
type Part struct {
	Key     string `json:"key"`
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
	First   string `json:"first"`
	Last    string `json:"last"`
	// SHA256 is of the part file as stored, so a reader can tell a
	// damaged part from a short one.
	SHA256 string `json:"sha256"`
}

// Split says an entry's records are spread over the shards of a job,
// each shard holding the objects whose key hashes to it (ShardOf).
type Split struct {
	Shards int `json:"shards"`
}

// Shard marks a shard head of a split entry.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Complete reports whether the head describes a finished entry.
func (h *Head) Complete() bool { return !h.CheckedAt.IsZero() }

// Key is where the head was read from, "" for a head not read.
func (h *Head) Key() string { return h.key }

// ReadHead reads an entry's head, nil when the entry has none. A version 1
// manifest is read in one streaming pass that counts its objects and bytes
// without holding them; its records are streamed again by Records.
func ReadHead(ctx context.Context, b bucket.Reader, id string) (*Head, error) {
	return ReadHeadAt(ctx, b, HeadKey(id))
}

// ReadHeadAt reads the head at key (a shard head, say), nil when missing.
func ReadHeadAt(ctx context.Context, b bucket.Reader, key string) (*Head, error) {
	rc, err := b.Open(ctx, key, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	h, err := decodeHead(rc, nil)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	h.key = key
	return h, nil
}

// decodeHead decodes a head of either version. The objects of a version 1
// document are decoded one at a time and handed to each (nil: counted and
// dropped), so that a manifest of a million objects is never held whole.
func decodeHead(r io.Reader, each func(Record) error) (*Head, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	fields := map[string]json.RawMessage{}
	var v1 Head // counts of a version 1 objects array
	sawArray := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		if name == "objects" {
			t, err := dec.Token()
			if err != nil {
				return nil, err
			}
			if t == json.Delim('[') {
				sawArray = true
				if err := streamV1Objects(dec, &v1, each); err != nil {
					return nil, err
				}
				continue
			}
			n, ok := t.(json.Number)
			if !ok {
				return nil, fmt.Errorf("objects: want a count or an array, got %v", t)
			}
			fields[name] = json.RawMessage(n.String())
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		fields[name] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	h := &Head{}
	if err := json.Unmarshal(doc, h); err != nil {
		return nil, err
	}
	switch {
	case h.SchemaVersion == 0 && !sawArray:
		return nil, errors.New("neither a version 2 head (schema_version) nor a version 1 manifest (objects)")
	case h.SchemaVersion == 0:
		h.SchemaVersion = 1
		h.Objects, h.Bytes = v1.Objects, v1.Bytes
	case h.SchemaVersion > SchemaVersion:
		return nil, fmt.Errorf("schema_version %d is newer than this build reads (%d)", h.SchemaVersion, SchemaVersion)
	}
	return h, nil
}

// streamV1Objects reads a version 1 objects array after its '[', counting
// into h and handing each record to each when set.
func streamV1Objects(dec *json.Decoder, h *Head, each func(Record) error) error {
	for dec.More() {
		var rec Record
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("object %d: %w", h.Objects, err)
		}
		h.Objects++
		h.Bytes += rec.Size
		if each != nil {
			if err := each(rec); err != nil {
				return err
			}
		}
	}
	_, err := dec.Token() // ']'
	return err
}

// WriteHead commits a head.
func WriteHead(ctx context.Context, b bucket.Bucket, key string, h *Head) (bucket.ObjectInfo, error) {
	h.SchemaVersion = SchemaVersion
	if h.Parts == nil {
		h.Parts = []Part{}
	}
	return WriteJSON(ctx, b, key, h)
}

// KeyRange is the first and last key a head's records cover, "" when it
// has none.
func (h *Head) KeyRange() (first, last string) {
	switch {
	case len(h.Parts) > 0:
		return h.Parts[0].First, h.Parts[len(h.Parts)-1].Last
	case len(h.Records) > 0:
		return h.Records[0].Key, h.Records[len(h.Records)-1].Key
	}
	return "", ""
}

// WriteJSON puts a small document, indented for people, and commits it.
func WriteJSON(ctx context.Context, b bucket.Bucket, key string, v any) (bucket.ObjectInfo, error) {
	return WriteJSONWith(ctx, b, key, v, bucket.PutOptions{})
}
