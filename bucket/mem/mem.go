// Package mem is an in-memory bucket for unit tests. It holds whole objects
// in memory, so it is not for production data.
package mem

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/astroingest/astroingest/bucket"
)

type object struct {
	data []byte
	info bucket.ObjectInfo
}

// Bucket is safe for concurrent use.
type Bucket struct {
	mu      sync.Mutex
	objects map[string]object
	// staged counts Pending objects neither committed nor aborted, so tests
	// can prove that nothing was left behind.
	staged int
	now    func() time.Time
}

// New returns an empty bucket.
func New() *Bucket {
	return &Bucket{objects: map[string]object{}, now: time.Now}
}

// Staged is the number of puts neither committed nor aborted.
func (b *Bucket) Staged() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.staged
}

func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if err := bucket.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("mem: put: %w", err)
	}
	if err := bucket.CheckConditions(opts); err != nil {
		return nil, fmt.Errorf("mem: put %s: %w", key, err)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, bucket.CheckSizeAndDigest(bucket.ContextReader(ctx, r), opts, true)); err != nil {
		return nil, fmt.Errorf("mem: put %s: %w", key, err)
	}
	b.mu.Lock()
	b.staged++
	b.mu.Unlock()
	return &pending{b: b, key: key, data: buf.Bytes(), opts: opts}, nil
}

type pending struct {
	b    *Bucket
	key  string
	data []byte
	opts bucket.PutOptions
	done bool
}

func (p *pending) Size() int64 { return int64(len(p.data)) }

func (p *pending) Commit(ctx context.Context) (bucket.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("mem: commit %s: %w", p.key, err)
	}
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if p.done {
		return bucket.ObjectInfo{}, fmt.Errorf("mem: commit %s: already committed or aborted", p.key)
	}
	p.done = true
	p.b.staged--
	// Checked under the bucket's lock, so the condition and the commit are
	// one step for every other writer. A failed one discards the staged
	// bytes: a retry could only fail again.
	cur, exists := p.b.objects[p.key]
	if p.opts.IfNoneMatch && exists || p.opts.IfMatch != "" && (!exists || cur.info.ETag != p.opts.IfMatch) {
		return bucket.ObjectInfo{}, fmt.Errorf("mem: commit %s: %w", p.key, bucket.ErrPrecondition)
	}
	sum := md5.Sum(p.data)
	info := bucket.ObjectInfo{
		Key:         p.key,
		Size:        int64(len(p.data)),
		ETag:        hex.EncodeToString(sum[:]),
		ModTime:     p.b.now(),
		ContentType: p.opts.ContentType,
		Metadata:    bucket.NormalizeMetadata(p.opts.Metadata),
	}
	p.b.objects[p.key] = object{data: p.data, info: info}
	return info, nil
}

func (p *pending) Abort(context.Context) error {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if !p.done {
		p.done = true
		p.b.staged--
	}
	return nil
}

func (b *Bucket) Stat(_ context.Context, key string) (bucket.ObjectInfo, error) {
	if err := bucket.ValidateKey(key); err != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("mem: stat: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objects[key]
	if !ok {
		return bucket.ObjectInfo{}, fmt.Errorf("mem: stat %s: %w", key, fs.ErrNotExist)
	}
	return o.info, nil
}

func (b *Bucket) Open(_ context.Context, key string, rng *bucket.Range) (io.ReadCloser, error) {
	if err := bucket.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("mem: open: %w", err)
	}
	b.mu.Lock()
	o, ok := b.objects[key]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("mem: open %s: %w", key, fs.ErrNotExist)
	}
	data := o.data
	if rng != nil {
		lo, hi, err := bucket.Clamp(*rng, int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("mem: open %s: %w", key, err)
		}
		data = data[lo:hi]
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[bucket.ObjectInfo, error] {
	return func(yield func(bucket.ObjectInfo, error) bool) {
		if err := bucket.ValidatePrefix(prefix); err != nil {
			yield(bucket.ObjectInfo{}, fmt.Errorf("mem: list: %w", err))
			return
		}
		b.mu.Lock()
		keys := slices.Sorted(maps.Keys(b.objects))
		infos := make([]bucket.ObjectInfo, 0, len(keys))
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				infos = append(infos, b.objects[k].info)
			}
		}
		b.mu.Unlock()
		for _, info := range infos {
			if err := ctx.Err(); err != nil {
				yield(bucket.ObjectInfo{}, err)
				return
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

func (b *Bucket) Delete(_ context.Context, key string) error {
	if err := bucket.ValidateKey(key); err != nil {
		return fmt.Errorf("mem: delete: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.objects, key)
	return nil
}
