package ingest

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/sources"
)

// listChunk is how many listed objects are held before a sorted run of
// them is spilled to a temporary file: about 20 MB, so an entry of a
// million objects costs a few files on local disk, not gigabytes of RAM.
var listChunk = 50_000

// keyed is a listed object with its bucket key.
type keyed struct {
	Key string
	Obj sources.Object
}

// sortedListing is an entry's listing sorted by key in bounded memory:
// kinds list in no particular order (a download script, an API), while
// the entry is merged with its previous records and the bucket's listing
// as sorted streams. It holds at most listChunk objects; the rest is in
// sorted runs spilled to temporary files. Not safe for concurrent use.
type sortedListing struct {
	objects int   // listed and representable
	known   int64 // bytes of the objects whose size the publisher gave
	unnamed bool  // an object named "": the entry key itself
	mem     []keyed
	files   []string
	dir     string
}

// skipFunc is told of a listed name that cannot be a bucket key.
type skipFunc func(o sources.Object, err error)

// listSorted lists the entry through its kind and sorts the listing.
// Names that cannot be bucket keys go to skip and are left out.
func listSorted(ctx context.Context, k sources.Kind, c *http.Client, e sources.Entry, dir string, skip skipFunc) (*sortedListing, error) {
	l := &sortedListing{dir: dir}
	err := sources.ListObjects(ctx, k, c, e, func(o sources.Object) error {
		key := e.KeyPrefix()
		if o.Name != "" {
			key += "/" + o.Name
		}
		if err := bucket.ValidateKey(key); err != nil {
			skip(o, err)
			return nil
		}
		l.objects++
		l.unnamed = l.unnamed || o.Name == ""
		if o.Size > 0 {
			l.known += o.Size
		}
		l.mem = append(l.mem, keyed{key, o})
		if len(l.mem) >= listChunk {
			return l.spill()
		}
		return nil
	})
	if err != nil {
		l.close()
		return nil, err
	}
	slices.SortStableFunc(l.mem, func(a, b keyed) int { return cmp.Compare(a.Key, b.Key) })
	if len(l.files) > 0 && len(l.mem) > 0 {
		if err := l.spill(); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

// spill writes the held objects, sorted, as one run.
func (l *sortedListing) spill() error {
	slices.SortStableFunc(l.mem, func(a, b keyed) int { return cmp.Compare(a.Key, b.Key) })
	f, err := os.CreateTemp(l.dir, "astroingest-listing-*.bin")
	if err != nil {
		return fmt.Errorf("spill the listing: %w", err)
	}
	l.files = append(l.files, f.Name())
	w := bufio.NewWriterSize(f, 256<<10)
	var buf []byte
	for _, k := range l.mem {
		buf = appendKeyed(buf[:0], k)
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("spill the listing: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("spill the listing: %w", err)
	}
	l.mem = l.mem[:0]
	return f.Close()
}

// single reports whether the entry is one object at the entry's own key.
func (l *sortedListing) single() bool { return l.objects == 1 && l.unnamed }

func (l *sortedListing) close() {
	for _, f := range l.files {
		os.Remove(f)
	}
	l.files, l.mem = nil, nil
}

// each yields the listing in key order, merging the spilled runs.
func (l *sortedListing) each() iter.Seq2[keyed, error] {
	if len(l.files) == 0 {
		return func(yield func(keyed, error) bool) {
			for _, k := range l.mem {
				if !yield(k, nil) {
					return
				}
			}
		}
	}
	return func(yield func(keyed, error) bool) {
		h := &runHeap{}
		defer func() {
			for _, r := range *h {
				r.f.Close()
			}
		}()
		for i, name := range l.files {
			f, err := os.Open(name)
			if err != nil {
				yield(keyed{}, err)
				return
			}
			r := &spillRun{f: f, rd: bufio.NewReaderSize(f, 64<<10), idx: i}
			if ok, err := r.next(); err != nil {
				f.Close()
				yield(keyed{}, err)
				return
			} else if ok {
				heap.Push(h, r)
			} else {
				f.Close()
			}
		}
		for h.Len() > 0 {
			r := (*h)[0]
			if !yield(r.cur, nil) {
				return
			}
			ok, err := r.next()
			switch {
			case err != nil:
				yield(keyed{}, err)
				return
			case ok:
				heap.Fix(h, 0)
			default:
				heap.Pop(h)
				r.f.Close()
			}
		}
	}
}

// spillRun is one sorted run being merged.
type spillRun struct {
	f   *os.File
	rd  *bufio.Reader
	cur keyed
	idx int
}

func (r *spillRun) next() (bool, error) {
	k, err := readKeyed(r.rd)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the spilled listing: %w", err)
	}
	r.cur = k
	return true, nil
}

// A spilled object is its fields in a fixed order, each string or byte
// field as a uvarint length and its bytes, numbers as varints: JSON made
// reading the runs back the costliest part of listing a big entry.
func appendKeyed(b []byte, k keyed) []byte {
	o := k.Obj
	var algo, sum string
	if o.Checksum != nil {
		algo, sum = o.Checksum.Algo, o.Checksum.Value
	}
	var mod, listed int64
	if !o.LastModified.IsZero() {
		mod = o.LastModified.UnixNano()
	}
	if !o.ListedModTime.IsZero() {
		listed = o.ListedModTime.UnixNano()
	}
	for _, s := range []string{k.Key, o.Name, o.URL, o.ETag, o.ContentType, o.Method, algo, sum, o.ChecksumMissing} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, o.Size)
	b = binary.AppendVarint(b, mod)
	b = binary.AppendVarint(b, listed)
	b = binary.AppendUvarint(b, uint64(len(o.Body)))
	b = binary.AppendUvarint(b, boolBit(o.Body != nil)|boolBit(o.SizeValidates)<<1)
	return append(b, o.Body...)
}

func boolBit(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

func readKeyed(r *bufio.Reader) (keyed, error) {
	var f [9]string
	for i := range f {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return keyed{}, err
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return keyed{}, err
		}
		f[i] = string(b)
	}
	size, err := binary.ReadVarint(r)
	if err != nil {
		return keyed{}, err
	}
	mod, err := binary.ReadVarint(r)
	if err != nil {
		return keyed{}, err
	}
	listed, err := binary.ReadVarint(r)
	if err != nil {
		return keyed{}, err
	}
	bodyLen, err := binary.ReadUvarint(r)
	if err != nil {
		return keyed{}, err
	}
	hasBody, err := binary.ReadUvarint(r)
	if err != nil {
		return keyed{}, err
	}
	o := sources.Object{Name: f[1], URL: f[2], ETag: f[3], ContentType: f[4], Method: f[5], Size: size, ChecksumMissing: f[8]}
	if f[6] != "" {
		o.Checksum = &sources.Checksum{Algo: f[6], Value: f[7]}
	}
	if mod != 0 {
		o.LastModified = time.Unix(0, mod).UTC()
	}
	if listed != 0 {
		o.ListedModTime = time.Unix(0, listed).UTC()
	}
	o.SizeValidates = hasBody&2 != 0
	if hasBody&1 == 1 {
		o.Body = make([]byte, bodyLen)
		if _, err := io.ReadFull(r, o.Body); err != nil {
			return keyed{}, err
		}
	}
	return keyed{Key: f[0], Obj: o}, nil
}

type runHeap []*spillRun

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if h[i].cur.Key != h[j].cur.Key {
		return h[i].cur.Key < h[j].cur.Key
	}
	return h[i].idx < h[j].idx
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*spillRun)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
